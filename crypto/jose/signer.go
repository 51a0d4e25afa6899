package jose

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// maxJWSLen bounds what Verifier.Verify will parse (record metadata and
// checkpoints are small).
const maxJWSLen = 4 << 20

// Signer signs with an Ed25519 key: the gateway key (record metadata,
// idempotency answers, share receipts) or the audit key (checkpoints). It
// also verifies its own signatures.
type Signer struct {
	priv jwk.Key
	kid  string
	*Verifier
}

// LoadOrCreateSigner loads the Ed25519 private JWK at path, or creates one
// (file mode 0600) if there is none. The kid is the key's RFC 7638
// thumbprint; a file whose kid is anything else is refused, since verifiers
// select the key by kid. Concurrent first starts agree on one key: creation
// is exclusive and the loser loads the winner's file.
func LoadOrCreateSigner(path string) (*Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := createSignerKey(path); err != nil {
			return nil, err
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("jose: signing key: %w", err)
	}
	priv, err := jwk.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not hold a JWK", ErrKey, path)
	}
	okp, ok := priv.(jwk.OKPPrivateKey)
	if !ok || okp.Crv() != jwa.Ed25519 {
		return nil, fmt.Errorf("%w: %s is not an Ed25519 private key", ErrKey, path)
	}
	tp, err := thumbprint(priv)
	if err != nil {
		return nil, err
	}
	if priv.KeyID() != tp {
		return nil, fmt.Errorf("%w: %s: kid is not the key thumbprint", ErrKey, path)
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrKey, err)
	}
	v, err := newVerifierFromKeys([]jwk.Key{pub})
	if err != nil {
		return nil, err
	}
	return &Signer{priv: priv, kid: tp, Verifier: v}, nil
}

func thumbprint(k jwk.Key) (string, error) {
	pub, err := k.PublicKey()
	if err != nil {
		return "", fmt.Errorf("%w: public key: %v", ErrKey, err)
	}
	h, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("%w: thumbprint: %v", ErrKey, err)
	}
	return strictB64.EncodeToString(h), nil
}

func createSignerKey(path string) error {
	_, raw, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("jose: generate signing key: %w", err)
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		return fmt.Errorf("jose: signing key: %w", err)
	}
	tp, err := thumbprint(k)
	if err != nil {
		return err
	}
	for _, kv := range []struct {
		name string
		val  any
	}{{jwk.KeyIDKey, tp}, {jwk.AlgorithmKey, jwa.EdDSA}, {jwk.KeyUsageKey, jwk.ForSignature}} {
		if err := k.Set(kv.name, kv.val); err != nil {
			return fmt.Errorf("jose: signing key: %w", err)
		}
	}
	data, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return fmt.Errorf("jose: encode signing key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("jose: signing key directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // created 0600
	if err != nil {
		return fmt.Errorf("jose: write signing key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(append(data, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("jose: write signing key: %w", err)
	}
	// Link, unlike rename, fails if path exists: a concurrent creator's key
	// is kept and ours discarded.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("jose: write signing key: %w", err)
	}
	return nil
}

// DeriveKey returns a 32-byte secret key for another purpose of this
// gateway (label names it, e.g. the MAC key of listing cursors), derived
// from the signing key with HKDF-SHA256. Every process holding the same
// signing key derives the same key, so it survives restarts and is shared
// by replicas; nothing about the signing key can be learnt from it.
func (s *Signer) DeriveKey(label string) ([]byte, error) {
	okp, ok := s.priv.(jwk.OKPPrivateKey)
	if !ok || len(okp.D()) == 0 {
		return nil, fmt.Errorf("%w: no private key material", ErrKey)
	}
	if label == "" {
		return nil, errors.New("jose: DeriveKey needs a label")
	}
	return hkdf.Key(sha256.New, okp.D(), nil, "liaison.derived-key/v1:"+label, 32)
}

// KeyID is the signing key's kid.
func (s *Signer) KeyID() string { return s.kid }

// Sign returns a compact JWS (EdDSA, with kid) over payload.
func (s *Signer) Sign(payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return nil, errors.New("jose: empty payload")
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, s.kid); err != nil {
		return nil, fmt.Errorf("jose: header: %w", err)
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA, s.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return nil, fmt.Errorf("jose: sign: %w", err)
	}
	return out, nil
}

// Verifier checks gateway signatures with public keys only, for offline
// auditors and for other replicas.
type Verifier struct {
	keys map[string]jwk.Key // by kid
	set  jwk.Set
}

// NewVerifier builds a Verifier from a JWKS of Ed25519 public keys (as
// returned by Signer.PublicJWKS; several keys are allowed for rotation).
func NewVerifier(jwks []byte) (*Verifier, error) {
	set, err := jwk.Parse(jwks)
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWK set", ErrKey)
	}
	keys := make([]jwk.Key, 0, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		keys = append(keys, k)
	}
	return newVerifierFromKeys(keys)
}

func newVerifierFromKeys(keys []jwk.Key) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrKey)
	}
	v := &Verifier{keys: make(map[string]jwk.Key, len(keys)), set: jwk.NewSet()}
	for i, k := range keys {
		okp, ok := k.(jwk.OKPPublicKey)
		if priv, err := jwk.IsPrivateKey(k); err != nil || priv {
			return nil, fmt.Errorf("%w: key %d is not a public key", ErrKey, i)
		}
		if !ok || okp.Crv() != jwa.Ed25519 {
			return nil, fmt.Errorf("%w: key %d is not an Ed25519 public key", ErrKey, i)
		}
		// jwx parses an OKP key with a short or empty "x", and crypto/ed25519
		// panics on such a key at verification: refuse it here.
		if len(okp.X()) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: key %d is not an Ed25519 public key", ErrKey, i)
		}
		if a := k.Algorithm().String(); a != "" && a != jwa.EdDSA.String() {
			return nil, fmt.Errorf("%w: key %d is not an EdDSA key", ErrKey, i)
		}
		kid := k.KeyID()
		if kid == "" {
			tp, err := thumbprint(k)
			if err != nil {
				return nil, err
			}
			kid = tp
		}
		if _, dup := v.keys[kid]; dup {
			return nil, fmt.Errorf("%w: duplicate kid", ErrKey)
		}
		v.keys[kid] = k
		if err := v.set.AddKey(k); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
	}
	return v, nil
}

// Verify checks a compact JWS made by Signer.Sign and returns its payload.
// Any alteration, an unknown kid or another algorithm is ErrBadSignature.
func (v *Verifier) Verify(sig []byte) ([]byte, error) {
	c, err := parseCompact(string(sig), maxJWSLen)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed JWS", ErrBadSignature)
	}
	if c.header.Alg != jwa.EdDSA.String() {
		return nil, fmt.Errorf("%w: algorithm not allowed", ErrBadSignature)
	}
	key, ok := v.keys[c.header.Kid]
	if !ok {
		return nil, fmt.Errorf("%w: unknown key id", ErrBadSignature)
	}
	payload, err := jws.Verify(sig, jws.WithKey(jwa.EdDSA, key))
	if err != nil {
		return nil, fmt.Errorf("%w: signature does not verify", ErrBadSignature)
	}
	return payload, nil
}

// PublicJWKS returns the verification keys as a JWKS document.
func (v *Verifier) PublicJWKS() ([]byte, error) {
	out, err := json.MarshalIndent(v.set, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("jose: encode JWKS: %w", err)
	}
	return out, nil
}

// AcceptAlso returns a signer that signs with s's key and verifies
// signatures by s's key or by any public key of jwks: during a rotation of
// the gateway signing key, the next key (before every node signs with it)
// and the previous keys (until every record is re-signed). The keys are
// published with s's own (PublicJWKS), so that peers verify them too.
func (s *Signer) AcceptAlso(jwks []byte) (*Signer, error) {
	extra, err := NewVerifier(jwks)
	if err != nil {
		return nil, err
	}
	own, ok := s.keys[s.kid]
	if !ok {
		return nil, fmt.Errorf("%w: own key missing", ErrKey)
	}
	keys := []jwk.Key{own}
	kids := make([]string, 0, len(extra.keys))
	for kid := range extra.keys {
		if kid != s.kid { // the signing key itself, listed again: harmless
			kids = append(kids, kid)
		}
	}
	sort.Strings(kids) // a stable published key set
	for _, kid := range kids {
		keys = append(keys, extra.keys[kid])
	}
	v, err := newVerifierFromKeys(keys)
	if err != nil {
		return nil, err
	}
	return &Signer{priv: s.priv, kid: s.kid, Verifier: v}, nil
}
