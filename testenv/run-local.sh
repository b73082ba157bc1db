#!/usr/bin/env bash
# `make run`: the whole stack on this machine with embedded defaults.
#  - a private PostgreSQL under .javari/pg (port 55433), database `javari`
#  - the cluster from KUBECONFIG / ~/.kube/config, or else a local etcd + kube-apiserver
#  - the Javari CRDs and the sample resources in examples/
#  - javari-operator (:8081) and javari-console (:8080)
#  - a local fake AI provider (:8090) and the Provider `local` for it (JAVARI_LOCAL_PROVIDER=0: none)
# Ctrl-C stops everything it started; the database stays in .javari/pg (`make stop` stops it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=.javari
mkdir -p "$state"
console_port=${JAVARI_CONSOLE_PORT:-8080}
operator_port=${JAVARI_OPERATOR_PORT:-8081}

cargo build -q -p javari-testenv -p javari-operator -p javari-console
bin=target/debug
kubectl=.bin/kubectl

# The vault's master key: JAVARI_MASTER_KEY if set, else one generated once into .javari/.
if [[ -z "${JAVARI_MASTER_KEY:-}" ]]; then
  if [[ ! -s "$state/master.key" ]]; then
    (umask 077 && openssl rand -hex 32 > "$state/master.key")
    echo "generated a vault master key in $state/master.key (keep it: the vault cannot be read without it)"
  fi
  JAVARI_MASTER_KEY=$(cat "$state/master.key")
  export JAVARI_MASTER_KEY
fi

# The first admin: admin@javari.local with a password generated once into .javari/.
export JAVARI_ADMIN_EMAIL=${JAVARI_ADMIN_EMAIL:-admin@javari.local}
if [[ -z "${JAVARI_ADMIN_PASSWORD:-}" ]]; then
  if [[ ! -s "$state/admin.password" ]]; then
    (umask 077 && openssl rand -base64 18 > "$state/admin.password")
  fi
  JAVARI_ADMIN_PASSWORD=$(cat "$state/admin.password")
  export JAVARI_ADMIN_PASSWORD
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

pg_url=$("$bin/javari-testenv" pg-up "$state/pg" 55433)
if ! psql "$pg_url" -tAc "SELECT 1 FROM pg_database WHERE datname = 'javari'" | grep -q 1; then
  psql "$pg_url" -qc "CREATE DATABASE javari"
fi
# Migrations run as the owner (postgres); the binaries query as javari_app, a member of
# javari_runtime (created by pg-up): row-level security binds it as in a real install.
export JAVARI_MIGRATE_DATABASE_URL=${pg_url%/postgres}/javari
export DATABASE_URL=${JAVARI_MIGRATE_DATABASE_URL/postgres:\/\/postgres@/postgres:\/\/javari_app@}
echo "PostgreSQL: $DATABASE_URL (migrations as the owner: $JAVARI_MIGRATE_DATABASE_URL)"

if [[ -z "${KUBECONFIG:-}" && ! -f "$HOME/.kube/config" ]]; then
  export KUBECONFIG="$root/$state/kubeconfig"
  rm -f "$KUBECONFIG"
  "$bin/javari-testenv" control-plane --kubeconfig "$KUBECONFIG" >"$state/control-plane.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 240); do [[ -f "$KUBECONFIG" ]] && break; sleep 0.5; done
  [[ -f "$KUBECONFIG" ]] || { echo "local control plane did not start; see $state/control-plane.log" >&2; exit 1; }
  echo "Kubernetes: local kube-apiserver (KUBECONFIG=$KUBECONFIG)"
else
  echo "Kubernetes: ${KUBECONFIG:-$HOME/.kube/config}"
  "$kubectl" apply --server-side --field-manager=javari -f charts/javari/crds/ >/dev/null
  "$kubectl" wait --for condition=Established --timeout=60s -f charts/javari/crds/ >/dev/null
fi

"$kubectl" apply --server-side --field-manager=javari -f examples/ | sed 's/^/  /'

# Something to chat with offline: the fake AI APIs on :8090 and a Provider pointing at them.
if [[ "${JAVARI_LOCAL_PROVIDER:-1}" != 0 ]]; then
  "$bin/javari-testenv" fake-provider --listen 127.0.0.1:8090 >"$state/fake-provider.log" 2>&1 &
  pids+=($!)
  "$kubectl" apply --server-side --field-manager=javari -f testenv/local-provider.yaml | sed 's/^/  /'
fi

JAVARI_OPERATOR_LISTEN=127.0.0.1:$operator_port "$bin/javari-operator" >"$state/operator.log" 2>&1 &
pids+=($!)
# The console routes only through Providers of the namespace `make run` applies them to.
JAVARI_TRUSTED_NAMESPACES=${JAVARI_TRUSTED_NAMESPACES:-default} \
  JAVARI_CONSOLE_LISTEN=0.0.0.0:$console_port "$bin/javari-console" >"$state/console.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$console_port/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$console_port/healthz" >/dev/null || { echo "console did not start; see $state/console.log" >&2; exit 1; }
echo
echo "Javari console: http://localhost:$console_port  (sign in as $JAVARI_ADMIN_EMAIL; password in $state/admin.password)"
echo "Operator health: http://127.0.0.1:$operator_port/readyz   logs: $state/*.log"
echo "kubectl: KUBECONFIG=$KUBECONFIG $kubectl get javari -A"
echo "Ctrl-C to stop."
wait -n "${pids[@]}"
