package vault

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/liaison-project/liaison/connectors/keys"
)

// TestHealth: the readiness check asks sys/health only (no token, no
// Transit call) and reports sealed, uninitialised and unreachable Vaults
// as unavailable. The real Vault is covered by the gateway's readiness test.
func TestHealth(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // "" = healthy
	}{
		{"ok", `{"initialized":true,"sealed":false,"standby":false}`, ""},
		{"standby_ok", `{"initialized":true,"sealed":false,"standby":true}`, ""},
		{"sealed", `{"initialized":true,"sealed":true}`, "sealed"},
		{"uninitialised", `{"initialized":false,"sealed":true}`, "not initialised"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var other atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/sys/health" {
					other.Add(1)
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(299) // what Vault answers for the codes the client asks to remap
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			err := newProvider(t, tokenConfig(srv.URL, "t")).Health(t.Context())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Health: %v", err)
			case tc.want != "" && (!errors.Is(err, keys.ErrUnavailable) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Health: %v, want unavailable, %q", err, tc.want)
			}
			if other.Load() != 0 {
				t.Fatal("the health check made other Vault calls")
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		err := newProvider(t, tokenConfig("http://127.0.0.1:1", "t")).Health(t.Context())
		if !errors.Is(err, keys.ErrUnavailable) {
			t.Fatalf("Health of a dead address: %v", err)
		}
	})
}
