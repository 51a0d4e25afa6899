package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
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
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/jose"
)

// A signed policy bundle is a gzip'd tar of the policy files (liaison/…,
// data/…, schemas/…, samples.json) with two more members:
//
//	.manifest.json    {"format", "revision", "created", "files": [{"path", "sha256", "size"}]}
//	.signatures.json  {"signatures": ["<compact JWS>", …]}
//
// Each signature is a JWS by one security officer whose payload is the
// manifest, byte for byte. A gateway configured with a bundle loads it only
// if enough distinct trusted keys signed that manifest and every file
// matches it: nothing may be added, removed or altered after signing.
const (
	bundleFormat   = "liaison-policy-bundle/1"
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
	// Engine.Revision): decisions made under the bundle carry it.
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

// BundleInfo describes a bundle: its manifest and the keys whose
// signatures verified (kids, sorted).
type BundleInfo struct {
	Path     string   `json:"path"`
	Manifest Manifest `json:"manifest"`
	Signers  []string `json:"signers"`
	// Rejected explains each signature that did not count (untrusted key,
	// over another manifest, …).
	Rejected []string `json:"rejected,omitempty"`
}

func newManifest(b *bundle, created time.Time) Manifest {
	m := Manifest{Format: bundleFormat, Revision: b.revision(), Created: created.UTC().Truncate(time.Second)}
	files := b.files()
	for _, p := range sortedKeys(files) {
		sum := sha256.Sum256(files[p])
		m.Files = append(m.Files, ManifestFile{Path: p, SHA256: hex.EncodeToString(sum[:]), Size: len(files[p])})
	}
	return m
}

// Sign makes a signed bundle of the policy in dir, signed with key (a
// security officer's private JWK, see jose.LoadPrivateJWK), and writes it
// to out. It refuses a policy that would not load: one that does not
// compile, whose data breaks the schemas, or that fails its samples or Rego
// tests. A second officer adds a signature with CoSign.
func Sign(ctx context.Context, dir string, key jwk.Key, out string) (*BundleInfo, error) {
	if _, err := New(ctx, Options{Dir: dir, ReloadInterval: -1}); err != nil {
		return nil, fmt.Errorf("refusing to sign a policy that does not load: %w", err)
	}
	b, err := readBundle(os.DirFS(dir), dir)
	if err != nil {
		return nil, err
	}
	m := newManifest(b, time.Now())
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	sig, err := jose.SignWithKey(key, raw)
	if err != nil {
		return nil, err
	}
	if err := writeBundle(out, b.files(), raw, []string{sig}, m.Created); err != nil {
		return nil, err
	}
	return &BundleInfo{Path: out, Manifest: m, Signers: []string{key.KeyID()}}, nil
}

// CoSign adds key's signature to a bundle and writes the result to out (which
// may be the bundle itself). It checks first that every file still matches
// the manifest, and that this key has not signed already: two signatures by
// one key do not make two approvals.
func CoSign(bundlePath string, key jwk.Key, out string) (*BundleInfo, error) {
	ub, err := readBundleFile(bundlePath)
	if err != nil {
		return nil, err
	}
	m, err := ub.checkFiles()
	if err != nil {
		return nil, err
	}
	for _, s := range ub.signatures {
		if kidOf(s) == key.KeyID() {
			return nil, fmt.Errorf("%w: %s is already signed by key %s", ErrBundle, bundlePath, key.KeyID())
		}
	}
	sig, err := jose.SignWithKey(key, ub.manifest)
	if err != nil {
		return nil, err
	}
	sigs := append(slices.Clone(ub.signatures), sig)
	if err := writeBundle(out, ub.files, ub.manifest, sigs, m.Created); err != nil {
		return nil, err
	}
	signers := []string{}
	for _, s := range sigs {
		signers = append(signers, kidOf(s))
	}
	slices.Sort(signers)
	return &BundleInfo{Path: out, Manifest: m, Signers: signers}, nil
}

// VerifyBundle checks a bundle as a gateway would before loading it: every
// file matches the manifest, and at least required (default 1) distinct
// keys of the trusted JWKS file signed the manifest.
func VerifyBundle(bundlePath, trustedKeysPath string, required int) (*BundleInfo, error) {
	src, err := newSignedSource(bundlePath, trustedKeysPath, required)
	if err != nil {
		return nil, err
	}
	_, info, _, err := src.(*signedSource).open()
	return info, err
}

// kidOf reads the kid of a compact JWS without verifying it (for messages
// and duplicate detection only).
func kidOf(sig string) string {
	hdr, _, ok := strings.Cut(sig, ".")
	if !ok {
		return ""
	}
	raw, err := decodeSegment(hdr)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &h)
	return safeID(h.Kid)
}

// unpacked is a bundle file's members.
type unpacked struct {
	files      map[string][]byte
	manifest   []byte
	signatures []string
}

func readBundleFile(p string) (*unpacked, error) {
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBundle, err)
	}
	return unpack(raw, p)
}

func unpack(raw []byte, name string) (*unpacked, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBundle, name, fmt.Sprintf(format, args...))
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
			return nil, bad("%q appears twice", h.Name)
		}
		seen[h.Name] = true
		if len(seen) > maxBundleFiles {
			return nil, bad("more than %d files", maxBundleFiles)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, bad("unreadable member %q: %v", h.Name, err)
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
			if !wanted(h.Name) {
				return nil, bad("%q is not a policy file", h.Name)
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
	if err := json.Unmarshal(u.manifest, &m); err != nil || m.Format != bundleFormat {
		return m, fmt.Errorf("%w: the manifest is not a %s manifest", ErrBundle, bundleFormat)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Path] = true
		data, ok := u.files[f.Path]
		if !ok {
			return m, fmt.Errorf("%w: %s is in the manifest but not in the bundle", ErrBundle, safePath(f.Path))
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 || len(data) != f.Size {
			return m, fmt.Errorf("%w: %s does not match its digest in the manifest (altered after signing)", ErrBundle, f.Path)
		}
	}
	for p := range u.files {
		if !listed[p] {
			return m, fmt.Errorf("%w: %s is in the bundle but not in the manifest (added after signing)", ErrBundle, p)
		}
	}
	return m, nil
}

func writeBundle(out string, files map[string][]byte, manifest []byte, sigs []string, mtime time.Time) error {
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

// signedSource loads a bundle only if enough trusted keys signed it.
type signedSource struct {
	path, trustedKeys string
	required          int
}

func newSignedSource(bundlePath, trustedKeys string, required int) (source, error) {
	if trustedKeys == "" {
		return nil, fmt.Errorf("%w: a policy bundle needs trusted keys (a JWKS of the security officers' public keys)", ErrLoad)
	}
	if required < 0 {
		return nil, fmt.Errorf("%w: required signatures must not be negative", ErrLoad)
	}
	if required == 0 {
		required = 1
	}
	return &signedSource{path: bundlePath, trustedKeys: trustedKeys, required: required}, nil
}

func (s *signedSource) String() string { return s.path }

func (s *signedSource) load() (*bundle, string, error) {
	b, _, fp, err := s.open()
	return b, fp, err
}

// open verifies the bundle and returns it as a policy bundle. The
// fingerprint covers the bundle file and the trust list, so that a new
// trusted key also triggers a reload.
func (s *signedSource) open() (*bundle, *BundleInfo, string, error) {
	raw, err := os.ReadFile(s.path)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: %w", ErrBundle, err)
	}
	jwks, err := os.ReadFile(s.trustedKeys)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: trusted keys: %w", ErrBundle, err)
	}
	h := sha256.New()
	writeFiles(h, "bundle", map[string][]byte{"bundle": raw, "trusted": jwks})
	fp := hex.EncodeToString(h.Sum(nil))

	trusted, err := jose.ParseTrustedKeys(jwks)
	if err != nil {
		return nil, nil, fp, fmt.Errorf("%w: trusted keys %s: %w", ErrBundle, s.trustedKeys, err)
	}
	u, err := unpack(raw, s.path)
	if err != nil {
		return nil, nil, fp, err
	}
	info := &BundleInfo{Path: s.path, Signers: []string{}}
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
	if len(signers) < s.required {
		detail := ""
		if len(info.Rejected) > 0 {
			detail = " (" + strings.Join(info.Rejected, "; ") + ")"
		}
		return nil, info, fp, fmt.Errorf("%w: %s is signed by %d trusted key(s), %d required%s", ErrBundle, s.path, len(signers), s.required, detail)
	}
	m, err := u.checkFiles()
	if err != nil {
		return nil, info, fp, err
	}
	info.Manifest = m
	b := newBundle(s.path + "!")
	for p, data := range u.files {
		b.add(p, data)
	}
	if len(b.modules) == 0 {
		return nil, info, fp, fmt.Errorf("%w: %s holds no policy modules", ErrBundle, s.path)
	}
	if b.revision() != m.Revision {
		return nil, info, fp, fmt.Errorf("%w: %s: the files give revision %s, the manifest says %s", ErrBundle, s.path, b.revision(), m.Revision)
	}
	b.manifest = &m
	b.signers = info.Signers
	return b, info, fp, nil
}

func decodeSegment(seg string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(seg)
}

// Signers returns the kids of the keys whose signatures admitted the policy
// in force, sorted; nil when the policy did not come from a signed bundle.
func (e *Engine) Signers() []string {
	return slices.Clone(e.cur.Load().signers)
}
