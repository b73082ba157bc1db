#!/usr/bin/env bash
# Builds the test control plane's binaries from Go modules into .bin/ (ignored, cached):
# kube-apiserver and kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3) and helm.
# Each comes from its own go.mod so their dependency graphs never clash. A binary is rebuilt
# only when its go.mod, go.sum or version flags change (the stamp beside it records their hash).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.bin"
mods="$root/testenv/go"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$bin"

command -v go >/dev/null || { echo "go is required: install Go 1.24+ (https://go.dev/doc/install)" >&2; exit 1; }

# build NAME MODULE_DIR PACKAGE LDFLAGS
build() {
  local name=$1 dir=$2 pkg=$3 ldflags=$4
  local stamp="$bin/.$name.stamp" want
  want=$( (cat "$dir/go.mod" "$dir/go.sum"; echo "$pkg $ldflags") | sha256sum | cut -c1-16)
  if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  echo "building $name (once; cached in .bin/)" >&2
  local started=$SECONDS log="$bin/$name.build.log"
  if ! (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg") >"$log" 2>&1; then
    echo "building $name failed: $(tail -n1 "$log") (whole log: $log); check that the Go module proxy is reachable and Go is 1.24+, then run \`make bins\` again" >&2
    exit 1
  fi
  rm -f "$log"
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$want" > "$stamp"
  echo "built $name in $((SECONDS - started))s" >&2
}

# The version of module $2 in $1's go.mod; one line that says what to do when Go cannot tell.
modver() {
  local version log="$bin/go-list.log"
  if ! version=$(cd "$1" && go list -m -f '{{.Version}}' "$2" 2>"$log"); then
    echo "cannot resolve $2 (testenv/go/$(basename "$1")): $(tail -n1 "$log"); check that the Go module proxy is reachable, then run \`make bins\` again" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$version"
}

kube_ver=$(modver "$mods/kube" k8s.io/kubernetes)
kube_minor=$(echo "$kube_ver" | cut -d. -f2)
kube_ld=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ld+=" -X $pkg.gitVersion=$kube_ver -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
build kube-apiserver "$mods/kube" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ld"
build kubectl "$mods/kube" k8s.io/kubernetes/cmd/kubectl "$kube_ld"

etcd_ver=$(modver "$mods/etcd" go.etcd.io/etcd/server/v3)
build etcd "$mods/etcd" . "-X go.etcd.io/etcd/api/v3/version.GitSHA=${etcd_ver}"

helm_ver=$(modver "$mods/helm" helm.sh/helm/v3)
build helm "$mods/helm" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=${helm_ver} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

# gofakes3: an S3 protocol server for the backup tests (the object store speaks real S3 to it).
build gofakes3 "$mods/gofakes3" github.com/johannesboyne/gofakes3/cmd/gofakes3 ""
