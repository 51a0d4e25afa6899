package config

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/localkeys"
	"github.com/liaison-project/liaison/connectors/vault"
	"github.com/liaison-project/liaison/crypto/envelope"
)

// KeysConfig chooses the key provider.
type KeysConfig struct {
	Provider string         `yaml:"provider"` // local | vault
	Local    LocalKeys      `yaml:"local"`
	Vault    VaultKeys      `yaml:"vault"`
	Cache    KeyCacheConfig `yaml:"cache"`
	// NamePattern names the key-encryption key of a record: {agency} is
	// replaced by its originator and, if present, {dsa} by the first DSA it
	// is shared under (per-DSA keys, so that destroying one DSA's key
	// crypto-shreds exactly the records shared under it).
	NamePattern string `yaml:"name_pattern"`
}

// LocalKeys is the keys.local section: the embedded file keyring (single
// node), configured and checked by its connector.
type LocalKeys = localkeys.Config

// VaultKeys is the keys.vault section: Vault Transit, configured and
// checked by its connector (which also holds its defaults).
type VaultKeys = vault.Config

func defaultKeys(dataDir string) KeysConfig {
	return KeysConfig{
		Provider:    "local",
		Local:       LocalKeys{Keyring: filepath.Join(dataDir, "keys", "keyring.json")},
		Cache:       defaultKeyCache(),
		NamePattern: "agency-{agency}",
	}
}

// Validate checks the keys section and the section of the chosen provider.
func (k KeysConfig) Validate() error {
	var p problems
	switch k.Provider {
	case "local":
		p.include("keys.local", k.Local.Validate())
	case "vault":
		p.include("keys.vault", k.Vault.Validate())
	default:
		p.add("keys.provider", "%q must be local or vault", k.Provider)
	}
	if !strings.Contains(k.NamePattern, "{agency}") {
		p.add("keys.name_pattern", "%q must contain {agency}", k.NamePattern)
	} else if probe := KeyName(k.NamePattern, "agency-x", "dsa-x"); !keys.ValidName(probe) || strings.ContainsAny(probe, "{}") {
		p.add("keys.name_pattern", "%q must give key names of [a-z0-9-] (placeholders: {agency}, {dsa})", k.NamePattern)
	}
	p.include("", k.Cache.Validate())
	return p.err()
}

// KeyName is the key-encryption key of a record of agency shared under dsa
// (the first of its DSAs), as pattern names it.
func KeyName(pattern, agency, dsa string) string {
	return strings.NewReplacer("{agency}", agency, "{dsa}", dsa).Replace(pattern)
}

// PerDSAKeys reports whether pattern gives each DSA its own key.
func PerDSAKeys(pattern string) bool { return strings.Contains(pattern, "{dsa}") }

// KeyCacheConfig bounds the data-key cache (see crypto/envelope, which
// holds the defaults and the meaning of each limit).
type KeyCacheConfig struct {
	MaxAge           time.Duration `yaml:"max_age"`
	MaxRecords       uint64        `yaml:"max_records"`
	MaxBytes         uint64        `yaml:"max_bytes"`
	UnwrapTTL        time.Duration `yaml:"unwrap_ttl"`
	MaxUnwrapEntries int           `yaml:"max_unwrap_entries"`
	Disabled         bool          `yaml:"disabled"`
}

// defaultKeyCache is envelope.DefaultCacheLimits in the section's terms.
func defaultKeyCache() KeyCacheConfig {
	d := envelope.DefaultCacheLimits()
	return KeyCacheConfig{MaxAge: d.MaxAge, MaxRecords: d.MaxMessages, MaxBytes: d.MaxBytes, UnwrapTTL: d.UnwrapTTL, MaxUnwrapEntries: d.MaxUnwrapEntries}
}

// Limits are the cache limits the section asks for; none when Disabled.
func (c KeyCacheConfig) Limits() envelope.CacheLimits {
	if c.Disabled {
		return envelope.CacheLimits{}
	}
	return envelope.CacheLimits{MaxAge: c.MaxAge, MaxMessages: c.MaxRecords, MaxBytes: c.MaxBytes, UnwrapTTL: c.UnwrapTTL, MaxUnwrapEntries: c.MaxUnwrapEntries}
}

// Validate checks the keys.cache section.
func (c KeyCacheConfig) Validate() error {
	var p problems
	if c.MaxRecords > envelope.MaxMessagesPerKey {
		p.add("keys.cache.max_records", "must not exceed 2^32 (AES-GCM random-nonce bound per key)")
	}
	return p.err()
}
