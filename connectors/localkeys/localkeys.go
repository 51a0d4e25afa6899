// Package localkeys is an embedded keys.Provider and keys.Manager backed by a
// keyring file, for `liaison dev` and single-node installations without Vault.
//
// The keyring file (JSON, mode 0600) holds, for every KEK name, the random
// 256-bit key of each live version and the minimum version still allowed to
// decrypt. It is rewritten atomically on every change (temp file, fsync,
// rename, fsync of the directory), so a crash leaves either the old or the
// new keyring, never a torn one.
//
// Single-node tool: the file is the only copy of the KEKs, so it must be
// backed up with the data it protects, and it cannot be shared between
// machines (there is no coordination beyond one host). On one host, Open
// takes an exclusive advisory lock (flock, on Unix, on "<path>.lock", which
// stays on disk) for the life of the Keyring, so a second process — a second gateway, or a `liaison keys`
// command while the dev gateway runs — gets ErrInUse instead of silently
// overwriting the first one's changes.
//
// Crypto-shredding is real here: raising the minimum decryption version
// destroys the key material of every older version, and Delete destroys the
// whole KEK, in the keyring file (copies of older keyring files, such as
// backups, still hold it).
//
// Wrapped data keys are text: "lk1:<version>:" followed by the unpadded
// base64url encoding of nonce‖ciphertext‖tag, where the ciphertext is
// AES-256-GCM under KEK version <version> with additional data binding the
// KEK name and version, so a wrapped key opens only under the KEK that made it.
// Each KEK version wraps data keys with random 96-bit nonces; rotate well
// before 2^32 data keys per version (the data-key cache in crypto/envelope
// keeps the count far lower).
package localkeys

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/liaison-project/liaison/connectors/filelock"
	"github.com/liaison-project/liaison/connectors/keys"
)

var (
	// ErrInvalidName: the KEK name does not satisfy keys.ValidName.
	ErrInvalidName = errors.New("localkeys: invalid key name")
	// ErrInvalidVersion: a minimum decryption version outside the live
	// range (below the current minimum, whose keys are destroyed, or above
	// the latest version, which would make new data keys unreadable).
	ErrInvalidVersion = errors.New("localkeys: invalid key version")
	// ErrInUse: another Keyring (in this or another process) holds the file.
	ErrInUse = errors.New("localkeys: keyring file is in use by another process (a running gateway?); stop it first")
	// ErrCorrupt: the keyring file cannot be parsed or is inconsistent.
	ErrCorrupt = errors.New("localkeys: keyring file is corrupt")
	// ErrClosed: the Keyring was closed.
	ErrClosed = errors.New("localkeys: keyring is closed")
)

const (
	wrapPrefix = "lk1:"
	kekLen     = 32 // AES-256
	dataKeyLen = 32
	fileFormat = 1
	fileMode   = 0o600
)

// Options configure Open.
type Options struct {
	// AutoCreate makes GenerateDataKey create a missing KEK (version 1)
	// instead of failing with keys.ErrNotFound. `liaison dev` turns it on;
	// a production-like setup creates KEKs explicitly.
	AutoCreate bool
}

// Keyring is a file-backed key provider. It is safe for concurrent use.
type Keyring struct {
	path string
	opts Options
	lock *os.File // holds the advisory lock; nil once closed

	mu   sync.RWMutex
	keks map[string]*kek
}

// kek is one key-encryption key with its live versions.
type kek struct {
	Latest        int            `json:"latest_version"`
	MinDecryption int            `json:"min_decryption_version"`
	Versions      map[int][]byte `json:"versions"` // version → 32-byte key
}

// keyringFile is the on-disk layout.
type keyringFile struct {
	Format int             `json:"format"`
	Keys   map[string]*kek `json:"keys"`
}

var (
	_ keys.Provider       = (*Keyring)(nil)
	_ keys.Manager        = (*Keyring)(nil)
	_ keys.WrappedVersion = (*Keyring)(nil)
)

// Open opens the keyring at path, creating an empty one (and its directory,
// mode 0700) if it does not exist. A keyring file readable or writable by
// group or others is refused: it holds every KEK in clear.
func Open(path string, opts Options) (*Keyring, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localkeys: create keyring directory: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("localkeys: open lock file: %w", err)
	}
	if err := filelock.LockFile(lock); err != nil {
		lock.Close()
		if errors.Is(err, filelock.ErrLocked) {
			return nil, ErrInUse
		}
		return nil, fmt.Errorf("localkeys: lock keyring: %w", err)
	}
	k := &Keyring{path: path, opts: opts, lock: lock, keks: map[string]*kek{}}
	if err := k.load(); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// Close releases the file lock and forgets the KEKs held in memory.
func (k *Keyring) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lock == nil {
		return nil
	}
	for _, e := range k.keks {
		e.destroy()
	}
	k.keks = nil
	err := filelock.UnlockFile(k.lock)
	if cerr := k.lock.Close(); err == nil {
		err = cerr
	}
	k.lock = nil
	return err
}

func (k *Keyring) load() error {
	f, err := os.Open(k.path)
	if errors.Is(err, os.ErrNotExist) {
		// Write the empty keyring now so that an unwritable location fails
		// at startup rather than on the first request.
		return k.persist(map[string]*kek{})
	}
	if err != nil {
		return fmt.Errorf("localkeys: open keyring: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("localkeys: stat keyring: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("localkeys: keyring file %s has mode %v, want 0600", k.path, st.Mode().Perm())
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("localkeys: read keyring: %w", err)
	}
	var kf keyringFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	// The parse error is not wrapped: it could quote key material.
	if err := dec.Decode(&kf); err != nil {
		return fmt.Errorf("%w: not valid keyring JSON", ErrCorrupt)
	}
	clear(raw)
	if kf.Format != fileFormat {
		return fmt.Errorf("%w: format %d, want %d", ErrCorrupt, kf.Format, fileFormat)
	}
	for name, e := range kf.Keys {
		if err := e.check(name); err != nil {
			return err
		}
	}
	if kf.Keys == nil {
		kf.Keys = map[string]*kek{}
	}
	k.keks = kf.Keys
	return nil
}

func (e *kek) check(name string) error {
	if !keys.ValidName(name) {
		return fmt.Errorf("%w: invalid key name %q", ErrCorrupt, name)
	}
	if e == nil || e.Latest < 1 || e.MinDecryption < 1 || e.MinDecryption > e.Latest {
		return fmt.Errorf("%w: key %s: bad versions", ErrCorrupt, name)
	}
	if len(e.Versions) != e.Latest-e.MinDecryption+1 {
		return fmt.Errorf("%w: key %s: wrong number of versions", ErrCorrupt, name)
	}
	for v := e.MinDecryption; v <= e.Latest; v++ {
		if len(e.Versions[v]) != kekLen {
			return fmt.Errorf("%w: key %s: version %d missing or not %d bytes", ErrCorrupt, name, v, kekLen)
		}
	}
	return nil
}

func (e *kek) destroy() {
	for _, b := range e.Versions {
		clear(b)
	}
}

// clone deep-copies e, so that a change can be persisted before it becomes
// visible to readers.
func (e *kek) clone() *kek {
	c := &kek{Latest: e.Latest, MinDecryption: e.MinDecryption, Versions: make(map[int][]byte, len(e.Versions))}
	for v, b := range e.Versions {
		c.Versions[v] = bytes.Clone(b)
	}
	return c
}

// persist writes keks to the keyring file atomically. Callers hold k.mu for
// writing (or are in Open).
func (k *Keyring) persist(keks map[string]*kek) error {
	raw, err := json.MarshalIndent(keyringFile{Format: fileFormat, Keys: keks}, "", "  ")
	if err != nil {
		return fmt.Errorf("localkeys: encode keyring: %w", err)
	}
	defer clear(raw)
	if err := writeFileAtomic(k.path, raw); err != nil {
		return fmt.Errorf("localkeys: write keyring: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves the old or
// the new content: temp file in the same directory, fsync, rename, fsync dir.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; be explicit against a permissive umask
	// or platform difference.
	if err = tmp.Chmod(fileMode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// begin checks the arguments every operation shares.
func begin(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localkeys: %w", err)
	}
	if !keys.ValidName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return nil
}

func notFound(name string) error { return fmt.Errorf("localkeys: key %s: %w", name, keys.ErrNotFound) }

func invalidCiphertext(name string) error {
	return fmt.Errorf("localkeys: key %s: %w", name, keys.ErrInvalidCiphertext)
}

func newKEK() ([]byte, error) {
	b := make([]byte, kekLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("localkeys: random: %w", err)
	}
	return b, nil
}

// GenerateDataKey returns a fresh data key wrapped under the latest version
// of the KEK name, creating the KEK first when Options.AutoCreate is set.
func (k *Keyring) GenerateDataKey(ctx context.Context, name string) (keys.DataKey, error) {
	if err := begin(ctx, name); err != nil {
		return keys.DataKey{}, err
	}
	dk := make([]byte, dataKeyLen)
	if _, err := rand.Read(dk); err != nil {
		return keys.DataKey{}, fmt.Errorf("localkeys: random: %w", err)
	}
	k.mu.RLock()
	wrapped, err := k.wrapLocked(name, dk)
	k.mu.RUnlock()
	if errors.Is(err, keys.ErrNotFound) && k.opts.AutoCreate {
		if err = k.create(ctx, name); err == nil {
			k.mu.RLock()
			wrapped, err = k.wrapLocked(name, dk)
			k.mu.RUnlock()
		}
	}
	if err != nil {
		clear(dk)
		return keys.DataKey{}, err
	}
	return keys.DataKey{Plaintext: dk, Wrapped: wrapped}, nil
}

// Create creates KEK name at version 1. It is idempotent: an existing KEK is
// left as it is. Without Options.AutoCreate this is how KEKs come to exist.
func (k *Keyring) Create(ctx context.Context, name string) error {
	if err := begin(ctx, name); err != nil {
		return err
	}
	return k.create(ctx, name)
}

// create adds KEK name at version 1 unless a concurrent caller already did.
func (k *Keyring) create(ctx context.Context, name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keks == nil {
		return ErrClosed
	}
	if _, ok := k.keks[name]; ok {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localkeys: %w", err)
	}
	material, err := newKEK()
	if err != nil {
		return err
	}
	e := &kek{Latest: 1, MinDecryption: 1, Versions: map[int][]byte{1: material}}
	return k.commitLocked(name, e)
}

// commitLocked persists the keyring with KEK name set to e (or removed when e
// is nil) and only then makes the change visible. k.mu is held for writing.
func (k *Keyring) commitLocked(name string, e *kek) error {
	next := make(map[string]*kek, len(k.keks)+1)
	for n, v := range k.keks {
		next[n] = v
	}
	if e == nil {
		delete(next, name)
	} else {
		next[name] = e
	}
	if err := k.persist(next); err != nil {
		if e != nil {
			e.destroy()
		}
		return err
	}
	if old, ok := k.keks[name]; ok {
		old.destroy()
	}
	k.keks = next
	return nil
}

// wrapLocked wraps dk under the latest version of name. k.mu is held.
// lookupLocked finds a KEK; the caller holds k.mu (read or write).
func (k *Keyring) lookupLocked(name string) (*kek, error) {
	if k.keks == nil {
		return nil, ErrClosed
	}
	e, ok := k.keks[name]
	if !ok {
		return nil, notFound(name)
	}
	return e, nil
}

func (k *Keyring) wrapLocked(name string, dk []byte) ([]byte, error) {
	e, err := k.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(e.Versions[e.Latest])
	if err != nil {
		return nil, err
	}
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(dk)+aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("localkeys: random: %w", err)
	}
	sealed := aead.Seal(buf, buf, dk, aad(name, e.Latest))
	out := make([]byte, 0, len(wrapPrefix)+8+base64.RawURLEncoding.EncodedLen(len(sealed)))
	out = append(out, wrapPrefix...)
	out = strconv.AppendInt(out, int64(e.Latest), 10)
	out = append(out, ':')
	return base64.RawURLEncoding.AppendEncode(out, sealed), nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("localkeys: cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// aad binds a wrapped key to the KEK name and version that made it.
func aad(name string, version int) []byte {
	return []byte("liaison/localkeys/v1\x00" + name + "\x00" + strconv.Itoa(version))
}

// parseWrapped splits "lk1:<version>:<base64url>".
func parseWrapped(wrapped []byte) (int, []byte, bool) {
	rest, ok := strings.CutPrefix(string(wrapped), wrapPrefix)
	if !ok {
		return 0, nil, false
	}
	vs, b64, ok := strings.Cut(rest, ":")
	if !ok || vs == "" || len(vs) > 9 || vs[0] == '0' {
		return 0, nil, false
	}
	v, err := strconv.Atoi(vs)
	if err != nil || v < 1 {
		return 0, nil, false
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(b64)
	if err != nil {
		return 0, nil, false
	}
	return v, sealed, true
}

// WrappedVersion reports the KEK version that wrapped a data key.
func (k *Keyring) WrappedVersion(wrapped []byte) (int, error) {
	v, _, ok := parseWrapped(wrapped)
	if !ok {
		return 0, fmt.Errorf("localkeys: %w", keys.ErrInvalidCiphertext)
	}
	return v, nil
}

// UnwrapDataKey returns the data key inside wrapped. It never creates a KEK.
func (k *Keyring) UnwrapDataKey(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	if err := begin(ctx, name); err != nil {
		return nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.unwrapLocked(name, wrapped)
}

func (k *Keyring) unwrapLocked(name string, wrapped []byte) ([]byte, error) {
	e, err := k.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	v, sealed, ok := parseWrapped(wrapped)
	if !ok {
		return nil, invalidCiphertext(name)
	}
	// Versions below the minimum are destroyed (absent): say so, so that a
	// reader learns the record is gone rather than corrupt.
	if v >= 1 && v < e.MinDecryption {
		return nil, fmt.Errorf("localkeys: key %s: %w", name, keys.ErrShredded)
	}
	material, ok := e.Versions[v]
	if !ok {
		return nil, invalidCiphertext(name)
	}
	aead, err := newAEAD(material)
	if err != nil {
		return nil, err
	}
	if len(sealed) != aead.NonceSize()+dataKeyLen+aead.Overhead() {
		return nil, invalidCiphertext(name)
	}
	dk, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad(name, v))
	if err != nil {
		return nil, invalidCiphertext(name)
	}
	return dk, nil
}

// Rotate adds a new KEK version; new data keys are wrapped under it.
func (k *Keyring) Rotate(ctx context.Context, name string) error {
	if err := begin(ctx, name); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, err := k.lookupLocked(name)
	if err != nil {
		return err
	}
	material, err := newKEK()
	if err != nil {
		return err
	}
	n := e.clone()
	n.Latest++
	n.Versions[n.Latest] = material
	return k.commitLocked(name, n)
}

// Rewrap re-wraps wrapped under the latest KEK version. The plaintext data
// key exists only inside this call and is zeroed before it returns.
func (k *Keyring) Rewrap(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	if err := begin(ctx, name); err != nil {
		return nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	dk, err := k.unwrapLocked(name, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	return k.wrapLocked(name, dk)
}

// Info describes KEK name.
func (k *Keyring) Info(ctx context.Context, name string) (keys.KeyInfo, error) {
	if err := begin(ctx, name); err != nil {
		return keys.KeyInfo{}, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	e, err := k.lookupLocked(name)
	if err != nil {
		return keys.KeyInfo{}, err
	}
	return keys.KeyInfo{Name: name, LatestVersion: e.Latest, MinDecryptionVersion: e.MinDecryption}, nil
}

// SetMinDecryptionVersion destroys every KEK version below version, so data
// keys wrapped under them can never be unwrapped again. Lowering the minimum
// is refused (the material is gone), as is raising it above the latest
// version; setting the current minimum again is a no-op.
func (k *Keyring) SetMinDecryptionVersion(ctx context.Context, name string, version int) error {
	if err := begin(ctx, name); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, err := k.lookupLocked(name)
	if err != nil {
		return err
	}
	switch {
	case version == e.MinDecryption:
		return nil
	case version < e.MinDecryption:
		return fmt.Errorf("%w: key %s: versions below %d are destroyed, cannot lower the minimum to %d", ErrInvalidVersion, name, e.MinDecryption, version)
	case version > e.Latest:
		return fmt.Errorf("%w: key %s: minimum %d above latest version %d", ErrInvalidVersion, name, version, e.Latest)
	}
	n := e.clone()
	for v := n.MinDecryption; v < version; v++ {
		clear(n.Versions[v])
		delete(n.Versions, v)
	}
	n.MinDecryption = version
	return k.commitLocked(name, n)
}

// Delete destroys KEK name and with it every data key wrapped under it.
func (k *Keyring) Delete(ctx context.Context, name string) error {
	if err := begin(ctx, name); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keks == nil {
		return ErrClosed
	}
	if _, ok := k.keks[name]; !ok {
		return notFound(name)
	}
	return k.commitLocked(name, nil)
}

// Names lists the KEK names in the keyring, for `liaison keys list`.
func (k *Keyring) Names(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localkeys: %w", err)
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.keks == nil {
		return nil, ErrClosed
	}
	out := make([]string, 0, len(k.keks))
	for n := range k.keks {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}
