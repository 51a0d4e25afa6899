package jose

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
)

// SignEd25519 returns the bare Ed25519 signature of msg by the signing key,
// without JOSE framing. It exists for formats that frame Ed25519
// signatures themselves — the audit log's C2SP signed-note checkpoints —
// so that one published key verifies both forms. It cannot be mistaken
// for a JWS signature: a JWS signing input is base64url text with one dot
// and no newline, while a signed note's text always ends in a newline.
func (s *Signer) SignEd25519(msg []byte) ([]byte, error) {
	var priv ed25519.PrivateKey
	if err := s.priv.Raw(&priv); err != nil || len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: no Ed25519 private key material", ErrKey)
	}
	return ed25519.Sign(priv, msg), nil
}

// Ed25519Keys returns the verifier's public keys as raw Ed25519 keys, in
// kid order, for building verifiers of formats that carry bare Ed25519
// signatures (see Signer.SignEd25519).
func (v *Verifier) Ed25519Keys() ([]ed25519.PublicKey, error) {
	kids := make([]string, 0, len(v.keys))
	for kid := range v.keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	out := make([]ed25519.PublicKey, 0, len(kids))
	for _, kid := range kids {
		var pub ed25519.PublicKey
		if err := v.keys[kid].Raw(&pub); err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, errors.Join(ErrKey, errors.New("jose: key is not an Ed25519 public key"))
		}
		out = append(out, pub)
	}
	return out, nil
}
