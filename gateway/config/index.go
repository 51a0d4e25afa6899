package config

import (
	"path/filepath"
	"strings"
	"time"
)

// IndexConfig chooses the query and selector index database.
type IndexConfig struct {
	// Backend is sqlite (embedded, one gateway node) or postgres (shared
	// by replicas).
	Backend  string              `yaml:"backend"`
	SQLite   SQLiteIndexConfig   `yaml:"sqlite"`
	Postgres PostgresIndexConfig `yaml:"postgres"`
	// BlindKeyName is the key provider's key that wraps the blind-index
	// keys (the HMAC keys of selectors), created on first use.
	BlindKeyName string `yaml:"blind_key_name"`
	// KeyringRefresh is how often the blind-index keyring is re-read from
	// the store, so that a key rotated on one replica is used by all.
	KeyringRefresh time.Duration `yaml:"keyring_refresh"`
}

// SQLiteIndexConfig is index.sqlite.
type SQLiteIndexConfig struct {
	// Path is the database file (created if absent).
	Path string `yaml:"path"`
}

// PostgresIndexConfig is index.postgres.
type PostgresIndexConfig struct {
	// DSN is the connection string, e.g.
	// postgres://liaison@db:5432/liaison?sslmode=verify-full (it may hold
	// a password: prefer LIAISON_INDEX_POSTGRES_DSN or a .pgpass file).
	DSN string `yaml:"dsn"`
	// MaxConns bounds the connection pool of this replica.
	MaxConns int `yaml:"max_conns"`
}

func defaultIndex(dataDir string) IndexConfig {
	return IndexConfig{
		Backend:        "sqlite",
		SQLite:         SQLiteIndexConfig{Path: filepath.Join(dataDir, "index", "index.db")},
		Postgres:       PostgresIndexConfig{MaxConns: 16},
		BlindKeyName:   "liaison-blind-index",
		KeyringRefresh: 10 * time.Second,
	}
}

// Validate checks the index section.
func (c IndexConfig) Validate() error {
	var p problems
	switch c.Backend {
	case "sqlite":
		if c.SQLite.Path == "" {
			p.add("index.sqlite.path", "must be set")
		}
	case "postgres":
		if c.Postgres.DSN == "" {
			p.add("index.postgres.dsn", "must be set (or LIAISON_INDEX_POSTGRES_DSN)")
		} else if !strings.HasPrefix(c.Postgres.DSN, "postgres://") && !strings.HasPrefix(c.Postgres.DSN, "postgresql://") && !strings.Contains(c.Postgres.DSN, "=") {
			p.add("index.postgres.dsn", "must be a postgres:// URL or a key=value connection string")
		}
		if c.Postgres.MaxConns < 1 || c.Postgres.MaxConns > 1000 {
			p.add("index.postgres.max_conns", "must be between 1 and 1000")
		}
	default:
		p.add("index.backend", "%q must be sqlite or postgres", c.Backend)
	}
	if !validKeyName(c.BlindKeyName) {
		p.add("index.blind_key_name", "must be a key name (letters, digits, '-', '_', '.')")
	}
	if c.KeyringRefresh < time.Second || c.KeyringRefresh > time.Hour {
		p.add("index.keyring_refresh", "must be between 1s and 1h")
	}
	return p.err()
}

func validKeyName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// SearchConfig limits hit/no-hit searches.
type SearchConfig struct {
	// PerMinute is each agency's sustained search rate on this replica,
	// Burst how many it may make at once; AgencyPerMinute overrides
	// PerMinute for named agencies.
	PerMinute       float64            `yaml:"per_minute"`
	Burst           int                `yaml:"burst"`
	AgencyPerMinute map[string]float64 `yaml:"agency_per_minute"`
	// MaxSelectors bounds the selectors of one search.
	MaxSelectors int `yaml:"max_selectors"`
	// MaxMatches bounds the records one search considers (more are
	// reported as truncated).
	MaxMatches int `yaml:"max_matches"`
}

func defaultSearch() SearchConfig {
	return SearchConfig{PerMinute: 30, Burst: 10, MaxSelectors: 20, MaxMatches: 200}
}

// Validate checks the search section.
func (c SearchConfig) Validate() error {
	var p problems
	if c.PerMinute <= 0 || c.PerMinute > 100000 {
		p.add("search.per_minute", "must be between 0 (exclusive) and 100000")
	}
	if c.Burst < 1 || c.Burst > 10000 {
		p.add("search.burst", "must be between 1 and 10000")
	}
	for a, v := range c.AgencyPerMinute {
		if v <= 0 || v > 100000 {
			p.add("search.agency_per_minute."+a, "must be between 0 (exclusive) and 100000")
		}
	}
	if c.MaxSelectors < 1 || c.MaxSelectors > 100 {
		p.add("search.max_selectors", "must be between 1 and 100")
	}
	if c.MaxMatches < 1 || c.MaxMatches > 10000 {
		p.add("search.max_matches", "must be between 1 and 10000")
	}
	return p.err()
}
