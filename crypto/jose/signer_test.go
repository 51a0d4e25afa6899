package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// ecPrivateJWK is a fresh P-256 private JWK, for "wrong key type" cases.
func ecPrivateJWK(t *testing.T) []byte {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = jwk.AssignKeyID(k)
	data, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func newSigner(t *testing.T) (*Signer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys", "gateway-signing.jwk.json")
	s, err := LoadOrCreateSigner(path)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestLoadOrCreateSigner(t *testing.T) {
	s, path := newSigner(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	t.Run("kid is the RFC 7638 thumbprint", func(t *testing.T) {
		// Recompute independently: SHA-256 over {"crv","kty","x"} in
		// lexicographic order without whitespace (RFC 8037 section 2).
		data, _ := os.ReadFile(path)
		var m map[string]string
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		canon := `{"crv":"Ed25519","kty":"OKP","x":"` + m["x"] + `"}`
		h := sha256.Sum256([]byte(canon))
		want := base64.RawURLEncoding.EncodeToString(h[:])
		if s.KeyID() != want || m["kid"] != want {
			t.Fatalf("kid %q (file %q), want %q", s.KeyID(), m["kid"], want)
		}
	})
	t.Run("reload keeps the key", func(t *testing.T) {
		again, err := LoadOrCreateSigner(path)
		if err != nil {
			t.Fatal(err)
		}
		if again.KeyID() != s.KeyID() {
			t.Fatalf("kid changed: %s -> %s", s.KeyID(), again.KeyID())
		}
		sig, err := s.Sign([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := again.Verify(sig); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("concurrent first start agrees on one key", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "k.json")
		kids := make([]string, 8)
		var wg sync.WaitGroup
		for i := range kids {
			wg.Go(func() {
				s, err := LoadOrCreateSigner(p)
				if err != nil {
					t.Error(err)
					return
				}
				kids[i] = s.KeyID()
			})
		}
		wg.Wait()
		for _, k := range kids[1:] {
			if k != kids[0] {
				t.Fatalf("different keys: %v", kids)
			}
		}
		entries, _ := os.ReadDir(filepath.Dir(p))
		if len(entries) != 1 {
			t.Fatalf("temporary files left: %v", entries)
		}
	})

	bad := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"not JSON", func(*testing.T) []byte { return []byte("garbage") }},
		{"EC key", func(t *testing.T) []byte { return ecPrivateJWK(t) }},
		{"kid not the thumbprint", func(t *testing.T) []byte {
			data, _ := os.ReadFile(path)
			var m map[string]string
			_ = json.Unmarshal(data, &m)
			m["kid"] = "someone-elses-kid"
			out, _ := json.Marshal(m)
			return out
		}},
		{"public key only", func(t *testing.T) []byte {
			jwks, _ := s.PublicJWKS()
			set, _ := jwk.Parse(jwks)
			k, _ := set.Key(0)
			out, _ := json.Marshal(k)
			return out
		}},
	}
	for _, tt := range bad {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k.json")
			if err := os.WriteFile(p, tt.data(t), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateSigner(p); !errors.Is(err, ErrKey) {
				t.Fatalf("err = %v, want ErrKey", err)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	s, _ := newSigner(t)
	payload := []byte(`{"id":"rec-1","version":3,"handling":"P","digest":"sha256:abc"}`)
	sig, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := jws.Parse(sig)
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.KeyID() != s.KeyID() || h.Algorithm() != jwa.EdDSA {
		t.Fatalf("header kid=%q alg=%v", h.KeyID(), h.Algorithm())
	}
	got, err := s.Verify(sig)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("Verify = %q, %v", got, err)
	}

	t.Run("stand-alone verifier from the public JWKS", func(t *testing.T) {
		jwks, err := s.PublicJWKS()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(jwks, []byte(`"d"`)) {
			t.Fatal("public JWKS carries the private key")
		}
		v, err := NewVerifier(jwks)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(sig)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("Verify = %q, %v", got, err)
		}
		other, _ := newSigner(t)
		foreign, _ := other.Sign(payload)
		if _, err := v.Verify(foreign); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("foreign signature: err = %v", err)
		}
	})

	t.Run("every single-byte change is detected", func(t *testing.T) {
		for i := range sig {
			for _, mask := range []byte{0x01, 0x02, 0x04, 0x20, 0x40} {
				bad := bytes.Clone(sig)
				bad[i] ^= mask
				if _, err := s.Verify(bad); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("byte %d ^ %#x: err = %v", i, mask, err)
				}
			}
		}
	})

	forge := func(header map[string]any, payload []byte, sigPart string) []byte {
		h, _ := json.Marshal(header)
		enc := base64.RawURLEncoding.EncodeToString
		return []byte(enc(h) + "." + enc(payload) + "." + sigPart)
	}
	parts := strings.Split(string(sig), ".")
	hmacKey := make([]byte, 32)
	hs, _ := jws.Sign(payload, jws.WithKey(jwa.HS256, hmacKey))
	_, rawEd, _ := ed25519.GenerateKey(rand.Reader)
	impostor, _ := jwk.FromRaw(rawEd)
	_ = impostor.Set(jwk.KeyIDKey, s.KeyID())
	impostorSig, _ := jws.Sign(payload, jws.WithKey(jwa.EdDSA, impostor))
	tampered := []struct {
		name string
		jws  []byte
	}{
		{"truncated", sig[:len(sig)-1]},
		{"appended byte", append(bytes.Clone(sig), 'A')},
		{"appended padding", append(bytes.Clone(sig), '=')},
		{"empty", nil},
		{"other payload, same signature", forge(map[string]any{"alg": "EdDSA", "kid": s.KeyID()}, []byte(`{"id":"rec-2"}`), parts[2])},
		{"alg none", forge(map[string]any{"alg": "none", "kid": s.KeyID()}, payload, "")},
		{"HS256", hs},
		{"impostor key with our kid", impostorSig},
		{"unknown kid", forge(map[string]any{"alg": "EdDSA", "kid": "nope"}, payload, parts[2])},
		{"JSON serialisation", []byte(`{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`)},
	}
	for _, tt := range tampered {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Verify(tt.jws); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("err = %v, want ErrBadSignature", err)
			}
		})
	}
	if _, err := s.Sign(nil); err == nil {
		t.Fatal("signed an empty payload")
	}
}

func TestNewVerifierRejects(t *testing.T) {
	s, path := newSigner(t)
	priv, _ := os.ReadFile(path)
	pubJWKS, _ := s.PublicJWKS()
	ecKey, err := jwk.ParseKey(ecPrivateJWK(t))
	if err != nil {
		t.Fatal(err)
	}
	ecPub, _ := ecKey.PublicKey()
	ecPubJSON, _ := json.Marshal(ecPub)
	tests := []struct {
		name string
		data string
	}{
		{"not JSON", "nope"},
		{"empty set", `{"keys":[]}`},
		{"private key", `{"keys":[` + string(priv) + `]}`},
		{"EC key", `{"keys":[` + string(ecPubJSON) + `]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier([]byte(tt.data)); !errors.Is(err, ErrKey) {
				t.Fatalf("err = %v, want ErrKey", err)
			}
		})
	}
	t.Run("duplicate kid", func(t *testing.T) {
		var set struct{ Keys []json.RawMessage }
		_ = json.Unmarshal(pubJWKS, &set)
		dup := `{"keys":[` + string(set.Keys[0]) + `,` + string(set.Keys[0]) + `]}`
		if _, err := NewVerifier([]byte(dup)); !errors.Is(err, ErrKey) {
			t.Fatalf("err = %v, want ErrKey", err)
		}
	})
}

func BenchmarkGatewayVerify(b *testing.B) {
	s, err := LoadOrCreateSigner(filepath.Join(b.TempDir(), "k.json"))
	if err != nil {
		b.Fatal(err)
	}
	sig, err := s.Sign(bytes.Repeat([]byte("m"), 1024))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(sig); err != nil {
			b.Fatal(err)
		}
	}
}
