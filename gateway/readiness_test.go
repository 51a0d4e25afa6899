package gateway_test

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/liaison-project/liaison/deploy/devstack"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

type readiness = api.Readiness

func readyz(t *testing.T, env *gatewaytest.Env) (int, readiness) {
	t.Helper()
	resp, err := env.AdminGet("/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r readiness
	if err := api.Decode(b, &r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

// waitReady polls /readyz (only: no agency request is made meanwhile) until
// cond holds; the deadline only bounds a broken run.
func waitReady(t *testing.T, env *gatewaytest.Env, what string, cond func(int, readiness) bool) readiness {
	t.Helper()
	var last readiness
	var code int
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		code, last = readyz(t, env)
		if cond(code, last) {
			return last
		}
	}
	t.Fatalf("never %s: last /readyz %d %+v", what, code, last)
	return last
}

// TestReadyzRecoversOnItsOwn: after the audit disk fails and recovers,
// /readyz turns 200 again by itself. It used to stay 503 until a request
// happened to append successfully — which a node taken out of rotation
// never gets (issue 9 item 11).
func TestReadyzRecoversOnItsOwn(t *testing.T) {
	var full atomic.Bool
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, BuildOptions: []gateway.Option{
		gateway.WithAuditOptions(func(o *audit.Options) {
			o.ProbeInterval = 20 * time.Millisecond
			o.WriteFn = func(f *os.File, b []byte) (int, error) {
				if full.Load() {
					n, _ := f.Write(b[:len(b)/2])
					return n, syscall.ENOSPC
				}
				return f.Write(b)
			}
		}),
	}})
	if code, r := readyz(t, env); code != 200 || r.Checks["audit"] != "ok" || r.Checks["keys"] != "ok" {
		t.Fatalf("not ready at start: %d %+v", code, r)
	}
	full.Store(true)
	if r := env.Client("met-police").MustDo("POST", "/v1/records", recordBody()); r.Status != 503 {
		t.Fatalf("publish with a full audit disk: %d %s", r.Status, r.Body)
	}
	if code, r := readyz(t, env); code != 503 || r.Checks["audit"] == "ok" {
		t.Fatalf("ready while the audit log cannot be written: %d %+v", code, r)
	}
	full.Store(false)
	waitReady(t, env, "ready again after the audit disk recovered", func(code int, r readiness) bool { return code == 200 })
	if r := env.Client("met-police").MustDo("POST", "/v1/records", recordBody()); r.Status != 201 {
		t.Fatalf("publish after recovery: %d %s", r.Status, r.Body)
	}
}

// TestReadyzCoversTheKeyProvider: /readyz reports the key provider, from a
// cached health check (issue 9 item 13). Local keyring: its file gone makes
// the gateway unready; restored, ready again.
func TestReadyzCoversTheKeyProvider(t *testing.T) {
	t.Run("local_keyring", func(t *testing.T) {
		env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
		if code, r := readyz(t, env); code != 200 || r.Checks["keys"] != "ok" {
			t.Fatalf("not ready at start: %d %+v", code, r)
		}
		kr := env.Cfg.Keys.Local.Keyring
		if err := os.Rename(kr, kr+".away"); err != nil {
			t.Fatal(err)
		}
		r := waitReady(t, env, "unready with the keyring gone", func(code int, r readiness) bool { return code == 503 && r.Checks["keys"] != "ok" })
		if !strings.Contains(r.Checks["keys"], "keyring") {
			t.Fatalf("keys check does not name the keyring: %q", r.Checks["keys"])
		}
		if err := os.Rename(kr+".away", kr); err != nil {
			t.Fatal(err)
		}
		waitReady(t, env, "ready with the keyring back", func(code int, r readiness) bool { return code == 200 })
	})
	t.Run("vault_unreachable", func(t *testing.T) {
		// Nothing listens there: the gateway starts (requests fail closed
		// while the provider keeps trying) but is not ready.
		env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: gatewaytest.UseVault(t, "http://127.0.0.1:1", "root")})
		code, r := readyz(t, env)
		if code != 503 || !strings.Contains(r.Checks["keys"], "vault") {
			t.Fatalf("ready with Vault unreachable: %d %+v", code, r)
		}
	})
	t.Run("vault_sealed", func(t *testing.T) {
		v := devstack.StartVault(t)
		env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: gatewaytest.UseVault(t, v.Addr, v.Token)})
		waitReady(t, env, "ready on a live Vault", func(code int, r readiness) bool { return code == 200 && r.Checks["keys"] == "ok" })
		v.Seal(t)
		r := waitReady(t, env, "unready with Vault sealed", func(code int, r readiness) bool { return code == 503 && r.Checks["keys"] != "ok" })
		if !strings.Contains(r.Checks["keys"], "sealed") {
			t.Fatalf("keys check does not say sealed: %q", r.Checks["keys"])
		}
		v.Unseal(t)
		waitReady(t, env, "ready after unseal", func(code int, r readiness) bool { return code == 200 })
	})
}

// TestReadOnlyAuditDirVisible: an audit directory that stops taking new
// files turns /readyz 503 within a probe interval and shows in the metrics,
// and the listing index's recovery point that can no longer be saved beside
// it is counted instead of failing silently (issue 9 item 12).
func TestReadOnlyAuditDirVisible(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, BuildOptions: []gateway.Option{
		gateway.WithAuditOptions(func(o *audit.Options) { o.ProbeInterval = 20 * time.Millisecond }),
	}})
	dir := audit.LogDir(env.Cfg.Audit.Path)
	if code, _ := readyz(t, env); code != 200 {
		t.Fatal("not ready at start")
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if os.WriteFile(dir+"/ro-check", nil, 0o600) == nil {
		os.Remove(dir + "/ro-check")
		// root ignores modes: the immutable attribute stands in.
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			if devstack.Required() { // make test: a regression test must not pass by not running
				t.Fatalf("cannot make a directory read-only for this user: %v %s", err, out)
			}
			t.Skipf("cannot make a directory read-only for this user: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	}
	r := waitReady(t, env, "unready with a read-only audit dir", func(code int, r readiness) bool { return code == 503 })
	if !strings.Contains(r.Checks["audit"], "not writable") {
		t.Fatalf("audit check: %q", r.Checks["audit"])
	}
	// The open segment still takes appends: a publish may succeed, and its
	// index flush then fails to save the recovery point.
	env.Client("met-police").MustDo("POST", "/v1/records", recordBody())
	metric := func(name string) string {
		resp, err := env.AdminGet("/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, name+" ") {
				return strings.TrimPrefix(l, name+" ")
			}
		}
		return ""
	}
	if v := metric("liaison_audit_writable"); v != "0" {
		t.Fatalf("liaison_audit_writable = %q", v)
	}
	if v := metric("liaison_audit_probe_failures_total"); v == "" || v == "0" {
		t.Fatalf("liaison_audit_probe_failures_total = %q", v)
	}
	for end := time.Now().Add(20 * time.Second); metric("liaison_index_state_save_failures_total") == "0"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("index state save failure not counted")
		}
	}
	exec.Command("chattr", "-i", dir).Run()
	os.Chmod(dir, 0o700)
	waitReady(t, env, "ready once the directory is writable again", func(code int, r readiness) bool { return code == 200 })
}
