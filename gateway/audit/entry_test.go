package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestEntry: Entry finds every entry with its exact line, as Scan does,
// across segments, and nothing for a seq the log does not hold; a line in
// another form than the writer's ({"seq":N,…}) is still found.
func TestEntry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l := openLog(t, dir, Options{SegmentMaxEntries: 7})
	for range 30 {
		if err := l.Append(context.Background(), ev("record.read")); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	lines := map[uint64][]byte{}
	if err := Scan(dir, func(ev *Event, line []byte) error { lines[ev.Seq] = bytes.Clone(line); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 30 {
		t.Fatalf("%d entries", len(lines))
	}
	for seq, want := range lines {
		ev, line, err := Entry(dir, seq)
		if err != nil || ev == nil || ev.Seq != seq || !bytes.Equal(line, want) {
			t.Fatalf("entry %d: %v %v %q", seq, err, ev, line)
		}
	}
	for _, seq := range []uint64{0, 31, 1 << 62} {
		if ev, line, err := Entry(dir, seq); err != nil || ev != nil || line != nil {
			t.Fatalf("entry %d of 30: %v %v", seq, ev, err)
		}
	}

	// A log whose lines do not start with "seq" (member order is not part
	// of the format): found by decoding.
	other := filepath.Join(t.TempDir(), "audit")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	seg := []byte(`{"time":"2026-01-01T00:00:00Z","seq":1,"gateway":"g"}` + "\n" + `{"seq":2 ,"gateway":"g"}` + "\n")
	segs, _ := listSegments(dir)
	if err := os.WriteFile(filepath.Join(other, segs[0].name), seg, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{1, 2} {
		if ev, _, err := Entry(other, seq); err != nil || ev == nil || ev.Seq != seq {
			t.Fatalf("entry %d in another form: %v %v", seq, ev, err)
		}
	}
}

// FuzzLeadingSeq: the fast path of Entry never takes a number that the
// line, decoded, does not hold as its seq.
func FuzzLeadingSeq(f *testing.F) {
	for _, s := range []string{`{"seq":1,"a":2}`, `{"seq":01,`, `{"seq":18446744073709551615,`, `{"seq":99999999999999999999,`, `{"seq":,`, `{"seq":1`, `{"seq":-1,`} {
		f.Add([]byte(s))
	}
	prefix := []byte(`{"seq":`)
	f.Fuzz(func(t *testing.T, line []byte) {
		n, ok := leadingSeq(line, prefix)
		if !ok {
			return
		}
		if !bytes.HasPrefix(line, prefix) || n > 1e19 {
			t.Fatalf("%d from %q", n, line)
		}
	})
}

// TestProverExport: a pack made from a kept Prover is the pack Export
// makes of the same log (without verifying it again), and checks.
func TestProverExport(t *testing.T) {
	d := buildLog(t, 120, 50, 40)
	jwks, _ := signer(t).PublicJWKS()
	f := Filter{RecordID: "rec-00007"}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	want, err := Export([]string{d}, f, VerifyOptions{JWKS: jwks}, now)
	if err != nil {
		t.Fatal(err)
	}
	pr, _, err := NewProver(d, VerifyOptions{JWKS: jwks})
	if err != nil {
		t.Fatal(err)
	}
	got, err := pr.Export(f, now)
	if err != nil {
		t.Fatal(err)
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if !bytes.Equal(wb, gb) || len(got.Entries) == 0 {
		t.Fatalf("prover pack %s\nExport pack %s", gb, wb)
	}
	if res, err := CheckPack(got, jwks); err != nil || len(res.Entries) != len(got.Entries) {
		t.Fatalf("prover pack does not check: %v", err)
	}
}
