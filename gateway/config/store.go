package config

import (
	"path/filepath"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/minio"
)

// StoreConfig chooses the object store.
type StoreConfig struct {
	Backend string        `yaml:"backend"` // fs | minio
	FS      FSStoreConfig `yaml:"fs"`
	MinIO   MinIOStore    `yaml:"minio"`
	// IdempotencyTTL is the retry window of Idempotency-Key: the answer
	// to a publish or share sent with a key is kept (in the store, so every
	// replica sees it) at least this long; a retry with the same key and
	// body within it gets the same answer.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
}

// FSStoreConfig is the store.fs section: the embedded filesystem store,
// configured and checked by its connector.
type FSStoreConfig = fsstore.Config

// MinIOStore is the store.minio (and audit.store) section: MinIO or any S3,
// configured and checked by its connector (which also holds its defaults).
type MinIOStore = minio.Config

func defaultStore(dataDir string) StoreConfig {
	return StoreConfig{
		Backend:        "fs",
		FS:             FSStoreConfig{Dir: filepath.Join(dataDir, "store")},
		IdempotencyTTL: 24 * time.Hour,
	}
}

// Validate checks the store section and the section of the chosen backend.
func (s StoreConfig) Validate() error {
	var p problems
	switch s.Backend {
	case "fs":
		p.include("store.fs", s.FS.Validate())
	case "minio":
		p.include("store.minio", s.MinIO.Validate())
	default:
		p.add("store.backend", "%q must be fs or minio", s.Backend)
	}
	if s.IdempotencyTTL < time.Hour || s.IdempotencyTTL > 30*24*time.Hour {
		p.add("store.idempotency_ttl", "must be between 1h and 720h")
	}
	return p.err()
}
