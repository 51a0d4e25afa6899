package signedbundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// isPolicyFile is a stand-in for package policy's rule.
func isPolicyFile(name string) bool {
	return strings.HasSuffix(name, ".rego") || path.Dir(name) == "data" && strings.HasSuffix(name, ".json")
}

// FuzzUnpack feeds arbitrary bytes to the bundle reader, which reads
// untrusted files before any signature is checked: it must never panic,
// and what it accepts must hold only clean, allowed member names within
// the size limits, a manifest and at least one signature.
func FuzzUnpack(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "good.tar.gz")
	files := map[string][]byte{"liaison/authz.rego": []byte("package liaison.authz\n"), "data/x.json": []byte(`{"x": 1}`)}
	manifest := []byte(`{"format": "liaison-policy-bundle/1", "revision": "sha256:0", "files": [{"path": "data/x.json", "sha256": "00", "size": 8}]}`)
	if err := write(good, files, manifest, []string{"eyJraWQiOiJrMSJ9.e30.c2ln"}, time.Unix(0, 0)); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte{})
	f.Add([]byte("not a bundle"))
	// A tar with a path that escapes, and one with a symlink.
	for _, h := range []*tar.Header{
		{Name: "../etc/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
		{Name: "liaison/a.rego", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
	} {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		_ = tw.WriteHeader(h)
		if h.Size > 0 {
			_, _ = tw.Write([]byte("x"))
		}
		_ = tw.Close()
		_ = gz.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		u, err := unpack(raw, "fuzz.tar.gz", isPolicyFile)
		if err != nil {
			if u != nil {
				t.Fatal("an error with a result")
			}
			return
		}
		if u.manifest == nil || len(u.signatures) == 0 {
			t.Fatal("accepted without a manifest or a signature")
		}
		total := 0
		for name, data := range u.files {
			if !isPolicyFile(name) || name != path.Clean(name) || path.IsAbs(name) || strings.HasPrefix(name, "../") {
				t.Fatalf("accepted member %q", name)
			}
			total += len(data)
		}
		if total > maxBundleBytes || len(u.files) > maxBundleFiles {
			t.Fatalf("accepted %d files, %d bytes", len(u.files), total)
		}
		// The manifest check reads the (untrusted) manifest too.
		if m, err := u.checkFiles(); err == nil && len(m.Files) != len(u.files) {
			t.Fatalf("manifest of %d files accepted for %d files", len(m.Files), len(u.files))
		}
	})
}
