package postgres

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/index/indextest"
	"github.com/liaison-project/liaison/connectors/internal/indexplan"
	"github.com/liaison-project/liaison/deploy/devstack"
)

// Benchmark sizes: LIAISON_BENCH_INDEX_SIZES (entries, comma-separated;
// default 10000), 10 blind values per entry, as in connectors/sqlite. The
// corpus of each size is loaded once into schema bench_corpus_<n> of the
// dev stack's database (by COPY, keys built after the load) and kept
// there for later runs; `devstack.sh down` removes it with the cluster.
const (
	envSizes      = "LIAISON_BENCH_INDEX_SIZES"
	selectorsEach = 10
)

var benchMu sync.Mutex

func benchIndex(b *testing.B, n int) *Index {
	benchMu.Lock()
	defer benchMu.Unlock()
	pg := devstack.Postgres(b)
	ctx := context.Background()
	schema := fmt.Sprintf("bench_corpus_%d", n)
	x, err := Open(ctx, pg.DSN, WithSchema(schema), WithTimeout(time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	if got, _, err := x.Count(ctx); err == nil && got == int64(n) {
		return x
	}
	x.Close()
	c, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
		b.Fatal(err)
	}
	c.Close(ctx)
	if x, err = Open(ctx, pg.DSN, WithSchema(schema), WithTimeout(time.Hour)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := x.load(ctx, indextest.Corpus{N: n, SelectorsPerEntry: selectorsEach}); err != nil {
		x.Close()
		b.Fatal(err)
	}
	b.Logf("loaded %d entries (%d blind values) in %s", n, n*selectorsEach, time.Since(start).Round(time.Second))
	return x
}

// load fills an empty index with the corpus by COPY, building the keys
// after the rows are in (far quicker than maintaining them row by row).
func (x *Index) load(ctx context.Context, c indextest.Corpus) error {
	exec := func(sql string) error {
		_, err := x.pool.Exec(ctx, sql)
		return err
	}
	if err := exec(`ALTER TABLE access DROP CONSTRAINT access_pkey; ALTER TABLE blinds DROP CONSTRAINT blinds_pkey; DROP INDEX blinds_value`); err != nil {
		return err
	}
	copyRows := func(table string, cols []string, rows func(e index.Entry) [][]any) error {
		i := 0
		var pending [][]any
		_, err := x.pool.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			for len(pending) == 0 {
				if i == c.N {
					return nil, nil
				}
				pending = rows(c.Entry(i))
				i++
			}
			r := pending[0]
			pending = pending[1:]
			return r, nil
		}))
		return err
	}
	err := copyRows("entries", []string{"record_id", "version", "state", "created", "review_due", "originator", "operation", "tier", "tlp", "handling_code", "lists"},
		func(e index.Entry) [][]any {
			var review *string
			if e.ReviewDue != "" {
				review = &e.ReviewDue
			}
			return [][]any{{e.RecordID, int32(e.Version), e.State, indexplan.Micros(e.Created), review, e.Originator, e.Operation,
				e.Tier, e.TLP, e.HandlingCode, indexplan.EncodeLists(e)}}
		})
	if err != nil {
		return err
	}
	if err := copyRows("access", []string{"agency", "term", "record_id"}, func(e index.Entry) [][]any {
		var out [][]any
		for _, r := range indexplan.AccessRows(e) {
			out = append(out, []any{r.Agency, r.Term, e.RecordID})
		}
		return out
	}); err != nil {
		return err
	}
	if err := copyRows("blinds", []string{"record_id", "key_version", "value", "type"}, func(e index.Entry) [][]any {
		var out [][]any
		var seen [][]byte
		for _, s := range e.Selectors {
			dup := false
			for _, v := range seen {
				dup = dup || bytes.Equal(v, s.Value)
			}
			if !dup {
				seen = append(seen, s.Value)
				out = append(out, []any{e.RecordID, int32(s.KeyVersion), s.Value, s.Type})
			}
		}
		return out
	}); err != nil {
		return err
	}
	for _, s := range []string{
		`SET maintenance_work_mem = '512MB'`,
		`ALTER TABLE access ADD PRIMARY KEY (agency, term, record_id)`,
		`ALTER TABLE blinds ADD PRIMARY KEY (record_id, key_version, value)`,
		`CREATE INDEX blinds_value ON blinds (value)`,
		`VACUUM ANALYZE entries`, `VACUUM ANALYZE access`, `VACUUM ANALYZE blinds`,
	} {
		if err := exec(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// BenchmarkQueryPage times pages of 100 for one reader, from random
// positions, for each query shape (indextest.BenchQueries). 200 pages per
// iteration; p50/p99 are per page, over loopback TCP.
func BenchmarkQueryPage(b *testing.B) {
	for _, n := range indextest.BenchSizes(b, envSizes, 10000) {
		x := benchIndex(b, n)
		c := indextest.Corpus{N: n}
		for _, bq := range indextest.BenchQueries() {
			b.Run(fmt.Sprintf("n=%d/%s", n, bq.Name), func(b *testing.B) {
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
		x.Close()
	}
}

// BenchmarkLookup times lookups of 5 blind values (each held by about two
// records) among the corpus's N*10 blind values.
func BenchmarkLookup(b *testing.B) {
	for _, n := range indextest.BenchSizes(b, envSizes, 10000) {
		x := benchIndex(b, n)
		c := indextest.Corpus{N: n, SelectorsPerEntry: selectorsEach}
		b.Run(fmt.Sprintf("blinds=%d", n*selectorsEach), func(b *testing.B) {
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
		x.Close()
	}
}

// BenchmarkUpsert measures upserts of new entries (10 blind values each),
// one transaction each, from one goroutine and from 8 (replicas indexing
// at once).
func BenchmarkUpsert(b *testing.B) {
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", workers), func(b *testing.B) {
			x, _ := openTest(b)
			total := max(b.N, 2000)
			c := indextest.Corpus{N: total, SelectorsPerEntry: selectorsEach}
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			b.ResetTimer()
			start := time.Now()
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= total {
							return
						}
						if err := x.Upsert(ctx, c.Entry(i)); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "entries/s")
		})
	}
}
