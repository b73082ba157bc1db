#!/usr/bin/env bash
# Installs what `make test` and `make run` need from Debian's packages, once: the PostgreSQL
# server (plus pgvector where it can be had), openssl, chromium and chromedriver (browser
# tests), and checks the Go and Rust toolchains.
# Idempotent: installs nothing when everything is present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "need root to run: $*" >&2; exit 1
  fi
}

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v openssl >/dev/null || missing+=(openssl)
command -v psql >/dev/null || missing+=(postgresql-client)
# The console's browser test drives Debian's chromium through chromedriver.
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -x /usr/bin/chromedriver ]] || missing+=(chromium-driver)
# The migration linter (squawk, from PyPI) is installed into a virtualenv.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing ${missing[*]} (apt-get)" >&2
  log=$(mktemp /tmp/javari-apt.XXXXXX)
  if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
    echo "apt-get could not install ${missing[*]}: $(grep -m1 -E '^E:' "$log" || tail -n1 "$log") (whole log: $log); fix that, then run \`make deps\` again" >&2
    exit 1
  fi
  rm -f "$log"
fi

# pgvector is optional: without it the schema keeps full-text search only.
if [[ -x "$here/install-pgvector.sh" ]]; then
  "$here/install-pgvector.sh" || echo "warning: pgvector unavailable; knowledge search uses full text only" >&2
fi

command -v go >/dev/null || { echo "Go 1.24+ is required to build the test control plane (https://go.dev/doc/install)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "Rust (cargo) is required: https://rustup.rs" >&2; exit 1; }
cargo fmt --version >/dev/null 2>&1 || { echo "rustfmt is required: rustup component add rustfmt" >&2; exit 1; }
cargo clippy --version >/dev/null 2>&1 || { echo "clippy is required: rustup component add clippy" >&2; exit 1; }

# The console's schema-driven API fuzz run (console/tests/api_fuzz.rs): schemathesis from PyPI.
"$here/install-schemathesis.sh"

# squawk, the PostgreSQL migration linter (`make lint`), pinned, in .javari/squawk.
squawk_version=2.70.0
squawk_venv="$here/../.javari/squawk"
if ! "$squawk_venv/bin/squawk" --version 2>/dev/null | grep -qx "squawk $squawk_version"; then
  echo "installing squawk-cli $squawk_version (pip, into .javari/squawk)" >&2
  python3 -m venv "$squawk_venv"
  "$squawk_venv/bin/pip" install -q --disable-pip-version-check "squawk-cli==$squawk_version"
fi
