// Package keystest is the conformance suite every keys.Provider must pass
// (and, where the provider also implements it, keys.Manager). It is
// backend-neutral: it knows nothing of wrapped-key formats, and every test
// uses its own freshly named KEK, so the suite can run against a shared real
// Vault as well as against an embedded keyring.
//
// The provider under test must create a KEK on first use by GenerateDataKey
// (auto-create): the suite has no other way to make keys through the
// Provider interface.
//
// Usage from an implementation's tests:
//
//	func TestConformance(t *testing.T) {
//		keystest.Run(t, func(t *testing.T) keys.Provider { return newProviderForTest(t) })
//	}
package keystest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/keys"
)

// dataKeyLen is the size of an AES-256 data key.
const dataKeyLen = 32

// Run runs the conformance suite. newProvider is called once per subtest, with
// that subtest's t, so that an implementation can register its own cleanup.
func Run(t *testing.T, newProvider func(t *testing.T) keys.Provider) {
	t.Helper()
	providerTests := []struct {
		name string
		fn   func(t *testing.T, p keys.Provider)
	}{
		{"round_trip", testRoundTrip},
		{"data_keys_differ", testDataKeysDiffer},
		{"wrapped_hides_plaintext", testWrappedHidesPlaintext},
		{"wrong_name", testWrongName},
		{"corrupted_wrapped_key", testCorrupted},
		{"invalid_names", testInvalidNames},
		{"longest_valid_name", testLongestValidName},
		{"concurrency", testConcurrency},
		{"context_cancelled", testContextCancelled},
	}
	for _, tc := range providerTests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t)
			tc.fn(t, p)
		})
	}

	managerTests := []struct {
		name string
		fn   func(t *testing.T, p keys.Provider, m keys.Manager)
	}{
		{"rotate", testRotate},
		{"rewrap", testRewrap},
		{"min_decryption_version", testMinDecryptionVersion},
		{"delete", testDelete},
		{"missing_key", testManagerMissingKey},
		{"invalid_names", testManagerInvalidNames},
		{"context_cancelled", testManagerContextCancelled},
	}
	t.Run("manager", func(t *testing.T) {
		for _, tc := range managerTests {
			t.Run(tc.name, func(t *testing.T) {
				p := newProvider(t)
				m, ok := p.(keys.Manager)
				if !ok {
					t.Skipf("%T does not implement keys.Manager", p)
				}
				tc.fn(t, p, m)
			})
		}
	})
}

// UniqueName returns a KEK name that is valid (keys.ValidName), derived from
// t.Name() so that a leftover key in a shared backend can be traced to its
// test, and suffixed with random hex so that reruns never collide. It ends
// with a letter or digit, as Vault Transit requires.
func UniqueName(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("kt-")
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	suffix := "-" + randomHex(t, 6)
	s := b.String()
	if limit := 100 - len(suffix); len(s) > limit {
		s = s[:limit]
	}
	name := s + suffix
	if !keys.ValidName(name) {
		t.Fatalf("keystest: generated invalid name %q", name)
	}
	return name
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("keystest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// newKey creates a KEK by generating a first data key under it, and registers
// a best-effort Delete so that a shared backend is left clean.
func newKey(t *testing.T, p keys.Provider) (string, keys.DataKey) {
	t.Helper()
	name := UniqueName(t)
	deleteOnCleanup(t, p, name)
	dk := generate(t, p, name)
	return name, dk
}

func deleteOnCleanup(t *testing.T, p keys.Provider, name string) {
	t.Helper()
	m, ok := p.(keys.Manager)
	if !ok {
		return
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Delete(ctx, name); err != nil && !errors.Is(err, keys.ErrNotFound) {
			t.Logf("keystest: cleanup: delete %s: %v", name, err)
		}
	})
}

// generate calls GenerateDataKey and checks the shape of the result.
func generate(t *testing.T, p keys.Provider, name string) keys.DataKey {
	t.Helper()
	dk, err := p.GenerateDataKey(t.Context(), name)
	if err != nil {
		t.Fatalf("GenerateDataKey(%s): %v", name, err)
	}
	if len(dk.Plaintext) != dataKeyLen {
		t.Fatalf("GenerateDataKey(%s): plaintext is %d bytes, want %d", name, len(dk.Plaintext), dataKeyLen)
	}
	if len(dk.Wrapped) == 0 {
		t.Fatalf("GenerateDataKey(%s): empty wrapped key", name)
	}
	if bytes.Equal(dk.Plaintext, make([]byte, dataKeyLen)) {
		t.Fatalf("GenerateDataKey(%s): all-zero data key", name)
	}
	return dk
}

// mustUnwrap unwraps and compares with want.
func mustUnwrap(t *testing.T, p keys.Provider, name string, wrapped, want []byte) {
	t.Helper()
	got, err := p.UnwrapDataKey(t.Context(), name, bytes.Clone(wrapped))
	if err != nil {
		t.Fatalf("UnwrapDataKey(%s): %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("UnwrapDataKey(%s): returned a different data key", name)
	}
}

// unwrapFails asserts that unwrapping fails with one of the allowed sentinels
// and returns no key material.
func unwrapFails(t *testing.T, p keys.Provider, name string, wrapped []byte, allowed ...error) {
	t.Helper()
	got, err := p.UnwrapDataKey(t.Context(), name, wrapped)
	if err == nil {
		t.Fatalf("UnwrapDataKey(%s) succeeded, want one of %v", name, allowed)
	}
	if len(got) != 0 {
		t.Errorf("UnwrapDataKey(%s) returned %d bytes of key material alongside error %v", name, len(got), err)
	}
	for _, want := range allowed {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("UnwrapDataKey(%s) error = %v, want one of %v", name, err, allowed)
}

func testRoundTrip(t *testing.T, p keys.Provider) {
	name, dk := newKey(t, p)
	want := bytes.Clone(dk.Plaintext)
	wrapped := bytes.Clone(dk.Wrapped)

	mustUnwrap(t, p, name, wrapped, want)

	// The caller owns what it gets: zeroing returned keys (as callers are
	// told to do) must not affect the provider or later results.
	clear(dk.Plaintext)
	got, err := p.UnwrapDataKey(t.Context(), name, wrapped)
	if err != nil {
		t.Fatalf("UnwrapDataKey after zeroing the generated key: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("UnwrapDataKey: result changed after the caller zeroed its generated copy")
	}
	clear(got)
	mustUnwrap(t, p, name, wrapped, want)

	// A second data key under the same (now existing) KEK also round-trips.
	dk2 := generate(t, p, name)
	mustUnwrap(t, p, name, dk2.Wrapped, dk2.Plaintext)
}

func testDataKeysDiffer(t *testing.T, p keys.Provider) {
	name, first := newKey(t, p)
	const n = 8
	plain := map[string]bool{string(first.Plaintext): true}
	wrapped := map[string]bool{string(first.Wrapped): true}
	for i := 1; i < n; i++ {
		dk := generate(t, p, name)
		if plain[string(dk.Plaintext)] {
			t.Fatalf("data key %d repeats an earlier plaintext key", i)
		}
		if wrapped[string(dk.Wrapped)] {
			t.Fatalf("data key %d repeats an earlier wrapped key", i)
		}
		plain[string(dk.Plaintext)] = true
		wrapped[string(dk.Wrapped)] = true
	}
}

func testWrappedHidesPlaintext(t *testing.T, p keys.Provider) {
	name, _ := newKey(t, p)
	for i := 0; i < 4; i++ {
		dk := generate(t, p, name)
		encodings := []struct {
			name string
			form []byte
		}{
			{"raw", dk.Plaintext},
			{"hex", []byte(hex.EncodeToString(dk.Plaintext))},
			{"HEX", []byte(strings.ToUpper(hex.EncodeToString(dk.Plaintext)))},
			{"base64", []byte(base64.RawStdEncoding.EncodeToString(dk.Plaintext))},
			{"base64url", []byte(base64.RawURLEncoding.EncodeToString(dk.Plaintext))},
		}
		for _, e := range encodings {
			if bytes.Contains(dk.Wrapped, e.form) {
				t.Fatalf("wrapped key contains the plaintext data key (%s)", e.name)
			}
		}
		// Half of the key in clear would be as bad as all of it.
		if bytes.Contains(dk.Wrapped, dk.Plaintext[:16]) || bytes.Contains(dk.Wrapped, dk.Plaintext[16:]) {
			t.Fatal("wrapped key contains half of the plaintext data key")
		}
	}
}

func testWrongName(t *testing.T, p keys.Provider) {
	name1, dk1 := newKey(t, p)
	name2, dk2 := newKey(t, p)

	t.Run("other_existing_key", func(t *testing.T) {
		unwrapFails(t, p, name2, dk1.Wrapped, keys.ErrInvalidCiphertext)
		unwrapFails(t, p, name1, dk2.Wrapped, keys.ErrInvalidCiphertext)
	})
	t.Run("missing_key", func(t *testing.T) {
		missing := UniqueName(t)
		deleteOnCleanup(t, p, missing)
		unwrapFails(t, p, missing, dk1.Wrapped, keys.ErrNotFound, keys.ErrInvalidCiphertext)
		// Unwrapping must never create a KEK as a side effect.
		if m, ok := p.(keys.Manager); ok {
			if _, err := m.Info(t.Context(), missing); !errors.Is(err, keys.ErrNotFound) {
				t.Fatalf("Info(%s) after a failed unwrap: err = %v, want ErrNotFound (unwrap must not create keys)", missing, err)
			}
		}
	})
	// The right name still works after the failures.
	mustUnwrap(t, p, name1, dk1.Wrapped, dk1.Plaintext)
}

// corruptions returns altered copies of w. They are chosen to be corrupt
// whatever the encoding (binary, or text such as Vault's "vault:v1:<base64>"):
// a changed byte in the middle falls inside the ciphertext proper.
func corruptions(w []byte) []struct {
	name string
	data []byte
} {
	flip := func(i int) []byte {
		c := bytes.Clone(w)
		c[i] ^= 0x01
		return c
	}
	mid := len(w) / 2
	return []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"nil", nil},
		{"flip_first_byte", flip(0)},
		{"flip_middle_byte", flip(mid)},
		{"flip_three_quarters_byte", flip(mid + mid/2)},
		{"truncated_by_one", bytes.Clone(w[:len(w)-1])},
		{"truncated_to_half", bytes.Clone(w[:mid])},
		{"appended_bytes", append(bytes.Clone(w), "AAAA"...)},
		{"garbage_same_length", bytes.Repeat([]byte{'A'}, len(w))},
		{"swapped_halves", append(bytes.Clone(w[mid:]), w[:mid]...)},
	}
}

func testCorrupted(t *testing.T, p keys.Provider) {
	name, dk := newKey(t, p)
	for _, c := range corruptions(dk.Wrapped) {
		t.Run(c.name, func(t *testing.T) {
			unwrapFails(t, p, name, c.data, keys.ErrInvalidCiphertext)
		})
	}
	mustUnwrap(t, p, name, dk.Wrapped, dk.Plaintext)

	if wv, ok := p.(keys.WrappedVersion); ok {
		t.Run("wrapped_version_of_garbage", func(t *testing.T) {
			for _, g := range [][]byte{nil, []byte("garbage"), bytes.Repeat([]byte{0xff}, 64)} {
				if v, err := wv.WrappedVersion(g); err == nil {
					t.Errorf("WrappedVersion(%q) = %d, want an error", g, v)
				}
			}
		})
	}
}

// invalidNames are rejected by keys.ValidName; the suite checks that too, so
// a mistake in this list cannot make a test vacuous.
var invalidNames = []struct {
	label string
	name  string
}{
	{"empty", ""},
	{"upper_case", "Agency-Met"},
	{"space", "agency met"},
	{"leading_dash", "-agency"},
	{"leading_underscore", "_agency"},
	{"leading_dot", ".agency"},
	{"slash", "agency/met"},
	{"dot_dot_path", "../etc"},
	{"nul", "agency\x00met"},
	{"non_ascii", "agençy"},
	{"newline", "agency\nmet"},
	{"too_long", strings.Repeat("a", 129)},
}

func testInvalidNames(t *testing.T, p keys.Provider) {
	valid, dk := newKey(t, p)
	for _, tc := range invalidNames {
		t.Run(tc.label, func(t *testing.T) {
			if keys.ValidName(tc.name) {
				t.Fatalf("suite bug: %q is a valid name", tc.name)
			}
			got, err := p.GenerateDataKey(t.Context(), tc.name)
			if err == nil {
				t.Fatalf("GenerateDataKey(%q) succeeded, want an error", tc.name)
			}
			if len(got.Plaintext) != 0 || len(got.Wrapped) != 0 {
				t.Errorf("GenerateDataKey(%q) returned key material with error %v", tc.name, err)
			}
			pt, err := p.UnwrapDataKey(t.Context(), tc.name, dk.Wrapped)
			if err == nil {
				t.Fatalf("UnwrapDataKey(%q) succeeded, want an error", tc.name)
			}
			if len(pt) != 0 {
				t.Errorf("UnwrapDataKey(%q) returned key material with error %v", tc.name, err)
			}
		})
	}
	mustUnwrap(t, p, valid, dk.Wrapped, dk.Plaintext)
}

func testLongestValidName(t *testing.T, p keys.Provider) {
	name := UniqueName(t)
	name += "-" + strings.Repeat("x", 128-len(name)-1)
	if len(name) != 128 || !keys.ValidName(name) {
		t.Fatalf("suite bug: name %q (len %d)", name, len(name))
	}
	deleteOnCleanup(t, p, name)
	dk := generate(t, p, name)
	mustUnwrap(t, p, name, dk.Wrapped, dk.Plaintext)
}

func testConcurrency(t *testing.T, p keys.Provider) {
	// Neither KEK exists yet: the first uses race to create it.
	names := []string{UniqueName(t), UniqueName(t)}
	for _, n := range names {
		deleteOnCleanup(t, p, n)
	}
	const workers, perWorker = 8, 4

	var (
		mu    sync.Mutex
		seen  = map[string]bool{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < perWorker; i++ {
				name := names[(w+i)%len(names)]
				dk, err := p.GenerateDataKey(t.Context(), name)
				if err != nil {
					t.Errorf("worker %d: GenerateDataKey: %v", w, err)
					return
				}
				got, err := p.UnwrapDataKey(t.Context(), name, dk.Wrapped)
				if err != nil {
					t.Errorf("worker %d: UnwrapDataKey: %v", w, err)
					return
				}
				if !bytes.Equal(got, dk.Plaintext) {
					t.Errorf("worker %d: unwrap returned a different key", w)
					return
				}
				// A key wrapped under one name must not open under the
				// other (which may not have been created yet).
				other := names[(w+i+1)%len(names)]
				if _, err := p.UnwrapDataKey(t.Context(), other, dk.Wrapped); !errors.Is(err, keys.ErrInvalidCiphertext) && !errors.Is(err, keys.ErrNotFound) {
					t.Errorf("worker %d: unwrap under the other name: err = %v, want ErrInvalidCiphertext or ErrNotFound", w, err)
					return
				}
				mu.Lock()
				dup := seen[string(dk.Plaintext)]
				seen[string(dk.Plaintext)] = true
				mu.Unlock()
				if dup {
					t.Errorf("worker %d: duplicate data key", w)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if !t.Failed() && len(seen) != workers*perWorker {
		t.Fatalf("got %d distinct data keys, want %d", len(seen), workers*perWorker)
	}
}

// isCancellation accepts the context's own error or ErrUnavailable, the
// sentinel a remote provider maps transport failures to.
func isCancellation(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, keys.ErrUnavailable)
}

// doneContexts returns a cancelled context and one whose deadline has passed.
func doneContexts(t *testing.T) []struct {
	name string
	ctx  context.Context
} {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	t.Cleanup(cancel2)
	return []struct {
		name string
		ctx  context.Context
	}{{"cancelled", cancelled}, {"deadline_exceeded", expired}}
}

func testContextCancelled(t *testing.T, p keys.Provider) {
	name, dk := newKey(t, p)
	fresh := UniqueName(t)
	deleteOnCleanup(t, p, fresh)
	for _, c := range doneContexts(t) {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.GenerateDataKey(c.ctx, name)
			if !isCancellation(err) {
				t.Errorf("GenerateDataKey(existing key): err = %v, want context error or ErrUnavailable", err)
			}
			if len(got.Plaintext) != 0 {
				t.Error("GenerateDataKey returned key material with a done context")
			}
			if _, err := p.GenerateDataKey(c.ctx, fresh); !isCancellation(err) {
				t.Errorf("GenerateDataKey(new key): err = %v, want context error or ErrUnavailable", err)
			}
			pt, err := p.UnwrapDataKey(c.ctx, name, dk.Wrapped)
			if !isCancellation(err) {
				t.Errorf("UnwrapDataKey: err = %v, want context error or ErrUnavailable", err)
			}
			if len(pt) != 0 {
				t.Error("UnwrapDataKey returned key material with a done context")
			}
		})
	}
	// A done context must not have created the fresh KEK.
	if m, ok := p.(keys.Manager); ok {
		if _, err := m.Info(t.Context(), fresh); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("Info(%s) after GenerateDataKey with a done context: err = %v, want ErrNotFound", fresh, err)
		}
	}
	mustUnwrap(t, p, name, dk.Wrapped, dk.Plaintext)
}

// --- keys.Manager ---

func info(t *testing.T, m keys.Manager, name string) keys.KeyInfo {
	t.Helper()
	ki, err := m.Info(t.Context(), name)
	if err != nil {
		t.Fatalf("Info(%s): %v", name, err)
	}
	if ki.Name != name {
		t.Fatalf("Info(%s).Name = %q", name, ki.Name)
	}
	return ki
}

func rotate(t *testing.T, m keys.Manager, name string) {
	t.Helper()
	if err := m.Rotate(t.Context(), name); err != nil {
		t.Fatalf("Rotate(%s): %v", name, err)
	}
}

// checkVersion asserts the KEK version of wrapped where the provider can tell.
func checkVersion(t *testing.T, p keys.Provider, wrapped []byte, want int) {
	t.Helper()
	wv, ok := p.(keys.WrappedVersion)
	if !ok {
		return
	}
	got, err := wv.WrappedVersion(wrapped)
	if err != nil {
		t.Fatalf("WrappedVersion: %v", err)
	}
	if got != want {
		t.Fatalf("WrappedVersion = %d, want %d", got, want)
	}
}

func testRotate(t *testing.T, p keys.Provider, m keys.Manager) {
	name, dk1 := newKey(t, p)
	ki := info(t, m, name)
	if ki.LatestVersion != 1 {
		t.Fatalf("new key: LatestVersion = %d, want 1", ki.LatestVersion)
	}
	if ki.MinDecryptionVersion > 1 {
		t.Fatalf("new key: MinDecryptionVersion = %d, want 0 or 1", ki.MinDecryptionVersion)
	}
	checkVersion(t, p, dk1.Wrapped, 1)

	rotate(t, m, name)
	if got := info(t, m, name).LatestVersion; got != 2 {
		t.Fatalf("after one rotation: LatestVersion = %d, want 2", got)
	}
	dk2 := generate(t, p, name)
	checkVersion(t, p, dk2.Wrapped, 2)

	rotate(t, m, name)
	dk3 := generate(t, p, name)
	checkVersion(t, p, dk3.Wrapped, 3)
	if got := info(t, m, name).LatestVersion; got != 3 {
		t.Fatalf("after two rotations: LatestVersion = %d, want 3", got)
	}

	// Rotation never breaks old data.
	mustUnwrap(t, p, name, dk1.Wrapped, dk1.Plaintext)
	mustUnwrap(t, p, name, dk2.Wrapped, dk2.Plaintext)
	mustUnwrap(t, p, name, dk3.Wrapped, dk3.Plaintext)
}

func testRewrap(t *testing.T, p keys.Provider, m keys.Manager) {
	name, dk1 := newKey(t, p)
	rotate(t, m, name)
	rotate(t, m, name)

	t.Run("old_to_latest", func(t *testing.T) {
		rw, err := m.Rewrap(t.Context(), name, bytes.Clone(dk1.Wrapped))
		if err != nil {
			t.Fatalf("Rewrap: %v", err)
		}
		if bytes.Equal(rw, dk1.Wrapped) {
			t.Fatal("Rewrap returned the input unchanged")
		}
		if bytes.Contains(rw, dk1.Plaintext) {
			t.Fatal("rewrapped key contains the plaintext")
		}
		checkVersion(t, p, rw, 3)
		mustUnwrap(t, p, name, rw, dk1.Plaintext)
		// The original still unwraps too: rewrap does not shred.
		mustUnwrap(t, p, name, dk1.Wrapped, dk1.Plaintext)
	})
	t.Run("already_latest", func(t *testing.T) {
		dk3 := generate(t, p, name)
		rw, err := m.Rewrap(t.Context(), name, dk3.Wrapped)
		if err != nil {
			t.Fatalf("Rewrap: %v", err)
		}
		checkVersion(t, p, rw, 3)
		mustUnwrap(t, p, name, rw, dk3.Plaintext)
	})
	t.Run("corrupted", func(t *testing.T) {
		for _, c := range corruptions(dk1.Wrapped) {
			t.Run(c.name, func(t *testing.T) {
				rw, err := m.Rewrap(t.Context(), name, c.data)
				if !errors.Is(err, keys.ErrInvalidCiphertext) {
					t.Fatalf("Rewrap: err = %v, want ErrInvalidCiphertext", err)
				}
				if len(rw) != 0 {
					t.Fatal("Rewrap returned output alongside an error")
				}
			})
		}
	})
	t.Run("other_key", func(t *testing.T) {
		other, _ := newKey(t, p)
		_, err := m.Rewrap(t.Context(), other, dk1.Wrapped)
		if !errors.Is(err, keys.ErrInvalidCiphertext) {
			t.Fatalf("Rewrap under another KEK: err = %v, want ErrInvalidCiphertext", err)
		}
	})
}

func testMinDecryptionVersion(t *testing.T, p keys.Provider, m keys.Manager) {
	name, dk1 := newKey(t, p)
	rotate(t, m, name)
	dk2 := generate(t, p, name)
	rotate(t, m, name)
	dk3 := generate(t, p, name)

	if err := m.SetMinDecryptionVersion(t.Context(), name, 2); err != nil {
		t.Fatalf("SetMinDecryptionVersion(2): %v", err)
	}
	ki := info(t, m, name)
	if ki.MinDecryptionVersion != 2 || ki.LatestVersion != 3 {
		t.Fatalf("Info = %+v, want min 2, latest 3", ki)
	}
	// Shredded, not corrupt: readers are told the record is gone for good.
	unwrapFails(t, p, name, dk1.Wrapped, keys.ErrShredded)
	if _, err := m.Rewrap(t.Context(), name, dk1.Wrapped); !errors.Is(err, keys.ErrInvalidCiphertext) {
		t.Fatalf("Rewrap of a shredded version: err = %v, want ErrInvalidCiphertext", err)
	}
	mustUnwrap(t, p, name, dk2.Wrapped, dk2.Plaintext)
	mustUnwrap(t, p, name, dk3.Wrapped, dk3.Plaintext)
	dk4 := generate(t, p, name)
	checkVersion(t, p, dk4.Wrapped, 3)
	mustUnwrap(t, p, name, dk4.Wrapped, dk4.Plaintext)

	// Shredding the latest version would make every new data key
	// unreadable; a provider must refuse it.
	if err := m.SetMinDecryptionVersion(t.Context(), name, 4); err == nil {
		t.Fatal("SetMinDecryptionVersion above the latest version succeeded, want an error")
	}
	if got := info(t, m, name); got.MinDecryptionVersion != 2 {
		t.Fatalf("after a refused SetMinDecryptionVersion: min = %d, want 2", got.MinDecryptionVersion)
	}

	if err := m.SetMinDecryptionVersion(t.Context(), name, 3); err != nil {
		t.Fatalf("SetMinDecryptionVersion(3): %v", err)
	}
	unwrapFails(t, p, name, dk2.Wrapped, keys.ErrInvalidCiphertext)
	unwrapFails(t, p, name, dk1.Wrapped, keys.ErrInvalidCiphertext)
	mustUnwrap(t, p, name, dk3.Wrapped, dk3.Plaintext)
}

func testDelete(t *testing.T, p keys.Provider, m keys.Manager) {
	name, dk1 := newKey(t, p)
	rotate(t, m, name)
	dk2 := generate(t, p, name)

	if err := m.Delete(t.Context(), name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := m.Info(t.Context(), name); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("Info after Delete: err = %v, want ErrNotFound", err)
	}
	unwrapFails(t, p, name, dk1.Wrapped, keys.ErrNotFound, keys.ErrInvalidCiphertext)
	unwrapFails(t, p, name, dk2.Wrapped, keys.ErrNotFound, keys.ErrInvalidCiphertext)
	if _, err := m.Rewrap(t.Context(), name, dk2.Wrapped); !errors.Is(err, keys.ErrNotFound) && !errors.Is(err, keys.ErrInvalidCiphertext) {
		t.Fatalf("Rewrap after Delete: err = %v, want ErrNotFound or ErrInvalidCiphertext", err)
	}

	// Deleting again is harmless.
	if err := m.Delete(t.Context(), name); err != nil && !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("second Delete: err = %v, want nil or ErrNotFound", err)
	}

	// A KEK created again under the same name is new material: nothing
	// wrapped under the deleted one comes back.
	dk3 := generate(t, p, name)
	if got := info(t, m, name).LatestVersion; got != 1 {
		t.Fatalf("recreated key: LatestVersion = %d, want 1", got)
	}
	unwrapFails(t, p, name, dk1.Wrapped, keys.ErrInvalidCiphertext)
	unwrapFails(t, p, name, dk2.Wrapped, keys.ErrInvalidCiphertext)
	mustUnwrap(t, p, name, dk3.Wrapped, dk3.Plaintext)
}

func testManagerMissingKey(t *testing.T, p keys.Provider, m keys.Manager) {
	missing := UniqueName(t)
	deleteOnCleanup(t, p, missing)
	_, dk := newKey(t, p)

	if _, err := m.Info(t.Context(), missing); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("Info: err = %v, want ErrNotFound", err)
	}
	if err := m.Rotate(t.Context(), missing); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("Rotate: err = %v, want ErrNotFound", err)
	}
	if _, err := m.Rewrap(t.Context(), missing, dk.Wrapped); !errors.Is(err, keys.ErrNotFound) && !errors.Is(err, keys.ErrInvalidCiphertext) {
		t.Errorf("Rewrap: err = %v, want ErrNotFound or ErrInvalidCiphertext", err)
	}
	if err := m.SetMinDecryptionVersion(t.Context(), missing, 1); err == nil {
		t.Error("SetMinDecryptionVersion on a missing key succeeded, want an error")
	}
	// None of the above may have created the key.
	if _, err := m.Info(t.Context(), missing); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("Info after manager calls on a missing key: err = %v, want ErrNotFound", err)
	}
}

func testManagerInvalidNames(t *testing.T, p keys.Provider, m keys.Manager) {
	_, dk := newKey(t, p)
	for _, tc := range invalidNames {
		t.Run(tc.label, func(t *testing.T) {
			ctx := t.Context()
			if _, err := m.Info(ctx, tc.name); err == nil {
				t.Error("Info succeeded")
			}
			if err := m.Rotate(ctx, tc.name); err == nil {
				t.Error("Rotate succeeded")
			}
			if _, err := m.Rewrap(ctx, tc.name, dk.Wrapped); err == nil {
				t.Error("Rewrap succeeded")
			}
			if err := m.SetMinDecryptionVersion(ctx, tc.name, 1); err == nil {
				t.Error("SetMinDecryptionVersion succeeded")
			}
			if err := m.Delete(ctx, tc.name); err == nil {
				t.Error("Delete succeeded")
			}
		})
	}
}

func testManagerContextCancelled(t *testing.T, p keys.Provider, m keys.Manager) {
	name, dk := newKey(t, p)
	for _, c := range doneContexts(t) {
		t.Run(c.name, func(t *testing.T) {
			if err := m.Rotate(c.ctx, name); !isCancellation(err) {
				t.Errorf("Rotate: err = %v, want context error or ErrUnavailable", err)
			}
			if _, err := m.Rewrap(c.ctx, name, dk.Wrapped); !isCancellation(err) {
				t.Errorf("Rewrap: err = %v, want context error or ErrUnavailable", err)
			}
			if _, err := m.Info(c.ctx, name); !isCancellation(err) {
				t.Errorf("Info: err = %v, want context error or ErrUnavailable", err)
			}
			if err := m.SetMinDecryptionVersion(c.ctx, name, 1); !isCancellation(err) {
				t.Errorf("SetMinDecryptionVersion: err = %v, want context error or ErrUnavailable", err)
			}
			if err := m.Delete(c.ctx, name); !isCancellation(err) {
				t.Errorf("Delete: err = %v, want context error or ErrUnavailable", err)
			}
		})
	}
	// Nothing above may have taken effect.
	if got := info(t, m, name).LatestVersion; got != 1 {
		t.Fatalf("LatestVersion = %d after calls with done contexts, want 1", got)
	}
	mustUnwrap(t, p, name, dk.Wrapped, dk.Plaintext)
}
