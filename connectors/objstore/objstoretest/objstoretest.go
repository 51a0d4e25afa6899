// Package objstoretest is the conformance suite every objstore.Store must
// pass. It is backend-neutral, and every test writes only under its own
// unique prefix (and deletes what it wrote afterwards), so the suite can run
// against a shared real bucket as well as against a temporary directory.
//
// The suite never uses one key both as an object and as a prefix of another
// object's key ("a" and "a/b"): S3 allows it but MinIO and file systems do
// not, so callers of objstore.Store must not rely on it either.
//
// Usage from an implementation's tests:
//
//	func TestConformance(t *testing.T) {
//		objstoretest.Run(t, func(t *testing.T) objstore.Store { return newStoreForTest(t) })
//	}
package objstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
)

// Run runs the conformance suite. newStore is called once per subtest, with
// that subtest's t, so that an implementation can register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store, prefix string)
	}{
		{"round_trip", testRoundTrip},
		{"overwrite", testOverwrite},
		{"overwrite_drop_older", testOverwriteDropOlder},
		{"if_absent", testIfAbsent},
		{"get_missing", testGetMissing},
		{"delete", testDelete},
		{"list", testList},
		{"list_paging", testListPaging},
		{"invalid_keys", testInvalidKeys},
		{"valid_key_shapes", testValidKeyShapes},
		{"empty_object", testEmptyObject},
		{"large_object", testLargeObject},
		{"concurrent_if_absent", testConcurrentIfAbsent},
		{"atomic_overwrite", testAtomicOverwrite},
		{"context_cancelled", testContextCancelled},
		{"version_tag", testVersionTag},
		{"if_match", testIfMatch},
		{"if_match_missing", testIfMatchMissing},
		{"if_match_drop_older", testIfMatchDropOlder},
		{"concurrent_read_modify_write", testConcurrentReadModifyWrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			prefix := UniquePrefix(t)
			// Registered after newStore, so it runs before the store's own
			// cleanup (cleanups run last-in first-out).
			t.Cleanup(func() { deletePrefix(t, s, prefix) })
			tc.fn(t, s, prefix)
		})
	}
}

// UniquePrefix returns a List prefix ending in '/', derived from t.Name() so
// that leftovers in a shared bucket can be traced to their test, with a
// random component so that reruns never collide.
func UniquePrefix(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 80 {
		name = name[:80]
	}
	p := "objstoretest/" + name + "-" + randomHex(t, 6) + "/"
	if !objstore.ValidPrefix(p) {
		t.Fatalf("objstoretest: generated invalid prefix %q", p)
	}
	return p
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	return hex.EncodeToString(randomBytes(t, n))
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("objstoretest: random: %v", err)
	}
	return b
}

// deletePrefix removes everything under prefix, best effort.
func deletePrefix(t *testing.T, s objstore.Store, prefix string) {
	// t.Context() is already cancelled when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	after := ""
	for {
		page, err := s.List(ctx, prefix, after, 1000)
		if err != nil {
			t.Logf("objstoretest: cleanup: list %s: %v", prefix, err)
			return
		}
		for _, k := range page {
			if err := s.Delete(ctx, k); err != nil {
				t.Logf("objstoretest: cleanup: delete %s: %v", k, err)
			}
		}
		if len(page) == 0 {
			return
		}
		after = page[len(page)-1]
	}
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data, objstore.PutOptions{}); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func get(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	data, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return data
}

func mustEqual(t *testing.T, s objstore.Store, key string, want []byte) {
	t.Helper()
	got := get(t, s, key)
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%s): got %d bytes, want %d bytes (%s)", key, len(got), len(want), diffHint(got, want))
	}
}

func diffHint(got, want []byte) string {
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at byte %d", i)
		}
	}
	return "one is a prefix of the other"
}

func mustNotFound(t *testing.T, s objstore.Store, key string) {
	t.Helper()
	data, err := s.Get(t.Context(), key)
	if !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get(%s): err = %v (%d bytes), want ErrNotFound", key, err, len(data))
	}
}

func list(t *testing.T, s objstore.Store, prefix, startAfter string, limit int) []string {
	t.Helper()
	keys, err := s.List(t.Context(), prefix, startAfter, limit)
	if err != nil {
		t.Fatalf("List(%q, %q, %d): %v", prefix, startAfter, limit, err)
	}
	return keys
}

func testRoundTrip(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "record.bin"
	data := make([]byte, 0, 4096)
	for i := 0; i < 256; i++ { // every byte value, including NUL
		data = append(data, byte(i))
	}
	data = append(data, randomBytes(t, 4096-256)...)
	want := bytes.Clone(data)

	if err := s.Put(t.Context(), key, data, objstore.PutOptions{ContentType: "application/octet-stream"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	// The store must not keep a reference to the caller's buffer.
	clear(data)
	mustEqual(t, s, key, want)

	// Nor hand out one that a later Get shares.
	got := get(t, s, key)
	clear(got)
	mustEqual(t, s, key, want)

	if keys := list(t, s, prefix, "", 10); !slices.Equal(keys, []string{key}) {
		t.Fatalf("List = %q, want [%q]", keys, key)
	}
}

func testOverwrite(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "obj"
	long := randomBytes(t, 4096)
	short := []byte("short")
	put(t, s, key, long)
	put(t, s, key, short)
	// A shorter object replaces a longer one entirely (no stale tail).
	mustEqual(t, s, key, short)
	put(t, s, key, long)
	mustEqual(t, s, key, long)
	if keys := list(t, s, prefix, "", 10); !slices.Equal(keys, []string{key}) {
		t.Fatalf("List = %q, want exactly [%q]", keys, key)
	}
}

// testOverwriteDropOlder: a replacing write that drops older versions
// leaves exactly the new object (the MinIO suite also counts versions).
func testOverwriteDropOlder(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "obj"
	put(t, s, key, []byte("old secret"))
	if err := s.Put(t.Context(), key, []byte("new"), objstore.PutOptions{DropOlderVersions: true}); err != nil {
		t.Fatalf("Put DropOlderVersions: %v", err)
	}
	mustEqual(t, s, key, []byte("new"))
	// On a missing key it is a plain write.
	if err := s.Put(t.Context(), prefix+"fresh", []byte("x"), objstore.PutOptions{DropOlderVersions: true}); err != nil {
		t.Fatalf("Put DropOlderVersions on a new key: %v", err)
	}
	mustEqual(t, s, prefix+"fresh", []byte("x"))
}

func testIfAbsent(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "once"
	first := []byte("first")
	if err := s.Put(t.Context(), key, first, objstore.PutOptions{IfAbsent: true}); err != nil {
		t.Fatalf("first IfAbsent Put: %v", err)
	}
	err := s.Put(t.Context(), key, []byte("second, longer than the first"), objstore.PutOptions{IfAbsent: true})
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second IfAbsent Put: err = %v, want ErrExists", err)
	}
	mustEqual(t, s, key, first)

	// An unconditional Put still replaces.
	put(t, s, key, []byte("replaced"))
	mustEqual(t, s, key, []byte("replaced"))

	// Once deleted, the key is absent again.
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Put(t.Context(), key, []byte("again"), objstore.PutOptions{IfAbsent: true}); err != nil {
		t.Fatalf("IfAbsent Put after Delete: %v", err)
	}
	mustEqual(t, s, key, []byte("again"))
}

func testGetMissing(t *testing.T, s objstore.Store, prefix string) {
	mustNotFound(t, s, prefix+"missing")
	mustNotFound(t, s, prefix+"no/such/dir/missing")
	put(t, s, prefix+"dir/present", []byte("x"))
	mustNotFound(t, s, prefix+"dir/absent")
	// A prefix of existing keys is not itself an object.
	mustNotFound(t, s, prefix+"dir")
}

func testDelete(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "a/b/doomed"
	keep := prefix + "a/keep"
	put(t, s, key, []byte("x"))
	put(t, s, keep, []byte("y"))
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustNotFound(t, s, key)
	if keys := list(t, s, prefix, "", 10); !slices.Equal(keys, []string{keep}) {
		t.Fatalf("List after Delete = %q, want [%q]", keys, keep)
	}
	mustEqual(t, s, keep, []byte("y"))

	for _, missing := range []string{key, prefix + "never", prefix + "no/such/dir/x"} {
		if err := s.Delete(t.Context(), missing); err != nil {
			t.Fatalf("Delete(%s) of a missing key: %v, want nil", missing, err)
		}
	}
	// A key can be written again after deletion.
	put(t, s, key, []byte("back"))
	mustEqual(t, s, key, []byte("back"))
}

func testList(t *testing.T, s objstore.Store, base string) {
	p := base + "p/"
	// Chosen so that byte order differs from a naive directory walk:
	// '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < '0' (0x30) < '_' (0x5f).
	inP := []string{
		p + "a", p + "ab-x", p + "ab.x", p + "ab/c", p + "ab/d/e",
		p + "ab0", p + "ab_", p + "b", p + "ba/c", p + "c.txt",
	}
	// Neighbours that share the string prefix base+"p" but not p.
	outside := []string{base + "p-k", base + "p0/k", base + "pa"}
	// Insert out of order so that insertion order cannot pass for sorting.
	all := append(slices.Clone(outside), inP...)
	for i := len(all) - 1; i >= 0; i-- {
		put(t, s, all[i], []byte(all[i]))
	}

	cases := []struct {
		name       string
		prefix     string
		startAfter string
		limit      int
		want       []string
	}{
		{"whole_prefix", p, "", 100, inP},
		{"string_prefix_not_dir", base + "p", "", 100, []string{base + "p-k", p + "a", p + "ab-x", p + "ab.x", p + "ab/c", p + "ab/d/e", p + "ab0", p + "ab_", p + "b", p + "ba/c", p + "c.txt", base + "p0/k", base + "pa"}},
		{"partial_segment", p + "ab", "", 100, []string{p + "ab-x", p + "ab.x", p + "ab/c", p + "ab/d/e", p + "ab0", p + "ab_"}},
		{"directory", p + "ab/", "", 100, []string{p + "ab/c", p + "ab/d/e"}},
		{"nested_partial", p + "ab/d", "", 100, []string{p + "ab/d/e"}},
		{"single_letter", p + "b", "", 100, []string{p + "b", p + "ba/c"}},
		{"no_match", p + "zz", "", 100, nil},
		{"no_match_dir", p + "zz/", "", 100, nil},
		{"limit_1", p, "", 1, inP[:1]},
		{"limit_3", p, "", 3, inP[:3]},
		{"limit_exact", p, "", len(inP), inP},
		{"after_existing_key", p, p + "ab.x", 100, inP[3:]},
		{"after_non_key", p, p + "ab/", 100, inP[3:]},
		{"after_nested", p, p + "ab/c", 2, []string{p + "ab/d/e", p + "ab0"}},
		{"after_deepest", p, p + "ab/d/e", 2, []string{p + "ab0", p + "ab_"}},
		{"after_last", p, p + "c.txt", 100, nil},
		{"after_before_prefix", p, base + "a", 100, inP},
		{"after_beyond_prefix", p, base + "q", 100, nil},
		{"after_equals_prefix", p, p, 100, inP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := list(t, s, tc.prefix, tc.startAfter, tc.limit)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("List(%q, %q, %d)\n got  %q\n want %q", strings.TrimPrefix(tc.prefix, base), strings.TrimPrefix(tc.startAfter, base), tc.limit, trim(got, base), trim(tc.want, base))
			}
		})
	}

	t.Run("invalid_prefix", func(t *testing.T) {
		for _, bad := range []string{"../", "/" + p, p + "../", "A/", p + "/", p + "a//", "a b/"} {
			if objstore.ValidPrefix(bad) {
				t.Fatalf("suite bug: %q is a valid prefix", bad)
			}
			if _, err := s.List(t.Context(), bad, "", 10); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("List(%q): err = %v, want ErrInvalidKey", bad, err)
			}
		}
	})
}

func trim(keys []string, base string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, base)
	}
	return out
}

func testListPaging(t *testing.T, s objstore.Store, base string) {
	p := base + "many/"
	const n, limit = 250, 100
	want := make([]string, n)
	for i := range want {
		// Spread over sub-prefixes so that paging crosses them.
		want[i] = fmt.Sprintf("%sg%d/k%03d", p, i%7, i)
	}
	putAll(t, s, want)
	// A neighbour that must never appear.
	put(t, s, base+"many0", []byte("x"))
	slices.Sort(want)

	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not terminate")
		}
		page := list(t, s, p, after, limit)
		if len(page) > limit {
			t.Fatalf("page %d has %d keys, limit %d", pages, len(page), limit)
		}
		if remaining := n - len(got); len(page) != min(limit, remaining) {
			t.Fatalf("page %d has %d keys, want %d (a short page must mean the end)", pages, len(page), min(limit, remaining))
		}
		if len(page) == 0 {
			break
		}
		if page[0] <= after {
			t.Fatalf("page %d starts at %q, not after %q", pages, page[0], after)
		}
		if !slices.IsSorted(page) {
			t.Fatalf("page %d is not sorted", pages)
		}
		got = append(got, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged listing returned %d keys, want %d (or wrong order)", len(got), len(want))
	}
}

// putAll writes each key with its own name as content, a few at a time.
func putAll(t *testing.T, s objstore.Store, keys []string) {
	t.Helper()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.Put(t.Context(), k, []byte(k), objstore.PutOptions{}); err != nil {
				t.Errorf("Put(%s): %v", k, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func testInvalidKeys(t *testing.T, s objstore.Store, base string) {
	cases := []struct{ name, key string }{
		{"empty", ""},
		{"dot_dot_escape", "../x"},
		{"dot_dot_under_prefix", base + "../x"},
		{"dot_dot_inside", base + "a/../b"},
		{"absolute", "/" + base + "abs"},
		{"double_slash", base + "a//b"},
		{"trailing_slash", base + "dir/"},
		{"upper_case", base + "A"},
		{"dot_segment", base + "a/./b"},
		{"final_dot", base + "."},
		{"space", base + "a b"},
		{"backslash", base + `a\b`},
		{"nul", base + "a\x00b"},
		{"newline", base + "a\nb"},
		{"non_ascii", base + "é"},
		{"colon", base + "a:b"},
		{"over_long", base + strings.Repeat("a", objstore.MaxKeyLen)},
	}
	data := []byte("must not be written")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if objstore.ValidKey(tc.key) {
				t.Fatalf("suite bug: %q is a valid key", tc.key)
			}
			for _, opts := range []objstore.PutOptions{{}, {IfAbsent: true}} {
				if err := s.Put(t.Context(), tc.key, data, opts); !errors.Is(err, objstore.ErrInvalidKey) {
					t.Errorf("Put(IfAbsent=%v): err = %v, want ErrInvalidKey", opts.IfAbsent, err)
				}
			}
			if got, err := s.Get(t.Context(), tc.key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Get: err = %v (%d bytes), want ErrInvalidKey", err, len(got))
			}
			if err := s.Delete(t.Context(), tc.key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Delete: err = %v, want ErrInvalidKey", err)
			}
		})
	}
	// Nothing was written, not even under a "cleaned" form of a bad key.
	if keys := list(t, s, base, "", 100); len(keys) != 0 {
		t.Fatalf("invalid Puts left objects behind: %q", keys)
	}
	for _, cleaned := range []string{base + "a/b", base + "b", base + "abs", base + "dir", base + "a"} {
		mustNotFound(t, s, cleaned)
	}
}

func testValidKeyShapes(t *testing.T, s objstore.Store, base string) {
	// The longest valid key, made of segments short enough for any
	// file-system-backed store (255-byte names).
	longKey := base
	for len(longKey) < objstore.MaxKeyLen {
		longKey += strings.Repeat("s", 99) + "/"
	}
	longKey = longKey[:objstore.MaxKeyLen]
	if strings.HasSuffix(longKey, "/") {
		longKey = longKey[:objstore.MaxKeyLen-1] + "s"
	}
	cases := []struct{ name, key string }{
		{"all_allowed_characters", base + "az09._-/x"},
		{"dots_inside_segment", base + "a..b/...c"},
		{"leading_dot_segment", base + ".hidden"},
		{"leading_dash_segment", base + "-dash/_under"},
		{"deep", base + "1/2/3/4/5/6/7/8/9/10"},
		{"longest", longKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !objstore.ValidKey(tc.key) {
				t.Fatalf("suite bug: %q (len %d) is not a valid key", tc.key, len(tc.key))
			}
			put(t, s, tc.key, []byte(tc.name))
			mustEqual(t, s, tc.key, []byte(tc.name))
			if keys := list(t, s, tc.key, "", 10); !slices.Equal(keys, []string{tc.key}) {
				t.Fatalf("List(own key as prefix) = %q", keys)
			}
			if err := s.Delete(t.Context(), tc.key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			mustNotFound(t, s, tc.key)
		})
	}
}

func testEmptyObject(t *testing.T, s objstore.Store, prefix string) {
	for _, tc := range []struct {
		name string
		data []byte
	}{{"empty_slice", []byte{}}, {"nil", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			key := prefix + tc.name
			put(t, s, key, tc.data)
			if got := get(t, s, key); len(got) != 0 {
				t.Fatalf("Get: %d bytes, want 0", len(got))
			}
			if keys := list(t, s, key, "", 10); !slices.Equal(keys, []string{key}) {
				t.Fatalf("List = %q, want the empty object listed", keys)
			}
			// An empty object exists for IfAbsent purposes.
			if err := s.Put(t.Context(), key, []byte("x"), objstore.PutOptions{IfAbsent: true}); !errors.Is(err, objstore.ErrExists) {
				t.Fatalf("IfAbsent Put over an empty object: err = %v, want ErrExists", err)
			}
		})
	}
}

func testLargeObject(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "large"
	data := randomBytes(t, 5<<20)
	put(t, s, key, data)
	mustEqual(t, s, key, data)
	small := []byte("small")
	put(t, s, key, small)
	mustEqual(t, s, key, small)
}

func testConcurrentIfAbsent(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "contended"
	const writers = 16
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		errs    = make([]error, writers)
		payload = make([][]byte, writers)
	)
	for i := range writers {
		payload[i] = []byte(fmt.Sprintf("writer %02d %s", i, strings.Repeat("z", i*1000)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Put(t.Context(), key, payload[i], objstore.PutOptions{IfAbsent: true})
		}()
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("writers %d and %d both succeeded", winner, i)
			}
			winner = i
		case errors.Is(err, objstore.ErrExists):
		default:
			t.Fatalf("writer %d: err = %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer succeeded")
	}
	mustEqual(t, s, key, payload[winner])
}

func testAtomicOverwrite(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "hot"
	// Object i is size(i) copies of byte i: a torn or truncated read shows
	// as a wrong length or a mixed byte.
	size := func(v byte) int { return 64<<10 + int(v)*4096 }
	object := func(v byte) []byte { return bytes.Repeat([]byte{v}, size(v)) }
	put(t, s, key, object(0))

	const writes, readers = 24, 3
	var (
		done  atomic.Bool
		reads atomic.Int64
		wg    sync.WaitGroup
	)
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				data, err := s.Get(t.Context(), key)
				if err != nil {
					t.Errorf("reader %d: Get during overwrite: %v", r, err)
					return
				}
				reads.Add(1)
				if len(data) == 0 || len(data) != size(data[0]) {
					t.Errorf("reader %d: partial object: %d bytes", r, len(data))
					return
				}
				if bytes.Count(data, data[:1]) != len(data) {
					t.Errorf("reader %d: object mixes two versions", r)
					return
				}
			}
		}()
	}
	for i := 1; i <= writes && !t.Failed(); i++ {
		put(t, s, key, object(byte(i)))
	}
	done.Store(true)
	wg.Wait()
	mustEqual(t, s, key, object(writes))
	t.Logf("%d concurrent reads checked", reads.Load())
}

// isCancellation accepts the context's own error or ErrUnavailable, the
// sentinel a remote store maps transport failures to.
func isCancellation(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, objstore.ErrUnavailable)
}

func testContextCancelled(t *testing.T, s objstore.Store, prefix string) {
	existing := prefix + "existing"
	put(t, s, existing, []byte("keep"))

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()

	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"cancelled", cancelled}, {"deadline_exceeded", expired}} {
		t.Run(c.name, func(t *testing.T) {
			fresh := prefix + "fresh-" + c.name
			for _, opts := range []objstore.PutOptions{{}, {IfAbsent: true}} {
				if err := s.Put(c.ctx, fresh, []byte("x"), opts); !isCancellation(err) {
					t.Errorf("Put(IfAbsent=%v): err = %v, want context error or ErrUnavailable", opts.IfAbsent, err)
				}
			}
			if err := s.Put(c.ctx, existing, []byte("overwritten"), objstore.PutOptions{}); !isCancellation(err) {
				t.Errorf("Put over existing: err = %v, want context error or ErrUnavailable", err)
			}
			if data, err := s.Get(c.ctx, existing); !isCancellation(err) {
				t.Errorf("Get: err = %v (%d bytes), want context error or ErrUnavailable", err, len(data))
			}
			if err := s.Delete(c.ctx, existing); !isCancellation(err) {
				t.Errorf("Delete: err = %v, want context error or ErrUnavailable", err)
			}
			if _, err := s.List(c.ctx, prefix, "", 10); !isCancellation(err) {
				t.Errorf("List: err = %v, want context error or ErrUnavailable", err)
			}
			// None of it took effect.
			mustNotFound(t, s, fresh)
			mustEqual(t, s, existing, []byte("keep"))
		})
	}
}

func getVersion(t *testing.T, s objstore.Store, key string) ([]byte, string) {
	t.Helper()
	data, tag, err := s.GetVersion(t.Context(), key)
	if err != nil {
		t.Fatalf("GetVersion(%s): %v", key, err)
	}
	if tag == "" {
		t.Fatalf("GetVersion(%s): empty version tag", key)
	}
	return data, tag
}

// testVersionTag: GetVersion returns Get's bytes with a tag, and the tag
// changes when the content does.
func testVersionTag(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "tagged"
	if _, _, err := s.GetVersion(t.Context(), key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("GetVersion(missing): err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.GetVersion(t.Context(), "../escape"); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("GetVersion(../escape): err = %v, want ErrInvalidKey", err)
	}
	a, b := []byte("version a"), []byte("version b, longer")
	put(t, s, key, a)
	got, t1 := getVersion(t, s, key)
	if !bytes.Equal(got, a) {
		t.Fatalf("GetVersion returned %q, want %q", got, a)
	}
	if _, again := getVersion(t, s, key); again != t1 {
		t.Fatalf("the tag of an unchanged object changed: %q then %q", t1, again)
	}
	put(t, s, key, b)
	got, t2 := getVersion(t, s, key)
	if !bytes.Equal(got, b) {
		t.Fatalf("GetVersion returned %q, want %q", got, b)
	}
	if t2 == t1 {
		t.Fatalf("the tag did not change when the content did: %q", t1)
	}
}

// testIfMatch: a write with the current tag succeeds, a stale tag fails
// with ErrConflict and changes nothing.
func testIfMatch(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "cas"
	put(t, s, key, []byte("one"))
	_, t1 := getVersion(t, s, key)
	if err := s.Put(t.Context(), key, []byte("two"), objstore.PutOptions{IfMatch: t1}); err != nil {
		t.Fatalf("Put with the current tag: %v", err)
	}
	got, t2 := getVersion(t, s, key)
	if string(got) != "two" || t2 == t1 {
		t.Fatalf("after a matching Put: %q with tag %q (old tag %q)", got, t2, t1)
	}
	// A second writer that read "one" loses.
	err := s.Put(t.Context(), key, []byte("three"), objstore.PutOptions{IfMatch: t1})
	if !errors.Is(err, objstore.ErrConflict) {
		t.Fatalf("Put with a stale tag: err = %v, want ErrConflict", err)
	}
	if errors.Is(err, objstore.ErrExists) || errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a conflict must not also read as ErrExists or ErrNotFound: %v", err)
	}
	got, t3 := getVersion(t, s, key)
	if string(got) != "two" || t3 != t2 {
		t.Fatalf("a failed conditional Put changed the object: %q tag %q, want \"two\" tag %q", got, t3, t2)
	}
	// A made-up tag is stale too.
	if err := s.Put(t.Context(), key, []byte("four"), objstore.PutOptions{IfMatch: "0123456789abcdef0123456789abcdef"}); !errors.Is(err, objstore.ErrConflict) {
		t.Fatalf("Put with a made-up tag: err = %v, want ErrConflict", err)
	}
	// Contradictory options are refused, changing nothing.
	if err := s.Put(t.Context(), key, []byte("five"), objstore.PutOptions{IfMatch: t2, IfAbsent: true}); err == nil {
		t.Fatal("Put with IfMatch and IfAbsent succeeded")
	}
	mustEqual(t, s, key, []byte("two"))
	// The new tag works.
	if err := s.Put(t.Context(), key, []byte("six"), objstore.PutOptions{IfMatch: t2}); err != nil {
		t.Fatalf("Put with the tag read last: %v", err)
	}
	mustEqual(t, s, key, []byte("six"))
}

// testIfMatchMissing: a conditional write to a key that is gone (never
// written, or deleted since it was read) is a conflict and creates nothing.
func testIfMatchMissing(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "gone"
	put(t, s, key, []byte("was here"))
	_, tag := getVersion(t, s, key)
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Put(t.Context(), key, []byte("resurrected"), objstore.PutOptions{IfMatch: tag}); !errors.Is(err, objstore.ErrConflict) {
		t.Fatalf("Put with IfMatch on a deleted key: err = %v, want ErrConflict", err)
	}
	mustNotFound(t, s, key)
	never := prefix + "never"
	if err := s.Put(t.Context(), never, []byte("x"), objstore.PutOptions{IfMatch: tag}); !errors.Is(err, objstore.ErrConflict) {
		t.Fatalf("Put with IfMatch on a missing key: err = %v, want ErrConflict", err)
	}
	mustNotFound(t, s, never)
}

// testIfMatchDropOlder: IfMatch combines with DropOlderVersions.
func testIfMatchDropOlder(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "cas-drop"
	put(t, s, key, []byte("old content"))
	_, tag := getVersion(t, s, key)
	if err := s.Put(t.Context(), key, []byte("new content"), objstore.PutOptions{IfMatch: tag, DropOlderVersions: true}); err != nil {
		t.Fatalf("Put with IfMatch and DropOlderVersions: %v", err)
	}
	if err := s.Put(t.Context(), key, []byte("lost"), objstore.PutOptions{IfMatch: tag, DropOlderVersions: true}); !errors.Is(err, objstore.ErrConflict) {
		t.Fatalf("stale Put with DropOlderVersions: err = %v, want ErrConflict", err)
	}
	mustEqual(t, s, key, []byte("new content"))
}

// Increment adds one to the decimal counter at key (a missing key counts
// as 0 and is created with IfAbsent) by read-modify-write with
// compare-and-swap, retrying on conflict. It returns how many conflicts it
// met. Tests use it to show that no update is lost, in one process or
// across several.
func Increment(ctx context.Context, s objstore.Store, key string) (conflicts int, err error) {
	for {
		data, tag, err := s.GetVersion(ctx, key)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			err = s.Put(ctx, key, []byte("1"), objstore.PutOptions{IfAbsent: true})
			if errors.Is(err, objstore.ErrExists) {
				conflicts++
				continue
			}
			return conflicts, err
		case err != nil:
			return conflicts, err
		}
		n, err := strconv.Atoi(string(data))
		if err != nil {
			return conflicts, fmt.Errorf("counter %s holds %q", key, data)
		}
		err = s.Put(ctx, key, []byte(strconv.Itoa(n+1)), objstore.PutOptions{IfMatch: tag})
		if errors.Is(err, objstore.ErrConflict) {
			conflicts++
			continue
		}
		return conflicts, err
	}
}

// testConcurrentReadModifyWrite: goroutines each increment one counter by
// read-modify-write with IfMatch, retrying on conflict; every increment
// counts (no lost update), and they did contend.
func testConcurrentReadModifyWrite(t *testing.T, s objstore.Store, prefix string) {
	key := prefix + "counter"
	const workers, each = 8, 12
	var (
		wg        sync.WaitGroup
		start     = make(chan struct{})
		conflicts atomic.Int64
		errs      = make([]error, workers)
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range each {
				c, err := Increment(t.Context(), s, key)
				conflicts.Add(int64(c))
				if err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	got := string(get(t, s, key))
	if want := strconv.Itoa(workers * each); got != want {
		t.Fatalf("counter = %s after %d increments: %d updates lost", got, workers*each, workers*each-mustAtoi(t, got))
	}
	t.Logf("%d increments by %d writers, %d conflicts retried", workers*each, workers, conflicts.Load())
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
