package config

import "time"

// RegistryConfig is the registry of agencies and agreements kept in the
// object store (gateway/registry, docs/registry.md).
type RegistryConfig struct {
	// PollInterval is how often each replica looks for a new registry
	// version; 0 means 500ms, so a change made on one replica is in force
	// on every replica within a second.
	PollInterval time.Duration `yaml:"poll_interval"`
	// JWKSCacheTTL is how long officer-token keys fetched from an agency's
	// jwks_url are kept before they are fetched again; 0 means 15m.
	JWKSCacheTTL time.Duration `yaml:"jwks_cache_ttl"`
}

// Validate checks the registry section.
func (r RegistryConfig) Validate() error {
	var p problems
	if r.PollInterval < 0 || r.PollInterval > time.Minute {
		p.add("registry.poll_interval", "%s must be between 0 (the default, 500ms) and 1m", r.PollInterval)
	}
	if r.JWKSCacheTTL < 0 || r.JWKSCacheTTL > 24*time.Hour {
		p.add("registry.jwks_cache_ttl", "%s must be between 0 (the default, 15m) and 24h", r.JWKSCacheTTL)
	}
	return p.err()
}
