package audit

import (
	"context"
	"testing"
	"time"
)

// TestLastCheckpoint: what the checkpoint-age metric reads follows the
// signed checkpoints (time and size), none before the first, and survives
// a reopen.
func TestLastCheckpoint(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := openLog(t, dir, Options{CheckpointEvery: 3, CheckpointInterval: time.Hour, Now: func() time.Time { return t0 }})
	if at, n := l.LastCheckpoint(); !at.IsZero() || n != 0 {
		t.Fatalf("before any checkpoint: %v %d", at, n)
	}
	for range 2 {
		if err := l.Append(context.Background(), ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	if at, n := l.LastCheckpoint(); !at.IsZero() || n != 0 {
		t.Fatalf("after 2 of 3 entries: %v %d", at, n)
	}
	if err := l.Append(context.Background(), ev("x")); err != nil {
		t.Fatal(err)
	}
	// The checkpoint is signed by the writer after the batch is durable.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if at, n := l.LastCheckpoint(); n == 3 {
			if !at.Equal(t0) {
				t.Fatalf("checkpoint time %v, want %v", at, t0)
			}
			break
		}
		if time.Now().After(deadline) {
			at, n := l.LastCheckpoint()
			t.Fatalf("no checkpoint over 3 entries: %v %d", at, n)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, Options{CheckpointEvery: 3, CheckpointInterval: time.Hour})
	defer l.Close()
	if at, n := l.LastCheckpoint(); !at.Equal(t0) || n != 3 {
		t.Fatalf("after reopen: %v %d, want %v 3", at, n, t0)
	}
}
