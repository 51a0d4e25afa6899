package fsstore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/liaison-project/liaison/connectors/fsstore"
)

// BenchmarkListPage100k pages through 100,000 keys, 100 at a time, with the
// keys in one flat directory and fanned out over 256 sub-directories. The
// files are written directly (no fsync) to keep the setup short.
func BenchmarkListPage100k(b *testing.B) {
	const n, limit = 100_000, 100
	layouts := []struct {
		name string
		key  func(i int) string
	}{
		{"flat", func(i int) string { return fmt.Sprintf("p/rec-%06d", i) }},
		{"fanout256", func(i int) string { return fmt.Sprintf("p/%02x/rec-%06d", i%256, i) }},
	}
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			dir := b.TempDir()
			for i := range n {
				p := filepath.Join(dir, filepath.FromSlash(l.key(i)))
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					b.Fatal(err)
				}
			}
			s, err := fsstore.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// Start each page at a different point, as a cursor would.
			after := ""
			for b.Loop() {
				keys, err := s.List(b.Context(), "p/", after, limit)
				if err != nil {
					b.Fatal(err)
				}
				if len(keys) < limit {
					after = ""
				} else {
					after = keys[len(keys)-1]
				}
			}
		})
	}
}
