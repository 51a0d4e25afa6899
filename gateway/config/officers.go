package config

import "github.com/liaison-project/liaison/crypto/identity"

// OfficersConfig is how officer tokens (JWTs from each agency's identity provider) are checked.
type OfficersConfig struct {
	// JWKSDir holds <agency-id>.json, each agency's public key set.
	JWKSDir string `yaml:"jwks_dir"`
	// Audience officer tokens must name; default the gateway id (set by Load).
	Audience string `yaml:"audience"`
	// RequireFor lists agencies whose every request must carry an officer
	// token (the agency registry can also require it).
	RequireFor []string `yaml:"require_for"`
}

// Validate checks the officers section.
func (o OfficersConfig) Validate() error {
	var p problems
	for _, a := range o.RequireFor {
		if !identity.ValidID(a) {
			p.add("officers.require_for", "%q is not an agency id", a)
		}
	}
	return p.err()
}
