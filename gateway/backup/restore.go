package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
)

// MaxEntryBytes bounds one archive entry (an audit segment is at most
// audit.segment_max_bytes, 64 MiB by default; records are far smaller).
const MaxEntryBytes = 1 << 30

// Staged is an archive unpacked into a staging directory and checked
// against its manifest: every entry present, none extra, every digest equal,
// the audit log verifying to the manifest's root.
type Staged struct {
	Manifest *Manifest
	Dir      string
	// AuditReport is the staged audit log's verification.
	AuditReport *audit.Report
}

// Close removes the staging directory.
func (s *Staged) Close() error { return os.RemoveAll(s.Dir) }

// Stage unpacks the archive r into a new directory under parent and checks
// it. Nothing outside that directory is written; on error it is removed.
func Stage(r io.Reader, parent string) (_ *Staged, err error) {
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(parent, ".liaison-restore-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("backup: not a liaison backup archive (gzip): %w", err)
	}
	tr := tar.NewReader(gz)
	got := map[string]string{} // entry name → sha256
	var manifest []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("backup: archive: %w", err)
		}
		if manifest != nil {
			return nil, fmt.Errorf("backup: archive: %s after the manifest", h.Name)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("backup: archive: %s is not a regular file", h.Name)
		}
		if h.Size < 0 || h.Size > MaxEntryBytes {
			return nil, fmt.Errorf("backup: archive: %s: size %d out of range", h.Name, h.Size)
		}
		if _, dup := got[h.Name]; dup {
			return nil, fmt.Errorf("backup: archive: %s twice", h.Name)
		}
		if h.Name == ManifestName {
			if manifest, err = io.ReadAll(io.LimitReader(tr, h.Size)); err != nil {
				return nil, fmt.Errorf("backup: archive: %w", err)
			}
			got[h.Name] = ""
			continue
		}
		local, err := stagedPath(h.Name)
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(dir, local)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("backup: archive: %s: %w", h.Name, err)
		}
		sum := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, sum), io.LimitReader(tr, h.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil || n != h.Size {
			return nil, fmt.Errorf("backup: archive: %s: truncated (%v)", h.Name, err)
		}
		got[h.Name] = hex.EncodeToString(sum.Sum(nil))
	}
	if manifest == nil {
		return nil, errors.New("backup: archive has no manifest (incomplete: the backup did not finish)")
	}
	m, err := ParseManifest(manifest)
	if err != nil {
		return nil, err
	}
	want := map[string]string{ManifestName: ""}
	for _, f := range m.Files {
		want[f.Name()] = f.SHA256
	}
	for _, d := range m.Store.Digests {
		want[objectPrefix+d.Key] = d.SHA256
	}
	for name, d := range want {
		g, ok := got[name]
		if !ok {
			return nil, fmt.Errorf("backup: archive lacks %s, which the manifest lists", name)
		}
		if g != d {
			return nil, fmt.Errorf("backup: %s does not match its digest in the manifest (corrupted archive)", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			return nil, fmt.Errorf("backup: archive holds %s, which the manifest does not list", name)
		}
	}
	s := &Staged{Manifest: m, Dir: dir}
	rep, err := audit.Verify(s.filesDir("audit.path"), audit.VerifyOptions{})
	if err != nil {
		return nil, fmt.Errorf("backup: the archived audit log cannot be read: %w", err)
	}
	if !rep.OK {
		return nil, fmt.Errorf("backup: the archived audit log does not verify: %v", rep.Err())
	}
	if rep.Entries != m.Audit.Entries || rep.RootHash != m.Audit.RootHash {
		return nil, fmt.Errorf("backup: the archived audit log has %d entries (root %s); the manifest says %d (root %s)",
			rep.Entries, rep.RootHash, m.Audit.Entries, m.Audit.RootHash)
	}
	s.AuditReport = rep
	return s, nil
}

// stagedPath maps an archive entry name to a path under the staging dir,
// refusing anything but "files/<role>[/<rel>]" and "store/<key>".
func stagedPath(name string) (string, error) {
	switch {
	case strings.HasPrefix(name, "files/"):
		rest := strings.TrimPrefix(name, "files/")
		role, rel, _ := strings.Cut(rest, "/")
		if _, ok := roleByName(role); !ok {
			return "", fmt.Errorf("backup: archive: unknown entry %q", name)
		}
		if rel != "" && !validRel(rel) {
			return "", fmt.Errorf("backup: archive: invalid path %q", name)
		}
		return filepath.Join("files", role, filepath.FromSlash(rel)), nil
	case strings.HasPrefix(name, objectPrefix):
		key := strings.TrimPrefix(name, objectPrefix)
		if !objstore.ValidKey(key) {
			return "", fmt.Errorf("backup: archive: invalid store key %q", name)
		}
		return filepath.Join("store", filepath.FromSlash(key)), nil
	default:
		return "", fmt.Errorf("backup: archive: unknown entry %q", name)
	}
}

func (s *Staged) filesDir(role string) string { return filepath.Join(s.Dir, "files", role) }

// ConfigFile is the archived liaison.yaml, staged.
func (s *Staged) ConfigFile() string { return s.filesDir("config") }

// RestoreOptions say where a staged backup goes.
type RestoreOptions struct {
	// Target is the configuration of the node being restored: every file
	// goes where it names. ConfigPath is that configuration's file.
	Target     config.Config
	ConfigPath string
	// ConfigYAML, if set, is written to ConfigPath (a configuration rebased
	// onto a new data directory); otherwise ConfigPath is the operator's own
	// file and is left alone.
	ConfigYAML []byte
	// Store is the target's record store; it must be empty.
	Store    objstore.Store
	Progress func(Progress)
	// RebaseFrom, with ConfigYAML, is the archive's base directory: the
	// dev layout's CLI profiles name certificate files under it, and are
	// rewritten to name them under the new one.
	RebaseFrom string
}

// Restored summarises a restore.
type Restored struct {
	Files        int    `json:"files"`
	Objects      int    `json:"objects"`
	AuditEntries uint64 `json:"audit_entries"`
	AuditRoot    string `json:"audit_root"`
}

// Restore places a staged backup where the target configuration says. It
// refuses to overwrite anything: every target file must be absent, every
// target directory absent or empty, and the target store empty — a restore
// onto a node that holds data is a mistake that would mix two histories.
// The index is not touched: rebuild it afterwards.
func (s *Staged) Restore(ctx context.Context, o RestoreOptions) (*Restored, error) {
	progress := func(p Progress) {
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	base := filepath.Dir(o.ConfigPath)
	dest := map[string]target{}
	for _, t := range targets(&o.Target, base, o.ConfigPath) {
		dest[t.role] = t
	}
	// Check everything before writing anything.
	type move struct {
		from, to string
		profile  bool
	}
	var moves []move
	for _, f := range s.Manifest.Files {
		if f.Role == "config" {
			continue
		}
		t, ok := dest[f.Role]
		if !ok || t.path == "" {
			return nil, fmt.Errorf("backup: the target configuration has no %s for %s", f.Role, f.Source)
		}
		to := t.path
		if f.Rel != "" {
			to = filepath.Join(t.path, filepath.FromSlash(f.Rel))
		}
		for _, mv := range moves {
			if mv.to == to {
				return nil, fmt.Errorf("backup: two archived files go to %s under the target configuration", to)
			}
		}
		if _, err := os.Lstat(to); err == nil {
			return nil, fmt.Errorf("backup: %s exists: restore only onto a new node (move it away first)", to)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		moves = append(moves, move{from: filepath.Join(s.filesDir(f.Role), filepath.FromSlash(f.Rel)), to: to, profile: f.Role == "dev.profiles"})
	}
	if o.ConfigYAML != nil {
		if _, err := os.Lstat(o.ConfigPath); err == nil {
			return nil, fmt.Errorf("backup: %s exists: restore only onto a new node", o.ConfigPath)
		}
	}
	if keys, err := o.Store.List(ctx, "", "", 1); err != nil {
		return nil, fmt.Errorf("backup: target store: %w", err)
	} else if len(keys) > 0 {
		return nil, fmt.Errorf("backup: the target store is not empty (it holds %s): restore into an empty bucket or directory", keys[0])
	}

	out := &Restored{AuditEntries: s.Manifest.Audit.Entries, AuditRoot: s.Manifest.Audit.RootHash}
	// Objects first: if the restore stops half-way, no audit log claims
	// a complete node yet.
	for i, d := range s.Manifest.Store.Digests {
		data, err := os.ReadFile(filepath.Join(s.Dir, "store", filepath.FromSlash(d.Key)))
		if err != nil {
			return out, err
		}
		if err := o.Store.Put(ctx, d.Key, data, objstore.PutOptions{IfAbsent: true}); err != nil {
			return out, fmt.Errorf("backup: restore %s: %w", d.Key, err)
		}
		out.Objects++
		progress(Progress{Phase: "store", Done: i + 1, Total: len(s.Manifest.Store.Digests)})
	}
	for i, mv := range moves {
		b, err := os.ReadFile(mv.from)
		if err != nil {
			return out, err
		}
		if mv.profile && o.ConfigYAML != nil && o.RebaseFrom != "" {
			b = bytes.ReplaceAll(b, []byte(filepath.Clean(o.RebaseFrom)+string(filepath.Separator)), []byte(base+string(filepath.Separator)))
		}
		if err := writeNew(mv.to, b); err != nil {
			return out, fmt.Errorf("backup: restore %s: %w", mv.to, err)
		}
		out.Files++
		progress(Progress{Phase: "files", Done: i + 1, Total: len(moves)})
	}
	if o.ConfigYAML != nil {
		if err := writeNew(o.ConfigPath, o.ConfigYAML); err != nil {
			return out, err
		}
		out.Files++
	}
	return out, nil
}

// writeNew creates path (and its parents, 0700) with b, durably; it fails
// if path exists.
func writeNew(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// RebasedConfig is the archived configuration with every path under the
// archive's base directory moved under dataDir, as YAML to write at
// dataDir/liaison.yaml, and the loaded configuration. The environment is
// not applied to the YAML, so secrets supplied by environment variables are
// never written into the file.
func (s *Staged) RebasedConfig(dataDir string, env []string) (config.Config, []byte, error) {
	raw, err := config.Load(s.ConfigFile(), dataDir, nil)
	if err != nil {
		return raw, nil, fmt.Errorf("backup: the archived configuration (without its environment): %w; restore with --config", err)
	}
	if err := rebase(&raw, s.Manifest.BaseDir, dataDir); err != nil {
		return raw, nil, err
	}
	y, err := yaml.Marshal(raw)
	if err != nil {
		return raw, nil, err
	}
	head := "# Restored by `liaison backup restore` from a backup of gateway " + s.Manifest.GatewayID +
		" taken " + s.Manifest.Created.Format("2006-01-02T15:04:05Z") + ".\n"
	y = append([]byte(head), y...)
	// The effective configuration is the file plus this environment.
	tmp := filepath.Join(s.Dir, "rebased.yaml")
	if err := os.WriteFile(tmp, y, 0o600); err != nil {
		return raw, nil, err
	}
	cfg, err := config.Load(tmp, dataDir, env)
	return cfg, y, err
}
