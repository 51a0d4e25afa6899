package jose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

func trustedOf(t *testing.T, keys ...jwk.Key) *TrustedKeys {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		_ = set.AddKey(pub)
	}
	raw, _ := json.Marshal(set)
	tk, err := ParseTrustedKeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestSignWithKeyAndTrustedKeys(t *testing.T) {
	ed, edJWKS, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	ecRaw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec, _ := jwk.FromRaw(ecRaw)
	_ = jwk.AssignKeyID(ec)
	other, _, _ := GenerateSigningKey()
	trusted := trustedOf(t, ed, ec)
	if trusted.Len() != 2 {
		t.Fatalf("%d trusted keys", trusted.Len())
	}
	if tk, err := ParseTrustedKeys(edJWKS); err != nil || tk.Len() != 1 {
		t.Fatalf("the generated public JWKS: %v", err)
	}
	payload := []byte(`{"format":"test"}`)

	for _, k := range []jwk.Key{ed, ec} {
		sig, err := SignWithKey(k, payload)
		if err != nil {
			t.Fatal(err)
		}
		got, kid, err := trusted.Verify(sig)
		if err != nil || string(got) != string(payload) || kid != k.KeyID() {
			t.Fatalf("Verify = %q, %s, %v", got, kid, err)
		}
	}

	good, _ := SignWithKey(ed, payload)
	parts := strings.Split(good, ".")
	untrusted, _ := SignWithKey(other, payload)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+ed.KeyID()+`"}`)) + "." + parts[1] + "."
	hs := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"`+ed.KeyID()+`"}`)) + "." + parts[1] + "." + parts[2]
	altered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"format":"evil"}`)) + "." + parts[2]
	es := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"`+ed.KeyID()+`"}`)) + "." + parts[1] + "." + parts[2]
	for name, sig := range map[string]string{
		"untrusted key":      untrusted,
		"alg none":           none,
		"HMAC":               hs,
		"altered payload":    altered,
		"alg not the key's":  es,
		"not a JWS":          "hello",
		"JSON serialization": `{"payload":"e30","signatures":[]}`,
		"trailing garbage":   good + ".x",
	} {
		if _, _, err := trusted.Verify(sig); !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: Verify = %v, want ErrUntrusted", name, err)
		}
	}
}

func TestParseTrustedKeysRefuses(t *testing.T) {
	priv, _, _ := GenerateSigningKey()
	pub, _ := priv.PublicKey()
	privSet, _ := json.Marshal(map[string]any{"keys": []any{priv}})
	dup, _ := json.Marshal(map[string]any{"keys": []any{pub, pub}})
	for name, raw := range map[string][]byte{
		"private key":   privSet,
		"duplicate kid": dup,
		"empty":         []byte(`{"keys": []}`),
		"not JSON":      []byte(`keys`),
		"symmetric":     []byte(`{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}`),
	} {
		if _, err := ParseTrustedKeys(raw); !errors.Is(err, ErrKey) {
			t.Errorf("%s: ParseTrustedKeys = %v, want ErrKey", name, err)
		}
	}
}
