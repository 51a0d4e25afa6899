package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// appendN appends n entries with distinct request ids.
func appendN(t *testing.T, l *Log, n int, tag string) {
	t.Helper()
	for i := range n {
		e := ev("x")
		e.RequestID = fmt.Sprintf("%s-%d", tag, i)
		e.Time = time.Date(2026, 3, 1, 9, 0, i, 0, time.UTC) // two logs can hold the same entries
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// A live log proves consistency between any two sizes it holds, across
// sealed segments (from their state files) and the active one, and the
// proofs verify against the roots an independent verification of the log
// computes.
func TestLogConsistencyProofs(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentMaxEntries: 7, CheckpointEvery: 3})
	defer l.Close()
	appendN(t, l, 40, "a")
	r, err := Verify(dir, VerifyOptions{Live: true})
	if err != nil || !r.OK {
		t.Fatalf("verify: %v %v", err, r.Err())
	}
	if r.Segments < 5 {
		t.Fatalf("want several sealed segments, got %d", r.Segments)
	}
	root := func(n uint64) NoteCheckpoint {
		h, err := r.tree.root(n)
		if err != nil {
			t.Fatal(err)
		}
		return NoteCheckpoint{Origin: NoteOrigin("gw-1"), TreeSize: n, RootHash: hexHash(h)}
	}
	for _, c := range [][2]uint64{{0, 40}, {1, 40}, {6, 7}, {7, 14}, {8, 40}, {13, 21}, {16, 32}, {20, 20}, {21, 39}, {35, 40}, {39, 40}} {
		p, root2, err := l.ConsistencyProof(c[0], c[1])
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if root2 != root(c[1]).RootHash {
			t.Fatalf("%v: root %s, the verified tree has %s", c, root2, root(c[1]).RootHash)
		}
		if err := CheckConsistency(root(c[0]), root(c[1]), p); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if c[0] > 0 && c[0] < c[1] {
			// The same proof does not join another pair of sizes or roots.
			if err := CheckConsistency(root(c[0]-1), root(c[1]), p); err == nil {
				t.Fatalf("%v: the proof also verifies from %d", c, c[0]-1)
			}
			bad := root(c[1])
			bad.RootHash = root(c[1] - 1).RootHash
			if err := CheckConsistency(root(c[0]), bad, p); err == nil {
				t.Fatalf("%v: the proof verifies to another root", c)
			}
		}
	}
	if _, _, err := l.ConsistencyProof(5, 41); err == nil {
		t.Fatal("a proof beyond the log's entries was given")
	}
	if _, _, err := l.ConsistencyProof(10, 9); err == nil {
		t.Fatal("a proof to a smaller size was given")
	}
}

// A seal state file altered on disk is not trusted: the proof is computed
// from the entries instead and still verifies.
func TestConsistencyProofIgnoresAlteredSealState(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentMaxEntries: 5, CheckpointEvery: 2})
	defer l.Close()
	appendN(t, l, 23, "a")
	r, err := Verify(dir, VerifyOptions{Live: true})
	if err != nil || !r.OK {
		t.Fatalf("verify: %v %v", err, r.Err())
	}
	states, _ := filepath.Glob(filepath.Join(LogDir(dir), "*.state.json"))
	if len(states) == 0 {
		t.Fatal("no seal states written")
	}
	for _, s := range states {
		b, _ := os.ReadFile(s)
		// Any change to a range hash: flip one hex digit.
		i := len(b) - 5
		b[i] ^= 1
		os.WriteFile(s, b, 0o600)
	}
	p, _, err := l.ConsistencyProof(17, 23)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := r.tree.root(17)
	h2, _ := r.tree.root(23)
	if err := CheckConsistency(NoteCheckpoint{TreeSize: 17, RootHash: hexHash(h1)}, NoteCheckpoint{TreeSize: 23, RootHash: hexHash(h2)}, p); err != nil {
		t.Fatal(err)
	}
}

// LatestNote is the latest signed note, verified; a log that signed none
// says so; two logs under one key that diverge (a split view) cannot be
// joined by a proof from either.
func TestLatestNoteAndForks(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{CheckpointEvery: 5})
	appendN(t, l, 4, "a")
	if _, _, err := l.LatestNote(); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("before any checkpoint: %v", err)
	}
	appendN(t, l, 6, "a2")
	waitNote(t, l, 10)
	msg, nc, err := l.LatestNote()
	if err != nil || nc.TreeSize != 10 || len(msg) == 0 {
		t.Fatalf("latest note: %d %v", nc.TreeSize, err)
	}
	// A fork: the same key, the same first 10 entries, then others.
	fork := t.TempDir()
	f := openLog(t, fork, Options{CheckpointEvery: 5})
	defer f.Close()
	appendN(t, f, 4, "a")
	appendN(t, f, 6, "a2")
	appendN(t, f, 5, "fork")
	waitNote(t, f, 15)
	appendN(t, l, 5, "b")
	waitNote(t, l, 15)
	_, ncL, _ := l.LatestNote()
	_, ncF, _ := f.LatestNote()
	if ncL.TreeSize != 15 || ncF.TreeSize != 15 || ncL.RootHash == ncF.RootHash {
		t.Fatalf("the fork should be the same size with another root: %+v %+v", ncL, ncF)
	}
	pL, _, err := l.ConsistencyProof(10, 15)
	if err != nil {
		t.Fatal(err)
	}
	pF, _, err := f.ConsistencyProof(10, 15)
	if err != nil {
		t.Fatal(err)
	}
	// Both extend the shared prefix…
	if err := CheckConsistency(nc, ncL, pL); err != nil {
		t.Fatal(err)
	}
	if err := CheckConsistency(nc, ncF, pF); err != nil {
		t.Fatal(err)
	}
	// …but no proof makes one the other's extension.
	if err := CheckConsistency(ncL, ncF, nil); err == nil {
		t.Fatal("same size, other root: accepted")
	}
	if err := CheckConsistency(nc, ncL, pF); err == nil {
		t.Fatal("the fork's proof verifies for the log")
	}
	if err := CheckConsistency(ncL, nc, nil); err == nil {
		t.Fatal("a smaller size was accepted")
	}
	l.Close()
}

// waitNote waits for the writer to sign the note at size (it signs after
// answering the append that reached it).
func waitNote(t *testing.T, l *Log, size uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, nc, err := l.LatestNote()
		if err == nil && nc.TreeSize == size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no note at size %d: %+v %v", size, nc, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Verify reports, per peer, the last consistent checkpoint witnessed and
// every problem recorded, from the log alone.
func TestVerifyReportsWitnessStatus(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	w := func(peer, outcome string, size uint64, via, why string) {
		e := ev("federation.witness")
		e.Error = why
		e.Federation = &Federation{PeerGateway: peer, Direction: "witnessed", Type: "checkpoint", Outcome: outcome,
			TreeSize: size, RootHash: fmt.Sprintf("%064x", size), Via: via}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	appendN(t, l, 2, "other")
	w("gw-b", WitnessConsistent, 5, "", "")
	w("gw-c", WitnessConsistent, 3, "", "")
	w("gw-b", WitnessConsistent, 9, "", "")
	w("gw-b", WitnessInconsistent, 7, "", "tree size went back")
	w("gw-c", WitnessInconsistent, 4, "gw-b", "split view")
	l.Close()
	r, err := Verify(dir, VerifyOptions{})
	if err != nil || !r.OK {
		t.Fatalf("verify: %v %v", err, r.Err())
	}
	if len(r.Witness) != 2 {
		t.Fatalf("witness: %+v", r.Witness)
	}
	b, c := r.Witness[0], r.Witness[1]
	if b.Gateway != "gw-b" || b.Witnessed != 2 || b.TreeSize != 9 || b.Seq != 5 || len(b.Problems) != 1 ||
		b.Problems[0].Outcome != WitnessInconsistent || b.Problems[0].Seq != 6 || b.Problems[0].Reason != "tree size went back" {
		t.Fatalf("gw-b: %+v", b)
	}
	if c.Gateway != "gw-c" || c.Witnessed != 1 || c.TreeSize != 3 || len(c.Problems) != 1 || c.Problems[0].Via != "gw-b" {
		t.Fatalf("gw-c: %+v", c)
	}
}
