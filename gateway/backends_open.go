package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/localkeys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// OpenError says which stateful part of the gateway could not be opened at
// start (key provider, object store, signing key, audit log) and what the
// operator can do about it, in one line: `liaison serve` and the key
// commands print it and exit non-zero.
type OpenError struct {
	What string // keys, store, signing, audit
	Err  error
}

func (e *OpenError) Error() string {
	msg := e.What + ": " + e.Err.Error()
	if h := e.hint(); h != "" {
		msg += " — " + h
	}
	return msg
}

func (e *OpenError) Unwrap() error { return e.Err }

// hint is the operator's next step; empty when the error already says it.
func (e *OpenError) hint() string {
	var missing *MissingSigningKeyError
	switch {
	case errors.Is(e.Err, localkeys.ErrInUse), errors.As(e.Err, &missing):
		return ""
	case errors.Is(e.Err, audit.ErrLocked):
		return "stop the other gateway (or command) using this audit directory, or give this one its own audit.path"
	case errors.Is(e.Err, audit.ErrCorrupt):
		return "see `liaison audit verify` and, for a damaged tail, `liaison audit recover` (docs/operations.md)"
	case errors.Is(e.Err, jose.ErrKey):
		return "the file is not a valid gateway signing key: restore it from backup (a new key would make every stored record fail its signature check)"
	}
	switch e.What {
	case "keys":
		return "check the keys section of the configuration and that the key provider (Vault, or the keyring file) is reachable, unsealed and readable"
	case "store":
		return "check the store section of the configuration and that the object store (MinIO/S3 endpoint, credentials, bucket, or the fs directory) is reachable, then start again"
	case "signing":
		return "check signing.key: the file must be readable by the gateway"
	case "audit":
		return "check audit.path: the directory must exist or be creatable, and be writable by the gateway"
	case "index":
		return "check the index section of the configuration and that the database (the SQLite file's directory, or the PostgreSQL server at index.postgres.dsn) is reachable and writable; the index can be rebuilt from the store with `liaison index rebuild`"
	}
	return ""
}

// MissingSigningKeyError: the gateway signing key is gone while the store
// holds records signed with it. Creating a new key would make every one of
// them fail its signature check (500), so outside `liaison dev` the start
// stops here instead.
type MissingSigningKeyError struct{ Path string }

func (e *MissingSigningKeyError) Error() string {
	return fmt.Sprintf("the gateway signing key %s is missing but the store already holds records signed with it: "+
		"restore the key file from backup (a new key would make every stored record fail its signature check); "+
		"to start afresh, point store at an empty location", e.Path)
}

// openOptions adjust openBackends.
type openOptions struct {
	// createSigningKey allows re-creating a missing signing key although
	// the store holds records (`liaison dev` only, with a warning).
	createSigningKey bool
	// index opens the index database too (the gateway; not the key
	// lifecycle commands).
	index bool
}

// WithDevMode marks a `liaison dev` gateway: conveniences that would hide
// an operator's mistake in production (re-creating a lost signing key) are
// allowed, with a warning.
func WithDevMode() Option { return func(o *buildOptions) { o.dev = true } }

// loadSigner loads the gateway signing key, creating it only when that
// cannot orphan stored records: the file is absent and the store holds no
// record (a first start), or in dev mode.
func loadSigner(ctx context.Context, cfg config.Config, store objstore.Store, o openOptions, log *zap.Logger) (*jose.Signer, error) {
	path := cfg.Signing.Key
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		has, err := recordstore.HasRecords(ctx, store)
		if err != nil {
			return nil, fmt.Errorf("the signing key %s is missing and whether the store already holds records cannot be checked: %w", path, err)
		}
		if has {
			if !o.createSigningKey {
				return nil, &MissingSigningKeyError{Path: path}
			}
			log.Warn("dev: the gateway signing key was missing although the store holds records; a new key is created "+
				"and the existing records will fail their signature check until the old key is restored", zap.String("path", path))
		}
	}
	signer, err := jose.LoadOrCreateSigner(path)
	if err != nil {
		return nil, err
	}
	for _, f := range cfg.Signing.VerifyKeys {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("signing.verify_keys: %w", err)
		}
		if signer, err = signer.AcceptAlso(b); err != nil {
			return nil, fmt.Errorf("signing.verify_keys: %s: %w", f, err)
		}
	}
	return signer, nil
}
