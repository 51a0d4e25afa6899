package devstack

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal instead of acting,
// so that the missing-stack paths can be checked.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with a recorder on its own goroutine (Goexit ends it).
func run(t *testing.T, fn func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(r)
	}()
	wg.Wait()
	return r
}

func TestMissingStack(t *testing.T) {
	for _, v := range []string{EnvVaultAddr, EnvVaultToken, EnvMinIOEndpoint, EnvMinIOAccessKey, EnvMinIOSecretKey, EnvVaultBin, EnvMinIOBin, EnvPostgresDSN} {
		t.Setenv(v, "")
	}
	getters := map[string]func(testing.TB){
		"vault":       func(tb testing.TB) { Vault(tb) },
		"minio":       func(tb testing.TB) { MinIO(tb) },
		"start_vault": func(tb testing.TB) { StartVault(tb) },
		"start_minio": func(tb testing.TB) { StartMinIO(tb) },
		"postgres":    func(tb testing.TB) { Postgres(tb) },
	}
	for name, get := range getters {
		t.Run(name, func(t *testing.T) {
			t.Run("optional", func(t *testing.T) {
				t.Setenv(EnvIntegration, "")
				r := run(t, get)
				if !r.skipped || r.failed {
					t.Fatalf("skipped=%v failed=%v, want a skip", r.skipped, r.failed)
				}
				if !strings.Contains(r.msg, "make test") {
					t.Fatalf("skip message %q does not say how to start the stack", r.msg)
				}
			})
			t.Run("required", func(t *testing.T) {
				t.Setenv(EnvIntegration, "required")
				r := run(t, get)
				if !r.failed || r.skipped {
					t.Fatalf("skipped=%v failed=%v, want a failure", r.skipped, r.failed)
				}
				if !strings.Contains(r.msg, "devstack.sh up") {
					t.Fatalf("failure message %q does not say how to start the stack", r.msg)
				}
			})
		})
	}
}

func TestPresentStack(t *testing.T) {
	t.Setenv(EnvVaultAddr, "http://127.0.0.1:8200")
	t.Setenv(EnvVaultToken, "root")
	t.Setenv(EnvVaultPID, "1234")
	t.Setenv(EnvMinIOEndpoint, "127.0.0.1:9000")
	t.Setenv(EnvMinIOAccessKey, "ak")
	t.Setenv(EnvMinIOSecretKey, "sk")
	t.Setenv(EnvMinIOPID, "not-a-number")
	t.Setenv(EnvPostgresDSN, "postgres://u:p@127.0.0.1:5432/liaison?sslmode=disable")
	t.Setenv(EnvPostgresPID, "77")
	v := Vault(t)
	if v.Addr != "http://127.0.0.1:8200" || v.Token != "root" || v.PID != 1234 {
		t.Fatalf("Vault = %+v", v)
	}
	m := MinIO(t)
	if m.Endpoint != "127.0.0.1:9000" || m.AccessKey != "ak" || m.SecretKey != "sk" || m.PID != 0 {
		t.Fatalf("MinIO = %+v", m)
	}
	if p := Postgres(t); p.DSN != "postgres://u:p@127.0.0.1:5432/liaison?sslmode=disable" || p.PID != 77 {
		t.Fatalf("Postgres = %+v", p)
	}
}
