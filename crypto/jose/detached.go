package jose

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Helpers for documents signed by people rather than by the gateway: a
// security officer signs a policy bundle's manifest with a personal key;
// gateways verify it against a list of trusted public keys.

// ErrUntrusted: a JWS is malformed, uses an algorithm that is not allowed,
// names a key that is not trusted, or does not verify.
var ErrUntrusted = errors.New("jose: signature not trusted")

// maxSignedDocument bounds what VerifyWithSet parses.
const maxSignedDocument = 1 << 20

// SignWithKey returns a compact JWS over payload made with a private
// signing JWK (as LoadPrivateJWK returns it), with the key's kid and the
// algorithm its type calls for (ES256, ES384, EdDSA or PS256 unless the key
// names another allowed one).
func SignWithKey(key jwk.Key, payload []byte) (string, error) {
	if len(payload) == 0 {
		return "", errors.New("jose: empty payload")
	}
	alg, err := signingAlg(key)
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, key.KeyID()); err != nil {
		return "", fmt.Errorf("jose: header: %w", err)
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("jose: sign: %w", err)
	}
	return string(out), nil
}

// TrustedKeys is a set of public verification keys by kid.
type TrustedKeys struct {
	keys map[string]jwk.Key
}

// ParseTrustedKeys reads a JWKS of public keys. Private keys are refused (a
// trust list holding one is a mistake that leaks a signing key), as are
// duplicate kids and symmetric keys. A key without a kid gets its RFC 7638
// thumbprint.
func ParseTrustedKeys(jwks []byte) (*TrustedKeys, error) {
	set, err := jwk.Parse(jwks)
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWK set", ErrKey)
	}
	t := &TrustedKeys{keys: map[string]jwk.Key{}}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if priv, err := jwk.IsPrivateKey(k); err != nil || priv {
			return nil, fmt.Errorf("%w: key %d is not a public key", ErrKey, i)
		}
		kid := k.KeyID()
		if kid == "" {
			if kid, err = thumbprint(k); err != nil {
				return nil, err
			}
		}
		if _, dup := t.keys[kid]; dup {
			return nil, fmt.Errorf("%w: duplicate kid %s", ErrKey, kid)
		}
		t.keys[kid] = k
	}
	if len(t.keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrKey)
	}
	return t, nil
}

// Len is the number of trusted keys.
func (t *TrustedKeys) Len() int { return len(t.keys) }

// Verify checks a compact JWS against the trusted keys and returns its
// payload and the kid of the key that verified it. The algorithm must be an
// allowed asymmetric one, match the key's own alg if it names one, and the
// kid must be trusted.
func (t *TrustedKeys) Verify(sig string) (payload []byte, kid string, err error) {
	c, err := parseCompact(sig, maxSignedDocument)
	if err != nil {
		return nil, "", fmt.Errorf("%w: malformed JWS", ErrUntrusted)
	}
	alg, ok := allowedAlgs[c.header.Alg]
	if !ok {
		return nil, "", fmt.Errorf("%w: algorithm not allowed", ErrUntrusted)
	}
	key, ok := t.keys[c.header.Kid]
	if !ok {
		return nil, "", fmt.Errorf("%w: key %q is not trusted", ErrUntrusted, printableKid(c.header.Kid))
	}
	if a := key.Algorithm().String(); a != "" && a != alg.String() {
		return nil, "", fmt.Errorf("%w: key %s is not for %s", ErrUntrusted, c.header.Kid, alg)
	}
	payload, err = jws.Verify([]byte(sig), jws.WithKey(alg, key))
	if err != nil {
		return nil, "", fmt.Errorf("%w: signature by %s does not verify", ErrUntrusted, c.header.Kid)
	}
	return payload, c.header.Kid, nil
}

func printableKid(kid string) string {
	if len(kid) > 64 || !printable(kid) {
		return "(malformed)"
	}
	return kid
}

// GenerateSigningKey creates an Ed25519 private JWK for a person who signs
// documents (a security officer), with its RFC 7638 thumbprint as kid, and
// returns it with its public JWKS.
func GenerateSigningKey() (priv jwk.Key, publicJWKS []byte, err error) {
	_, raw, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("jose: generate key: %w", err)
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("jose: key: %w", err)
	}
	tp, err := thumbprint(k)
	if err != nil {
		return nil, nil, err
	}
	for _, kv := range []struct {
		name string
		val  any
	}{{jwk.KeyIDKey, tp}, {jwk.AlgorithmKey, jwa.EdDSA}, {jwk.KeyUsageKey, jwk.ForSignature}} {
		if err := k.Set(kv.name, kv.val); err != nil {
			return nil, nil, fmt.Errorf("jose: key: %w", err)
		}
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: public key: %v", ErrKey, err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	publicJWKS, err = json.MarshalIndent(set, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("jose: encode JWKS: %w", err)
	}
	return k, publicJWKS, nil
}
