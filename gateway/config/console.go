package config

import (
	"net/url"
	"time"

	"github.com/liaison-project/liaison/crypto/identity"
)

// ConsoleConfig is the web console served on the agency listener under
// /console/ (docs/console.md): how officers sign in and how long a
// console session lasts.
type ConsoleConfig struct {
	// Enabled serves the console (default true). Off: /console/ and
	// /dev-idp/ are unknown paths like any other.
	Enabled bool `yaml:"enabled"`
	// IdleTimeout ends a session not used for this long (default 15m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SessionLifetime ends a session this long after sign-in, or at the
	// token's expiry if that comes first (default 8h).
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// MaxSessions bounds the sessions held in memory; when full the one
	// closest to expiring is evicted (default 10000).
	MaxSessions int `yaml:"max_sessions"`
	// DevIdP runs the development identity provider (/dev-idp/…), which
	// signs in fixed dev officers with each agency's dev officer-token
	// key. `liaison dev` turns it on; the gateway refuses to start with it
	// unless every tls.client_cas is a dev federation CA.
	DevIdP bool `yaml:"dev_idp"`
	// DevIdPDir is the dev federation directory whose
	// agencies/<agency>/officer-key.jwk.json sign the dev IdP's tokens
	// (required with dev_idp).
	DevIdPDir string `yaml:"dev_idp_dir"`
	// IdentityProviders are the agencies' OpenID Connect providers, one per
	// agency whose officers sign in to the console.
	IdentityProviders []IdentityProvider `yaml:"identity_providers"`
}

// IdentityProvider is one agency's OpenID Connect provider, used with the
// authorization-code flow and PKCE. Its access tokens must be officer
// tokens the gateway accepts (officers.jwks_dir, the agency's keys).
type IdentityProvider struct {
	// Agency is the agency whose officers sign in here.
	Agency string `yaml:"agency"`
	// AuthorizationEndpoint and TokenEndpoint are https URLs.
	AuthorizationEndpoint string `yaml:"authorization_endpoint"`
	TokenEndpoint         string `yaml:"token_endpoint"`
	// ClientID is the gateway's client id at the provider.
	ClientID string `yaml:"client_id"`
	// ClientSecretFile holds the client secret (empty: a public client,
	// PKCE only).
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes requested (default openid).
	Scopes []string `yaml:"scopes"`
}

func defaultConsole() ConsoleConfig {
	return ConsoleConfig{Enabled: true, IdleTimeout: 15 * time.Minute, SessionLifetime: 8 * time.Hour, MaxSessions: 10000}
}

// Provider returns the identity provider configured for agency.
func (c ConsoleConfig) Provider(agency string) (IdentityProvider, bool) {
	for _, p := range c.IdentityProviders {
		if p.Agency == agency {
			return p, true
		}
	}
	return IdentityProvider{}, false
}

// Validate checks the console section.
func (c ConsoleConfig) Validate() error {
	var p problems
	if c.IdleTimeout < time.Minute || c.IdleTimeout > 24*time.Hour {
		p.add("console.idle_timeout", "%v must be between 1m and 24h", c.IdleTimeout)
	}
	if c.SessionLifetime < time.Minute || c.SessionLifetime > 7*24*time.Hour {
		p.add("console.session_lifetime", "%v must be between 1m and 168h", c.SessionLifetime)
	}
	if c.MaxSessions < 1 || c.MaxSessions > 1_000_000 {
		p.add("console.max_sessions", "%d must be between 1 and 1000000", c.MaxSessions)
	}
	if c.DevIdP && c.DevIdPDir == "" {
		p.add("console.dev_idp_dir", "required with console.dev_idp: the dev federation directory holding agencies/<agency>/officer-key.jwk.json")
	}
	seen := map[string]bool{}
	for i, ip := range c.IdentityProviders {
		at := joinIndex("console.identity_providers", i)
		if !identity.ValidID(ip.Agency) {
			p.add(at+".agency", "%q is not an agency id", ip.Agency)
		} else if seen[ip.Agency] {
			p.add(at+".agency", "agency %s has a provider already", ip.Agency)
		}
		seen[ip.Agency] = true
		for _, e := range []struct{ key, v string }{{"authorization_endpoint", ip.AuthorizationEndpoint}, {"token_endpoint", ip.TokenEndpoint}} {
			u, err := url.Parse(e.v)
			switch {
			case e.v == "":
				p.add(at+"."+e.key, "required")
			case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "":
				p.add(at+"."+e.key, "%q must be an https URL without credentials or fragment", e.v)
			}
		}
		if ip.ClientID == "" {
			p.add(at+".client_id", "required")
		}
		for _, s := range ip.Scopes {
			if s == "" || !scopeToken(s) {
				p.add(at+".scopes", "%q is not a scope token (RFC 6749 3.3)", s)
			}
		}
	}
	return p.err()
}

// scopeToken reports whether s is an RFC 6749 scope-token.
func scopeToken(s string) bool {
	for _, c := range s {
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
