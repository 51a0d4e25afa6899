#!/usr/bin/env bash
# test.sh — what `make test` runs: start real MinIO and Vault (built once and
# cached), run every test with the integration tests required, and stop the
# servers whatever happens (failure, Ctrl-C, SIGTERM).
#   test.sh         lint + all tests, then the race detector over the
#                   packages with goroutines (RACE=0 skips that pass)
#   test.sh bench   benchmarks against the same stack
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mode=${1:-test}

state=$(mktemp -d "${TMPDIR:-/tmp}/liaison-stack.XXXXXX")
cleanup() {
  local rc=$?
  bash deploy/devstack/devstack.sh down "$state" >/dev/null 2>&1 || true
  rm -rf "$state"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$SECONDS
bash deploy/devstack/devstack.sh up "$state" >/dev/null
# shellcheck disable=SC1091
source "$state/env"
export LIAISON_INTEGRATION=required
pg_addr=${LIAISON_TEST_POSTGRES_DSN#*@}; pg_addr=${pg_addr%%/*}
echo "devstack: MinIO $LIAISON_TEST_MINIO_ENDPOINT, Vault $LIAISON_TEST_VAULT_ADDR, PostgreSQL $pg_addr (ready after $((SECONDS - start))s)"

if [ "$mode" = bench ]; then
  go test -run '^$' -bench "${BENCH:-.}" -benchmem -benchtime "${BENCHTIME:-1x}" -timeout 60m ./... | tee "${BENCH_OUT:-/dev/null}"
  exit 0
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed:"; echo "$unformatted"; exit 1
fi
go vet ./...
# Timeouts far under CI's 90 minutes (the slowest package takes about 3):
# a hung test fails the run with its goroutine dump instead of running out
# the clock.
go test -count=1 -timeout 20m ./...

# The race detector over the packages that run goroutines: the gateway and
# its subpackages (audit, record store, HTTP layer), the policy workers,
# the connectors and the crypto packages. Patterns, not names, so that
# packages split or added under these trees are raced too. Unit tests only
# (the stack's variables unset): the outage tests against real servers
# time requests out at one second, and under the detector's slowdown a
# request the client gave up on can still land after the server recovers,
# which fails them without any data race. -short: the pass above already
# ran the soak tests (SIGKILL loops, 10,000 mutations) at full size.
# RACE=0 skips this pass (a quicker local run; CI keeps it).
if [ "${RACE:-1}" != 0 ]; then
  race_start=$SECONDS
  (
    unset LIAISON_INTEGRATION VAULT_ADDR VAULT_TOKEN
    for v in $(compgen -e | grep -E '^LIAISON_(TEST|KEYS|STORE)_'); do unset "$v"; done
    # shellcheck disable=SC2046
    go test -race -short -count=1 -timeout 15m $(go list ./gateway/... ./policy/... ./connectors/... ./crypto/...)
  )
  echo "race detector pass: $((SECONDS - race_start))s"
fi
