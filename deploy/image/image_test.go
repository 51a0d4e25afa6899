package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// testOptions are fixed inputs: the test controls every one, so two runs
// must give one digest.
func testOptions(t *testing.T, out string) options {
	return options{
		Out: out, Version: "v0.0.0-test", Commit: "0123456789abcdef0123456789abcdef01234567",
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Source: defaultRepo, Arch: runtime.GOARCH,
		RepoRoot: repoRoot(t), Tag: "liaison:v0.0.0-test",
	}
}

// TestImage builds the image the way `make image` does (the real static
// go build), twice, and inspects what it wrote.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the liaison binary")
	}
	ctx := context.Background()
	dir := t.TempDir()
	o := testOptions(t, filepath.Join(dir, "a.tar"))
	bin, err := buildBinary(ctx, o, dir)
	if err != nil {
		t.Fatal(err)
	}
	// The binary is built once (two links of liaison cost minutes on a
	// shared machine); the Go build's own reproducibility rests on
	// -trimpath -buildid= and is checked by TestBinaryReproducible.
	o.Binary = bin
	if err := run(ctx, &o); err != nil {
		t.Fatal(err)
	}
	o2 := o
	o2.Out = filepath.Join(dir, "b.tar")
	if err := run(ctx, &o2); err != nil {
		t.Fatal(err)
	}
	a, b := fileSHA(t, o.Out), fileSHA(t, o2.Out)
	if a != b {
		t.Errorf("two builds of one input differ: %x vs %x", a, b)
	}
	img := readArchive(t, o.Out)
	d1, _ := img.Digest()
	img2 := readArchive(t, o2.Out)
	d2, _ := img2.Digest()
	if d1 != d2 {
		t.Errorf("image digests differ: %s vs %s", d1, d2)
	}
	st, _ := os.Stat(o.Out)
	t.Logf("image %s, archive %d bytes, archive sha256 %x", d1, st.Size(), a)

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/liaison"}) || !slices.Equal(c.Cmd, cmd) ||
		cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !cf.Created.Time.Equal(o.Created) {
		t.Errorf("config: user %q entrypoint %v cmd %v os %s/%s created %v", c.User, c.Entrypoint, c.Cmd, cf.OS, cf.Architecture, cf.Created)
	}
	if _, ok := c.Volumes["/var/lib/liaison"]; !ok || c.WorkingDir != "/var/lib/liaison" || len(c.ExposedPorts) != 2 {
		t.Errorf("volumes %v workdir %q ports %v", c.Volumes, c.WorkingDir, c.ExposedPorts)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.version":  "v0.0.0-test",
		"org.opencontainers.image.revision": o.Commit,
		"org.opencontainers.image.source":   "https://github.com/liaison-project/liaison",
		"org.opencontainers.image.created":  "2026-01-02T03:04:05Z",
		"org.opencontainers.image.title":    "liaison",
	} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	for _, h := range cf.History {
		if !h.Created.Time.Equal(o.Created) {
			t.Errorf("history entry at %v", h.Created)
		}
	}

	// The filesystem: exactly these files, nothing else (no shell, no
	// other binaries), owned by root but for the data directory.
	files := map[string]*tar.Header{}
	bodies := map[string][]byte{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h.Name = strings.TrimSuffix(h.Name, "/") // mutate.Extract drops a directory's '/'
		files[h.Name] = h
		if h.Typeflag == tar.TypeReg {
			if bodies[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
		if !h.ModTime.Equal(o.Created) {
			t.Errorf("%s: mtime %v", h.Name, h.ModTime)
		}
	}
	var regular []string
	for name, h := range files {
		if h.Typeflag != tar.TypeDir {
			regular = append(regular, name)
		}
		if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 && name != "liaison" {
			t.Errorf("%s is executable", name)
		}
		if name != "var/lib/liaison" && (h.Uid != 0 || h.Gid != 0) {
			t.Errorf("%s owned by %d:%d", name, h.Uid, h.Gid)
		}
	}
	slices.Sort(regular)
	if want := []string{"etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "liaison"}; !slices.Equal(regular, want) {
		t.Errorf("files %v, want %v", regular, want)
	}
	if h := files["var/lib/liaison"]; h == nil || h.Uid != 65532 || h.Gid != 65532 || h.Mode&0o777 != 0o700 {
		t.Errorf("data directory %+v", h)
	}
	if !strings.Contains(string(bodies["etc/passwd"]), "liaison:x:65532:65532:") || !strings.Contains(string(bodies["etc/group"]), "liaison:x:65532:") {
		t.Errorf("passwd %q group %q", bodies["etc/passwd"], bodies["etc/group"])
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bodies["etc/ssl/certs/ca-certificates.crt"]) || countPEM(bodies["etc/ssl/certs/ca-certificates.crt"]) < 100 {
		t.Error("the CA bundle holds no or few certificates")
	}

	// The binary inside runs and says what was stamped into it.
	if runtime.GOOS == "linux" {
		exe := filepath.Join(dir, "extracted-liaison")
		if err := os.WriteFile(exe, bodies["liaison"], 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(exe, "version", "--json").Output()
		if err != nil {
			t.Fatalf("liaison version: %v", err)
		}
		var v struct {
			Version, Commit, Date string
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if v.Version != "v0.0.0-test" || v.Commit != o.Commit || v.Date != "2026-01-02T03:04:05Z" {
			t.Errorf("liaison version in the image: %s", out)
		}
		if f, err := os.ReadFile(bin); err != nil || !bytes.Equal(f, bodies["liaison"]) {
			t.Error("the image's binary is not the one built")
		}
		if ldd, err := exec.Command("file", exe).Output(); err == nil && !strings.Contains(string(ldd), "statically linked") {
			t.Errorf("not static: %s", ldd)
		}
	}
}

// TestBinaryReproducible: the image's digest is only as reproducible as
// the binary in it; two builds with the image's flags into different
// directories (the Go cache may serve the second) give the same bytes.
func TestBinaryReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the liaison binary")
	}
	ctx := context.Background()
	o := testOptions(t, "")
	a, err := buildBinary(ctx, o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildBinary(ctx, o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fileSHA(t, a) != fileSHA(t, b) {
		t.Error("two builds of one commit give different binaries")
	}
}

// TestRootFSOutput: -rootfs (what the Dockerfile copies) writes the
// image's files other than the binary, with the same bytes.
func TestRootFSOutput(t *testing.T) {
	dir := t.TempDir()
	if err := writeRootFS(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := rootEntries(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.body == nil {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, e.name))
		if err != nil || !bytes.Equal(got, e.body) {
			t.Errorf("%s: %v", e.name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "liaison")); err == nil {
		t.Error("-rootfs wrote the binary")
	}
}

func readArchive(t *testing.T, path string) v1.Image {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("archive entries not sorted: %v", names)
	}
	for _, want := range []string{"oci-layout", "index.json", "manifest.json"} {
		if !slices.Contains(names, want) {
			t.Errorf("the archive lacks %s: %v", want, names)
		}
	}
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "liaison:v0.0.0-test" {
		t.Fatalf("index %+v", im.Manifests)
	}
	img, err := ii.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	// docker load reads manifest.json: it must name the same config and layer.
	var dm []struct {
		Config           string
		RepoTags, Layers []string
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil || json.Unmarshal(b, &dm) != nil || len(dm) != 1 {
		t.Fatalf("manifest.json %s: %v", b, err)
	}
	cfgName, _ := img.ConfigName()
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	if dm[0].Config != "blobs/sha256/"+cfgName.Hex || len(dm[0].Layers) != 1 || dm[0].Layers[0] != "blobs/sha256/"+ld.Hex || !slices.Equal(dm[0].RepoTags, []string{"liaison:v0.0.0-test"}) {
		t.Errorf("manifest.json %+v", dm)
	}
	return img
}

func fileSHA(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func countPEM(b []byte) int {
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return n
		}
		n++
	}
}
