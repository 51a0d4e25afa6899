// Package backup takes a consistent backup of a gateway while it runs and
// restores it onto a fresh node: configuration, keys and certificates, the
// audit log, the policy data, and every object of the record store, in one
// archive with a manifest of SHA-256 digests.
//
// Consistency without stopping the gateway comes from the order of the
// copy, which follows the order in which the gateway itself makes things
// durable:
//
//  1. the record store, object by object (a publish makes its record
//     durable before its audit entry, a recall writes its tombstone before
//     its audit entry);
//  2. the key ring and the other key and certificate files (a key version a
//     stored object uses was created before that object was written);
//  3. the audit log last: note, then checkpoints, then segments in order,
//     each cut after its last complete line (the audit log's own verifier
//     reads a live log the same way).
//
// So every record state in the archive has its audit entry in the archive,
// and every stored object can be decrypted with the archived keys. The
// archive may hold audit entries for changes made while the store was being
// copied that the copied store does not show: the evidence says more than
// the state, never less. The index database is not copied: it is derived
// from the store, and Restore rebuilds it.
//
// The archive holds private keys (the gateway's signing key, the audit key,
// the local key ring that unwraps every record's data key): it must be
// stored like them — encrypted, access-controlled, apart from the store.
// With Vault as the key provider the record keys are not in it at all (back
// up Vault itself), and the manifest says so.
package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/buildinfo"
)

// FormatVersion is the archive layout this package writes and reads.
const FormatVersion = 1

// ManifestName is the manifest's name in the archive; it is the archive's
// last entry, because it holds the digests of everything before it.
const ManifestName = "manifest.json"

// Manifest describes one backup archive.
type Manifest struct {
	Format    int            `json:"format"`
	Created   time.Time      `json:"created"`
	GatewayID string         `json:"gateway_id"`
	Liaison   buildinfo.Info `json:"liaison"`
	// BaseDir is the directory of the configuration file that was backed
	// up: on restore with --data-dir, paths under it move under the new
	// data directory.
	BaseDir string `json:"base_dir"`
	// KeysProvider is "local" (the key ring is in the archive) or "vault"
	// (it is not: Vault is backed up on its own).
	KeysProvider string      `json:"keys_provider"`
	Files        []File      `json:"files"`
	Store        StoreDigest `json:"store"`
	Audit        AuditState  `json:"audit"`
	// Notes say what the archive does not hold and why.
	Notes []string `json:"notes,omitempty"`
}

// File is one file of the gateway's configuration, keys, certificates,
// policy or audit log.
type File struct {
	// Role names the configuration setting the file belongs to ("tls.cert",
	// "audit.path", "tls.client_cas[0]", …). For a directory setting, Rel
	// is the file's path inside that directory.
	Role   string `json:"role"`
	Rel    string `json:"rel,omitempty"`
	Source string `json:"source"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Mode   uint32 `json:"mode"`
}

// Name is the file's entry name in the archive.
func (f File) Name() string {
	n := "files/" + f.Role
	if f.Rel != "" {
		n += "/" + f.Rel
	}
	return n
}

// StoreDigest summarises the record store's objects in the archive.
type StoreDigest struct {
	Backend string `json:"backend"`
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
	// SHA256 is over "<key> <sha256 of object>\n" for every object in key
	// order: one value that says the restored store holds the same objects.
	SHA256 string `json:"sha256"`
	// Objects' own digests, in archive order.
	Digests []ObjectDigest `json:"digests"`
}

// ObjectDigest is one object of the store.
type ObjectDigest struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// AuditState is what the archived audit log verified to.
type AuditState struct {
	Entries    uint64 `json:"entries"`
	RootHash   string `json:"root_hash"`
	SignedSize uint64 `json:"signed_size"`
}

// objectPrefix is where store objects sit in the archive.
const objectPrefix = "store/"

// ParseManifest decodes and checks a manifest read from an archive. It is
// the only parser of an archive's bytes besides the tar reader, and it
// rejects anything that could steer a restore outside its targets: unknown
// roles, relative paths that climb, invalid store keys.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("backup: manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("backup: manifest: trailing data")
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("backup: manifest format %d; this liaison reads format %d", m.Format, FormatVersion)
	}
	if m.GatewayID == "" {
		return nil, errors.New("backup: manifest: gateway_id missing")
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if _, ok := roleByName(f.Role); !ok {
			return nil, fmt.Errorf("backup: manifest: unknown role %q", f.Role)
		}
		if f.Rel != "" && !validRel(f.Rel) {
			return nil, fmt.Errorf("backup: manifest: %s: invalid path %q", f.Role, f.Rel)
		}
		if !validDigest(f.SHA256) || f.Size < 0 {
			return nil, fmt.Errorf("backup: manifest: %s: invalid digest or size", f.Name())
		}
		if seen[f.Name()] {
			return nil, fmt.Errorf("backup: manifest: %s twice", f.Name())
		}
		seen[f.Name()] = true
	}
	if len(m.Store.Digests) != m.Store.Objects {
		return nil, fmt.Errorf("backup: manifest: %d objects but %d digests", m.Store.Objects, len(m.Store.Digests))
	}
	for _, d := range m.Store.Digests {
		if !objstore.ValidKey(d.Key) || !validDigest(d.SHA256) {
			return nil, fmt.Errorf("backup: manifest: invalid store object %q", d.Key)
		}
	}
	return &m, nil
}

// validRel accepts a clean relative slash path without "." or ".." segments.
func validRel(rel string) bool {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.Contains(rel, "\\") || path.Clean(rel) != rel {
		return false
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func validDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
