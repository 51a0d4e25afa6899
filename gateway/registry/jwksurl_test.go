package registry_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/gateway/registry"
)

func keySet(t *testing.T, private bool) ([]byte, string) {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := jwk.FromRaw(raw)
	_ = k.Set(jwk.AlgorithmKey, jwa.ES256)
	_ = jwk.AssignKeyID(k)
	if !private {
		k, _ = k.PublicKey()
	}
	set := jwk.NewSet()
	_ = set.AddKey(k)
	b, _ := json.Marshal(set)
	return b, k.KeyID()
}

// TestURLKeysExpire: keys fetched from a jwks_url are served from the cache
// until they expire, then fetched again (the identity provider rotated its
// key); a set holding a private key is refused.
func TestURLKeysExpire(t *testing.T) {
	first, kid1 := keySet(t, false)
	second, kid2 := keySet(t, false)
	var mu sync.Mutex
	serve := first
	var fetches atomic.Int64
	idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(serve)
	}))
	defer idp.Close()
	u := registry.NewURLKeys(t.Context(), idp.Client(), time.Second)
	u.Apply(&registry.State{Agencies: map[string]registry.Agency{"gn-police": {Status: registry.StatusActive, JWKSURL: idp.URL + "/jwks"}}})
	set, ok, err := u.KeySet(t.Context(), "gn-police")
	if err != nil || !ok {
		t.Fatalf("first fetch: %v %v", ok, err)
	}
	if _, found := set.LookupKeyID(kid1); !found {
		t.Fatal("first set lacks its key")
	}
	if _, ok, _ := u.KeySet(t.Context(), "other"); ok {
		t.Fatal("an agency without a jwks_url has no URL keys")
	}
	mu.Lock()
	serve = second
	mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		set, _, err := u.KeySet(t.Context(), "gn-police")
		if err == nil {
			if _, found := set.LookupKeyID(kid2); found {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rotated key never replaced the cached set (%d fetches)", fetches.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A suspended agency's URL is no longer asked.
	u.Apply(&registry.State{Agencies: map[string]registry.Agency{"gn-police": {Status: registry.StatusSuspended, JWKSURL: idp.URL + "/jwks"}}})
	if _, ok, _ := u.KeySet(t.Context(), "gn-police"); ok {
		t.Fatal("keys of a suspended agency")
	}

	// A published private key is refused.
	priv, _ := keySet(t, true)
	bad := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(priv) }))
	defer bad.Close()
	u2 := registry.NewURLKeys(t.Context(), bad.Client(), time.Minute)
	u2.Apply(&registry.State{Agencies: map[string]registry.Agency{"gn-police": {Status: registry.StatusActive, JWKSURL: bad.URL + "/jwks"}}})
	if _, _, err := u2.KeySet(t.Context(), "gn-police"); err == nil {
		t.Fatal("a set with a private key was accepted")
	}
}
