package jose

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"testing"
)

// A key set whose Ed25519 key has a short or empty "x" is refused when the
// verifier is built (jwx accepts it, and crypto/ed25519 panics on it at
// verification; found by gateway/audit FuzzCheckProof).
func TestNewVerifierRefusesEd25519KeysOfTheWrongLength(t *testing.T) {
	for _, x := range []string{"", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		jwks := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"` + x + `"}]}`)
		if _, err := NewVerifier(jwks); err == nil {
			t.Fatalf("x %q accepted", x)
		}
	}
}

// SignEd25519 signs with the key the JWKS publishes: Ed25519Keys verifies
// it, and it is the same key that verifies the JWS form.
func TestSignEd25519VerifiesWithThePublishedKey(t *testing.T) {
	s, err := LoadOrCreateSigner(filepath.Join(t.TempDir(), "k.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("liaison.audit/gw-1\n1\nAAAA\n")
	sig, err := s.SignEd25519(msg)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := s.PublicJWKS()
	v, err := NewVerifier(jwks)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := v.Ed25519Keys()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if !ed25519.Verify(keys[0], msg, sig) || ed25519.Verify(keys[0], append(bytes.Clone(msg), 'x'), sig) {
		t.Fatal("the bare signature does not verify with the published key (or verifies another message)")
	}
}
