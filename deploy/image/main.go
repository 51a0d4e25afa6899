// Command image builds Liaison's container image without a Docker daemon
// and without pulling a base image: a static liaison binary (CGO off,
// -trimpath, version stamped into gateway/buildinfo) on an empty base, with
// a non-root user (65532, /etc/passwd and /etc/group), the NSS root CA
// bundle from golang.org/x/crypto/x509roots/fallback (pinned in go.mod, not
// the build host's files), OCI labels, and nothing else — no shell, no
// other binaries. It writes an OCI image layout tarball (`make image`):
//
//	go run ./deploy/image -o bin/liaison-image.tar
//	docker load -i bin/liaison-image.tar     # Docker 25+, or: podman load -i …
//	skopeo copy oci-archive:bin/liaison-image.tar docker://registry/liaison:TAG
//
// The image is reproducible: every timestamp is SOURCE_DATE_EPOCH (default:
// the commit's time), tar entries are sorted with fixed owners and modes,
// and the Go build is reproducible (-trimpath, -buildid=), so two builds of
// one commit have one digest. deploy/image/Dockerfile builds the same image
// with Docker for those who have it.
//
// github.com/google/go-containerregistry assembles the image: it is what
// ko and crane use, and computes digests, media types and the layout
// exactly as registries expect — nothing here hand-writes manifests.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The image's fixed facts; deploy/image/Dockerfile states the same ones
// (a test compares them).
const (
	uid, gid    = 65532, 65532
	userName    = "liaison"
	binaryPath  = "/liaison"
	caBundle    = "/etc/ssl/certs/ca-certificates.crt"
	defaultRepo = "https://github.com/liaison-project/liaison"
)

var (
	entrypoint   = []string{binaryPath}
	cmd          = []string{"serve", "--config", "/etc/liaison/liaison.yaml"}
	exposedPorts = []string{"8443/tcp", "9443/tcp"} // agency listener (mTLS), admin (health, metrics)
)

// options describe one build.
type options struct {
	Out      string
	Version  string // e.g. v1.2.3; default: git describe
	Commit   string // default: git rev-parse HEAD
	Created  time.Time
	Source   string
	Arch     string // GOARCH of the image
	Binary   string // a prebuilt static binary instead of building one (tests)
	RepoRoot string
	Tag      string // the name written into the archive (org.opencontainers.image.ref.name, docker RepoTags)
}

func main() {
	var o options
	flag.StringVar(&o.Out, "o", "bin/liaison-image.tar", "the OCI image layout tarball to write")
	flag.StringVar(&o.Version, "version", "", "image and binary version (default: git describe --tags --always --dirty)")
	flag.StringVar(&o.Commit, "commit", "", "VCS revision (default: git rev-parse HEAD)")
	flag.StringVar(&o.Source, "source", defaultRepo, "org.opencontainers.image.source")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "GOARCH of the image (linux only)")
	flag.StringVar(&o.Tag, "tag", "", "image name in the archive (default: liaison:<version>)")
	rootfs := flag.String("rootfs", "", "write only the image's files other than the binary under this directory (deploy/image/Dockerfile) and exit")
	flag.Parse()
	if *rootfs != "" {
		if err := writeRootFS(*rootfs); err != nil {
			fmt.Fprintln(os.Stderr, "image:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), &o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o *options) error {
	if err := o.fill(ctx); err != nil {
		return err
	}
	img, err := build(ctx, *o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(o.Out), ".liaison-image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := writeArchive(f, img, *o); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// A build artefact others read (CreateTemp made it 0600).
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), o.Out); err != nil {
		return err
	}
	d, _ := img.Digest()
	st, _ := os.Stat(o.Out)
	fmt.Printf("%s: %s %s (%d bytes)\n", o.Out, o.Tag, d, st.Size())
	return nil
}

// fill sets what the flags left empty from git and the environment.
func (o *options) fill(ctx context.Context) error {
	if o.RepoRoot == "" {
		root, err := git(ctx, "", "rev-parse", "--show-toplevel")
		if err != nil {
			return fmt.Errorf("not in a git checkout (give -version, -commit and SOURCE_DATE_EPOCH): %w", err)
		}
		o.RepoRoot = root
	}
	var err error
	if o.Version == "" {
		if o.Version, err = git(ctx, o.RepoRoot, "describe", "--tags", "--always", "--dirty"); err != nil {
			return err
		}
	}
	if o.Commit == "" {
		if o.Commit, err = git(ctx, o.RepoRoot, "rev-parse", "HEAD"); err != nil {
			return err
		}
	}
	if o.Created.IsZero() {
		epoch := os.Getenv("SOURCE_DATE_EPOCH")
		if epoch == "" {
			if epoch, err = git(ctx, o.RepoRoot, "log", "-1", "--format=%ct"); err != nil {
				return err
			}
		}
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %v", epoch, err)
		}
		o.Created = time.Unix(sec, 0).UTC()
	}
	if o.Tag == "" {
		// A tag may not hold '+' (semver build metadata).
		o.Tag = "liaison:" + strings.ReplaceAll(o.Version, "+", "_")
	}
	return nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, "git", args...)
	c.Dir = dir
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// buildBinary compiles a static, reproducible liaison for linux/o.Arch.
func buildBinary(ctx context.Context, o options, dir string) (string, error) {
	out := filepath.Join(dir, "liaison")
	pkg := "github.com/liaison-project/liaison/gateway/buildinfo"
	ldflags := fmt.Sprintf("-s -w -buildid= -X %s.version=%s -X %s.commit=%s -X %s.date=%s",
		pkg, o.Version, pkg, o.Commit, pkg, o.Created.Format(time.RFC3339))
	c := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./cmd/liaison")
	c.Dir = o.RepoRoot
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch, "GOFLAGS=")
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return out, nil
}

// labels are the image's OCI annotations-as-labels.
func labels(o options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "liaison",
		"org.opencontainers.image.description": "Liaison: a secure federated data-sharing gateway for law-enforcement intelligence",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Commit,
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.created":     o.Created.Format(time.RFC3339),
	}
}

// build assembles the image: one layer on the empty base.
func build(ctx context.Context, o options) (v1.Image, error) {
	binPath := o.Binary
	if binPath == "" {
		dir, err := os.MkdirTemp("", "liaison-image-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if binPath, err = buildBinary(ctx, o, dir); err != nil {
			return nil, err
		}
	}
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return nil, err
	}
	layerTar, err := rootFS(bin, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.Created}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{
		Created: created, CreatedBy: "deploy/image: static liaison, passwd/group, CA bundle", Comment: "liaison " + o.Version,
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.Arch
	cf.Created = created
	ports := map[string]struct{}{}
	for _, p := range exposedPorts {
		ports[p] = struct{}{}
	}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", uid, gid),
		Entrypoint:   entrypoint,
		Cmd:          cmd,
		ExposedPorts: ports,
		Env:          []string{"SSL_CERT_FILE=" + caBundle},
		WorkingDir:   "/var/lib/liaison",
		Labels:       labels(o),
		Volumes:      map[string]struct{}{"/var/lib/liaison": {}},
	}
	return mutate.ConfigFile(img, cf)
}

// entry is one file or directory of the image's root filesystem.
type entry struct {
	name     string
	mode     int64
	uid, gid int
	body     []byte // nil: a directory
}

// rootEntries are the image's files, sorted by name; bin nil leaves out
// /liaison (for -rootfs, which the Dockerfile copies under the binary).
func rootEntries(bin []byte) ([]entry, error) {
	ca, n := caPEM()
	if n < 100 {
		return nil, fmt.Errorf("only %d root certificates in the bundle", n)
	}
	entries := []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, body: fmt.Appendf(nil, "root:x:0:\n%s:x:%d:\n", userName, gid)},
		{name: "etc/liaison/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, body: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:liaison:/var/lib/liaison:/sbin/nologin\n", userName, uid, gid)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: ca},
		{name: "tmp/", mode: 0o1777},
		{name: "var/", mode: 0o755},
		{name: "var/lib/", mode: 0o755},
		{name: "var/lib/liaison/", mode: 0o700, uid: uid, gid: gid},
	}
	if bin != nil {
		entries = append(entries, entry{name: "liaison", mode: 0o755, body: bin})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	return entries, nil
}

// writeRootFS writes the image's files except the binary under dir, for
// deploy/image/Dockerfile: the Docker build then has the same passwd,
// group and CA bundle as this builder's image, not a second copy of them.
func writeRootFS(dir string) error {
	entries, err := rootEntries(nil)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.name))
		if e.body == nil {
			if err := os.MkdirAll(p, fs.FileMode(e.mode)&fs.ModePerm); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(p, e.body, fs.FileMode(e.mode)); err != nil {
			return err
		}
	}
	return nil
}

// rootFS is the layer: sorted entries, fixed times, owners and modes.
func rootFS(bin []byte, mtime time.Time) ([]byte, error) {
	entries, err := rootEntries(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: mtime, Format: tar.FormatPAX}
		if e.body == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// caPEM is the NSS root bundle as one PEM file, in the bundle's order. A
// root that NSS trusts only for certificates issued before a date cannot
// carry that constraint in a PEM file, so it is left out (fail closed).
func caPEM() ([]byte, int) {
	var b bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})
		n++
	}
	return b.Bytes(), n
}

// writeArchive writes img as an OCI image layout in a tarball, with the
// Docker manifest.json beside it (as `docker save` writes since Docker 25),
// so that docker load, podman load and skopeo (oci-archive:) all read it.
func writeArchive(w io.Writer, img v1.Image, o options) error {
	dir, err := os.MkdirTemp("", "liaison-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.Tag,
		"io.containerd.image.name":          "docker.io/library/" + o.Tag,
	})); err != nil {
		return err
	}
	// manifest.json (Docker's format) names the same blobs.
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var layerPaths []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		layerPaths = append(layerPaths, `"blobs/sha256/`+d.Hex+`"`)
	}
	dockerManifest := fmt.Sprintf(`[{"Config":"blobs/sha256/%s","RepoTags":[%q],"Layers":[%s]}]`+"\n", cfgName.Hex, o.Tag, strings.Join(layerPaths, ","))
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(dockerManifest), 0o644); err != nil {
		return err
	}
	return tarDir(w, dir, o.Created)
}

// tarDir writes dir's files as a tar, sorted, with fixed times and owners.
func tarDir(w io.Writer, dir string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			names = append(names, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, path := range names {
		rel, _ := filepath.Rel(dir, path)
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Mode: 0o644, Format: tar.FormatPAX}
		if st.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		h.Typeflag, h.Size = tar.TypeReg, st.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
