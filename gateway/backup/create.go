package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/buildinfo"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// Progress reports a long copy: the phase ("store", "files", "verify",
// "restore", …) and how far it is.
type Progress struct {
	Phase string
	Done  int
	Total int // 0 when unknown
}

// CreateOptions say what to back up and where to write the archive.
type CreateOptions struct {
	// Config is the gateway's effective configuration; ConfigPath the file
	// it was loaded from (copied as is: it names no secrets that the
	// environment supplied).
	Config     config.Config
	ConfigPath string
	// Store is the gateway's record store, opened as the gateway opens it.
	Store objstore.Store
	// Out receives the archive (tar, gzip-compressed).
	Out io.Writer
	// Progress, if set, is called as objects and files are copied.
	Progress func(Progress)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// listPage is how many keys one List call asks for.
const listPage = 1000

// Create writes a backup archive of a running or stopped gateway and
// returns its manifest. The audit log copied into it must verify, or no
// manifest is written and Create fails: a backup is evidence too.
func Create(ctx context.Context, o CreateOptions) (*Manifest, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	progress := func(p Progress) {
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	cfgPath, err := filepath.Abs(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: FormatVersion, Created: now().UTC(), GatewayID: o.Config.GatewayID, Liaison: buildinfo.Get(),
		BaseDir: filepath.Dir(cfgPath), KeysProvider: o.Config.Keys.Provider}
	if m.KeysProvider != "local" {
		m.Notes = append(m.Notes, "record keys are held by "+m.KeysProvider+", not in this archive: back up the key provider itself (for Vault, a raft snapshot) on the same schedule")
	}
	m.Notes = append(m.Notes, "the index database is not in this archive: restore rebuilds it from the store")
	if o.Config.Audit.Store.Endpoint != "" {
		m.Notes = append(m.Notes, "audit segments shipped to the separate audit store stay there; this archive holds the node's own log")
	}

	spool, err := os.MkdirTemp("", "liaison-backup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(spool)

	// 1. The store, object by object, into the spool. seen is the audit
	// log's last seq before the copy began: entries after it may describe
	// changes the copy did or did not see.
	seen, err := lastSeq(o.Config.Audit.Path)
	if err != nil {
		return nil, fmt.Errorf("backup: audit log: %w", err)
	}
	sp := &spooled{dir: filepath.Join(spool, "store"), digest: map[string]string{}}
	after := ""
	for {
		keys, err := o.Store.List(ctx, "", after, listPage)
		if err != nil {
			return nil, fmt.Errorf("backup: list the store: %w", err)
		}
		for _, k := range keys {
			if err := sp.fetch(ctx, o.Store, k); err != nil {
				return nil, err
			}
			progress(Progress{Phase: "store", Done: len(sp.digest)})
		}
		if len(keys) < listPage {
			break
		}
		after = keys[len(keys)-1]
	}

	// 2 and 3. Configuration, keys, certificates, policy; the audit log
	// last. Then every copied record that an entry after `seen` names is
	// read again: if it changed while the store was copied (a recall, a
	// share, a review), its new state replaces the copied one and the files
	// and log are read again, until a pass finds no copied record changed.
	// The archive then shows each record as its last archived audit entry
	// left it — except a recall caught between its entry and its tombstone
	// (audited first, stored after): the last pass can find the record still
	// active. The restored gateway's start-up recovery completes such a
	// recall (recordstore recoverFromAudit), so a recall is never undone by
	// a restore.
	var files []archivedFile
	var stage string
	for round := 1; ; round++ {
		if stage != "" {
			os.RemoveAll(stage)
		}
		stage = filepath.Join(spool, fmt.Sprintf("audit-%d", round))
		if files, err = readFiles(&o.Config, m.BaseDir, cfgPath, stage); err != nil {
			return nil, err
		}
		touched, last, err := touchedSince(stage, seen)
		if err != nil {
			return nil, fmt.Errorf("backup: the copied audit log: %w", err)
		}
		changed := 0
		for _, id := range touched {
			key := recordstore.RecordKey(id)
			if _, copied := sp.digest[key]; !copied {
				// Published after the copy passed its key: it stays out, and
				// the restored gateway's recovery corrects its collection
				// entry (the object is absent), as after a crash.
				continue
			}
			c, err := sp.refresh(ctx, o.Store, key)
			if err != nil {
				return nil, err
			}
			if c {
				changed++
			}
		}
		if changed == 0 {
			break
		}
		if round == maxRounds {
			return nil, fmt.Errorf("backup: records kept changing while they were copied (%d in the last pass of %d); retry when the gateway is quieter", changed, maxRounds)
		}
		seen = last
	}
	progress(Progress{Phase: "verify"})
	rep, err := audit.Verify(stage, audit.VerifyOptions{})
	if err != nil {
		return nil, fmt.Errorf("backup: the copied audit log cannot be read: %w", err)
	}
	if !rep.OK {
		return nil, fmt.Errorf("backup: the copied audit log does not verify (%v); no backup written — run `liaison audit verify` on the gateway's log", rep.Err())
	}
	m.Audit = AuditState{Entries: rep.Entries, RootHash: rep.RootHash, SignedSize: rep.SignedSize}

	// The archive: objects in key order, then files, then the manifest.
	gz := gzip.NewWriter(o.Out)
	tw := tar.NewWriter(gz)
	w := &archiveWriter{tw: tw, mtime: m.Created}
	m.Store.Backend = o.Config.Store.Backend
	keys := make([]string, 0, len(sp.digest))
	for k := range sp.digest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sum := sha256.New()
	for _, k := range keys {
		data, err := os.ReadFile(sp.path(k))
		if err != nil {
			return nil, err
		}
		d, err := w.add(objectPrefix+k, data, 0o600)
		if err != nil {
			return nil, err
		}
		m.Store.Digests = append(m.Store.Digests, ObjectDigest{Key: k, SHA256: d})
		m.Store.Objects++
		m.Store.Bytes += int64(len(data))
		fmt.Fprintf(sum, "%s %s\n", k, d)
	}
	m.Store.SHA256 = hex.EncodeToString(sum.Sum(nil))
	for _, f := range files {
		if f.File.SHA256, err = w.add(f.File.Name(), f.data, fs.FileMode(f.File.Mode)); err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f.File)
		progress(Progress{Phase: "files", Done: len(m.Files), Total: len(files)})
	}

	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := w.add(ManifestName, mb, 0o600); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return m, nil
}

// archiveWriter writes regular-file entries and returns their digests.
type archiveWriter struct {
	tw    *tar.Writer
	mtime time.Time
}

func (w *archiveWriter) add(name string, data []byte, mode fs.FileMode) (string, error) {
	h := &tar.Header{Name: name, Mode: int64(mode), Size: int64(len(data)), ModTime: w.mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(h); err != nil {
		return "", fmt.Errorf("backup: write %s: %w", name, err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return "", fmt.Errorf("backup: write %s: %w", name, err)
	}
	d := sha256.Sum256(data)
	return hex.EncodeToString(d[:]), nil
}

// pending is one file to copy; data is set when the copy had to be cut.
type pending struct {
	src, rel string
	mode     fs.FileMode
	data     []byte
}

func singleFile(p string) ([]pending, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // an optional file that was never created (audit.hmac_key)
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return []pending{{src: p, mode: fi.Mode()}}, nil
}

// dirFiles lists the regular files under dir, in path order, skipping
// lock files and temporary files: the object store's (~tmp) and those the
// audit log writes a checkpoint or note into before renaming it into place
// (.<name>.tmp…, audit/checkpoint.go). A file that disappears between the
// listing and its stat was one of those, or an object erased meanwhile:
// it is not copied (a live gateway keeps writing while it is backed up).
func dirFiles(dir string) ([]pending, error) {
	var out []pending
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return filepath.SkipAll
		}
		if err != nil {
			return err
		}
		name := d.Name()
		if !d.Type().IsRegular() || strings.HasSuffix(p, ".lock") || strings.Contains(p, "~tmp") ||
			(strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp")) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, pending{src: p, rel: filepath.ToSlash(rel), mode: fi.Mode()})
		return nil
	})
	return out, err
}

// auditFiles lists the audit log in the order a live log can be read
// consistently (the note, checkpoints, segments, then the key set and the
// rest), cutting each growing file after its last complete line. The
// listing index's recovery point (index-state.json) is left out: it
// belongs to the index, which restore rebuilds.
func auditFiles(dir string) ([]pending, error) {
	all, err := dirFiles(dir)
	if err != nil {
		return nil, err
	}
	rank := func(rel string) int {
		switch {
		case rel == "checkpoint.note":
			return 0
		case rel == "checkpoints.jws":
			return 1
		case strings.HasPrefix(rel, "segment-"):
			return 2
		default:
			return 3
		}
	}
	var out []pending
	for _, p := range all {
		if p.rel == "index-state.json" {
			continue
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i].rel), rank(out[j].rel)
		if ri != rj {
			return ri < rj
		}
		return out[i].rel < out[j].rel
	})
	// Read each now, in that order: the order is the consistency.
	for i := range out {
		b, err := os.ReadFile(out[i].src)
		if err != nil {
			return nil, err
		}
		if r := rank(out[i].rel); r == 1 || r == 2 {
			if n := bytes.LastIndexByte(b, '\n'); n+1 < len(b) {
				b = b[:n+1] // an append in progress
			}
		}
		out[i].data = b
	}
	return out, nil
}

// maxRounds bounds the re-reads of records that change during a backup.
const maxRounds = 5

// spooled holds the copied store objects on disk until the archive is
// written, so that a record read again replaces its first copy.
type spooled struct {
	dir    string
	digest map[string]string // key → sha256 of the spooled copy
}

func (s *spooled) path(key string) string { return filepath.Join(s.dir, filepath.FromSlash(key)) }

// fetch copies key into the spool; an object deleted since it was listed
// is not an error (a recall, an expired consent).
func (s *spooled) fetch(ctx context.Context, st objstore.Store, key string) error {
	_, err := s.refresh(ctx, st, key)
	return err
}

// refresh reads key again and reports whether it differs from the copy
// (including appearing or disappearing). A first fetch reports true too;
// fetch ignores it.
func (s *spooled) refresh(ctx context.Context, st objstore.Store, key string) (bool, error) {
	data, err := st.Get(ctx, key)
	old, had := s.digest[key]
	if errors.Is(err, objstore.ErrNotFound) {
		if !had {
			return false, nil
		}
		delete(s.digest, key)
		return true, os.Remove(s.path(key))
	}
	if err != nil {
		return false, fmt.Errorf("backup: read %s: %w", key, err)
	}
	d := sha256.Sum256(data)
	sum := hex.EncodeToString(d[:])
	if had && sum == old {
		return false, nil
	}
	p := s.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return false, err
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return false, err
	}
	s.digest[key] = sum
	return true, nil
}

// archivedFile is a file read for the archive, with its bytes.
type archivedFile struct {
	File
	data []byte
}

// readFiles reads every file cfg names, in role order (the audit log
// last), and writes the audit log's copy into stage for verification.
func readFiles(cfg *config.Config, base, cfgPath, stage string) ([]archivedFile, error) {
	var out []archivedFile
	// A file two settings name (dev: the CA is tls.client_cas[0] and lies
	// in pki/) is archived once, under the first.
	archived := map[string]bool{}
	auditCopied := false
	for _, t := range targets(cfg, base, cfgPath) {
		if t.path == "" {
			continue
		}
		var files []pending
		var err error
		switch {
		case t.role == "audit.path" || t.role == "audit.custody":
			files, err = auditFiles(t.path)
		case t.dir:
			files, err = dirFiles(t.path)
		default:
			files, err = singleFile(t.path)
		}
		if err != nil {
			return nil, fmt.Errorf("backup: %s: %w", t.role, err)
		}
		for _, p := range files {
			if abs, err := filepath.Abs(p.src); err == nil {
				if archived[abs] {
					continue
				}
				archived[abs] = true
			}
			data := p.data
			if data == nil {
				if data, err = os.ReadFile(p.src); err != nil {
					return nil, fmt.Errorf("backup: %s: %w", t.role, err)
				}
			}
			d := sha256.Sum256(data)
			out = append(out, archivedFile{File: File{Role: t.role, Rel: p.rel, Source: p.src, Mode: uint32(p.mode.Perm()),
				Size: int64(len(data)), SHA256: hex.EncodeToString(d[:])}, data: data})
			if t.role == "audit.path" {
				auditCopied = true
				sp := filepath.Join(stage, filepath.FromSlash(p.rel))
				if err := os.MkdirAll(filepath.Dir(sp), 0o700); err != nil {
					return nil, err
				}
				if err := os.WriteFile(sp, data, 0o600); err != nil {
					return nil, err
				}
			}
		}
	}
	if !auditCopied {
		return nil, fmt.Errorf("backup: audit.path %s holds no audit log", cfg.Audit.Path)
	}
	return out, nil
}

// lastSeq is the seq of the last complete entry of the log in dir (0 when
// it is empty).
func lastSeq(dir string) (uint64, error) {
	var last uint64
	err := audit.Scan(dir, func(ev *audit.Event, _ []byte) error {
		last = ev.Seq
		return nil
	})
	return last, err
}

// touchedSince lists the records named by entries after seq, and the last
// seq of the log.
func touchedSince(dir string, seq uint64) ([]string, uint64, error) {
	seen := map[string]bool{}
	var ids []string
	last := seq
	err := audit.Scan(dir, func(ev *audit.Event, _ []byte) error {
		last = ev.Seq
		if ev.Seq <= seq {
			return nil
		}
		for _, id := range ev.RecordIDs {
			if !seen[id] && record.ValidID(id) {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		return nil
	})
	return ids, last, err
}
