package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/crypto/jose"
)

// TestRecoverDamagedTail: a log whose tail was damaged in a way open must
// not repair by itself (an altered entry with intact entries after it, as
// a second writer leaves) refuses to open and fails verification. Recover
// keeps the tail as evidence, records the gap, starts a new segment with a
// signed recovery entry; verification then passes and explains exactly
// what happened, and the gateway can open the log again (issue 9 item 9).
func TestRecoverDamagedTail(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{CheckpointEvery: 10, SegmentMaxEntries: 20})
	for i := range 30 {
		if err := l.Append(context.Background(), ev(fmt.Sprintf("a%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// Damage entry 25 (segment 2, line 5) and leave 26..30 intact.
	seg := filepath.Join(dir, segmentName(2))
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines[4] = bytes.Replace(lines[4], []byte(`"a24"`), []byte(`"x24"`), 1)
	damaged := bytes.Join(lines, nil)
	if err := os.WriteFile(seg, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Signer: signer(t)}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of the damaged log: %v, want ErrCorrupt", err)
	}
	jwks, _ := signer(t).PublicJWKS()

	// Not while a writer holds the directory.
	held, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(dir, RecoverOptions{JWKS: jwks, Log: Options{Signer: signer(t)}}); !errors.Is(err, ErrLocked) {
		t.Fatalf("recover while locked: %v, want ErrLocked", err)
	}
	held.Unlock()

	// A wrong pinned key set is not damage: nothing is moved.
	other, _ := signerFor(t).PublicJWKS()
	if _, err := Recover(dir, RecoverOptions{JWKS: other, Log: Options{Signer: signer(t)}}); err == nil || !strings.Contains(err.Error(), "--jwks") {
		t.Fatalf("recover with the wrong key set: %v", err)
	}
	if b, _ := os.ReadFile(seg); !bytes.Equal(b, damaged) {
		t.Fatal("recover with the wrong key set changed the segment")
	}

	// A dry run says what it would do and changes nothing.
	plan, err := Recover(dir, RecoverOptions{JWKS: jwks, Log: Options{Signer: signer(t)}, DryRun: true})
	if err != nil || len(plan) != 1 || plan[0].KeptEntries != 24 || plan[0].CheckpointsMoved != 1 {
		t.Fatalf("dry run: %+v %v", plan, err)
	}
	if b, _ := os.ReadFile(seg); !bytes.Equal(b, damaged) {
		t.Fatal("dry run changed the segment")
	}

	recs, err := Recover(dir, RecoverOptions{JWKS: jwks, Log: Options{Gateway: "gw-1", Signer: signer(t)}, Note: "ticket OPS-7"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("recover: %+v %v", recs, err)
	}
	r := recs[0]
	if r.KeptEntries != 24 || r.Failure.Seq != 25 || r.NewSegment != segmentName(3) || r.Seq != 25 || r.CheckpointsMoved != 1 {
		t.Fatalf("recovery record: %+v", r)
	}
	// The tail, byte for byte, is kept as evidence.
	var tail []byte
	for _, e := range r.Evidence {
		if strings.Contains(e.File, "segment-000002") {
			tail, _ = os.ReadFile(filepath.Join(dir, e.File))
		}
	}
	if want := bytes.Join(lines[4:], nil); !bytes.Equal(tail, want) {
		t.Fatalf("evidence does not hold the damaged tail:\n%s", tail)
	}

	rep, err := Verify(dir, VerifyOptions{JWKS: jwks})
	if err != nil || !rep.OK {
		t.Fatalf("verify after recovery: %v %+v", err, rep.Failure)
	}
	if rep.Entries != 25 || len(rep.Recoveries) != 1 || rep.SignedSize != 25 {
		t.Fatalf("report: %d entries, signed %d, recoveries %+v", rep.Entries, rep.SignedSize, rep.Recoveries)
	}
	why := rep.Recoveries[0].Explain()
	for _, w := range []string{"entries after seq 24", "segment-000002.jsonl line 5", "altered", "damaged-", "segment-000003", "seq 25"} {
		if !strings.Contains(why, w) {
			t.Errorf("explanation lacks %q: %s", w, why)
		}
	}
	for _, e := range rep.Recoveries[0].Evidence {
		if !e.Present {
			t.Errorf("evidence %s reported missing", e.File)
		}
	}
	evs, _ := ReadFile(dir)
	if last := evs[len(evs)-1]; last.Operation != OpRecovery || last.Seq != 25 || !strings.Contains(last.Error, "entries after seq 24") {
		t.Fatalf("no recovery entry at the end of the log: %+v", last)
	}

	// The gateway opens it again and goes on from there.
	l = openLog(t, dir, Options{})
	if err := l.Append(context.Background(), ev("after")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	mustVerify(t, dir, 26)

	// Evidence tampered with afterwards is reported.
	os.Remove(filepath.Join(dir, r.Evidence[0].File))
	os.WriteFile(filepath.Join(dir, r.Evidence[0].File), []byte("x"), 0o600)
	rep, _ = Verify(dir, VerifyOptions{JWKS: jwks})
	if rep.Recoveries[0].Evidence[0].Present || !strings.Contains(rep.Recoveries[0].Explain(), "MISSING OR CHANGED") {
		t.Fatal("changed evidence not reported")
	}
}

// signerFor is a key other than the log's.
func signerFor(t *testing.T) *jose.Signer {
	s, err := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "other.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
