package jose

import (
	"fmt"
	"sort"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Fingerprints returns the RFC 7638 SHA-256 thumbprint of every key (the
// kid this package gives a key), sorted. A key whose kid is not its
// thumbprint is refused: a peer pinned by fingerprint must not be able to
// name another key by the pinned key's kid.
func (v *Verifier) Fingerprints() ([]string, error) {
	out := make([]string, 0, len(v.keys))
	for kid, k := range v.keys {
		tp, err := thumbprint(k)
		if err != nil {
			return nil, err
		}
		if kid != tp {
			return nil, fmt.Errorf("%w: kid %s is not the key's thumbprint", ErrKey, printableKid(kid))
		}
		out = append(out, tp)
	}
	sort.Strings(out)
	return out, nil
}

// Pinned returns a Verifier holding only the key whose RFC 7638 thumbprint
// is fingerprint (what an operator exchanged out of band), so that a
// signature by any other key of the set is refused.
func (v *Verifier) Pinned(fingerprint string) (*Verifier, error) {
	for kid, k := range v.keys {
		tp, err := thumbprint(k)
		if err != nil {
			return nil, err
		}
		if tp == fingerprint && kid == tp {
			return newVerifierFromKeys([]jwk.Key{k})
		}
	}
	return nil, fmt.Errorf("%w: no key has fingerprint %s", ErrKey, printableKid(fingerprint))
}
