package audit

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/jose"
)

func TestInclusionProofsCheckOfflineAndRejectAlterations(t *testing.T) {
	dir := buildLog(t, 300, 100, 50)
	jwks, _ := signer(t).PublicJWKS()
	pr, r, err := NewProver(dir, VerifyOptions{JWKS: jwks})
	if err != nil {
		t.Fatal(err)
	}
	if r.SignedSize != 300 {
		t.Fatalf("signed size %d", r.SignedSize)
	}
	for _, seq := range []uint64{1, 2, 99, 100, 101, 255, 256, 299, 300} {
		p, err := pr.Prove(seq)
		if err != nil {
			t.Fatal(err)
		}
		// Round trip through JSON, as the file an auditor keeps.
		b, _ := json.MarshalIndent(p, "", "  ")
		var back InclusionProof
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		ev, cp, err := CheckProof(&back, jwks)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if ev.Seq != seq || cp.TreeSize != 300 || cp.Gateway != "gw-1" {
			t.Fatalf("seq %d: entry %d checkpoint %+v", seq, ev.Seq, cp)
		}
	}
	if _, err := pr.Prove(301); err == nil {
		t.Fatal("proof for an entry beyond the log")
	}

	good, _ := pr.Prove(42)
	other, _ := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "other.jwk"))
	otherJWKS, _ := other.PublicJWKS()
	forged := func(c Checkpoint) string {
		jws, _ := signCheckpoint(other, c)
		return string(jws)
	}
	tests := []struct {
		name   string
		alter  func(p *InclusionProof)
		pinned []byte
	}{
		{"edited entry", func(p *InclusionProof) { p.Leaf = strings.Replace(p.Leaf, `"status":200`, `"status":403`, 1) }, jwks},
		{"entry with its hash recomputed", func(p *InclusionProof) {
			var e Event
			json.Unmarshal([]byte(p.Leaf), &e)
			e.Agency = "someone-else"
			line, _ := encodeEntry(&e)
			p.Leaf = string(line)
		}, jwks},
		{"another entry's leaf", func(p *InclusionProof) { q, _ := pr.Prove(43); p.Leaf = q.Leaf }, jwks},
		{"wrong index", func(p *InclusionProof) { p.LeafIndex++ }, jwks},
		{"altered path", func(p *InclusionProof) { p.AuditPath[0] = strings.Repeat("0", 64) }, jwks},
		{"shortened path", func(p *InclusionProof) { p.AuditPath = p.AuditPath[1:] }, jwks},
		{"other tree size", func(p *InclusionProof) { p.TreeSize = 200 }, jwks},
		{"checkpoint signed by another key, pinned key", func(p *InclusionProof) {
			c, _ := parseCheckpoint(signer(t).Verifier, []byte(p.Checkpoint))
			p.Checkpoint = forged(c)
		}, jwks},
		{"forged checkpoint and embedded key, pinned key", func(p *InclusionProof) {
			c, _ := parseCheckpoint(signer(t).Verifier, []byte(p.Checkpoint))
			c.RootHash = strings.Repeat("ab", 32)
			p.Checkpoint, p.JWKS = forged(c), otherJWKS
		}, jwks},
		{"forged root, embedded key", func(p *InclusionProof) {
			c, _ := parseCheckpoint(signer(t).Verifier, []byte(p.Checkpoint))
			c.RootHash = strings.Repeat("ab", 32)
			p.Checkpoint, p.JWKS = forged(c), otherJWKS
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(good)
			var p InclusionProof
			json.Unmarshal(b, &p)
			tc.alter(&p)
			if _, _, err := CheckProof(&p, tc.pinned); !errors.Is(err, ErrTampered) {
				t.Fatalf("altered proof accepted: %v", err)
			}
		})
	}
}

func TestEvidencePackAcrossGateways(t *testing.T) {
	d1 := buildLog(t, 120, 50, 40)
	d2 := t.TempDir()
	l := openLog(t, d2, Options{Gateway: "gw-2"})
	for i := range 30 {
		e := ev("record.read")
		e.Gateway = "gw-2"
		e.RecordIDs = []string{"rec-00007"}
		e.Time = time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	jwks, _ := signer(t).PublicJWKS()
	f := Filter{RecordID: "rec-00007"}
	pack, err := Export([]string{d1, d2}, f, VerifyOptions{JWKS: jwks}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	exporter, _ := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "exporter.jwk"))
	if err := pack.Sign(exporter); err != nil {
		t.Fatal(err)
	}
	want, _ := Query([]string{d1, d2}, f, 0)
	b, _ := json.MarshalIndent(pack, "", "  ")
	var back EvidencePack
	json.Unmarshal(b, &back)
	res, err := CheckPack(&back, jwks)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Signed || len(res.Entries) != len(want) || len(want) == 0 || len(res.Checkpoints) != 2 {
		t.Fatalf("pack: signed %v, %d entries (want %d), %d checkpoints", res.Signed, len(res.Entries), len(want), len(res.Checkpoints))
	}
	gws := map[string]int{}
	for _, e := range res.Entries {
		gws[e.Gateway]++
		if e.RecordIDs[0] != "rec-00007" {
			t.Fatalf("entry outside the query: %+v", e)
		}
	}
	if gws["gw-1"] == 0 || gws["gw-2"] != 30 {
		t.Fatalf("entries per gateway: %v", gws)
	}
	back.Entries = back.Entries[1:] // dropping an entry breaks the exporter's signature
	if _, err := CheckPack(&back, jwks); !errors.Is(err, ErrTampered) {
		t.Fatalf("pack with an entry removed: %v", err)
	}
	back.Signature, back.SignerJWKS = "", nil // ...and an unsigned pack still proves each entry it keeps
	if res, err := CheckPack(&back, jwks); err != nil || res.Signed {
		t.Fatalf("unsigned pack: %v", err)
	}
	back.Entries[0].Leaf = strings.Replace(back.Entries[0].Leaf, `"status":200`, `"status":201`, 1)
	if _, err := CheckPack(&back, jwks); !errors.Is(err, ErrTampered) {
		t.Fatalf("pack with an altered entry: %v", err)
	}
}

func TestQueryMergesGatewaysByTime(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var dirs []string
	for g, gw := range []string{"gw-a", "gw-b"} {
		d := t.TempDir()
		l := openLog(t, d, Options{Gateway: gw})
		for i := range 10 {
			e := ev("record.read")
			e.Gateway, e.Time = gw, base.Add(time.Duration(2*i+g)*time.Second)
			e.Agency = []string{"met-police", "hmrc"}[i%2]
			e.Operation = []string{OpDisclosure, OpConsultation}[i%2]
			e.DSAIDs = []string{"dsa-1"}
			if err := l.Append(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		dirs = append(dirs, d)
	}
	tests := []struct {
		name  string
		f     Filter
		limit int
		want  int
	}{
		{"all", Filter{}, 0, 20},
		{"agency", Filter{Agency: "hmrc"}, 0, 10},
		{"operation and dsa", Filter{Operation: OpDisclosure, DSA: "dsa-1"}, 0, 10},
		{"time range", Filter{From: base.Add(4 * time.Second), To: base.Add(8 * time.Second)}, 0, 4},
		{"limit", Filter{}, 5, 5},
		{"no dsa", Filter{DSA: "dsa-9"}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Query(dirs, tc.f, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d entries, want %d", len(got), tc.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Time.Before(got[i-1].Time) {
					t.Fatalf("not in time order at %d", i)
				}
			}
		})
	}
	got, _ := Query(dirs, Filter{}, 4)
	if got[0].Gateway != "gw-a" || got[1].Gateway != "gw-b" {
		t.Fatalf("not merged: %s %s", got[0].Gateway, got[1].Gateway)
	}
}

func TestShipperCopiesSealedSegmentsAndStoreVerifies(t *testing.T) {
	store, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentMaxEntries: 20, CheckpointEvery: 5})
	sh := NewShipper(store, l, ShipperOptions{Interval: time.Hour})
	for range 70 {
		if err := l.Append(context.Background(), ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpoint over the 70th entry is signed after that Append
	// returned: wait for it, or the second pass below ships it (see
	// TestShipperSecondPassShipsOnlyTheCheckpointSignedAfterTheFirst).
	waitForCheckpoint(t, dir, 70)
	ctx := context.Background()
	n, err := sh.Ship(ctx)
	if err != nil || n == 0 {
		t.Fatalf("ship: %d %v", n, err)
	}
	if n2, err := sh.Ship(ctx); err != nil || n2 != 0 {
		t.Fatalf("a second pass with nothing new shipped %d (%v)", n2, err)
	}
	jwks, _ := signer(t).PublicJWKS()
	r, err := VerifyStore(ctx, store, "gw-1", VerifyOptions{JWKS: jwks})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Entries != 60 || r.Segments != 3 || r.Pending == 0 {
		t.Fatalf("store copy while the log is open: entries %d segments %d pending %d: %v", r.Entries, r.Segments, r.Pending, r.Failure)
	}
	l.Close()
	// The last pass after Close ships the final checkpoint; the active
	// segment stays local until it is sealed.
	if _, err := sh.Ship(ctx); err != nil {
		t.Fatal(err)
	}
	gws, _ := StoreGateways(ctx, store)
	if len(gws) != 1 || gws[0] != "gw-1" {
		t.Fatalf("gateways in the store: %v", gws)
	}
	// A sealed segment altered in the store is caught, and the shipper
	// refuses to overwrite it with the local copy.
	seg1 := storeDir("gw-1") + segmentName(1)
	b, _ := store.Get(ctx, seg1)
	store.Delete(ctx, seg1)
	store.Put(ctx, seg1, []byte(strings.Replace(string(b), `"status":200`, `"status":500`, 1)), objstoreOpts())
	r, _ = VerifyStore(ctx, store, "gw-1", VerifyOptions{JWKS: jwks})
	if r.OK || r.Failure.Segment != segmentName(1) || r.Failure.Seq != 1 {
		t.Fatalf("altered store copy: %+v", r.Failure)
	}
	sh2 := NewShipper(store, &Log{dir: dir, opts: Options{Gateway: "gw-1"}}, ShipperOptions{})
	if _, err := sh2.Ship(ctx); !errors.Is(err, ErrTampered) {
		t.Fatalf("shipper must report a store copy that differs: %v", err)
	}
}

func objstoreOpts() objstore.PutOptions { return objstore.PutOptions{} }

func TestShipperRunsInBackgroundAndShipsTheLastCheckpointOnClose(t *testing.T) {
	store, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l := openLog(t, t.TempDir(), Options{SegmentMaxEntries: 10, CheckpointEvery: 1000})
	var shipErrs []error
	sh := NewShipper(store, l, ShipperOptions{Interval: 20 * time.Millisecond, OnError: func(err error) { shipErrs = append(shipErrs, err) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sh.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range 25 {
		if err := l.Append(ctx, ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		keys, _ := store.List(ctx, "audit/gw-1/segment-", "", 10)
		if len(keys) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sealed segments not shipped in the background: %v", keys)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Close()
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, checkpointKey("gw-1", 25)); err != nil {
		t.Fatalf("the checkpoint Close signs is shipped by the shipper's last pass: %v", err)
	}
	if len(shipErrs) != 0 || sh.Healthy() != nil {
		t.Fatalf("shipping errors: %v %v", shipErrs, sh.Healthy())
	}
}
