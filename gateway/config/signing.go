package config

import "path/filepath"

// SigningConfig locates the gateway's signing key (metadata JWS).
type SigningConfig struct {
	Key string `yaml:"key"`
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
	return p.err()
}
