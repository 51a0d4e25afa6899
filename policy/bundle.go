package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/policy/signedbundle"
)

// Signed policy bundles (the format is package signedbundle's): the engine
// loads one only if enough trusted keys signed it (Options.Bundle), and
// these functions back `liaison policy sign`, `cosign` and `verify`.

// Sign makes a signed bundle of the policy in dir, signed with key (a
// security officer's private JWK, see jose.LoadPrivateJWK), and writes it
// to out. It refuses a policy that would not load: one that does not
// compile, whose data breaks the schemas, or that fails its samples or Rego
// tests. A second officer adds a signature with CoSign.
func Sign(ctx context.Context, dir string, key jwk.Key, out string) (*signedbundle.Info, error) {
	e, err := New(ctx, Options{Dir: dir, ReloadInterval: -1})
	if err != nil {
		return nil, fmt.Errorf("refusing to sign a policy that does not load: %w", err)
	}
	_ = e.Close()
	b, err := readBundle(os.DirFS(dir), dir)
	if err != nil {
		return nil, err
	}
	return signedbundle.Sign(b.files(), b.revision(), key, out)
}

// CoSign adds key's signature to a bundle and writes the result to out
// (which may be the bundle itself); see signedbundle.CoSign.
func CoSign(bundlePath string, key jwk.Key, out string) (*signedbundle.Info, error) {
	return signedbundle.CoSign(bundlePath, wanted, key, out)
}

// VerifyBundle checks a bundle as a gateway would before loading it: every
// file matches the manifest, and at least required (default 1) distinct
// keys of the trusted JWKS file signed the manifest.
func VerifyBundle(bundlePath, trustedKeysPath string, required int) (*signedbundle.Info, error) {
	src, err := newSignedSource(bundlePath, trustedKeysPath, required)
	if err != nil {
		return nil, err
	}
	_, info, _, err := src.(*signedSource).open()
	return info, err
}

// signedSource loads a bundle only if enough trusted keys signed it.
type signedSource struct {
	path, trustedKeys string
	required          int
}

func newSignedSource(bundlePath, trustedKeys string, required int) (source, error) {
	if trustedKeys == "" {
		return nil, fmt.Errorf("%w: a policy bundle needs trusted keys (a JWKS of the security officers' public keys)", ErrLoad)
	}
	if required < 0 {
		return nil, fmt.Errorf("%w: required signatures must not be negative", ErrLoad)
	}
	if required == 0 {
		required = 1
	}
	return &signedSource{path: bundlePath, trustedKeys: trustedKeys, required: required}, nil
}

func (s *signedSource) String() string { return s.path }

func (s *signedSource) load() (*bundle, string, error) {
	b, _, fp, err := s.open()
	return b, fp, err
}

// open verifies the bundle and returns it as a policy bundle. The
// fingerprint covers the bundle file and the trust list, so that a new
// trusted key also triggers a reload.
func (s *signedSource) open() (*bundle, *signedbundle.Info, string, error) {
	raw, err := os.ReadFile(s.path)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: %w", ErrBundle, err)
	}
	jwks, err := os.ReadFile(s.trustedKeys)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: trusted keys: %w", ErrBundle, err)
	}
	h := sha256.New()
	writeFiles(h, "bundle", map[string][]byte{"bundle": raw, "trusted": jwks})
	fp := hex.EncodeToString(h.Sum(nil))

	trusted, err := jose.ParseTrustedKeys(jwks)
	if err != nil {
		return nil, nil, fp, fmt.Errorf("%w: trusted keys %s: %w", ErrBundle, s.trustedKeys, err)
	}
	files, info, err := signedbundle.Verify(raw, s.path, wanted, trusted, s.required)
	if err != nil {
		return nil, info, fp, err
	}
	m := info.Manifest
	b := newBundle(s.path + "!")
	for p, data := range files {
		b.add(p, data)
	}
	if len(b.modules) == 0 {
		return nil, info, fp, fmt.Errorf("%w: %s holds no policy modules", ErrBundle, s.path)
	}
	if b.revision() != m.Revision {
		return nil, info, fp, fmt.Errorf("%w: %s: the files give revision %s, the manifest says %s", ErrBundle, s.path, b.revision(), m.Revision)
	}
	b.manifest = &m
	b.signers = info.Signers
	return b, info, fp, nil
}

// Signers returns the kids of the keys whose signatures admitted the policy
// in force, sorted; nil when the policy did not come from a signed bundle.
func (e *Engine) Signers() []string {
	return slices.Clone(e.cur.Load().signers)
}
