#!/usr/bin/env bash
# Installs the pgvector extension for the newest installed PostgreSQL (default 15) on Debian.
# Uses the postgresql-<major>-pgvector package when apt has one; bookworm has none for 15, so
# otherwise builds Debian's own pgvector source package (from trixie) against the local server.
# Idempotent: does nothing when vector.control is already installed.
# pgvector is optional for Javari: without it the schema migrations fall back to full-text search.
#
# Usage: install-pgvector.sh [--force]   --force (or PGVECTOR_FORCE=1) reinstalls even if present.
# Env:   PG_MAJOR, PGVECTOR_SRC_SUITE (default trixie), PGVECTOR_MIRROR (default deb.debian.org).
set -euo pipefail

force=${PGVECTOR_FORCE:-0}
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install-pgvector: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

suite=${PGVECTOR_SRC_SUITE:-trixie}
mirror=${PGVECTOR_MIRROR:-http://deb.debian.org/debian}

major=${PG_MAJOR:-}
if [[ -z $major ]]; then
  for bin in /usr/lib/postgresql/*/bin/postgres; do
    v=${bin#/usr/lib/postgresql/}
    v=${v%%/*}
    if [[ -x $bin && $v =~ ^[0-9]+$ ]] && ((v > ${major:-0})); then major=$v; fi
  done
  major=${major:-15}
fi
control=/usr/share/postgresql/$major/extension/vector.control
pg_config=/usr/lib/postgresql/$major/bin/pg_config

installed_version() { sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$control" 2>/dev/null; }

if [[ $force != 1 && -f $control ]]; then
  echo "install-pgvector: pgvector $(installed_version) already installed for PostgreSQL $major" >&2
  exit 0
fi

say() { echo "install-pgvector: $*" >&2; }

work=$(mktemp -d -t pgvector.XXXXXX)
log=$work/log
: >"$log"
reported=0

fail() {
  reported=1
  say "FAILED: $1"
  if [[ -s $log ]]; then
    echo "--- last lines of output ---" >&2
    tail -n 25 "$log" >&2
    echo "---" >&2
  fi
  say "pgvector is optional: without it the schema migrations fall back to full-text search."
  exit 1
}

cleanup() {
  local rc=$?
  rm -rf "$work"
  if ((rc != 0 && reported == 0)); then
    say "FAILED (exit $rc); pgvector is optional: without it the schema migrations fall back to full-text search."
  fi
}
trap cleanup EXIT

# Runs a step with its output in the log, shown only if the step fails.
run() {
  local what=$1
  shift
  "$@" >>"$log" 2>&1 || fail "$what"
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}
if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
  fail "need root (or sudo) to install packages and pgvector"
fi
command -v apt-get >/dev/null || fail "apt-get not found (this script expects Debian)"

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

verify() {
  [[ -f $control && -f /usr/lib/postgresql/$major/lib/vector.so ]] ||
    fail "$1 finished but $control or vector.so is missing"
  say "installed pgvector $(installed_version) for PostgreSQL $major"
}

say "refreshing apt package lists"
run "apt-get update" as_root apt-get update -q

pkg=postgresql-$major-pgvector
candidate=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
if [[ -n $candidate && $candidate != "(none)" ]]; then
  say "installing $pkg $candidate with apt-get"
  run "apt-get install $pkg" apt_install "$pkg"
  verify "apt-get install $pkg"
  exit 0
fi

say "no $pkg package; building Debian's pgvector source package from $suite"
run "installing build dependencies (postgresql-server-dev-$major build-essential dpkg-dev)" \
  apt_install "postgresql-server-dev-$major" build-essential dpkg-dev
[[ -x $pg_config ]] || fail "$pg_config not found after installing postgresql-server-dev-$major"

# The deb-src entry for $suite lives in a private apt configuration inside $work: the update
# fetches only that suite's Sources index into $work, and nothing under /etc/apt or
# /var/lib/apt is touched, so there is no apt source to leave behind even on a hard kill.
mkdir -p "$work/apt/lists/partial" "$work/apt/sources.list.d" "$work/src"
# As root, apt downloads as _apt: let it reach $work so it needn't fall back to root.
if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then
  chmod 755 "$work"
  chown _apt "$work/apt/lists/partial" "$work/src"
fi
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
  "$mirror" "$suite" >"$work/apt/sources.list"
cat >"$work/apt/apt.conf" <<EOF
Dir::Etc::SourceList "$work/apt/sources.list";
Dir::Etc::SourceParts "$work/apt/sources.list.d";
Dir::State::Lists "$work/apt/lists";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF
run "apt-get update for $suite deb-src ($mirror)" apt-get -c "$work/apt/apt.conf" update -q
# apt verifies the .dsc and tarballs against the signed Sources index.
fetch_source() (cd "$work/src" && apt-get -c "$work/apt/apt.conf" source -q pgvector)
run "apt-get source pgvector (from $suite)" fetch_source

src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' -print -quit)
[[ -n $src ]] || fail "apt-get source pgvector produced no source directory"

say "building ${src##*/} against PostgreSQL $major"
# OPTFLAGS= keeps the build portable (upstream defaults to -march=native; Debian patches that out).
run "make (building pgvector)" make -C "$src" -j"$(nproc)" PG_CONFIG="$pg_config" OPTFLAGS=
run "make install (installing pgvector)" as_root make -C "$src" PG_CONFIG="$pg_config" OPTFLAGS= install
verify "make install"
