package vault

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/keys/keystest"
	"github.com/liaison-project/liaison/deploy/devstack"
)

// tokenConfig is a provider config for a Vault reached with a token.
func tokenConfig(addr, token string) Config {
	return Config{Address: addr, AutoCreate: true, Auth: AuthConfig{Method: AuthToken, Token: token}}
}

func newProvider(t testing.TB, cfg Config) *Provider {
	t.Helper()
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// cleanupKey deletes a transit key when the test ends (best effort).
func cleanupKey(t testing.TB, p *Provider, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Delete(ctx, name)
	})
}

func TestConformance(t *testing.T) {
	e := devstack.Vault(t)
	keystest.Run(t, func(t *testing.T) keys.Provider {
		return newProvider(t, tokenConfig(e.Addr, e.Token))
	})
}

func TestKeyNamePattern(t *testing.T) {
	e := devstack.Vault(t)
	cfg := tokenConfig(e.Addr, e.Token)
	cfg.KeyNamePattern = "agency-{name}-kek"
	p := newProvider(t, cfg)
	name := keystest.UniqueName(t)
	cleanupKey(t, p, name)
	if _, err := p.GenerateDataKey(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	out, err := devstack.VaultRequest(e.Addr, e.Token, http.MethodGet, "/v1/transit/keys/agency-"+name+"-kek", nil)
	if err != nil {
		t.Fatalf("transit key under the configured name: %v", err)
	}
	if data, _ := out["data"].(map[string]any); data["type"] != "aes256-gcm96" {
		t.Fatalf("key type = %v, want aes256-gcm96", data["type"])
	}
}

func TestNoAutoCreate(t *testing.T) {
	e := devstack.Vault(t)
	cfg := tokenConfig(e.Addr, e.Token)
	cfg.AutoCreate = false
	p := newProvider(t, cfg)
	name := keystest.UniqueName(t)
	cleanupKey(t, p, name)
	if _, err := p.GenerateDataKey(t.Context(), name); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("GenerateDataKey of a missing key without auto_create: err = %v, want ErrNotFound", err)
	}
	if _, err := p.Info(t.Context(), name); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("key was created anyway: Info err = %v", err)
	}
}

// TestPermissionDenied uses a token whose policy allows decrypting but not
// generating data keys: the error must say which capability on which path.
func TestPermissionDenied(t *testing.T) {
	e := devstack.Vault(t)
	admin := newProvider(t, tokenConfig(e.Addr, e.Token))
	name := keystest.UniqueName(t)
	cleanupKey(t, admin, name)
	dk, err := admin.GenerateDataKey(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}

	policy := "liaison-test-decrypt-only-" + name
	hcl := `path "transit/decrypt/*" { capabilities = ["update"] }
path "transit/keys/*" { capabilities = ["read"] }`
	if _, err := devstack.VaultRequest(e.Addr, e.Token, http.MethodPut, "/v1/sys/policies/acl/"+policy, map[string]any{"policy": hcl}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = devstack.VaultRequest(e.Addr, e.Token, http.MethodDelete, "/v1/sys/policies/acl/"+policy, nil)
	})
	out, err := devstack.VaultRequest(e.Addr, e.Token, http.MethodPost, "/v1/auth/token/create", map[string]any{"policies": []string{policy}, "ttl": "10m"})
	if err != nil {
		t.Fatal(err)
	}
	limited := out["auth"].(map[string]any)["client_token"].(string)

	p := newProvider(t, tokenConfig(e.Addr, limited))
	_, err = p.GenerateDataKey(t.Context(), name)
	if !errors.Is(err, keys.ErrPermissionDenied) {
		t.Fatalf("GenerateDataKey: err = %v, want ErrPermissionDenied", err)
	}
	want := fmt.Sprintf(`"update" on transit/datakey/plaintext/liaison-%s`, name)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the missing capability (%s)", err, want)
	}
	if strings.Contains(err.Error(), limited) {
		t.Fatal("error contains the token")
	}
	if err := p.Rotate(t.Context(), name); !errors.Is(err, keys.ErrPermissionDenied) || !strings.Contains(err.Error(), "transit/keys/liaison-"+name+"/rotate") {
		t.Fatalf("Rotate: err = %v, want ErrPermissionDenied naming the rotate path", err)
	}
	// What the policy allows still works.
	got, err := p.UnwrapDataKey(t.Context(), name, dk.Wrapped)
	if err != nil || !bytes.Equal(got, dk.Plaintext) {
		t.Fatalf("UnwrapDataKey with decrypt capability: %v", err)
	}
	if ki, err := p.Info(t.Context(), name); err != nil || ki.LatestVersion != 1 {
		t.Fatalf("Info with read capability = %+v, %v", ki, err)
	}
}

func TestStartChecksToken(t *testing.T) {
	e := devstack.Vault(t)
	good := newProvider(t, tokenConfig(e.Addr, e.Token))
	if err := good.Start(t.Context()); err != nil {
		t.Fatalf("Start with the root token: %v", err)
	}
	bad := newProvider(t, tokenConfig(e.Addr, "hvs.not-a-real-token"))
	err := bad.Start(t.Context())
	if !errors.Is(err, keys.ErrPermissionDenied) || !strings.Contains(err.Error(), "lookup-self") {
		t.Fatalf("Start with an invalid token: err = %v, want ErrPermissionDenied at lookup-self", err)
	}
	if strings.Contains(err.Error(), "not-a-real-token") {
		t.Fatal("error contains the token")
	}
	// Vault down at start is not fatal: requests fail closed meanwhile and
	// the background loop keeps trying.
	down := newProvider(t, tokenConfig("http://127.0.0.1:1", e.Token))
	if err := down.Start(t.Context()); err != nil {
		t.Fatalf("Start with Vault unreachable: %v, want nil", err)
	}
	if _, err := down.GenerateDataKey(t.Context(), "x"); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("GenerateDataKey with Vault unreachable: %v, want ErrUnavailable", err)
	}
}

// TestRetries puts a fault-injecting reverse proxy in front of the real
// Vault and counts the requests that reach it.
func TestRetries(t *testing.T) {
	e := devstack.Vault(t)
	target, err := url.Parse(e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	admin := newProvider(t, tokenConfig(e.Addr, e.Token))
	name := keystest.UniqueName(t)
	cleanupKey(t, admin, name)
	if _, err := admin.GenerateDataKey(t.Context(), name); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		status   int
		body     string
		failures int // injected before passing through; -1 = always
		wantErr  error
		wantHits int64
	}{
		{"429_twice_then_ok", http.StatusTooManyRequests, `{"errors":["rate limited"]}`, 2, nil, 3},
		{"502_once_then_ok", http.StatusBadGateway, `bad gateway`, 1, nil, 2},
		{"500_always", http.StatusInternalServerError, `{"errors":["internal error"]}`, -1, keys.ErrUnavailable, 3},
		{"503_always", http.StatusServiceUnavailable, `{"errors":["overloaded"]}`, -1, keys.ErrUnavailable, 3},
		{"sealed_not_retried", http.StatusServiceUnavailable, `{"errors":["Vault is sealed"]}`, -1, keys.ErrUnavailable, 1},
		{"403_not_retried", http.StatusForbidden, `{"errors":["permission denied"]}`, -1, keys.ErrPermissionDenied, 1},
		{"400_key_not_found", http.StatusBadRequest, `{"errors":["encryption key not found"]}`, -1, keys.ErrNotFound, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			proxy := httputil.NewSingleHostReverseProxy(target)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := hits.Add(1)
				if tc.failures < 0 || n <= int64(tc.failures) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(tc.body))
					return
				}
				proxy.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			cfg := tokenConfig(srv.URL, e.Token)
			cfg.AutoCreate = false // the key exists; count only the datakey calls
			p := newProvider(t, cfg)
			dk, err := p.GenerateDataKey(t.Context(), name)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("GenerateDataKey: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("GenerateDataKey: err = %v, want %v", err, tc.wantErr)
			}
			if got := hits.Load(); got != tc.wantHits {
				t.Fatalf("requests reaching Vault = %d, want %d", got, tc.wantHits)
			}
			if tc.wantErr != nil {
				if len(dk.Plaintext) != 0 || len(dk.Wrapped) != 0 {
					t.Fatal("key material returned with an error")
				}
				return
			}
			// The key that survived the retries is a real one.
			got, err := admin.UnwrapDataKey(t.Context(), name, dk.Wrapped)
			if err != nil || !bytes.Equal(got, dk.Plaintext) {
				t.Fatalf("unwrap of the retried data key: %v", err)
			}
		})
	}

	t.Run("connection_refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := "http://" + l.Addr().String()
		l.Close()
		p := newProvider(t, tokenConfig(addr, e.Token))
		if _, err := p.GenerateDataKey(t.Context(), name); !errors.Is(err, keys.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
}

// TestSealedVault seals a private Vault: requests fail closed with
// ErrUnavailable, and the same Provider works again after unsealing.
func TestSealedVault(t *testing.T) {
	srv := devstack.StartVault(t)
	p := newProvider(t, tokenConfig(srv.Addr, srv.Token))
	ctx := t.Context()
	dk, err := p.GenerateDataKey(ctx, "met-police")
	if err != nil {
		t.Fatal(err)
	}

	srv.Seal(t)
	t.Cleanup(func() { srv.Unseal(t) }) // harmless if already unsealed
	if _, err := p.GenerateDataKey(ctx, "met-police"); !errors.Is(err, keys.ErrUnavailable) || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("GenerateDataKey while sealed: err = %v, want ErrUnavailable (sealed)", err)
	}
	if pt, err := p.UnwrapDataKey(ctx, "met-police", dk.Wrapped); !errors.Is(err, keys.ErrUnavailable) || len(pt) != 0 {
		t.Fatalf("UnwrapDataKey while sealed: err = %v, want ErrUnavailable", err)
	}

	srv.Unseal(t)
	got, err := p.UnwrapDataKey(ctx, "met-police", dk.Wrapped)
	if err != nil || !bytes.Equal(got, dk.Plaintext) {
		t.Fatalf("UnwrapDataKey after unseal: %v", err)
	}
	if _, err := p.GenerateDataKey(ctx, "met-police"); err != nil {
		t.Fatalf("GenerateDataKey after unseal: %v", err)
	}
}

// TestHungVault freezes a private Vault (SIGSTOP): calls time out and fail
// closed with ErrUnavailable; after SIGCONT the same Provider works.
func TestHungVault(t *testing.T) {
	srv := devstack.StartVault(t)
	cfg := tokenConfig(srv.Addr, srv.Token)
	cfg.RequestTimeout = 300 * time.Millisecond
	cfg.MaxAttempts = 2
	p := newProvider(t, cfg)
	ctx := t.Context()
	dk, err := p.GenerateDataKey(ctx, "nca")
	if err != nil {
		t.Fatal(err)
	}

	srv.Freeze(t)
	_, genErr := p.GenerateDataKey(ctx, "nca")
	pt, unwrapErr := p.UnwrapDataKey(ctx, "nca", dk.Wrapped)
	srv.Thaw(t)
	if !errors.Is(genErr, keys.ErrUnavailable) {
		t.Fatalf("GenerateDataKey on a hung Vault: err = %v, want ErrUnavailable", genErr)
	}
	if !errors.Is(unwrapErr, keys.ErrUnavailable) || len(pt) != 0 {
		t.Fatalf("UnwrapDataKey on a hung Vault: err = %v, want ErrUnavailable", unwrapErr)
	}

	got, err := p.UnwrapDataKey(ctx, "nca", dk.Wrapped)
	if err != nil || !bytes.Equal(got, dk.Plaintext) {
		t.Fatalf("UnwrapDataKey after recovery: %v", err)
	}
}

// setupAppRole enables AppRole on a private Vault with a role whose tokens
// live ttl seconds (renewable up to maxTTL) and may use transit.
func setupAppRole(t *testing.T, srv *devstack.VaultServer, ttl, maxTTL string) (roleID, secretID string) {
	t.Helper()
	srv.Root(t, http.MethodPost, "/v1/sys/auth/approle", map[string]any{"type": "approle"})
	srv.Root(t, http.MethodPut, "/v1/sys/policies/acl/liaison", map[string]any{
		"policy": `path "transit/*" { capabilities = ["create", "read", "update", "delete"] }`,
	})
	srv.Root(t, http.MethodPost, "/v1/auth/approle/role/gateway", map[string]any{
		"token_policies": []string{"liaison"},
		"token_ttl":      ttl,
		"token_max_ttl":  maxTTL,
	})
	out := srv.Root(t, http.MethodGet, "/v1/auth/approle/role/gateway/role-id", nil)
	roleID = out["data"].(map[string]any)["role_id"].(string)
	out = srv.Root(t, http.MethodPost, "/v1/auth/approle/role/gateway/secret-id", nil)
	secretID = out["data"].(map[string]any)["secret_id"].(string)
	return roleID, secretID
}

// TestAppRole logs in with AppRole, renews the short-lived token, logs in
// again when renewal reaches the max TTL, and keeps serving throughout.
func TestAppRole(t *testing.T) {
	srv := devstack.StartVault(t)
	roleID, secretID := setupAppRole(t, srv, "3s", "6s")
	secretFile := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(secretFile, []byte(secretID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		auth AuthConfig
	}{
		{"secret_id", AuthConfig{Method: AuthAppRole, RoleID: roleID, SecretID: secretID}},
		{"secret_id_file", AuthConfig{Method: AuthAppRole, RoleID: roleID, SecretIDFile: secretFile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VAULT_TOKEN", "") // must not be picked up
			core, logs := observer.New(zap.DebugLevel)
			p, err := New(Config{Address: srv.Addr, AutoCreate: true, Auth: tc.auth}, zap.New(core))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			ctx := t.Context()
			if err := p.Start(ctx); err != nil {
				t.Fatalf("Start: %v", err)
			}
			first := p.client.Token()
			if first == "" || first == srv.Token {
				t.Fatal("no AppRole token after Start")
			}
			dk, err := p.GenerateDataKey(ctx, "agency-"+tc.name[:6])
			if err != nil {
				t.Fatal(err)
			}

			// Wait (bounded) for at least one renewal and one re-login at
			// max TTL; the 6s max TTL makes both happen within seconds.
			deadline := time.Now().Add(60 * time.Second)
			for p.auth.renewals.Load() < 1 || p.loginCount() < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("after 60s: %d renewals, %d logins; want ≥1 and ≥2", p.auth.renewals.Load(), p.loginCount())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if p.client.Token() == first {
				t.Fatal("token unchanged after re-login")
			}
			// The first token has expired by now or soon will; the provider
			// serves on its new one.
			got, err := p.UnwrapDataKey(ctx, "agency-"+tc.name[:6], dk.Wrapped)
			if err != nil || !bytes.Equal(got, dk.Plaintext) {
				t.Fatalf("UnwrapDataKey on the renewed session: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}

			// The log tells the story without a single credential.
			if logs.FilterMessage("vault token obtained").Len() < 2 || logs.FilterMessage("vault token renewed").Len() < 1 {
				t.Errorf("log lacks logins or renewals: %d entries", logs.Len())
			}
			secrets := []string{secretID, first, p.client.Token()}
			for _, entry := range logs.All() {
				line := entry.Message + fmt.Sprint(entry.ContextMap())
				for _, s := range secrets {
					if strings.Contains(line, s) {
						t.Fatalf("log entry %q contains a credential", entry.Message)
					}
				}
			}
		})
	}

	t.Run("lazy_login_without_start", func(t *testing.T) {
		p := newProvider(t, Config{Address: srv.Addr, AutoCreate: true, Auth: AuthConfig{Method: AuthAppRole, RoleID: roleID, SecretID: secretID}})
		if _, err := p.GenerateDataKey(t.Context(), "lazy"); err != nil {
			t.Fatalf("GenerateDataKey without Start: %v", err)
		}
	})
	t.Run("relogin_after_revocation", func(t *testing.T) {
		p := newProvider(t, Config{Address: srv.Addr, AutoCreate: true, Auth: AuthConfig{Method: AuthAppRole, RoleID: roleID, SecretID: secretID}})
		if _, err := p.GenerateDataKey(t.Context(), "revoked"); err != nil {
			t.Fatal(err)
		}
		srv.Root(t, http.MethodPost, "/v1/auth/token/revoke", map[string]any{"token": p.client.Token()})
		// The 403 of the revoked token triggers one fresh login.
		if _, err := p.GenerateDataKey(t.Context(), "revoked"); err != nil {
			t.Fatalf("GenerateDataKey after the token was revoked: %v", err)
		}
	})
	t.Run("bad_secret_id", func(t *testing.T) {
		p := newProvider(t, Config{Address: srv.Addr, Auth: AuthConfig{Method: AuthAppRole, RoleID: roleID, SecretID: "00000000-0000-0000-0000-000000000000"}})
		err := p.Start(t.Context())
		if !errors.Is(err, keys.ErrPermissionDenied) {
			t.Fatalf("Start with a wrong secret_id: err = %v, want ErrPermissionDenied", err)
		}
		if strings.Contains(err.Error(), "00000000-0000") {
			t.Fatal("error contains the secret_id")
		}
	})
}

// TestShredIsPermanent checks that SetMinDecryptionVersion trims the old
// versions out of Vault: even an administrator lowering
// min_decryption_version again cannot bring a shredded data key back.
func TestShredIsPermanent(t *testing.T) {
	e := devstack.Vault(t)
	p := newProvider(t, tokenConfig(e.Addr, e.Token))
	name := keystest.UniqueName(t)
	cleanupKey(t, p, name)
	ctx := t.Context()
	old, err := p.GenerateDataKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rotate(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := p.SetMinDecryptionVersion(ctx, name, 2); err != nil {
		t.Fatal(err)
	}
	// An administrator tries to undo the shredding (Vault may refuse).
	_, _ = devstack.VaultRequest(e.Addr, e.Token, http.MethodPost, "/v1/transit/keys/liaison-"+name+"/config", map[string]any{"min_decryption_version": 1})
	if pt, err := p.UnwrapDataKey(ctx, name, old.Wrapped); !errors.Is(err, keys.ErrInvalidCiphertext) || len(pt) != 0 {
		t.Fatalf("UnwrapDataKey of a shredded key after an undo attempt: err = %v, want ErrInvalidCiphertext", err)
	}
	// Lowering through the provider is refused outright.
	if err := p.SetMinDecryptionVersion(ctx, name, 1); !errors.Is(err, ErrVersion) {
		t.Fatalf("SetMinDecryptionVersion(1) after 2: err = %v, want ErrVersion", err)
	}
}

func TestRewrapBatch(t *testing.T) {
	e := devstack.Vault(t)
	p := newProvider(t, tokenConfig(e.Addr, e.Token))
	name := keystest.UniqueName(t)
	cleanupKey(t, p, name)
	ctx := t.Context()

	const n = 300 // more than one chunk
	dks := make([]keys.DataKey, n)
	wrapped := make([][]byte, n)
	for i := range dks {
		dk, err := p.GenerateDataKey(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		dks[i], wrapped[i] = dk, dk.Wrapped
	}
	if err := p.Rotate(ctx, name); err != nil {
		t.Fatal(err)
	}
	bad := map[int]bool{7: true, 260: true, 299: true}
	wrapped[7] = []byte("not-a-vault-ciphertext")
	wrapped[260] = []byte("vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	c := bytes.Clone(wrapped[299])
	c[len(c)/2] ^= 1
	wrapped[299] = c

	out, err := p.RewrapBatch(ctx, name, wrapped)
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, keys.ErrInvalidCiphertext) {
		t.Fatalf("RewrapBatch: err = %v, want *BatchError wrapping ErrInvalidCiphertext", err)
	}
	if len(be.Failed) != len(bad) {
		t.Fatalf("failed items = %v, want exactly %v", be.Failed, bad)
	}
	for i := range out {
		if bad[i] {
			if _, ok := be.Failed[i]; !ok || out[i] != nil {
				t.Fatalf("item %d: not reported as failed", i)
			}
			continue
		}
		if v, err := p.WrappedVersion(out[i]); err != nil || v != 2 {
			t.Fatalf("item %d: version %d, %v; want 2", i, v, err)
		}
	}
	// Spot-check that rewrapped keys unwrap to the original data keys.
	for _, i := range []int{0, 249, 250, 298} {
		got, err := p.UnwrapDataKey(ctx, name, out[i])
		if err != nil || !bytes.Equal(got, dks[i].Plaintext) {
			t.Fatalf("item %d: unwrap of rewrapped key: %v", i, err)
		}
	}

	t.Run("all_good", func(t *testing.T) {
		out, err := p.RewrapBatch(ctx, name, [][]byte{dks[0].Wrapped, dks[1].Wrapped})
		if err != nil || len(out) != 2 || out[0] == nil || out[1] == nil {
			t.Fatalf("RewrapBatch = %d items, %v", len(out), err)
		}
	})
	t.Run("all_bad", func(t *testing.T) {
		_, err := p.RewrapBatch(ctx, name, [][]byte{wrapped[260], wrapped[299]})
		if !errors.As(err, &be) || len(be.Failed) != 2 {
			t.Fatalf("RewrapBatch of only bad items: err = %v", err)
		}
	})
	t.Run("missing_key", func(t *testing.T) {
		_, err := p.RewrapBatch(ctx, keystest.UniqueName(t), [][]byte{dks[0].Wrapped})
		if !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("RewrapBatch under a missing key: err = %v, want ErrNotFound", err)
		}
	})
}

func TestWrappedVersion(t *testing.T) {
	cases := []struct {
		in   string
		want int // 0 = error
	}{
		{"vault:v1:abcd", 1},
		{"vault:v42:abcd", 42},
		{"vault:v0:abcd", 0},
		{"vault:v01:abcd", 0},
		{"vault:v-1:abcd", 0},
		{"vault:v1:", 0},
		{"vault:v1", 0},
		{"vault:vx:abcd", 0},
		{"vault:v99999999999:abcd", 0},
		{"wault:v1:abcd", 0},
		{"", 0},
	}
	var p Provider
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := p.WrappedVersion([]byte(tc.in))
			if tc.want == 0 {
				if err == nil || !errors.Is(err, keys.ErrInvalidCiphertext) {
					t.Fatalf("WrappedVersion = %d, %v; want ErrInvalidCiphertext", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("WrappedVersion = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	t.Setenv("VAULT_ADDR", "")
	t.Setenv("VAULT_TOKEN", "")
	good := Config{Address: "https://vault.example:8200", Auth: AuthConfig{Token: "t"}}
	cases := []struct {
		name   string
		modify func(*Config)
		field  string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no_address", func(c *Config) { c.Address = "" }, "address"},
		{"address_not_url", func(c *Config) { c.Address = "vault:8200" }, "address"},
		{"pattern_without_name", func(c *Config) { c.KeyNamePattern = "fixed" }, "key_name_pattern"},
		{"pattern_with_slash", func(c *Config) { c.KeyNamePattern = "a/{name}" }, "key_name_pattern"},
		{"no_token", func(c *Config) { c.Auth.Token = "" }, "auth.token"},
		{"unknown_method", func(c *Config) { c.Auth.Method = "ldap" }, "auth.method"},
		{"approle_no_role", func(c *Config) { c.Auth = AuthConfig{Method: AuthAppRole, SecretID: "s"} }, "auth.role_id"},
		{"approle_no_secret", func(c *Config) { c.Auth = AuthConfig{Method: AuthAppRole, RoleID: "r"} }, "auth.secret_id"},
		{"approle_both_secrets", func(c *Config) {
			c.Auth = AuthConfig{Method: AuthAppRole, RoleID: "r", SecretID: "s", SecretIDFile: "/f"}
		}, "auth.secret_id"},
		{"approle_ok", func(c *Config) { c.Auth = AuthConfig{Method: AuthAppRole, RoleID: "r", SecretID: "s"} }, ""},
		{"kubernetes_no_role", func(c *Config) { c.Auth = AuthConfig{Method: AuthKubernetes} }, "auth.role"},
		{"kubernetes_ok", func(c *Config) { c.Auth = AuthConfig{Method: AuthKubernetes, Role: "liaison"} }, ""},
		{"missing_ca_file", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "ca_file"},
		{"negative_timeout", func(c *Config) { c.RequestTimeout = -1 }, "request_timeout"},
		{"too_many_attempts", func(c *Config) { c.MaxAttempts = 11 }, "max_attempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.modify(&c)
			_, err := New(c, nil)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "config: "+tc.field) {
				t.Fatalf("New: err = %v, want ErrConfig naming %q", err, tc.field)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		c, err := good.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if c.Mount != DefaultMount || c.KeyNamePattern != DefaultKeyNamePattern || c.KeyType != DefaultKeyType ||
			c.RequestTimeout != DefaultRequestTimeout || c.MaxAttempts != DefaultMaxAttempts || c.Auth.Method != AuthToken {
			t.Fatalf("defaults not applied: %+v", c)
		}
	})
	t.Run("env_fallbacks", func(t *testing.T) {
		t.Setenv("VAULT_ADDR", "http://127.0.0.1:8200")
		t.Setenv("VAULT_TOKEN", "from-env")
		p, err := New(Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.client.Token() != "from-env" {
			t.Fatal("VAULT_TOKEN not used")
		}
	})
	t.Run("secrets_redacted", func(t *testing.T) {
		c := good
		c.Auth.Token = "hvs.very-secret-token"
		c.Auth.SecretID = "very-secret-id"
		for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), c.Auth.String()} {
			if strings.Contains(s, "very-secret") {
				t.Fatalf("secret printed: %s", s)
			}
		}
	})
	t.Run("tls", func(t *testing.T) {
		// A real TLS server standing in for Vault, with its own CA.
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"data":{"name":"liaison-x","latest_version":3,"min_decryption_version":2}}`))
		}))
		t.Cleanup(srv.Close)
		caFile := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		// VAULT_SKIP_VERIFY and VAULT_CACERT must not weaken or replace
		// the configured verification.
		t.Setenv("VAULT_SKIP_VERIFY", "true")
		t.Setenv("VAULT_CACERT", caFile)

		untrusted := newProvider(t, Config{Address: srv.URL, MaxAttempts: 1, Auth: AuthConfig{Token: "t"}})
		if _, err := untrusted.Info(t.Context(), "x"); !errors.Is(err, keys.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Info against an unknown CA: err = %v, want a certificate failure", err)
		}
		trusted := newProvider(t, Config{Address: srv.URL, CAFile: caFile, Auth: AuthConfig{Token: "t"}})
		ki, err := trusted.Info(t.Context(), "x")
		if err != nil || ki.LatestVersion != 3 || ki.MinDecryptionVersion != 2 || ki.Name != "x" {
			t.Fatalf("Info with ca_file = %+v, %v", ki, err)
		}
	})
}

// BenchmarkGenerateDataKey measures one data key from the real Vault (one
// HTTP round trip), for the "records per Vault call" estimate together
// with crypto/envelope's data-key cache.
func BenchmarkGenerateDataKey(b *testing.B) {
	e := devstack.Vault(b)
	p := newProvider(b, tokenConfig(e.Addr, e.Token))
	name := keystest.UniqueName(b)
	cleanupKey(b, p, name)
	ctx := context.Background()
	if _, err := p.GenerateDataKey(ctx, name); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.GenerateDataKey(ctx, name); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.GenerateDataKey(ctx, name); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkUnwrapDataKey measures one unwrap (transit/decrypt) round trip.
func BenchmarkUnwrapDataKey(b *testing.B) {
	e := devstack.Vault(b)
	p := newProvider(b, tokenConfig(e.Addr, e.Token))
	name := keystest.UniqueName(b)
	cleanupKey(b, p, name)
	ctx := context.Background()
	dk, err := p.GenerateDataKey(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.UnwrapDataKey(ctx, name, dk.Wrapped); err != nil {
			b.Fatal(err)
		}
	}
}
