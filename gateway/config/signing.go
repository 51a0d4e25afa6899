package config

import "path/filepath"

// SigningConfig locates the gateway's signing key (metadata JWS).
type SigningConfig struct {
	Key string `yaml:"key"`
	// VerifyKeys are JWKS files of public keys whose signatures are
	// accepted besides the signing key's own: during a rotation, the next
	// key (while replicas switch one by one) and the previous key (until
	// `liaison keys resign` has re-signed every record). They never sign.
	// See docs/operations.md.
	VerifyKeys []string `yaml:"verify_keys"`
}

func defaultSigning(dataDir string) SigningConfig {
	return SigningConfig{Key: filepath.Join(dataDir, "keys", "gateway-signing.jwk.json")}
}

// Validate checks the signing section.
func (s SigningConfig) Validate() error {
	var p problems
	if s.Key == "" {
		p.add("signing.key", "required")
	}
	for i, f := range s.VerifyKeys {
		if f == "" {
			p.add("signing.verify_keys", "entry %d is empty", i)
		}
	}
	return p.err()
}
