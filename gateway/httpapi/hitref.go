package httpapi

import (
	"crypto/rand"

	"go.uber.org/zap"
)

// hitRefLabel names the key that seals search hit references (search.Ref).
const hitRefLabel = "liaison.hit-ref/v1"

// hitRefKey is the key search hit references are sealed under: derived
// from the signing key, so a reference issued by one replica is accepted
// by another and survives restarts. A signer that cannot derive keys (test
// doubles) gets a random key for this process: references then fail closed
// after a restart, never open.
func (s *Server) hitRefKey() []byte {
	s.hitRefOnce.Do(func() { s.hitRef = s.deriveHitRefKey() })
	return s.hitRef
}

func (s *Server) deriveHitRefKey() []byte {
	var k []byte
	if kd, ok := s.signer.(interface {
		DeriveKey(label string) ([]byte, error)
	}); ok {
		dk, err := kd.DeriveKey(hitRefLabel)
		if err == nil && len(dk) == 32 {
			k = dk
		} else {
			s.log.Error("cannot derive the hit-reference key; references are valid in this process only", zap.Error(err))
		}
	}
	if k == nil {
		k = make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			panic("gateway: crypto/rand failed: " + err.Error())
		}
	}
	return k
}
