package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
)

// waitForCheckpoint waits until dir holds a checkpoint over size entries
// in both forms (the JWS line, then the note). The writer signs the
// every-N checkpoint after it has answered the append that reached N, so a
// test that wants a quiet log (nothing left to sign) waits for it rather
// than racing it. The deadline only guards against a hang; no timing is
// asserted.
func waitForCheckpoint(t *testing.T, dir string, size uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, checkpointsFile))
		lines := strings.Split(string(b), "\n")
		if len(lines) >= 2 {
			n, err := checkpointSize([]byte(lines[len(lines)-2]))
			msg, _ := os.ReadFile(filepath.Join(dir, noteFile))
			ns, nerr := noteSize(msg)
			if err == nil && n >= size && nerr == nil && ns >= size {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint over %d entries was signed", size)
		}
		time.Sleep(time.Millisecond)
	}
}

// The race behind the old flake of TestShipperCopiesSealedSegmentsAndStoreVerifies,
// made deterministic: the checkpoint over the 70th entry is signed after
// that Append has returned, so a first pass can run before it exists. The
// second pass then ships exactly that checkpoint, in its two forms (JWS
// and note) — new objects, not ones shipped twice — and a third ships
// nothing.
func TestShipperSecondPassShipsOnlyTheCheckpointSignedAfterTheFirst(t *testing.T) {
	store, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	dir := t.TempDir()
	var hold atomic.Bool
	release := make(chan struct{})
	written := make(chan struct{})
	writeFn := func(f *os.File, b []byte) (int, error) {
		if hold.Load() && filepath.Base(f.Name()) == checkpointsFile {
			hold.Store(false)
			<-release
			defer close(written)
		}
		return f.Write(b)
	}
	l := openLog(t, dir, Options{SegmentMaxEntries: 20, CheckpointEvery: 5, WriteFn: writeFn})
	defer l.Close()
	ctx := context.Background()
	for i := range 70 {
		if i == 69 {
			hold.Store(true) // the checkpoint after the 70th entry waits for release
		}
		if err := l.Append(ctx, ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	sh := NewShipper(store, l, ShipperOptions{Interval: time.Hour})
	if n, err := sh.Ship(ctx); err != nil || n == 0 {
		t.Fatalf("first pass: %d %v", n, err)
	}
	if _, err := store.Get(ctx, checkpointKey("gw-1", 70)); err == nil {
		t.Fatal("the checkpoint over 70 entries was shipped before it was written")
	}
	close(release)
	<-written
	waitForCheckpoint(t, dir, 70)
	before, _ := store.List(ctx, storeDir("gw-1"), "", 1000)
	n, err := sh.Ship(ctx)
	if err != nil || n != 2 {
		t.Fatalf("second pass shipped %d (%v), want just the new checkpoint's JWS and note", n, err)
	}
	after, _ := store.List(ctx, storeDir("gw-1"), "", 1000)
	if len(after) != len(before)+2 {
		t.Fatalf("second pass: %d objects before, %d after", len(before), len(after))
	}
	for _, k := range []string{checkpointKey("gw-1", 70), noteKey("gw-1", 70)} {
		if _, err := store.Get(ctx, k); err != nil {
			t.Fatalf("the second pass shipped something other than the new checkpoint: %s: %v", k, err)
		}
	}
	if n, err := sh.Ship(ctx); err != nil || n != 0 {
		t.Fatalf("third pass with nothing new shipped %d (%v)", n, err)
	}
}

// Two replicas of one gateway keep a log each, whose segments have the
// same names: shipped under the bare gateway id the second replica's
// segment collides with the first's (a tampering alarm, and its copy is
// never made); with a node id each ships under audit/<gateway>.<node>/,
// both succeed, and each copy verifies as a node of its own.
func TestShipperReplicasNeedNodeIDs(t *testing.T) {
	store, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	logs := make([]*Log, 2)
	for i := range logs {
		dir := t.TempDir()
		logs[i] = openLog(t, dir, Options{SegmentMaxEntries: 10, CheckpointEvery: 5})
		defer logs[i].Close()
		for j := range 25 + 5*i { // different entries, same segment names
			if err := logs[i].Append(ctx, ev(fmt.Sprintf("replica-%d-%d", i, j))); err != nil {
				t.Fatal(err)
			}
		}
		waitForCheckpoint(t, dir, uint64(25+5*i))
	}
	t.Run("without node ids they collide", func(t *testing.T) {
		if _, err := NewShipper(store, logs[0], ShipperOptions{Interval: time.Hour}).Ship(ctx); err != nil {
			t.Fatalf("first replica: %v", err)
		}
		_, err := NewShipper(store, logs[1], ShipperOptions{Interval: time.Hour}).Ship(ctx)
		if !errors.Is(err, ErrTampered) {
			t.Fatalf("second replica under the same prefix: err = %v, want the collision (ErrTampered)", err)
		}
	})
	t.Run("with node ids both ship and verify", func(t *testing.T) {
		for i, node := range []string{"node-a", "node-b"} {
			if n, err := NewShipper(store, logs[i], ShipperOptions{Interval: time.Hour, Node: node}).Ship(ctx); err != nil || n == 0 {
				t.Fatalf("%s: shipped %d: %v", node, n, err)
			}
		}
		gws, err := StoreGateways(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []string{"gw-1.node-a", "gw-1.node-b"} {
			if !slices.Contains(gws, g) {
				t.Fatalf("store nodes %v lack %s", gws, g)
			}
			rep, err := VerifyStore(ctx, store, g, VerifyOptions{})
			if err != nil {
				t.Fatalf("verify %s: %v", g, err)
			}
			if rep.Entries < 10 {
				t.Fatalf("%s: the shipped copy verifies only %d entries", g, rep.Entries)
			}
		}
	})
}
