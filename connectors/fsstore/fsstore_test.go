package fsstore_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/connectors/objstore/objstoretest"
)

func open(t *testing.T, dir string) *fsstore.Store {
	t.Helper()
	s, err := fsstore.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return open(t, t.TempDir()) })
}

func put(t *testing.T, s *fsstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data, objstore.PutOptions{}); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func tmpEntries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, "~tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

func TestLayoutAndModes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	put(t, s, "records/ab/rec-1.json", []byte("content"))

	got, err := os.ReadFile(filepath.Join(dir, "records", "ab", "rec-1.json"))
	if err != nil || string(got) != "content" {
		t.Fatalf("object file: %q, %v", got, err)
	}
	tests := []struct {
		path string
		mode os.FileMode
	}{
		{"records", 0o700},
		{"records/ab", 0o700},
		{"records/ab/rec-1.json", 0o600},
		{"~tmp", 0o700},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			st, err := os.Stat(filepath.Join(dir, tc.path))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tc.mode {
				t.Fatalf("mode %v, want %v", st.Mode().Perm(), tc.mode)
			}
		})
	}
}

func TestTempFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	put(t, s, "k/obj", []byte("committed"))

	// Debris as a crash would leave it: a partial write, old and new.
	stale := filepath.Join(dir, "~tmp", "5ca1e0000000000000000001")
	fresh := filepath.Join(dir, "~tmp", "f4e500000000000000000002")
	// Not the store's temp pattern: however old, the sweep leaves it.
	foreign := filepath.Join(dir, "~tmp", "operator-notes.txt")
	for _, p := range []string{stale, fresh, foreign} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * fsstore.StaleTempAge)
	for _, p := range []string{stale, foreign} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("invisible", func(t *testing.T) {
		keys, err := s.List(t.Context(), "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys, []string{"k/obj"}) {
			t.Fatalf("List = %q, want only k/obj", keys)
		}
		if _, err := s.Get(t.Context(), "~tmp/stale0123"); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Fatalf("Get of a temp file: err = %v, want ErrInvalidKey", err)
		}
	})
	t.Run("stale_removed_on_open", func(t *testing.T) {
		s2 := open(t, dir)
		if got := tmpEntries(t, dir); !slices.Equal(got, []string{"f4e500000000000000000002", "operator-notes.txt"}) {
			t.Fatalf("~tmp holds %q after Open, want only the fresh file (another process's write in flight) and the foreign one", got)
		}
		data, err := s2.Get(t.Context(), "k/obj")
		if err != nil || string(data) != "committed" {
			t.Fatalf("Get after reopen: %q, %v", data, err)
		}
	})
	for _, p := range []string{fresh, foreign} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("removed_after_every_put", func(t *testing.T) {
		ctx := t.Context()
		put(t, s, "a/b", []byte("x"))
		put(t, s, "a/b", []byte("y"))
		if err := s.Put(ctx, "a/c", []byte("x"), objstore.PutOptions{IfAbsent: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "a/c", []byte("x"), objstore.PutOptions{IfAbsent: true}); !errors.Is(err, objstore.ErrExists) {
			t.Fatalf("IfAbsent over existing: %v", err)
		}
		if err := s.Put(ctx, "a/b/under-object", []byte("x"), objstore.PutOptions{}); err == nil {
			t.Fatal("Put under an object succeeded")
		}
		if err := s.Put(ctx, "a", []byte("x"), objstore.PutOptions{}); err == nil {
			t.Fatal("Put over a directory succeeded")
		}
		if got := tmpEntries(t, dir); len(got) != 0 {
			t.Fatalf("~tmp holds %q, want nothing", got)
		}
	})
}

func TestKeyConflicts(t *testing.T) {
	ctx := t.Context()
	s := open(t, t.TempDir())
	put(t, s, "obj", []byte("object"))
	put(t, s, "dir/child", []byte("child"))

	tests := []struct {
		name string
		key  string
	}{
		{"under_an_object", "obj/child"},
		{"deep_under_an_object", "obj/x/y"},
		{"over_a_directory", "dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, opts := range []objstore.PutOptions{{}, {IfAbsent: true}} {
				err := s.Put(ctx, tc.key, []byte("x"), opts)
				if !errors.Is(err, objstore.ErrInvalidKey) {
					t.Fatalf("Put(%s, IfAbsent=%v): err = %v, want ErrInvalidKey", tc.key, opts.IfAbsent, err)
				}
			}
			if _, err := s.Get(ctx, tc.key); !errors.Is(err, objstore.ErrNotFound) {
				t.Fatalf("Get(%s): err = %v, want ErrNotFound", tc.key, err)
			}
			if err := s.Delete(ctx, tc.key); err != nil {
				t.Fatalf("Delete(%s): %v, want nil", tc.key, err)
			}
		})
	}
	for key, want := range map[string]string{"obj": "object", "dir/child": "child"} {
		if got, err := s.Get(ctx, key); err != nil || string(got) != want {
			t.Fatalf("Get(%s) = %q, %v after conflicting calls", key, got, err)
		}
	}
}

func TestNameTooLongForFileSystem(t *testing.T) {
	ctx := t.Context()
	s := open(t, t.TempDir())
	key := "k/" + strings.Repeat("a", 300) // valid key, but no file system takes a 300-byte name
	if !objstore.ValidKey(key) {
		t.Fatal("test bug: key should be valid")
	}
	if err := s.Put(ctx, key, []byte("x"), objstore.PutOptions{}); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Put: err = %v, want ErrInvalidKey", err)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Get: err = %v, want ErrInvalidKey", err)
	}
	if err := s.Delete(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Delete: err = %v, want ErrInvalidKey", err)
	}
}

func TestConfinedToDirectory(t *testing.T) {
	ctx := t.Context()
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	outside := filepath.Join(base, "outside")
	if err := os.MkdirAll(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)
	// A symbolic link planted inside the store, pointing out of it.
	if err := os.Symlink(outside, filepath.Join(dir, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "evil-file")); err != nil {
		t.Fatal(err)
	}

	if err := s.Put(ctx, "evil/planted", []byte("x"), objstore.PutOptions{}); err == nil {
		t.Error("Put through an escaping symlink succeeded")
	}
	if err := s.Put(ctx, "evil-file", []byte("overwrite"), objstore.PutOptions{}); err != nil {
		// Replacing the link itself (rename over it) is fine; writing
		// through it is not. Either way the target must be untouched.
		t.Logf("Put over a symlink: %v", err)
	}
	if data, err := s.Get(ctx, "evil/secret"); err == nil {
		t.Errorf("Get through an escaping symlink returned %q", data)
	}
	if err := s.Delete(ctx, "evil/secret"); err != nil {
		t.Logf("Delete through an escaping symlink: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(outside, "secret"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("file outside the store changed: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Put wrote outside the store: %v", err)
	}
	keys, err := s.List(ctx, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(keys, "evil/secret") {
		t.Fatalf("List followed an escaping symlink: %q", keys)
	}
}

func TestListSkipsForeignEntries(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	put(t, s, "p/a", []byte("a"))
	put(t, s, "p/c", []byte("c"))
	for _, name := range []string{"p/B-upper", "p/with space", "p/b~backup"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(dir, "p", "b-link")); err != nil {
		t.Fatal(err)
	}
	keys, err := s.List(t.Context(), "p/", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"p/a", "p/c"}) {
		t.Fatalf("List = %q, want only the objects Put wrote", keys)
	}
	if keys, err := s.List(t.Context(), "p/", "", 0); err != nil || len(keys) != 0 {
		t.Fatalf("List with limit 0 = %q, %v; want nothing", keys, err)
	}
}

// TestReadersNeverSeePartialObjects overwrites large objects while readers,
// through this Store and through a second one on the same directory (as a
// second process would), read continuously. Every object is one repeated
// byte with a length derived from that byte, and ends with a checksum, so a
// torn, truncated or mixed read cannot pass.
func TestReadersNeverSeePartialObjects(t *testing.T) {
	dir := t.TempDir()
	writer := open(t, dir)
	other := open(t, dir)
	const key = "hot/object"
	object := func(v byte) []byte {
		body := bytes.Repeat([]byte{v}, 1<<20+int(v)*512)
		sum := sha256.Sum256(body)
		return append(body, sum[:]...)
	}
	valid := func(data []byte) bool {
		if len(data) < sha256.Size+1 {
			return false
		}
		body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
		want := sha256.Sum256(body)
		return bytes.Equal(sum, want[:]) && bytes.Equal(data, object(body[0]))
	}
	put(t, writer, key, object(0))

	var (
		done  atomic.Bool
		reads atomic.Int64
		wg    sync.WaitGroup
	)
	for i, s := range []*fsstore.Store{writer, other, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				data, err := s.Get(t.Context(), key)
				if err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				if !valid(data) {
					t.Errorf("reader %d: partial or mixed object (%d bytes)", i, len(data))
					return
				}
				reads.Add(1)
			}
		}()
	}
	for v := 1; v <= 40 && !t.Failed(); v++ {
		put(t, writer, key, object(byte(v)))
	}
	done.Store(true)
	wg.Wait()
	if got, err := other.Get(t.Context(), key); err != nil || !bytes.Equal(got, object(40)) {
		t.Fatalf("final object wrong: %v", err)
	}
	t.Logf("%d reads checked", reads.Load())
}

// TestListMatchesReference compares List with a sorted in-memory reference
// on random keys drawn from the characters where byte order and directory
// order disagree ('-' < '.' < '/' < '0' < '_'), for random prefixes,
// startAfter values (keys, non-keys, bounds) and limits.
func TestListMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := open(t, t.TempDir())
	alphabet := []byte("ab-._0")
	segment := func() string {
		b := make([]byte, 1+rng.IntN(3))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if seg := string(b); seg != "." && seg != ".." {
			return seg
		}
		return "x"
	}
	var keys []string
	isDir := map[string]bool{} // every proper path prefix of a key
	has := map[string]bool{}
	for len(keys) < 300 {
		parts := make([]string, 1+rng.IntN(3))
		for i := range parts {
			parts[i] = segment()
		}
		k := strings.Join(parts, "/")
		conflict := has[k] || isDir[k]
		for i := 1; i < len(parts) && !conflict; i++ {
			conflict = has[strings.Join(parts[:i], "/")]
		}
		if conflict {
			continue
		}
		for i := 1; i < len(parts); i++ {
			isDir[strings.Join(parts[:i], "/")] = true
		}
		has[k] = true
		keys = append(keys, k)
	}
	for _, k := range keys {
		put(t, s, k, nil)
	}
	slices.Sort(keys)

	reference := func(prefix, after string, limit int) []string {
		var out []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) && k > after && len(out) < limit {
				out = append(out, k)
			}
		}
		return out
	}
	pick := func() string {
		switch rng.IntN(4) {
		case 0:
			return ""
		case 1:
			return keys[rng.IntN(len(keys))]
		case 2: // a key cut short: often a directory or a partial segment
			k := keys[rng.IntN(len(keys))]
			return k[:rng.IntN(len(k)+1)]
		default:
			return keys[rng.IntN(len(keys))] + string(alphabet[rng.IntN(len(alphabet))])
		}
	}
	for i := range 2000 {
		prefix := strings.TrimLeft(pick(), "/")
		for strings.Contains(prefix, "//") || !objstore.ValidPrefix(prefix) {
			prefix = prefix[:len(prefix)-1]
		}
		after := pick()
		limit := 1 + rng.IntN(20)
		got, err := s.List(t.Context(), prefix, after, limit)
		if err != nil {
			t.Fatalf("case %d: List(%q, %q, %d): %v", i, prefix, after, limit, err)
		}
		if want := reference(prefix, after, limit); !slices.Equal(got, want) {
			t.Fatalf("case %d: List(%q, %q, %d)\n got  %q\n want %q", i, prefix, after, limit, got, want)
		}
	}
}

// TestFailedWriteLeavesNoTempFile: a Put whose write fails (ENOSPC here)
// removes its temporary file. Before the fix every failed write leaked one
// (the deferred cleanup removed the cleared named result, ""): one ENOSPC
// episode left 9,676 files behind (issue 9 item 14).
func TestFailedWriteLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	var fail atomic.Bool
	fail.Store(true)
	fsstore.SetWriteFn(s, func(f *os.File, b []byte) (int, error) {
		if fail.Load() {
			n, _ := f.Write(b[:len(b)/2]) // a partial write, then the disk is full
			return n, syscall.ENOSPC
		}
		return f.Write(b)
	})
	for i := range 20 {
		err := s.Put(t.Context(), "k/obj", []byte("some record bytes"), objstore.PutOptions{IfAbsent: i%2 == 0})
		if !errors.Is(err, objstore.ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("put on a full disk: err = %v, want ErrUnavailable wrapping ENOSPC", err)
		}
	}
	if got := tmpEntries(t, dir); len(got) != 0 {
		t.Fatalf("%d temporary files left by failed writes: %q", len(got), got)
	}
	fail.Store(false)
	put(t, s, "k/obj", []byte("after the disk recovered"))
	if got := tmpEntries(t, dir); len(got) != 0 {
		t.Fatalf("temporary files left by a successful write: %q", got)
	}
}
