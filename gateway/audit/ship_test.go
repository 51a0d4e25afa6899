package audit

import (
	"context"
	"os"
	"path/filepath"
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
