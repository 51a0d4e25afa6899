// Package devstack connects Liaison's integration tests to the real MinIO,
// Vault and PostgreSQL servers that deploy/devstack/devstack.sh builds and starts.
//
// The shared stack is described by LIAISON_TEST_* environment variables
// (`devstack.sh up` prints them). Vault and MinIO return that shared stack;
// tests that must disturb a server (stop, freeze, seal it) start a private
// one with StartVault or StartMinIO instead, so that other packages testing
// against the shared stack at the same time are not affected.
//
// When the stack is missing a test is skipped, unless
// LIAISON_INTEGRATION=required (which `make test` sets): then it fails, so
// that CI cannot pass by silently skipping every integration test.
//
// This is a test-support package: it is imported only from _test files.
package devstack

import (
	"os"
	"strconv"
	"testing"
)

// Environment variables printed by `devstack.sh up`.
const (
	EnvIntegration    = "LIAISON_INTEGRATION" // "required" turns a missing stack into a failure
	EnvMinIOEndpoint  = "LIAISON_TEST_MINIO_ENDPOINT"
	EnvMinIOAccessKey = "LIAISON_TEST_MINIO_ACCESS_KEY"
	EnvMinIOSecretKey = "LIAISON_TEST_MINIO_SECRET_KEY"
	EnvMinIOPID       = "LIAISON_TEST_MINIO_PID"
	EnvMinIOBin       = "LIAISON_TEST_MINIO_BIN"
	EnvMinIOData      = "LIAISON_TEST_MINIO_DATA"
	EnvVaultAddr      = "LIAISON_TEST_VAULT_ADDR"
	EnvVaultToken     = "LIAISON_TEST_VAULT_TOKEN"
	EnvVaultPID       = "LIAISON_TEST_VAULT_PID"
	EnvVaultBin       = "LIAISON_TEST_VAULT_BIN"
	EnvPostgresDSN    = "LIAISON_TEST_POSTGRES_DSN" // postgres://user:pass@127.0.0.1:port/liaison?sslmode=disable
	EnvPostgresPID    = "LIAISON_TEST_POSTGRES_PID"
)

// howToStart is appended to every skip or failure message.
const howToStart = "run `make test`, or `make devstack-up` and eval the printed exports " +
	"(or: eval \"$(deploy/devstack/devstack.sh up)\")"

// VaultEnv locates a running Vault dev server with the transit engine
// mounted at "transit/".
type VaultEnv struct {
	Addr  string // e.g. http://127.0.0.1:8200
	Token string // root token of the dev server
	PID   int    // 0 when unknown
	Bin   string // the vault binary; "" when unknown
}

// MinIOEnv locates a running MinIO server.
type MinIOEnv struct {
	Endpoint  string // host:port, plain HTTP
	AccessKey string
	SecretKey string
	PID       int    // 0 when unknown
	Bin       string // the minio binary; "" when unknown
	DataDir   string // "" when unknown
}

// Vault returns the shared Vault of the dev stack, or skips (fails when
// LIAISON_INTEGRATION=required) when it is not configured.
func Vault(t testing.TB) VaultEnv {
	t.Helper()
	e := VaultEnv{
		Addr:  os.Getenv(EnvVaultAddr),
		Token: os.Getenv(EnvVaultToken),
		PID:   atoi(os.Getenv(EnvVaultPID)),
		Bin:   os.Getenv(EnvVaultBin),
	}
	if e.Addr == "" || e.Token == "" {
		missing(t, "Vault", EnvVaultAddr+", "+EnvVaultToken)
	}
	return e
}

// MinIO returns the shared MinIO of the dev stack, or skips (fails when
// LIAISON_INTEGRATION=required) when it is not configured.
func MinIO(t testing.TB) MinIOEnv {
	t.Helper()
	e := MinIOEnv{
		Endpoint:  os.Getenv(EnvMinIOEndpoint),
		AccessKey: os.Getenv(EnvMinIOAccessKey),
		SecretKey: os.Getenv(EnvMinIOSecretKey),
		PID:       atoi(os.Getenv(EnvMinIOPID)),
		Bin:       os.Getenv(EnvMinIOBin),
		DataDir:   os.Getenv(EnvMinIOData),
	}
	if e.Endpoint == "" || e.AccessKey == "" || e.SecretKey == "" {
		missing(t, "MinIO", EnvMinIOEndpoint+", "+EnvMinIOAccessKey+", "+EnvMinIOSecretKey)
	}
	return e
}

// PostgresEnv locates the shared PostgreSQL cluster of the dev stack.
type PostgresEnv struct {
	DSN string // a database the tests may create tables in
	PID int    // 0 when unknown
}

// Postgres returns the shared PostgreSQL of the dev stack, or skips (fails
// when LIAISON_INTEGRATION=required) when it is not configured.
func Postgres(t testing.TB) PostgresEnv {
	t.Helper()
	e := PostgresEnv{DSN: os.Getenv(EnvPostgresDSN), PID: atoi(os.Getenv(EnvPostgresPID))}
	if e.DSN == "" {
		missing(t, "PostgreSQL", EnvPostgresDSN)
	}
	return e
}

// Required reports whether integration tests must run rather than skip.
func Required() bool { return os.Getenv(EnvIntegration) == "required" }

func missing(t testing.TB, what, vars string) {
	t.Helper()
	if Required() {
		t.Fatalf("devstack: %s is required (%s=required) but %s are not set; %s", what, EnvIntegration, vars, howToStart)
	}
	t.Skipf("devstack: no %s configured (%s not set); %s", what, vars, howToStart)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
