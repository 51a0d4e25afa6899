// Package fsstore is an embedded objstore.Store on the local file system, for
// `liaison dev` and single-node installations without MinIO.
//
// Layout: the object at key "a/b/c" is the file <dir>/a/b/c (mode 0600,
// directories 0700). Every path is opened through an os.Root on <dir>, so
// besides objstore.ValidKey rejecting "..", absolute and odd keys, not even a
// symbolic link planted in the tree can make the store read or write outside
// <dir>.
//
// Writes are atomic and durable: the data goes to a temporary file under
// <dir>/~tmp, is fsynced, then renamed over the key (or, for IfAbsent, hard-
// linked to it, which fails if the key exists, so concurrent conditional puts
// cannot both win), and the key's directory is fsynced. A reader therefore
// sees the old object or the whole new one. "~" cannot occur in a key, so
// temporary files are never visible to Get or List; they are removed when a
// Put fails, and temporary files older than StaleTempAge (left by a crash)
// are removed by Open — only files named as this store names them, never
// anything else an operator put there. The file system must support hard links, and nothing
// may be mounted inside <dir> (rename and link cannot cross file systems).
//
// Conditional writes (PutOptions.IfMatch): the version tag is the SHA-256 of
// the object's bytes, computed by GetVersion from the very bytes it returns.
// Every replacing Put and every Delete of a key holds one of lockStripes
// locks, chosen by a hash of the key: an in-process mutex and a flock(2) on
// <dir>/~lock/<n> (connectors/filelock), so that the check of the current
// tag and the rename that replaces the object are one step for every
// writer in this process and in every other process on the host using the
// same directory. Readers take no lock: a rename is atomic. Puts with
// IfAbsent need none either: a hard link fails if the key exists.
//
// Because a file and a directory cannot share a name, a key cannot be both an
// object and the parent of another key ("a" and "a/b"); such a Put fails with
// objstore.ErrInvalidKey. MinIO has the same rule. Delete leaves empty parent
// directories in place: removing them would race with a concurrent Put into
// the same directory.
//
// List walks the tree depth-first in key byte order (a directory sorts as
// its name followed by '/'), skipping subtrees that lie wholly at or before
// startAfter and stopping at limit. It reads each directory it enters once,
// names only, and stats only the entries it returns or descends into, so a
// call costs O(d log d) for every directory d it enters plus O(limit) stats.
// Paging through n keys in one flat directory therefore reads O(n²/limit)
// names overall; large key sets should fan out over sub-prefixes,
// as Liaison's ids do. Measured on the development VM (2 cores, no d_type
// from the file system): a page of 100 out of 100k keys takes about 65 ms in
// one flat directory and about 0.4 ms with the keys spread over 256
// sub-directories (BenchmarkListPage100k).
package fsstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/liaison-project/liaison/connectors/filelock"
	"github.com/liaison-project/liaison/connectors/objstore"
)

const (
	// tmpDir holds in-flight writes. '~' is not allowed in keys, so it can
	// never be confused with an object or listed.
	tmpDir = "~tmp"
	// lockDir holds the write-lock stripe files (never listed: '~').
	lockDir = "~lock"
	// lockStripes is how many locks the keys share: writes of unrelated
	// keys rarely wait for each other, and the store keeps this many files
	// open at most.
	lockStripes = 64
	// StaleTempAge is how old a temporary file must be for Open to treat it
	// as debris from a crash. It is far longer than any Put, so a Store
	// opened by a second process on the same directory never removes the
	// first one's in-flight writes.
	StaleTempAge = 15 * time.Minute

	fileMode = 0o600
	dirMode  = 0o700
)

// Store is an objstore.Store in a local directory. It is safe for concurrent
// use, also by several processes on one host.
type Store struct {
	root *os.Root
	// writeFn replaces the temporary file's write (fault injection in
	// tests); nil is the real thing.
	writeFn func(f *os.File, b []byte) (int, error)
	stripes [lockStripes]stripe
}

// stripe is one write lock: mu orders this process's writers, the flock on
// f (opened on first use and kept) the other processes'.
type stripe struct {
	mu sync.Mutex
	f  *os.File
}

// tempNameBytes is the random part of a temporary file's name (hex-encoded).
const tempNameBytes = 12

var _ objstore.Store = (*Store)(nil)

// Open opens (creating if needed, mode 0700) the store rooted at dir and
// removes stale temporary files.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("fsstore: create %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fsstore: open %s: %w", dir, err)
	}
	s := &Store{root: root}
	if err := s.cleanTemp(time.Now().Add(-StaleTempAge)); err != nil {
		root.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the directory handle and the lock files.
func (s *Store) Close() error {
	for i := range s.stripes {
		st := &s.stripes[i]
		st.mu.Lock()
		if st.f != nil {
			st.f.Close()
			st.f = nil
		}
		st.mu.Unlock()
	}
	return s.root.Close()
}

// lockKey takes key's write lock (see the package doc) and returns its
// release.
func (s *Store) lockKey(key string) (func(), error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	st := &s.stripes[h.Sum32()%lockStripes]
	st.mu.Lock()
	if st.f == nil {
		if err := s.root.MkdirAll(lockDir, dirMode); err != nil {
			st.mu.Unlock()
			return nil, err
		}
		f, err := s.root.OpenFile(path.Join(lockDir, fmt.Sprintf("%02d", h.Sum32()%lockStripes)), os.O_RDWR|os.O_CREATE, fileMode)
		if err != nil {
			st.mu.Unlock()
			return nil, err
		}
		st.f = f
	}
	if err := filelock.LockFileWait(st.f); err != nil {
		st.mu.Unlock()
		return nil, err
	}
	return func() {
		_ = filelock.UnlockFile(st.f)
		st.mu.Unlock()
	}, nil
}

// versionTag is the version tag of an object's bytes.
func versionTag(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (s *Store) cleanTemp(olderThan time.Time) error {
	if err := s.root.MkdirAll(tmpDir, dirMode); err != nil {
		return fmt.Errorf("fsstore: create %s: %w", tmpDir, err)
	}
	d, err := s.root.Open(tmpDir)
	if err != nil {
		return fmt.Errorf("fsstore: open %s: %w", tmpDir, err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("fsstore: read %s: %w", tmpDir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTempName(e.Name()) {
			continue // not ours: never remove what this store did not write
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(olderThan) {
			continue // gone already, or possibly another process's write
		}
		if err := s.root.Remove(path.Join(tmpDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("fsstore: remove stale temp file: %w", err)
		}
	}
	return nil
}

// check validates the common arguments.
func check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsstore: %s: %w", op, err)
	}
	if !objstore.ValidKey(key) {
		return fmt.Errorf("fsstore: %s %q: %w", op, key, objstore.ErrInvalidKey)
	}
	return nil
}

// ioErr wraps an unexpected file-system error: the store cannot serve the
// request, which the gateway reports as unavailable (and fails closed). A
// name the file system cannot hold (ValidKey allows 512-byte segments, most
// file systems stop at 255) is an invalid key instead, so it is not retried.
func ioErr(op, key string, err error) error {
	if errors.Is(err, syscall.ENAMETOOLONG) {
		return fmt.Errorf("fsstore: %s %s: name too long for the file system: %w", op, key, objstore.ErrInvalidKey)
	}
	return fmt.Errorf("fsstore: %s %s: %w: %w", op, key, objstore.ErrUnavailable, err)
}

// conflict reports a key that collides with the tree's shape: one of its
// parents is an object, or the key itself is a directory of other keys.
func conflict(op, key string) error {
	return fmt.Errorf("fsstore: %s %s: key is, or is under, another key's path: %w", op, key, objstore.ErrInvalidKey)
}

// Put writes data at key atomically (see the package doc).
func (s *Store) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) (err error) {
	if err := check(ctx, "put", key); err != nil {
		return err
	}
	if err := objstore.CheckPutOptions(opts); err != nil {
		return err
	}
	dir := path.Dir(key)
	if err := s.root.MkdirAll(dir, dirMode); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return conflict("put", key)
		}
		return ioErr("put", key, err)
	}

	tmp, err := s.writeTemp(data)
	if err != nil {
		return ioErr("put", key, err)
	}
	// Whatever happens next, the temporary name goes: after a rename it no
	// longer exists, after a link it is a second name for the object.
	defer func() {
		if rerr := s.root.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = ioErr("put", key, rerr)
		}
	}()

	if !opts.IfAbsent {
		// A replacing write: its check (IfMatch) and its rename are one
		// step for every writer of key, in any process.
		unlock, err := s.lockKey(key)
		if err != nil {
			return ioErr("put", key, err)
		}
		defer unlock()
		if opts.IfMatch != "" {
			cur, err := s.read(key)
			if errors.Is(err, objstore.ErrNotFound) {
				return fmt.Errorf("fsstore: put %s: object gone: %w", key, objstore.ErrConflict)
			}
			if err != nil {
				return err
			}
			if versionTag(cur) != opts.IfMatch {
				return fmt.Errorf("fsstore: put %s: %w", key, objstore.ErrConflict)
			}
		}
	}
	// Last chance to honour cancellation before the write becomes visible.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsstore: put: %w", err)
	}
	if opts.IfAbsent {
		err = s.root.Link(tmp, key)
	} else {
		err = s.root.Rename(tmp, key)
	}
	if err != nil {
		// A directory at key (keys below it exist) is a conflict, not an
		// existing object.
		if st, serr := s.root.Lstat(key); serr == nil && st.IsDir() {
			return conflict("put", key)
		}
		if opts.IfAbsent && errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("fsstore: put %s: %w", key, objstore.ErrExists)
		}
		if errors.Is(err, syscall.ENOTDIR) {
			return conflict("put", key)
		}
		return ioErr("put", key, err)
	}
	if err := s.syncDir(dir); err != nil {
		return ioErr("put", key, err)
	}
	return nil
}

// writeTemp writes data to a new, fsynced temporary file and returns its
// root-relative name.
func (s *Store) writeTemp(data []byte) (_ string, err error) {
	var rnd [tempNameBytes]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	// tmp, not the named result: every failure path returns "", and the
	// deferred cleanup must still know which file to remove (it once
	// removed "" and leaked one file per failed write).
	tmp := path.Join(tmpDir, hex.EncodeToString(rnd[:]))
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = s.root.Remove(tmp)
		}
	}()
	if _, err := s.write(f, data); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return tmp, nil
}

// write is f.Write, or the fault injected by a test.
func (s *Store) write(f *os.File, data []byte) (int, error) {
	if s.writeFn != nil {
		return s.writeFn(f, data)
	}
	return f.Write(data)
}

// isTempName reports whether name is one of the store's own temporary
// files (writeTemp's pattern), the only ones the sweep may remove.
func isTempName(name string) bool {
	if len(name) != 2*tempNameBytes {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil && strings.ToLower(name) == name
}

// syncDir makes a directory's entries (a rename, link or removal) durable.
func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// notFound reports whether err means "no object at this path": absent, a
// parent is a file, or the path is a directory.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR)
}

// Get returns the object at key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, err
	}
	return s.read(key)
}

// GetVersion returns the object at key and the SHA-256 of those bytes as
// its version tag.
func (s *Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, "", err
	}
	data, err := s.read(key)
	if err != nil {
		return nil, "", err
	}
	return data, versionTag(data), nil
}

// read returns the object at key (already checked).
func (s *Store) read(key string) ([]byte, error) {
	f, err := s.root.Open(key)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("fsstore: get %s: %w", key, objstore.ErrNotFound)
		}
		return nil, ioErr("get", key, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, ioErr("get", key, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("fsstore: get %s: %w", key, objstore.ErrNotFound)
	}
	// The open file is one immutable inode (writers replace, never modify),
	// so reading it whole gives exactly one version of the object.
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, ioErr("get", key, err)
	}
	return data, nil
}

// Delete removes the object at key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key); err != nil {
		return err
	}
	// Under the key's write lock, so that a compare-and-swap that found
	// the object cannot recreate it after this removal.
	unlock, err := s.lockKey(key)
	if err != nil {
		return ioErr("delete", key, err)
	}
	defer unlock()
	st, err := s.root.Lstat(key)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return ioErr("delete", key, err)
	}
	if st.IsDir() {
		return nil // a prefix of other keys, not an object
	}
	if err := s.root.Remove(key); err != nil {
		if notFound(err) {
			return nil // a concurrent Delete won
		}
		return ioErr("delete", key, err)
	}
	if err := s.syncDir(path.Dir(key)); err != nil {
		return ioErr("delete", key, err)
	}
	return nil
}

// List returns up to limit keys with prefix that sort after startAfter, in
// ascending byte order (see the package doc for the cost).
func (s *Store) List(ctx context.Context, prefix, startAfter string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fsstore: list: %w", err)
	}
	if !objstore.ValidPrefix(prefix) {
		return nil, fmt.Errorf("fsstore: list %q: %w", prefix, objstore.ErrInvalidKey)
	}
	if limit <= 0 {
		return nil, nil
	}
	// "a/b/c" lists the names starting with "c" in directory "a/b".
	dir, keyPrefix, namePrefix := ".", "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir, keyPrefix, namePrefix = prefix[:i], prefix[:i+1], prefix[i+1:]
	}
	r, err := s.root.OpenRoot(dir)
	if err != nil {
		if notFound(err) {
			return nil, nil
		}
		return nil, ioErr("list", prefix, err)
	}
	defer r.Close()
	w := walker{ctx: ctx, startAfter: startAfter, limit: limit}
	if err := w.walk(r, keyPrefix, namePrefix); err != nil {
		return nil, err
	}
	return w.out, nil
}

type walker struct {
	ctx        context.Context
	startAfter string
	limit      int
	out        []string
}

type entryType uint8

const (
	typeUnknown entryType = iota
	typeFile
	typeDir
	typeOther // symlink, device…: never an object
)

type entry struct {
	name string
	typ  entryType
}

// sortKey orders entries as their keys sort: a directory's keys all start
// with name+"/", which sorts after "ab-x" and "ab.x" but before "ab0".
func (e entry) sortKey() string {
	if e.typ == typeDir {
		return e.name + "/"
	}
	return e.name
}

// walk appends, in byte order, the keys in the directory r (whose keys start
// with keyPrefix) whose first segment starts with namePrefix, returning once
// limit keys are found.
//
// It reads names only and stats just the entries it consumes: on file
// systems that do not report entry types in the directory listing, a stat
// of every entry would dominate the cost of a page.
func (w *walker) walk(r *os.Root, keyPrefix, namePrefix string) error {
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("fsstore: list: %w", err)
	}
	// Where startAfter falls relative to this directory's keys.
	all, rel := false, ""
	switch {
	case strings.HasPrefix(w.startAfter, keyPrefix):
		rel = w.startAfter[len(keyPrefix):]
		all = rel == ""
	case w.startAfter < keyPrefix:
		all = true
	default:
		return nil // every key here sorts before startAfter
	}

	d, err := r.Open(".")
	if err != nil {
		return ioErr("list", keyPrefix, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return ioErr("list", keyPrefix, err)
	}
	ents := make([]entry, 0, len(names))
	for _, n := range names {
		// Skip the temp directory and anything else that is not a possible
		// key segment, and whatever lies wholly at or before startAfter.
		if !strings.HasPrefix(n, namePrefix) || !objstore.ValidKey(n) || (!all && !mayFollow(n, rel)) {
			continue
		}
		ents = append(ents, entry{name: n})
	}
	slices.SortFunc(ents, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	// Plain name order is key order except where a directory "ab" precedes
	// "ab-…" or "ab.…" (a directory sorts as "ab/"). Only those names need
	// a stat before the final order is known.
	reorder := false
	for i := 0; i+1 < len(ents); i++ {
		n, next := ents[i].name, ents[i+1].name
		if len(next) > len(n) && strings.HasPrefix(next, n) && (next[len(n)] == '-' || next[len(n)] == '.') {
			ents[i].typ = lstatType(r, n)
			reorder = reorder || ents[i].typ == typeDir
		}
	}
	if reorder {
		slices.SortStableFunc(ents, func(a, b entry) int { return strings.Compare(a.sortKey(), b.sortKey()) })
	}

	for _, e := range ents {
		if e.typ == typeUnknown {
			e.typ = lstatType(r, e.name)
		}
		switch e.typ {
		case typeFile:
			if all || e.name > rel {
				w.out = append(w.out, keyPrefix+e.name)
			}
		case typeDir:
			if err := w.descend(r, keyPrefix, e.name); err != nil {
				return err
			}
		}
		if len(w.out) == w.limit {
			return nil
		}
	}
	return nil
}

func (w *walker) descend(r *os.Root, keyPrefix, name string) error {
	sub, err := r.OpenRoot(name)
	if err != nil {
		if notFound(err) {
			return nil // removed since the directory was read
		}
		return ioErr("list", keyPrefix+name, err)
	}
	defer sub.Close()
	return w.walk(sub, keyPrefix+name+"/", "")
}

// lstatType classifies name in r; an entry that vanished counts as other.
func lstatType(r *os.Root, name string) entryType {
	st, err := r.Lstat(name)
	switch {
	case err != nil:
		return typeOther
	case st.Mode().IsRegular():
		return typeFile
	case st.IsDir():
		return typeDir
	default:
		return typeOther
	}
}

// mayFollow reports whether the entry name (as a file "name" or as a
// directory of keys "name/…") can hold a key that sorts after rel, without
// knowing which it is. It allocates nothing: it runs for every entry.
func mayFollow(name, rel string) bool {
	if strings.HasPrefix(rel, name) {
		if len(rel) == len(name) {
			return true // rel == name: keys under name/ follow it
		}
		// Below '/': name/… follows rel. Equal: rel is inside name/.
		return rel[len(name)] <= '/'
	}
	return name > rel
}
