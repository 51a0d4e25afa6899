package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/index/indextest"
)

// Benchmark sizes: LIAISON_BENCH_INDEX_SIZES (entries, comma-separated;
// default 10000). Each entry carries 10 blind values, so the 10^6 corpus
// holds the 10^7 blind values BenchmarkLookup is specified at. Built
// databases are cached for the process in a temporary directory, or kept
// in LIAISON_BENCH_INDEX_CACHE when set (building 10^6 entries takes
// minutes).
const (
	envSizes      = "LIAISON_BENCH_INDEX_SIZES"
	envCache      = "LIAISON_BENCH_INDEX_CACHE"
	selectorsEach = 10
)

var (
	benchMu    sync.Mutex
	benchDir   string
	benchBuilt = map[int]string{}
)

// benchDB returns the path of a database holding the n-entry corpus.
func benchDB(b *testing.B, n int) string {
	benchMu.Lock()
	defer benchMu.Unlock()
	if p, ok := benchBuilt[n]; ok {
		return p
	}
	dir := os.Getenv(envCache)
	if dir == "" {
		if benchDir == "" {
			d, err := os.MkdirTemp("", "liaison-index-bench-")
			if err != nil {
				b.Fatal(err)
			}
			benchDir = d
		}
		dir = benchDir
	}
	path := filepath.Join(dir, fmt.Sprintf("sqlite-corpus-%d.db", n))
	c := indextest.Corpus{N: n, SelectorsPerEntry: selectorsEach}
	if x, err := Open(path); err == nil {
		got, _, err := x.Count(context.Background())
		x.Close()
		if err == nil && got == int64(n) {
			benchBuilt[n] = path
			return path
		}
	}
	os.Remove(path)
	x, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	start := time.Now()
	const batch = 20000
	for lo := 0; lo < n; lo += batch {
		es := make([]index.Entry, 0, batch)
		for i := lo; i < min(n, lo+batch); i++ {
			es = append(es, c.Entry(i))
		}
		if err := x.UpsertMany(context.Background(), es); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := x.w.Exec(`ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.Logf("built %d entries (%d blind values) in %s, %d MB", n, n*selectorsEach, time.Since(start).Round(time.Second), st.Size()>>20)
	benchBuilt[n] = path
	return path
}

func cleanupBench() {
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
}

// BenchmarkQueryPage times pages of 100 for one reader, from random
// positions, for each query shape (indextest.BenchQueries). 200 pages per
// iteration; p50/p99 are per page.
func BenchmarkQueryPage(b *testing.B) {
	for _, n := range indextest.BenchSizes(b, envSizes, 10000) {
		path := benchDB(b, n)
		c := indextest.Corpus{N: n}
		for _, bq := range indextest.BenchQueries() {
			b.Run(fmt.Sprintf("n=%d/%s", n, bq.Name), func(b *testing.B) {
				x, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer x.Close()
				ctx := context.Background()
				rng := rand.New(rand.NewPCG(1, 2))
				var lat indextest.Latencies
				rows := 0
				b.ResetTimer()
				for range b.N {
					for range 200 {
						q := bq.Query
						q.After = c.ID(rng.IntN(n))
						t0 := time.Now()
						hits, err := x.Query(ctx, q)
						lat = append(lat, time.Since(t0))
						if err != nil {
							b.Fatal(err)
						}
						rows += len(hits)
					}
				}
				b.StopTimer()
				lat.Report(b, "")
				b.ReportMetric(float64(rows)/float64(len(lat)), "rows/page")
			})
		}
	}
}

// BenchmarkLookup times lookups of 5 blind values (each held by about two
// records) in the corpus's N*10 blind values.
func BenchmarkLookup(b *testing.B) {
	for _, n := range indextest.BenchSizes(b, envSizes, 10000) {
		path := benchDB(b, n)
		c := indextest.Corpus{N: n, SelectorsPerEntry: selectorsEach}
		b.Run(fmt.Sprintf("blinds=%d", n*selectorsEach), func(b *testing.B) {
			x, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(3, 4))
			var lat indextest.Latencies
			matches := 0
			b.ResetTimer()
			for range b.N {
				for range 200 {
					vals := make([]index.Blind, 5)
					for k := range vals {
						vals[k] = c.BlindValue(rng.IntN(n * selectorsEach / 2))
					}
					t0 := time.Now()
					m, err := x.Lookup(ctx, vals, 100)
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					matches += len(m)
				}
			}
			b.StopTimer()
			lat.Report(b, "")
			b.ReportMetric(float64(matches)/float64(len(lat)), "records/lookup")
		})
	}
}

// BenchmarkUpsert measures upserts of new entries (10 blind values each)
// one per transaction, as the gateway indexes a publish, and in batches of
// 1000 (UpsertMany, as a rebuild does).
func BenchmarkUpsert(b *testing.B) {
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			x, err := Open(filepath.Join(b.TempDir(), "index.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			total := max(b.N*batch, 2000)
			c := indextest.Corpus{N: total, SelectorsPerEntry: selectorsEach}
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for lo := 0; lo < total; lo += batch {
				es := make([]index.Entry, 0, batch)
				for i := lo; i < min(total, lo+batch); i++ {
					es = append(es, c.Entry(i))
				}
				if err := x.UpsertMany(ctx, es); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "entries/s")
		})
	}
}
