package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
)

// BenchmarkAppendParallel: concurrent appends through group commit with a
// real fsync per batch — the cost the gateway pays per request.
func BenchmarkAppendParallel(b *testing.B) {
	l := openLog(b, b.TempDir(), Options{})
	defer l.Close()
	b.SetParallelism(16) // requests in flight per core, as under load
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(context.Background(), ev("record.read")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// benchLog is a log of n realistic entries written by the real writer, with
// fsync skipped (the format is the same; only building it is faster).
func benchLog(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "audit")
	l := openLog(b, dir, Options{SegmentMaxEntries: 50_000, CheckpointEvery: 10_000})
	l.syncFn = func(*os.File) error { return nil }
	done := make(chan struct{})
	const workers = 64
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := w; i < n; i += workers {
				e := &Event{Time: Now(), Gateway: "gw-1", RequestID: fmt.Sprintf("req-%07d", i), Operation: OpDisclosure,
					Action: "record.read", Method: "GET", Route: "/v1/records/{id}", Status: 200, Agency: "rocu-nw", Officer: "pc-1234",
					CertFingerprint: "sha256:4f1c0b5c", RecordIDs: []string{fmt.Sprintf("01JREC%07d", i%5000)}, Recipients: []string{"rocu-nw"},
					DSAIDs: []string{"dsa-met-rocu"}, Purpose: "investigation", Justification: "OP-NIGHTJAR tasking 42",
					Decision: &Decision{ID: fmt.Sprintf("dec-%d", i), Revision: "sha256:9a1b", Allow: true, Reasons: []Reason{{Code: "dsa.purpose_ok"}}}}
				if err := l.Append(context.Background(), e); err != nil {
					panic(err)
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	l.Close()
	return dir
}

// BenchmarkVerify: full verification (entries, tree, checkpoints,
// consistency proofs) of a 200,000-entry log; reports entries/s.
func BenchmarkVerify(b *testing.B) {
	const n = 200_000
	dir := benchLog(b, n)
	jwks, _ := signer(b).PublicJWKS()
	size, _ := LogBytes(dir)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		r, err := Verify(dir, VerifyOptions{JWKS: jwks})
		if err != nil || !r.OK || r.Entries != n {
			b.Fatalf("%v %+v", err, r.Failure)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkInclusionProofAt1M: checking an inclusion proof (checkpoint
// signature, entry hash, 20-node audit path) in a log of 10^6 entries, as
// `liaison audit check-proof` does; and the bare path check alone.
func BenchmarkInclusionProofAt1M(b *testing.B) {
	const n = 1_000_000
	t := &tree{}
	var leaf []byte
	target := uint64(765_432)
	start := time.Now()
	for i := uint64(1); i <= n; i++ {
		e := &Event{Seq: i, Time: time.Unix(1_770_000_000+int64(i), 0).UTC(), Gateway: "gw-1", RequestID: fmt.Sprintf("req-%07d", i),
			Operation: OpDisclosure, Action: "record.read", Status: 200, Agency: "rocu-nw", RecordIDs: []string{"01JREC"}, Prev: genesis}
		line, err := encodeEntry(e)
		if err != nil {
			b.Fatal(err)
		}
		if i == target {
			leaf = line
		}
		t.appendLeaf(hasher.HashLeaf(line))
	}
	root, _ := t.root(n)
	s := signer(b)
	jws, err := signCheckpoint(s, Checkpoint{Gateway: "gw-1", TreeSize: n, RootHash: hexHash(root), Time: time.Now().UTC()})
	if err != nil {
		b.Fatal(err)
	}
	path, err := t.inclusion(target-1, n)
	if err != nil {
		b.Fatal(err)
	}
	jwks, _ := s.PublicJWKS()
	p := &InclusionProof{Format: ProofFormat, Gateway: "gw-1", Seq: target, Leaf: string(leaf), LeafIndex: target - 1, TreeSize: n,
		Checkpoint: string(jws), JWKS: jwks}
	for _, h := range path {
		p.AuditPath = append(p.AuditPath, hexHash(h))
	}
	b.Logf("tree of %d entries built in %s; audit path of %d nodes", n, time.Since(start).Round(time.Millisecond), len(path))
	b.Run("check-proof", func(b *testing.B) {
		for range b.N {
			if _, _, err := CheckProof(p, jwks); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("path-only", func(b *testing.B) {
		lh := hasher.HashLeaf(leaf)
		for range b.N {
			if err := proof.VerifyInclusion(hasher, target-1, n, lh, path, root); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReopen: opening a 200,000-entry log for writing (recovery reads
// the active segment only, resuming from the last seal's state).
func BenchmarkReopen(b *testing.B) {
	dir := benchLog(b, 200_000)
	b.ResetTimer()
	for range b.N {
		l, err := Open(dir, Options{Gateway: "gw-1", Signer: signer(b), SegmentMaxEntries: 50_000})
		if err != nil {
			b.Fatal(err)
		}
		if l.readAtOpen != 1 {
			b.Fatalf("read %d segments", l.readAtOpen)
		}
		l.Close()
	}
}
