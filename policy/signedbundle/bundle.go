// Package signedbundle reads, writes and verifies signed policy bundles: a
// gzip'd tar of policy files with a manifest of their digests and the
// security officers' signatures (compact JWS) over that manifest. It knows
// nothing of Rego or of the policy's layout: package policy says which
// member names are policy files, builds the manifest's revision and loads
// the verified files.
//
// The bundle format:
//
//	<policy files>    liaison/…, data/…, schemas/…, samples.json
//	.manifest.json    {"format", "revision", "created", "files": [{"path", "sha256", "size"}]}
//	.signatures.json  {"signatures": ["<compact JWS>", …]}
//
// Each signature is a JWS by one security officer whose payload is the
// manifest, byte for byte. A bundle verifies only if enough distinct
// trusted keys signed that manifest and every file matches it: nothing may
// be added, removed or altered after signing.
package signedbundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/jose"
)

// ErrUntrusted: a bundle is malformed, altered, or not signed by enough
// trusted keys. (policy.ErrBundle is this error.)
var ErrUntrusted = errors.New("policy: bundle not trusted")

const (
	// Format names the bundle format in its manifest.
	Format         = "liaison-policy-bundle/1"
	manifestName   = ".manifest.json"
	signaturesName = ".signatures.json"
	// maxBundleBytes bounds the unpacked size of a bundle (and so what a
	// hostile archive can make the loader allocate).
	maxBundleBytes = 64 << 20
	maxBundleFiles = 10000
)

// Manifest lists the files of a signed bundle with their digests.
type Manifest struct {
	Format string `json:"format"`
	// Revision is the policy revision the files produce (see
	// policy.Engine.Revision): decisions made under the bundle carry it.
	Revision string         `json:"revision"`
	Created  time.Time      `json:"created"`
	Files    []ManifestFile `json:"files"`
}

// ManifestFile is one file of a bundle.
type ManifestFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
}

// Info describes a bundle: its manifest and the keys whose signatures
// verified (kids, sorted).
type Info struct {
	Path     string   `json:"path"`
	Manifest Manifest `json:"manifest"`
	Signers  []string `json:"signers"`
	// Rejected explains each signature that did not count (untrusted key,
	// over another manifest, …).
	Rejected []string `json:"rejected,omitempty"`
}

// IsMember reports whether a member name is a file the bundle may carry
// (package policy's rule); any other member makes the bundle malformed.
type IsMember func(name string) bool

// Sign writes to out a bundle of files (by slash path) whose manifest
// names revision, signed with key (a security officer's private JWK). The
// caller has checked that the files make a policy that loads.
func Sign(files map[string][]byte, revision string, key jwk.Key, out string) (*Info, error) {
	m := Manifest{Format: Format, Revision: revision, Created: time.Now().UTC().Truncate(time.Second)}
	for _, p := range sortedKeys(files) {
		sum := sha256.Sum256(files[p])
		m.Files = append(m.Files, ManifestFile{Path: p, SHA256: hex.EncodeToString(sum[:]), Size: len(files[p])})
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	sig, err := jose.SignWithKey(key, raw)
	if err != nil {
		return nil, err
	}
	if err := write(out, files, raw, []string{sig}, m.Created); err != nil {
		return nil, err
	}
	return &Info{Path: out, Manifest: m, Signers: []string{key.KeyID()}}, nil
}

// CoSign adds key's signature to a bundle and writes the result to out (which
// may be the bundle itself). It checks first that every file still matches
// the manifest, and that this key has not signed already: two signatures by
// one key do not make two approvals.
func CoSign(bundlePath string, isMember IsMember, key jwk.Key, out string) (*Info, error) {
	raw, err := os.ReadFile(bundlePath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	ub, err := unpack(raw, bundlePath, isMember)
	if err != nil {
		return nil, err
	}
	m, err := ub.checkFiles()
	if err != nil {
		return nil, err
	}
	for _, s := range ub.signatures {
		if kidOf(s) == key.KeyID() {
			return nil, fmt.Errorf("%w: %s is already signed by key %s", ErrUntrusted, bundlePath, key.KeyID())
		}
	}
	sig, err := jose.SignWithKey(key, ub.manifest)
	if err != nil {
		return nil, err
	}
	sigs := append(slices.Clone(ub.signatures), sig)
	if err := write(out, ub.files, ub.manifest, sigs, m.Created); err != nil {
		return nil, err
	}
	signers := []string{}
	for _, s := range sigs {
		signers = append(signers, kidOf(s))
	}
	slices.Sort(signers)
	return &Info{Path: out, Manifest: m, Signers: signers}, nil
}

// Verify checks a bundle's bytes (name is how messages call it): at least
// required distinct keys of trusted signed the manifest, and the bundle
// holds exactly the files the manifest lists, with their digests. It
// returns the files by slash path; the Info is returned whenever the
// signatures were read, even if the bundle is refused, to say why.
func Verify(raw []byte, name string, isMember IsMember, trusted *jose.TrustedKeys, required int) (map[string][]byte, *Info, error) {
	u, err := unpack(raw, name, isMember)
	if err != nil {
		return nil, nil, err
	}
	info := &Info{Path: name, Signers: []string{}}
	signers := map[string]bool{}
	for i, sig := range u.signatures {
		payload, kid, err := trusted.Verify(sig)
		switch {
		case err != nil:
			info.Rejected = append(info.Rejected, fmt.Sprintf("signature %d: %v", i+1, err))
		case !bytes.Equal(payload, u.manifest):
			info.Rejected = append(info.Rejected, fmt.Sprintf("signature %d (key %s) is over another manifest", i+1, kid))
		default:
			signers[kid] = true
		}
	}
	info.Signers = sortedKeys(signers)
	if len(signers) < required {
		detail := ""
		if len(info.Rejected) > 0 {
			detail = " (" + strings.Join(info.Rejected, "; ") + ")"
		}
		return nil, info, fmt.Errorf("%w: %s is signed by %d trusted key(s), %d required%s", ErrUntrusted, name, len(signers), required, detail)
	}
	m, err := u.checkFiles()
	if err != nil {
		return nil, info, err
	}
	info.Manifest = m
	return u.files, info, nil
}

// kidOf reads the kid of a compact JWS without verifying it (for messages
// and duplicate detection only).
func kidOf(sig string) string {
	hdr, _, ok := strings.Cut(sig, ".")
	if !ok {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &h)
	return safeID(h.Kid)
}

// safeID keeps a key id only if it looks like one, so that a message
// never carries free text from a bundle.
func safeID(s string) string {
	if len(s) > 128 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			return ""
		}
	}
	return s
}

// unpacked is a bundle file's members.
type unpacked struct {
	files      map[string][]byte
	manifest   []byte
	signatures []string
}

// unpack reads the members of a bundle, untrusted bytes: it checks their
// names, types, count and total size before anything looks at them.
func unpack(raw []byte, name string, isMember IsMember) (*unpacked, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrUntrusted, name, fmt.Sprintf(format, args...))
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, bad("not a gzip'd tar")
	}
	tr := tar.NewReader(io.LimitReader(gz, maxBundleBytes+1))
	u := &unpacked{files: map[string][]byte{}}
	total, seen := 0, map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bad("unreadable tar: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, bad("%q is not a regular file", safePath(h.Name))
		}
		if h.Name != path.Clean(h.Name) || path.IsAbs(h.Name) || strings.HasPrefix(h.Name, "../") || h.Name == ".." {
			return nil, bad("member name %q is not a clean relative path", safePath(h.Name))
		}
		if seen[h.Name] {
			return nil, bad("%q appears twice", safePath(h.Name))
		}
		seen[h.Name] = true
		if len(seen) > maxBundleFiles {
			return nil, bad("more than %d files", maxBundleFiles)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, bad("unreadable member %q: %v", safePath(h.Name), err)
		}
		if total += len(data); total > maxBundleBytes {
			return nil, bad("larger than %d bytes unpacked", maxBundleBytes)
		}
		switch h.Name {
		case manifestName:
			u.manifest = data
		case signaturesName:
			var doc struct {
				Signatures []string `json:"signatures"`
			}
			if err := json.Unmarshal(data, &doc); err != nil {
				return nil, bad("%s is not {\"signatures\": [...]}", signaturesName)
			}
			u.signatures = doc.Signatures
		default:
			if !isMember(h.Name) {
				return nil, bad("%q is not a policy file", safePath(h.Name))
			}
			u.files[h.Name] = data
		}
	}
	if u.manifest == nil {
		return nil, bad("no %s", manifestName)
	}
	if len(u.signatures) == 0 {
		return nil, bad("not signed")
	}
	return u, nil
}

func safePath(s string) string {
	if len(s) > 200 || !utf8Printable(s) {
		return "(malformed)"
	}
	return s
}

func utf8Printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// checkFiles parses the manifest and checks that the bundle holds exactly
// the files it lists, with their digests.
func (u *unpacked) checkFiles() (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(u.manifest, &m); err != nil || m.Format != Format {
		return m, fmt.Errorf("%w: the manifest is not a %s manifest", ErrUntrusted, Format)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		if listed[f.Path] {
			return m, fmt.Errorf("%w: %s is listed twice in the manifest", ErrUntrusted, safePath(f.Path))
		}
		listed[f.Path] = true
		data, ok := u.files[f.Path]
		if !ok {
			return m, fmt.Errorf("%w: %s is in the manifest but not in the bundle", ErrUntrusted, safePath(f.Path))
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 || len(data) != f.Size {
			return m, fmt.Errorf("%w: %s does not match its digest in the manifest (altered after signing)", ErrUntrusted, safePath(f.Path))
		}
	}
	for p := range u.files {
		if !listed[p] {
			return m, fmt.Errorf("%w: %s is in the bundle but not in the manifest (added after signing)", ErrUntrusted, safePath(p))
		}
	}
	return m, nil
}

func write(out string, files map[string][]byte, manifest []byte, sigs []string, mtime time.Time) error {
	sigDoc, err := json.MarshalIndent(map[string][]string{"signatures": sigs}, "", "  ")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, p := range sortedKeys(files) {
		if err := add(p, files[p]); err != nil {
			return err
		}
	}
	if err := add(manifestName, manifest); err != nil {
		return err
	}
	if err := add(signaturesName, append(sigDoc, '\n')); err != nil {
		return err
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return err
	}
	// Write to a temporary file and rename, so that a gateway watching the
	// bundle never reads half of it.
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
