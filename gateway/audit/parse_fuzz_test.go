package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/liaison-project/liaison/crypto/jose"
)

// Fuzz targets for every parser of bytes the audit package reads from a
// disk, a store or a user: segments, checkpoints in both forms, seal
// states and inclusion proofs (recoveries.jsonl is in recover_fuzz_test.go,
// evidence packs, which carry checkpoint notes, in seal_test.go). Each seeds from a real log, so the fuzzer starts
// from valid input and mutates towards the edges.

// fuzzSeedLog writes a small real log (two sealed segments, checkpoints,
// a note, seal states) that the targets read but never change.
func fuzzSeedLog(f *testing.F) (string, []byte) {
	f.Helper()
	dir := f.TempDir()
	l := openLog(f, dir, Options{SegmentMaxEntries: 4, CheckpointEvery: 3})
	for range 10 {
		if err := l.Append(context.Background(), ev("x")); err != nil {
			f.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	jwks, err := signer(f).PublicJWKS()
	if err != nil {
		f.Fatal(err)
	}
	return dir, jwks
}

func readSeed(f *testing.F, dir, name string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzVerifySegments: segment files come from the log directory or a
// store, where whoever can damage the log can write anything. Verifying
// them (and querying them) returns a report or an error, never panics, and
// never reports OK for entries it could not check.
func FuzzVerifySegments(f *testing.F) {
	dir, jwks := fuzzSeedLog(f)
	seg1, seg2 := readSeed(f, dir, segmentName(1)), readSeed(f, dir, segmentName(2))
	cps := readSeed(f, dir, checkpointsFile)
	f.Add(seg1, seg2, cps)
	f.Add(seg1, []byte{}, cps)
	f.Add([]byte("{}\n"), []byte("\n"), []byte("x.y.z\n"))
	f.Add(bytes.Replace(seg1, []byte(`"seq":2`), []byte(`"seq":3`), 1), seg2, cps)
	jv, err := jose.NewVerifier(jwks)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s1, s2, cpData []byte) {
		src := memSource{{segmentName(1), 1, s1}, {segmentName(2), 2, s2}}
		for _, run := range []verifyRun{{}, {live: true}, {partial: true}} {
			r, err := verifySource(src, cpData, jv, run)
			if err != nil {
				continue
			}
			if r.OK && r.Failure != nil {
				t.Fatalf("OK with a failure: %+v", r.Failure)
			}
			if r.OK && r.SignedSize > r.Entries && !run.partial {
				t.Fatalf("OK with %d signed of %d entries", r.SignedSize, r.Entries)
			}
		}
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, segmentName(1)), s1, 0o600)
		os.WriteFile(filepath.Join(d, segmentName(2)), s2, 0o600)
		_ = Scan(d, func(*Event, []byte) error { return nil })
	})
}

// FuzzParseCheckpoints: the checkpoints file and shipped checkpoint
// objects. Parsing verifies signatures, so mutated lines must fail; the
// shipper's unverified size reader must not panic either.
func FuzzParseCheckpoints(f *testing.F) {
	dir, jwks := fuzzSeedLog(f)
	cps := readSeed(f, dir, checkpointsFile)
	f.Add(cps)
	f.Add(bytes.SplitN(cps, []byte("\n"), 2)[0])
	f.Add([]byte("a.b.c\n"))
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30.\n"))
	jv, err := jose.NewVerifier(jwks)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, fail := parseCheckpoints(jv, data)
		for _, c := range out {
			if !bytes.Contains(cps, c.raw) {
				t.Fatalf("a checkpoint the log never signed verifies: %s", c.raw)
			}
		}
		_ = fail
		for _, line := range bytes.Split(data, []byte("\n")) {
			_, _ = checkpointSize(line)
		}
	})
}

// FuzzOpenNote: checkpoint notes come from the log directory, a store, an
// evidence pack or a witness. Only the note the log signed (possibly with
// cosignatures appended) verifies, and what it states is that note's.
func FuzzOpenNote(f *testing.F) {
	dir, jwks := fuzzSeedLog(f)
	msg := readSeed(f, dir, noteFile)
	f.Add(msg)
	f.Add([]byte("liaison.audit/gw-1\n10\nAAAA\n\n— liaison.audit/gw-1 AAAAAA==\n"))
	f.Add([]byte("\n\n"))
	f.Add(append(bytes.Clone(msg), "— witness.example/w AAAAAAAAAAA=\n"...))
	want, err := OpenNote(msg, jwks, "gw-1")
	if err != nil {
		f.Fatal(err)
	}
	jv, err := jose.NewVerifier(jwks)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = noteSize(data)
		got, err := openNote(data, jv, "gw-1")
		if err != nil {
			return
		}
		if got != want {
			t.Fatalf("a note verifies but states %+v, not the signed %+v", got, want)
		}
	})
}

// FuzzCheckProof: an inclusion proof is a file a user hands in.
func FuzzCheckProof(f *testing.F) {
	dir, jwks := fuzzSeedLog(f)
	pr, _, err := NewProver(dir, VerifyOptions{JWKS: jwks})
	if err != nil {
		f.Fatal(err)
	}
	p, err := pr.Prove(3)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(p)
	f.Add(good, true)
	f.Add(good, false)
	f.Add([]byte(`{"format":"liaison-audit-inclusion-proof/v1","audit_path":["zz"]}`), true)
	f.Fuzz(func(t *testing.T, data []byte, pin bool) {
		var p InclusionProof
		if json.Unmarshal(data, &p) != nil {
			return
		}
		pinned := jwks
		if !pin {
			pinned = nil
		}
		ev, cp, err := CheckProof(&p, pinned)
		if err == nil && (ev == nil || cp == nil || ev.Seq != p.Seq || cp.TreeSize != p.TreeSize) {
			t.Fatalf("a proof checks but does not match what it claims: %+v %+v", ev, cp)
		}
	})
}

// FuzzOpenSealState: a segment's seal state (segment-N.state.json) lets
// Open skip re-reading sealed segments. Whatever it holds, Open either
// uses it only if it matches the signed checkpoint, or reads the log: the
// log opens to the same size and root either way.
func FuzzOpenSealState(f *testing.F) {
	dir, _ := fuzzSeedLog(f)
	st := readSeed(f, dir, stateName(segmentName(1)))
	f.Add(st)
	f.Add([]byte(`{"segment":"segment-000001.jsonl","tree_size":4,"prev":"","range":["00"]}`))
	f.Add([]byte(`{"segment":"segment-000001.jsonl","tree_size":18446744073709551615,"range":[]}`))
	want := mustVerifyF(f, dir)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := t.TempDir()
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil || e.IsDir() {
				continue
			}
			os.WriteFile(filepath.Join(d, e.Name()), b, 0o600)
		}
		os.WriteFile(filepath.Join(d, stateName(segmentName(1))), data, 0o600)
		os.WriteFile(filepath.Join(d, stateName(segmentName(2))), data, 0o600)
		l, err := Open(d, Options{Gateway: "gw-1", Signer: signer(t), ProbeInterval: -1})
		if err != nil {
			t.Fatalf("a seal state stopped the open of a good log: %v", err)
		}
		size := l.Size()
		l.Close()
		if size != want {
			t.Fatalf("opened at %d entries, want %d", size, want)
		}
	})
}

func mustVerifyF(f *testing.F, dir string) uint64 {
	r, err := Verify(dir, VerifyOptions{})
	if err != nil || !r.OK {
		f.Fatalf("seed log: %v %+v", err, r)
	}
	return r.Entries
}
