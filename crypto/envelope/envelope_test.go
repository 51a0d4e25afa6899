package envelope_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/liaison-project/liaison/crypto/envelope"
)

func key(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, envelope.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func seal(t testing.TB, k, pt, aad []byte) []byte {
	t.Helper()
	s, err := envelope.Seal(k, pt, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	k := key(t)
	big := make([]byte, 1<<20)
	rand.Read(big)
	tests := []struct {
		name string
		pt   []byte
		aad  []byte
	}{
		{"empty_plaintext", []byte{}, []byte("aad")},
		{"nil_plaintext_nil_aad", nil, nil},
		{"one_byte", []byte{0}, nil},
		{"text_with_aad", []byte(`{"subject":"…"}`), envelope.BindAAD("rec-1", "3", "sha256:abcd")},
		{"one_mib", big, []byte("x")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := seal(t, k, tc.pt, tc.aad)
			if len(s) != len(tc.pt)+envelope.Overhead {
				t.Fatalf("sealed length %d, want %d", len(s), len(tc.pt)+envelope.Overhead)
			}
			if len(tc.pt) >= 16 && bytes.Contains(s, tc.pt[:16]) {
				t.Fatal("sealed message contains plaintext")
			}
			got, err := envelope.Open(k, s, tc.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.pt) || got == nil {
				t.Fatalf("Open returned %d bytes (nil=%v), want %d", len(got), got == nil, len(tc.pt))
			}
		})
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := key(t)
	a, b := seal(t, k, []byte("same"), nil), seal(t, k, []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical (nonce reuse)")
	}
	if bytes.Equal(a[3:15], b[3:15]) {
		t.Fatal("two seals share a nonce")
	}
}

func TestOpenRejects(t *testing.T) {
	k := key(t)
	aad := envelope.BindAAD("rec-1", "1")
	pt := []byte("intelligence report body")
	s := seal(t, k, pt, aad)
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(s)) }
	tests := []struct {
		name   string
		key    []byte
		sealed []byte
		aad    []byte
	}{
		{"wrong_key", key(t), s, aad},
		{"wrong_aad", k, s, envelope.BindAAD("rec-2", "1")},
		{"missing_aad", k, s, nil},
		{"extra_aad", k, s, append(bytes.Clone(aad), 0)},
		{"empty", k, nil, aad},
		{"header_only", k, s[:3], aad},
		{"shorter_than_overhead", k, s[:envelope.Overhead-1], aad},
		{"truncated_tag", k, s[:len(s)-1], aad},
		{"appended_byte", k, append(bytes.Clone(s), 0), aad},
		{"bad_magic", k, mutate(func(b []byte) []byte { b[0] = 'X'; return b }), aad},
		{"unknown_version", k, mutate(func(b []byte) []byte { b[2] = 2; return b }), aad},
		{"version_zero", k, mutate(func(b []byte) []byte { b[2] = 0; return b }), aad},
		{"nonce_changed", k, mutate(func(b []byte) []byte { b[5] ^= 1; return b }), aad},
		{"ciphertext_changed", k, mutate(func(b []byte) []byte { b[20] ^= 0x80; return b }), aad},
		{"tag_changed", k, mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), aad},
		{"ciphertext_without_nonce_header", k, s[3:], aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := envelope.Open(tc.key, tc.sealed, tc.aad)
			if !errors.Is(err, envelope.ErrIntegrity) {
				t.Fatalf("err = %v, want ErrIntegrity", err)
			}
			if got != nil {
				t.Fatal("plaintext returned with an error")
			}
		})
	}

	t.Run("every_single_bit_flip", func(t *testing.T) {
		for i := range len(s) * 8 {
			b := bytes.Clone(s)
			b[i/8] ^= 1 << (i % 8)
			if got, err := envelope.Open(k, b, aad); !errors.Is(err, envelope.ErrIntegrity) || got != nil {
				t.Fatalf("bit %d flipped: err = %v", i, err)
			}
		}
	})
}

func TestKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		t.Run(fmt.Sprintf("%d_bytes", n), func(t *testing.T) {
			k := make([]byte, n)
			if _, err := envelope.Seal(k, []byte("x"), nil); !errors.Is(err, envelope.ErrKeySize) {
				t.Fatalf("Seal: err = %v, want ErrKeySize", err)
			}
			valid := seal(t, key(t), []byte("x"), nil)
			if _, err := envelope.Open(k, valid, nil); !errors.Is(err, envelope.ErrKeySize) {
				t.Fatalf("Open: err = %v, want ErrKeySize", err)
			}
		})
	}
}

func TestBindAAD(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
	}{
		{"split_point", []string{"ab", "c"}, []string{"a", "bc"}},
		{"empty_field", []string{"a", ""}, []string{"a"}},
		{"order", []string{"a", "b"}, []string{"b", "a"}},
		{"separator_in_field", []string{"a\x00b"}, []string{"a", "b"}},
		{"nothing_vs_empty", nil, []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if bytes.Equal(envelope.BindAAD(tc.a...), envelope.BindAAD(tc.b...)) {
				t.Fatalf("BindAAD(%q) == BindAAD(%q)", tc.a, tc.b)
			}
		})
	}
	if !bytes.Equal(envelope.BindAAD("rec", "1"), envelope.BindAAD("rec", "1")) {
		t.Fatal("BindAAD is not deterministic")
	}
}

// FuzzOpen feeds Open arbitrary input: it must never panic, and it must
// never return plaintext for anything but the one genuine message.
func FuzzOpen(f *testing.F) {
	// A fixed message: fuzzing runs this setup again in every worker
	// process, and a fresh Seal would differ (random nonce).
	k := bytes.Repeat([]byte{7}, envelope.KeySize)
	aad := []byte("fuzz-aad")
	genuine, _ := hex.DecodeString("4c4501cfc3eaad817687d344af698c6958b5606e233e6ecf50e65bb9b11c4dcf40e7afe57321d90307aed74d85c92a431cf69078")
	if pt, err := envelope.Open(k, genuine, aad); err != nil || string(pt) != "the genuine plaintext" {
		f.Fatalf("fixed genuine message does not open: %v", err)
	}
	f.Add(genuine)
	f.Add(genuine[:envelope.Overhead])
	f.Add([]byte{})
	f.Add([]byte("LE\x01"))
	f.Add(append(bytes.Clone(genuine), genuine...))
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := envelope.Open(k, data, aad)
		if err != nil {
			if !errors.Is(err, envelope.ErrIntegrity) {
				t.Fatalf("error %v is not ErrIntegrity", err)
			}
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			return
		}
		if !bytes.Equal(data, genuine) {
			t.Fatalf("forged input opened: %x", data)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			k, pt, aad := key(b), make([]byte, size), envelope.BindAAD("rec", "1")
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := envelope.Seal(k, pt, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			k, aad := key(b), envelope.BindAAD("rec", "1")
			s := seal(b, k, make([]byte, size), aad)
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := envelope.Open(k, s, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// TestSealAppend: the sealed message is appended after what dst holds, opens
// like Seal's, and is written in place: with room enough in dst, sealing a
// megabyte allocates nothing of the plaintext's size (the record store
// seals content straight into the record object this way).
func TestSealAppend(t *testing.T) {
	k := key(t)
	pt := make([]byte, 1<<20)
	rand.Read(pt)
	aad := envelope.BindAAD("rec", "1")
	prefix := []byte("LSR2 framing before the ciphertext")
	dst := append(make([]byte, 0, len(prefix)+envelope.Overhead+len(pt)), prefix...)
	out, err := envelope.SealAppend(dst, k, pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:len(prefix)], prefix) || len(out) != len(prefix)+envelope.Overhead+len(pt) {
		t.Fatalf("SealAppend: prefix kept %v, length %d", bytes.Equal(out[:len(prefix)], prefix), len(out))
	}
	if &out[0] != &dst[:1][0] {
		t.Error("SealAppend reallocated a destination that had room")
	}
	got, err := envelope.Open(k, out[len(prefix):], aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open(SealAppend) = %d bytes, %v", len(got), err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 8
	for range runs {
		if _, err := envelope.SealAppend(dst, k, pt, aad); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > uint64(len(pt))/16 {
		t.Errorf("SealAppend allocated %d bytes per 1 MiB message: it copies the plaintext or the ciphertext", per)
	}
}
