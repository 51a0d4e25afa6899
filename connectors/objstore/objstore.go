// Package objstore is the object-store contract + conformance suite
// (objstoretest) under Liaison's record storage: a flat namespace of keys
// holding small immutable-by-default objects (encrypted content, signed
// metadata, index entries, audit segments). The store is trusted for
// availability only: confidentiality and integrity come from envelope
// encryption and signatures above it.
//
// Implementations: connectors/fsstore (embedded) and connectors/minio (MinIO
// or any S3). Every implementation must pass the suite in objstoretest.
package objstore

import (
	"context"
	"errors"
	"strings"
)

// Store is a flat key→bytes object store.
type Store interface {
	// Put writes data at key atomically: a reader sees either the old object
	// or the whole new one, never a partial write. With opts.IfAbsent the
	// write fails with ErrExists when key already exists; with opts.IfMatch
	// it fails with ErrConflict, changing nothing, unless the object's
	// current version tag equals opts.IfMatch (compare-and-swap).
	Put(ctx context.Context, key string, data []byte, opts PutOptions) error
	// Get returns the object at key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetVersion is Get that also returns the object's version tag, read
	// together with the bytes (the tag of exactly those bytes), for a later
	// Put with IfMatch.
	//
	// A version tag is an opaque, non-empty string that identifies one
	// object's content at one key: it changes whenever the content does,
	// and callers compare tags only for equality (by passing them back in
	// IfMatch). Rewriting identical bytes may keep the tag (an S3 ETag is
	// the content's MD5; fsstore's is a content hash): compare-and-swap on
	// content is still sound, since a writer that read those bytes decided
	// on exactly what is there.
	GetVersion(ctx context.Context, key string) ([]byte, string, error)
	// Delete removes key, including every retained version where the backend
	// keeps versions (so that deleted content is unrecoverable). Deleting a
	// missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns up to limit keys with the given prefix that sort strictly
	// after startAfter, in ascending byte order.
	List(ctx context.Context, prefix, startAfter string, limit int) ([]string, error)
}

// PutOptions modify Put.
type PutOptions struct {
	// IfAbsent makes Put fail with ErrExists instead of replacing an object.
	IfAbsent bool
	// ContentType is advisory metadata for backends that keep it.
	ContentType string
	// DropOlderVersions makes a replacing Put also remove every earlier
	// version of key that the backend retains (S3 versioning), so that what
	// the new object replaces is as unrecoverable as after Delete. Backends
	// that keep no versions have nothing more to do. If the new object is
	// written but an older version cannot be removed, Put returns an error
	// and the new object stays in place (callers retry or report it).
	DropOlderVersions bool
	// IfMatch, when not empty, makes Put a compare-and-swap: it writes only
	// if key holds an object whose version tag (GetVersion) equals IfMatch,
	// and otherwise fails with ErrConflict and changes nothing. A missing
	// object is a conflict too (it was deleted since it was read). IfMatch
	// and IfAbsent are exclusive.
	IfMatch string
}

// CheckPutOptions rejects contradictory options (every backend calls it).
func CheckPutOptions(opts PutOptions) error {
	if opts.IfAbsent && opts.IfMatch != "" {
		return errors.New("objstore: IfAbsent and IfMatch are exclusive")
	}
	return nil
}

var (
	// ErrNotFound: no object at that key.
	ErrNotFound = errors.New("objstore: not found")
	// ErrExists: a conditional Put found an object already there.
	ErrExists = errors.New("objstore: object exists")
	// ErrConflict: a Put with IfMatch found another version of the object
	// (or none): someone else changed it since it was read. The caller
	// reads it again, decides again on what it finds, and retries.
	ErrConflict = errors.New("objstore: precondition failed: the object changed since it was read")
	// ErrUnavailable: the backend cannot be reached or timed out. Transient;
	// the gateway answers 503 and nothing half-written is visible.
	ErrUnavailable = errors.New("objstore: store unavailable")
	// ErrInvalidKey: the key is not acceptable (see ValidKey).
	ErrInvalidKey = errors.New("objstore: invalid key")
)

// MaxKeyLen bounds key length (S3 allows 1024 bytes; we stay well inside).
const MaxKeyLen = 512

// ValidKey reports whether key is acceptable to every backend: 1–512 bytes
// of [a-z0-9._-] segments separated by single '/', no empty, "." or ".."
// segment, no leading or trailing '/'. Keys are built by Liaison from
// server-generated ids, never taken from a request, but every backend checks
// again so that no key can escape its root.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// ValidPrefix reports whether prefix can be passed to List: empty, or a
// ValidKey optionally followed by '/'.
func ValidPrefix(prefix string) bool {
	if prefix == "" {
		return true
	}
	return ValidKey(strings.TrimSuffix(prefix, "/"))
}
