#!/usr/bin/env bash
# devstack.sh — build (once, cached by version), start and stop the real MinIO
# and Vault servers that Liaison's integration tests and `liaison serve` use.
#
#   devstack.sh install        build missing binaries into the cache
#   devstack.sh up [STATEDIR]  start both on free loopback ports; prints env
#   devstack.sh down [STATEDIR] stop both (by pid) and remove their data
#   devstack.sh env [STATEDIR]  print the environment of a running stack
#
# Binaries are cached outside the work tree (LIAISON_DEVSTACK_CACHE, default
# ~/.cache/liaison/devstack) so that a fresh clone on the same machine, as CI
# uses, starts in seconds after the first build.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
VAULT_VERSION=v1.21.0   # pinned in deploy/devstack/vault/go.mod; v1.21.4 does not build this way

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LIAISON_DEVSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/liaison/devstack}
minio_bin=$cache/minio-$MINIO_VERSION/minio
vault_bin=$cache/vault-$VAULT_VERSION/vault

log() { printf 'devstack: %s\n' "$*" >&2; }

build_minio() {
  [ -x "$minio_bin" ] && return 0
  log "building MinIO $MINIO_VERSION (first run only; a few minutes on 2 cores)"
  local tmp; tmp=$(mktemp -d "$cache/.minio.XXXXXX")
  GOBIN=$tmp GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
  mkdir -p "$(dirname "$minio_bin")"
  mv "$tmp/minio" "$minio_bin"; rmdir "$tmp"
}

build_vault() {
  [ -x "$vault_bin" ] && return 0
  log "building Vault $VAULT_VERSION (first run only; several minutes on 2 cores)"
  local tmp; tmp=$(mktemp -d "$cache/.vault.XXXXXX")
  (cd "$here/vault" && GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w" -o "$tmp/vault" .)
  mkdir -p "$(dirname "$vault_bin")"
  mv "$tmp/vault" "$vault_bin"; rmdir "$tmp"
}

install() {
  mkdir -p "$cache"
  # One at a time: on 2 cores two big links at once mostly thrash memory and cache.
  build_minio
  build_vault
}

taken_ports=" "
free_port() { # VAR: set VAR to a free loopback port not handed out before by this script
  local p
  for _ in $(seq 1 50); do
    p=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null) ||
      p=$((20000 + RANDOM % 40000))
    # Without python3: a random port nobody answers on (bash's /dev/tcp).
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
    case "$taken_ports" in *" $p "*) continue ;; esac
    taken_ports="$taken_ports$p "
    printf -v "$1" '%s' "$p"; return 0
  done
  log "no free port found"; return 1
}

wait_http() { # url seconds
  local url=$1 deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

up() {
  local state=${1:-$here/../../.cache/devstack/run}
  mkdir -p "$state"; state=$(cd "$state" && pwd)
  if [ -f "$state/env" ] && [ -f "$state/minio.pid" ] && kill -0 "$(cat "$state/minio.pid")" 2>/dev/null; then
    log "already running (state $state)"; cat "$state/env"; return 0
  fi
  install
  local mport mcport vport user pass token
  free_port mport; free_port mcport; free_port vport
  user=liaison-dev; pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' ); token=root-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
  mkdir -p "$state/minio-data"
  MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_BROWSER=off MINIO_UPDATE=off \
    setsid "$minio_bin" server "$state/minio-data" --address "127.0.0.1:$mport" --console-address "127.0.0.1:$mcport" \
    >"$state/minio.log" 2>&1 < /dev/null &
  echo $! >"$state/minio.pid"
  setsid "$vault_bin" server -dev -dev-root-token-id="$token" -dev-listen-address="127.0.0.1:$vport" \
    >"$state/vault.log" 2>&1 < /dev/null &
  echo $! >"$state/vault.pid"
  if ! wait_http "http://127.0.0.1:$mport/minio/health/live" 60; then
    log "MinIO did not become healthy; log follows"; tail -20 "$state/minio.log" >&2; down "$state"; return 1
  fi
  if ! wait_http "http://127.0.0.1:$vport/v1/sys/health" 60; then
    log "Vault did not become healthy; log follows"; tail -20 "$state/vault.log" >&2; down "$state"; return 1
  fi
  VAULT_ADDR=http://127.0.0.1:$vport VAULT_TOKEN=$token "$vault_bin" secrets enable transit >/dev/null
  cat >"$state/env" <<ENV
export LIAISON_TEST_MINIO_ENDPOINT=127.0.0.1:$mport
export LIAISON_TEST_MINIO_ACCESS_KEY=$user
export LIAISON_TEST_MINIO_SECRET_KEY=$pass
export LIAISON_TEST_MINIO_PID=$(cat "$state/minio.pid")
export LIAISON_TEST_MINIO_BIN=$minio_bin
export LIAISON_TEST_MINIO_DATA=$state/minio-data
export LIAISON_TEST_VAULT_ADDR=http://127.0.0.1:$vport
export LIAISON_TEST_VAULT_TOKEN=$token
export LIAISON_TEST_VAULT_PID=$(cat "$state/vault.pid")
export LIAISON_TEST_VAULT_BIN=$vault_bin
export VAULT_ADDR=http://127.0.0.1:$vport
export VAULT_TOKEN=$token
export LIAISON_KEYS_VAULT_ADDRESS=http://127.0.0.1:$vport
export LIAISON_STORE_MINIO_ENDPOINT=127.0.0.1:$mport
export LIAISON_STORE_MINIO_CREDENTIALS_ACCESS_KEY=$user
export LIAISON_STORE_MINIO_CREDENTIALS_SECRET_KEY=$pass
ENV
  log "MinIO on 127.0.0.1:$mport, Vault on 127.0.0.1:$vport (state $state)"
  cat "$state/env"
}

down() {
  local state=${1:-$here/../../.cache/devstack/run}
  [ -d "$state" ] || return 0
  for svc in minio vault; do
    local pidf=$state/$svc.pid
    [ -f "$pidf" ] || continue
    local pid; pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidf"
  done
  rm -rf "$state/minio-data" "$state/env"
  log "stopped (state $state)"
}

env_() {
  local state=${1:-$here/../../.cache/devstack/run}
  cat "$state/env"
}

cmd=${1:-}; shift || true
case "$cmd" in
  install) install ;;
  up) up "$@" ;;
  down) down "$@" ;;
  env) env_ "$@" ;;
  *) echo "usage: devstack.sh install|up|down|env [STATEDIR]" >&2; exit 2 ;;
esac
