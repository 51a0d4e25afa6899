package filelock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestExclusive(t *testing.T) {
	for _, kind := range []string{"dir", "file"} {
		t.Run(kind, func(t *testing.T) {
			p := t.TempDir()
			if kind == "file" {
				p = filepath.Join(p, "f")
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			a, err := Acquire(p)
			if err != nil {
				t.Fatal(err)
			}
			// A second open file description is refused, also in one process.
			if _, err := Acquire(p); !errors.Is(err, ErrLocked) {
				t.Fatalf("second lock: %v, want ErrLocked", err)
			}
			if err := a.Unlock(); err != nil {
				t.Fatal(err)
			}
			if err := a.Unlock(); err != nil {
				t.Fatalf("second Unlock: %v", err)
			}
			b, err := Acquire(p)
			if err != nil {
				t.Fatalf("lock after release: %v", err)
			}
			b.Unlock()
		})
	}
}
