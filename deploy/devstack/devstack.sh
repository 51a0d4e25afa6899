#!/usr/bin/env bash
# devstack.sh — build (once, cached by version), start and stop the real MinIO
# and Vault servers that Liaison's integration tests and `liaison serve` use,
# and a private PostgreSQL cluster (the index database; from the system's
# postgresql package, not built).
#
#   devstack.sh install        build missing binaries into the cache
#   devstack.sh up [STATEDIR]  start all three on free loopback ports; prints env
#   devstack.sh down [STATEDIR] stop them (by pid) and remove their data
#   devstack.sh env [STATEDIR]  print the environment of a running stack
#   devstack.sh helm-bin       print the path of the cached helm binary
#   devstack.sh browser        install the console's browser-test tools only
#
# Binaries are cached outside the work tree (LIAISON_DEVSTACK_CACHE, default
# ~/.cache/liaison/devstack) so that a fresh clone on the same machine, as CI
# uses, starts in seconds after the first build.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
VAULT_VERSION=v1.21.0   # pinned in deploy/devstack/vault/go.mod; v1.21.4 does not build this way
HELM_VERSION=v4.3.2     # helm lint/template for deploy/helm/liaison (deploy/packaging tests)
PROMTOOL_VERSION=v0.316.0 # github.com/prometheus/prometheus (Prometheus 3.x); checks deploy/monitoring

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LIAISON_DEVSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/liaison/devstack}
minio_bin=$cache/minio-$MINIO_VERSION/minio
vault_bin=$cache/vault-$VAULT_VERSION/vault
helm_bin=$cache/helm-$HELM_VERSION/helm
promtool_bin=$cache/promtool-$PROMTOOL_VERSION/promtool
# The console's browser tests (gateway/console/browser_test.go): Debian's
# Chromium (no browser download: playwright-core drives the system one)
# and playwright-core, pinned in the committed package-lock.json and
# installed with `npm ci` into the work tree (gitignored).
chromium_bin=${LIAISON_TEST_CHROMIUM:-/usr/bin/chromium}
e2e_dir=$(cd "$here/../../gateway/console/e2e" && pwd)

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

build_helm() {
  [ -x "$helm_bin" ] && return 0
  log "building Helm $HELM_VERSION (first run only; a few minutes on 2 cores)"
  local tmp; tmp=$(mktemp -d "$cache/.helm.XXXXXX")
  GOBIN=$tmp GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  mkdir -p "$(dirname "$helm_bin")"
  mv "$tmp/helm" "$helm_bin"; rmdir "$tmp"
}

build_promtool() {
  [ -x "$promtool_bin" ] && return 0
  log "building promtool $PROMTOOL_VERSION (first run only; long on 2 cores)"
  local tmp; tmp=$(mktemp -d "$cache/.promtool.XXXXXX")
  GOBIN=$tmp GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
  mkdir -p "$(dirname "$promtool_bin")"
  mv "$tmp/promtool" "$promtool_bin"; rmdir "$tmp"
}

# install_browser installs what the console's browser tests run: the
# chromium package (as root, with apt-get; `apt-get update` only when the
# install fails, as on a machine whose package lists are stale or absent)
# and `npm ci` of gateway/console/e2e (skipped while node_modules was
# installed from the same package-lock.json: its SHA-256 is kept beside).
# A failure is reported, not fatal: the rest of the stack still starts,
# and under LIAISON_INTEGRATION=required the browser tests then fail
# naming what is missing.
install_browser() {
  if [ ! -x "$chromium_bin" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing Debian's chromium (first run only)"
      if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
          log "apt-get install chromium failed: the console browser tests will fail"
      fi
    else
      log "no $chromium_bin: install Debian's chromium package (apt-get install chromium) for the console browser tests"
    fi
  fi
  if ! command -v npm >/dev/null 2>&1; then
    log "no npm: install Node.js 20+ for the console browser tests"; return 0
  fi
  local want have stamp=$e2e_dir/node_modules/.package-lock.sha256
  want=$(sha256sum "$e2e_dir/package-lock.json" | cut -d' ' -f1)
  have=$(cat "$stamp" 2>/dev/null || true)
  if [ "$want" != "$have" ] || [ ! -d "$e2e_dir/node_modules/playwright-core" ]; then
    log "npm ci in gateway/console/e2e (playwright-core; no browser download)"
    # --ignore-scripts: playwright-core has no install script, and nothing
    # should fetch a browser build; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD too.
    if (cd "$e2e_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >/dev/null); then
      echo "$want" >"$stamp"
    else
      log "npm ci failed: the console browser tests will fail"
    fi
  fi
}

# tools_env prints the exports of the tools tests run (not servers).
tools_env() {
  echo "export LIAISON_TEST_PROMTOOL=$promtool_bin"
  echo "export LIAISON_TEST_HELM_BIN=$helm_bin"
  echo "export LIAISON_TEST_CHROMIUM=$chromium_bin"
  echo "export LIAISON_TEST_CONSOLE_E2E=$e2e_dir"
}

install() {
  mkdir -p "$cache"
  # One at a time: on 2 cores two big links at once mostly thrash memory and cache.
  build_minio
  build_vault
  build_helm
  build_promtool
  install_browser
}

pg_user=$(id -un); [ "$(id -u)" = 0 ] && pg_user=postgres
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

# pg_bindir prints the directory of the PostgreSQL server binaries: pg_config's
# (the client package's), else the newest /usr/lib/postgresql/*/bin (Debian
# installs the server there, off PATH).
pg_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  return 1
}

# as_pg runs a PostgreSQL program. PostgreSQL refuses to run as root, so as
# root it runs as the `postgres` system user that Debian's postgresql package
# creates (its data directory is then owned by that user); any other user
# runs it as itself.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$pg_user" -- "$@"
  else
    "$@"
  fi
}

# pg_start STATE: initdb a private cluster under STATE, start it on a free
# loopback port with its socket inside its data directory, create the
# `liaison` database, and set pg_port/pg_pass/pg_data.
pg_start() {
  local state=$1 bindir
  if ! bindir=$(pg_bindir); then
    log "PostgreSQL server binaries not found (no pg_config --bindir with initdb, no /usr/lib/postgresql/*/bin)."
    log "Install them: apt-get install postgresql   (Debian/Ubuntu; the index tests need it)"
    return 1
  fi
  pg_user=$(id -un)
  if [ "$(id -u)" = 0 ]; then
    pg_user=postgres
    if ! id "$pg_user" >/dev/null 2>&1; then
      log "running as root but there is no 'postgres' system user (PostgreSQL refuses root); install the postgresql package: apt-get install postgresql"
      return 1
    fi
  fi
  # The data directory must be owned by pg_user and reachable by it. The
  # state directory is often private (mktemp -d is 0700, a home directory
  # under /root is too): then the cluster lives in its own directory under
  # TMPDIR, and STATE/pg.data records where.
  pg_data=$state/pg
  if [ "$pg_user" != "$(id -un)" ] && ! runuser -u "$pg_user" -- test -x "$state" 2>/dev/null; then
    pg_data=$(mktemp -d "${TMPDIR:-/tmp}/liaison-pg.XXXXXX")
  fi
  echo "$pg_data" >"$state/pg.data"
  mkdir -p "$pg_data"
  [ "$pg_user" != "$(id -un)" ] && chown "$pg_user" "$pg_data"
  chmod 700 "$pg_data"
  free_port pg_port
  pg_pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  local pwfile=$pg_data/.pw
  as_pg sh -c 'umask 077; cat >"$1"' _ "$pwfile" <<<"$pg_pass"
  if ! as_pg "$bindir/initdb" -D "$pg_data/cluster" -U liaison --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >"$state/postgres-initdb.log" 2>&1; then
    log "initdb failed; log follows"; tail -20 "$state/postgres-initdb.log" >&2; return 1
  fi
  rm -f "$pwfile"
  as_pg mkdir -p "$pg_data/sock"
  # fsync off: a test cluster, thrown away by `down`.
  if [ "$(id -u)" = 0 ]; then
    setsid runuser -u "$pg_user" -- "$bindir/postgres" -D "$pg_data/cluster" -h 127.0.0.1 -p "$pg_port" -k "$pg_data/sock" \
      -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200 \
      >"$state/postgres.log" 2>&1 </dev/null &
  else
    setsid "$bindir/postgres" -D "$pg_data/cluster" -h 127.0.0.1 -p "$pg_port" -k "$pg_data/sock" \
      -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200 \
      >"$state/postgres.log" 2>&1 </dev/null &
  fi
  echo $! >"$state/postgres.pid"
  local deadline=$((SECONDS + 60))
  until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -d postgres; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$(cat "$state/postgres.pid")" 2>/dev/null; then
      log "PostgreSQL did not become ready; log follows"; tail -20 "$state/postgres.log" >&2; return 1
    fi
    sleep 0.2
  done
  echo "$bindir" >"$state/pg.bindir"
  as_pg "$bindir/createdb" -h "$pg_data/sock" -p "$pg_port" -U liaison liaison
}

# pg_stop STATE: stop the cluster (fast shutdown, then SIGKILL by pid) and
# remove its data.
pg_stop() {
  local state=$1 pid bindir pg_data
  pg_data=$(cat "$state/pg.data" 2>/dev/null || true)
  bindir=$(cat "$state/pg.bindir" 2>/dev/null || pg_bindir 2>/dev/null || true)
  if [ -f "$state/postgres.pid" ]; then
    pid=$(cat "$state/postgres.pid")
    # postgres runs under setsid, so its pid is the process group: the
    # wrapper (runuser) and the server and its children go together.
    if kill -0 "$pid" 2>/dev/null; then
      if [ -n "$bindir" ] && [ -n "$pg_data" ] && [ -d "$pg_data/cluster" ]; then
        pg_user=postgres; [ "$(id -u)" = 0 ] || pg_user=$(id -un)
        as_pg "$bindir/pg_ctl" stop -D "$pg_data/cluster" -m fast -w -t 10 >/dev/null 2>&1 || true
      fi
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$state/postgres.pid"
  fi
  # Only a directory this script made: STATE/pg or a liaison-pg.* temp dir.
  case "$pg_data" in
    "$state/pg"|*/liaison-pg.*) rm -rf "$pg_data" ;;
  esac
  rm -f "$state/pg.data" "$state/pg.bindir"
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
    # A stack started before a tool was added: build it and add its export.
    build_helm
    build_promtool
    install_browser
    grep -q LIAISON_TEST_HELM_BIN "$state/env" || tools_env >>"$state/env"
    grep -q LIAISON_TEST_CHROMIUM "$state/env" || tools_env | grep -E 'CHROMIUM|CONSOLE_E2E' >>"$state/env"
    log "already running (state $state)"; cat "$state/env"; return 0
  fi
  install
  local mport mcport vport user pass token pg_port pg_pass pg_data
  # PostgreSQL first: without its binaries the stack is incomplete, and
  # the error (how to install them) should come before anything starts.
  if ! pg_start "$state"; then pg_stop "$state"; return 1; fi
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
export LIAISON_TEST_POSTGRES_DSN=postgres://liaison:$pg_pass@127.0.0.1:$pg_port/liaison?sslmode=disable
export LIAISON_TEST_POSTGRES_PID=$(cat "$state/postgres.pid")
$(tools_env)
ENV
  log "MinIO on 127.0.0.1:$mport, Vault on 127.0.0.1:$vport, PostgreSQL on 127.0.0.1:$pg_port (state $state)"
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
  pg_stop "$state"
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
  helm-bin) echo "$helm_bin" ;;
  browser) install_browser; tools_env | grep -E 'CHROMIUM|CONSOLE_E2E' ;;
  *) echo "usage: devstack.sh install|up|down|env|browser [STATEDIR]" >&2; exit 2 ;;
esac
