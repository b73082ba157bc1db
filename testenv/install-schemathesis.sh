#!/usr/bin/env bash
# Installs schemathesis (PyPI) into .javari/venv for the console's schema-driven fuzz run
# (console/tests/api_fuzz.rs). Idempotent: nothing to do once the pinned version is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.javari/venv"
version=4.32.5

installed=$("$venv/bin/schemathesis" --version 2>/dev/null || true)
if [[ $installed == "schemathesis, version $version" ]]; then
  exit 0
fi
command -v python3 >/dev/null || { echo "python3 is required for the API fuzz run: apt-get install python3 python3-venv" >&2; exit 1; }
if ! python3 -m venv "$venv" 2>/dev/null; then
  echo "cannot create a Python virtual environment in $venv: apt-get install python3-venv" >&2
  exit 1
fi
echo "installing schemathesis $version into $venv (pip)" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check "schemathesis==$version" >/dev/null \
  || { echo "pip could not install schemathesis $version from PyPI: check the network and run make deps again" >&2; exit 1; }
