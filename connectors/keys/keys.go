// Package keys is the key-provider contract + conformance suite (keystest)
// that Liaison's envelope encryption uses. Data keys are generated and
// wrapped under a named key-encryption key (KEK) held by a provider — Vault
// Transit in production (connectors/vault), a local keyring for `liaison
// dev` (connectors/localkeys) — so that plaintext data keys never reach
// storage and KEKs never leave the provider.
//
// The contract sits under connectors/, beside its implementations and the
// object-store contract (connectors/objstore). Every implementation must
// pass the conformance suite in keystest.
package keys

import (
	"context"
	"errors"
	"fmt"
)

// Provider generates and unwraps data keys under named key-encryption keys.
// Key names are chosen by the caller (for example "agency-met-police"); they
// match ValidName.
type Provider interface {
	// GenerateDataKey returns a fresh 256-bit data key and its wrapped form
	// under the KEK named name. If the KEK does not exist and the provider is
	// allowed to create keys, it is created; otherwise ErrNotFound.
	GenerateDataKey(ctx context.Context, name string) (DataKey, error)
	// UnwrapDataKey returns the plaintext data key for wrapped, which was
	// produced by GenerateDataKey or Manager.Rewrap under the same name.
	// A wrapped key that fails authentication, or whose KEK version is no
	// longer allowed to decrypt, yields ErrInvalidCiphertext.
	UnwrapDataKey(ctx context.Context, name string, wrapped []byte) ([]byte, error)
}

// Manager is the key-lifecycle side of a provider: rotation, rewrapping and
// crypto-shredding. The CLI (`liaison keys …`) uses it; the request path does not.
type Manager interface {
	// Rotate adds a new version of the KEK; new data keys are wrapped under it.
	Rotate(ctx context.Context, name string) error
	// Rewrap re-wraps a wrapped data key under the newest KEK version without
	// revealing the plaintext to the caller.
	Rewrap(ctx context.Context, name string, wrapped []byte) ([]byte, error)
	// Info describes the KEK.
	Info(ctx context.Context, name string) (KeyInfo, error)
	// SetMinDecryptionVersion makes every data key wrapped under an older KEK
	// version permanently unreadable through this provider (crypto-shredding).
	SetMinDecryptionVersion(ctx context.Context, name string, version int) error
	// Delete destroys the KEK and so every data key wrapped under it.
	Delete(ctx context.Context, name string) error
}

// DataKey is a data key in both forms. Callers must zero Plaintext when done
// where they can, and must never log or store it.
type DataKey struct {
	Plaintext []byte // 32 bytes, AES-256
	Wrapped   []byte // opaque, safe to store beside the ciphertext
}

// KeyInfo describes a KEK.
type KeyInfo struct {
	Name                 string `json:"name"`
	LatestVersion        int    `json:"latest_version"`
	MinDecryptionVersion int    `json:"min_decryption_version"`
}

// WrappedVersion is implemented by providers that can tell which KEK version
// wrapped a data key (so rewrap can skip keys that are already current).
type WrappedVersion interface {
	WrappedVersion(wrapped []byte) (int, error)
}

var (
	// ErrUnavailable: the provider cannot be reached or is sealed, overloaded
	// or timing out. Transient; the gateway answers 503 and fails closed.
	ErrUnavailable = errors.New("keys: key provider unavailable")
	// ErrNotFound: the KEK does not exist (and may not be created here).
	ErrNotFound = errors.New("keys: key not found")
	// ErrInvalidCiphertext: the wrapped key is corrupt, belongs to another
	// KEK, or its KEK version may no longer decrypt (shredded).
	ErrInvalidCiphertext = errors.New("keys: wrapped key cannot be unwrapped")
	// ErrShredded: the wrapped key is well-formed but its KEK version is
	// below the minimum decryption version (crypto-shredded). It wraps
	// ErrInvalidCiphertext, so callers that only ask for that still match;
	// callers that can tell the user "gone for good" ask for this one.
	ErrShredded = fmt.Errorf("%w: its key version has been shredded", ErrInvalidCiphertext)
	// ErrPermissionDenied: the provider refused the operation for lack of a
	// capability; the error text names what is missing.
	ErrPermissionDenied = errors.New("keys: permission denied")
)

// ValidName reports whether name is an acceptable KEK name: 1–128 characters
// of a-z, 0-9, '-', '_' and '.', starting with a letter or digit. Names are
// built from agency and DSA ids, which the registry constrains the same way.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}
