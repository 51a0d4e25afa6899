package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"go.uber.org/zap"
)

// discardIndex is an index database that keeps nothing (the "index off"
// baseline): writes succeed at once, queries find nothing.
type discardIndex struct{ index.Backend }

func (discardIndex) Upsert(context.Context, index.Entry) error { return nil }

// BenchmarkPublishIndexOverhead compares publish throughput with the
// embedded index database against an index that keeps nothing, in the same
// run (issue target: on >= 0.9 x off), for a record without and with
// selectors (four, each normalised and keyed).
func BenchmarkPublishIndexOverhead(b *testing.B) {
	withSelectors := func() []byte {
		body := recordBody(func(m map[string]any) {
			m["ocg_ids"] = []any{"ocg-2291"}
			m["selectors"] = []any{
				map[string]any{"type": "phone", "value": "020 7946 0018"},
				map[string]any{"type": "iban", "value": "GB82 WEST 1234 5698 7654 32"},
				map[string]any{"type": "vehicle", "country": "GB", "value": "MA19 XKD"},
				map[string]any{"type": "person", "name": "Ivan Petrov", "date_of_birth": "1981-04-12"},
			}
		})
		out, _ := json.Marshal(body)
		return out
	}()
	for _, payload := range []struct {
		name string
		body []byte
	}{{"plain", benchPayload()}, {"selectors", withSelectors}} {
		for _, conc := range []int{1, 8} {
			for _, mode := range []string{"index-on", "index-off"} {
				b.Run(fmt.Sprintf("%s/%s/c%d", payload.name, mode, conc), func(b *testing.B) {
					var opts []gateway.Option
					if mode == "index-off" {
						opts = append(opts, gateway.WithIndexWrapper(func(db index.Backend) index.Backend { return discardIndex{db} }))
					}
					publishLoopOf(b, gatewaytest.Start(b, gatewaytest.Options{Quiet: true, BuildOptions: opts}), conc, payload.body)
				})
			}
		}
	}
}

// benchListRecords is how many records BenchmarkListPage publishes
// (LIAISON_BENCH_LIST_RECORDS; default 2,000 so that a default benchmark
// run stays short — the figures in docs/benchmarks.md use 100,000).
func benchListRecords(b *testing.B) int {
	if v := os.Getenv("LIAISON_BENCH_LIST_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 200 {
			b.Fatalf("LIAISON_BENCH_LIST_RECORDS=%q: want a number >= 200", v)
		}
		return n
	}
	return 2000
}

// seedListRecords makes n records visible to rocu-nw: two published
// through the API (one plain, one tagged with an organised crime group),
// and n-2 more written the way the publish handler writes them (sealed
// under their key, stored, indexed) from those two's metadata and content,
// with their own ids and creation times, one in ten tagged. Only the
// publish decision and the collection audit entry are skipped (neither is
// read by a listing), which makes 100,000 records a matter of minutes.
// The gateway is restarted on the seeded store and returned.
func seedListRecords(b *testing.B, n int) *gatewaytest.Env {
	env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	tagged, _ := json.Marshal(recordBody(func(m map[string]any) { m["ocg_ids"] = []any{"ocg-2291"} }))
	var ids []string
	for _, body := range [][]byte{benchPayload(), tagged} {
		r, err := met.Do("POST", "/v1/records", body)
		if err != nil || r.Status != 201 {
			b.Fatalf("publish: %v %v", err, r)
		}
		ids = append(ids, r.JSON["id"].(string))
	}
	cfg, dir := env.Cfg, env.Dir
	env.Stop()
	ctx := context.Background()
	ops, err := gateway.OpenIndexOps(ctx, cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	rs := ops.RecordStore(cfg)
	var tmpl [2]*recordstore.Record
	var content [2][]byte
	for i, id := range ids {
		if tmpl[i], err = rs.Load(ctx, id); err == nil {
			content[i], err = rs.Open(ctx, tmpl[i])
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 2 + w; i < n; i += 8 {
				t := 0
				if i%10 == 0 {
					t = 1
				}
				now := time.Now().UTC()
				meta := tmpl[t].Meta
				meta.RecordID, meta.Created = record.NewID(now), now.Format(time.RFC3339)
				p, err := rs.Seal(ctx, meta, content[t])
				if err == nil {
					err = rs.Create(ctx, p)
				}
				if err == nil {
					err = rs.Index().Put(ctx, &p.Record)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if err := ops.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d records in %s", n, time.Since(start).Round(time.Second))
	return gatewaytest.Start(b, gatewaytest.Options{Quiet: true, Dir: dir})
}

// BenchmarkListPage: a page of 100 records for a recipient that may see
// all of them, unfiltered and filtered by an organised crime group that 1
// in 10 records carries, over N records (seedListRecords) on the embedded
// defaults. Each is measured in the same run on today's reference path
// (every candidate loaded with Load and decided), on the shared path (one
// decision per distinct decision input on the page) without the cache of
// verified record metadata, and with it: "cached" starts from an empty
// cache, so each page's records are verified on first sight as before
// (cold); "cached-warm" walks the same pages again, served from what
// "cached" kept (the pages most listed — the newest — are the warm case).
// Reports p50/p99 of one page (walking pages from the start again and
// again, so every page position is measured) and, on the cached paths,
// the share of candidates served from the cache.
func BenchmarkListPage(b *testing.B) {
	n := benchListRecords(b)
	env := seedListRecords(b, n)
	rocu := env.Client("rocu-nw")
	for _, q := range []struct{ name, query string }{{"unfiltered", ""}, {"ocg-10pct", "&ocg=ocg-2291"}} {
		for _, path := range []string{"reference", "shared", "cached", "cached-warm"} {
			b.Run(q.name+"/"+path, func(b *testing.B) {
				env.GW.SetListReference(path == "reference")
				switch path {
				case "shared":
					env.GW.SetListCache(false)
				case "cached":
					env.GW.SetListCache(true) // empties it
				}
				hits0, misses0, _ := env.GW.ListCacheStats()
				lat := make([]time.Duration, 0, b.N)
				cursor := ""
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					path := "/v1/records?limit=100" + q.query
					if cursor != "" {
						path += "&cursor=" + cursor
					}
					t0 := time.Now()
					r, err := rocu.Do("GET", path, nil)
					lat = append(lat, time.Since(t0))
					if err != nil || r.Status != 200 {
						b.Fatalf("list: %v %v", err, r)
					}
					cursor, _ = r.JSON["next_cursor"].(string)
					if items, _ := r.JSON["items"].([]any); len(items) != 100 && cursor != "" {
						b.Fatalf("list: %d items before the last page, want 100", len(items))
					}
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
				if hits, misses, _ := env.GW.ListCacheStats(); strings.HasPrefix(path, "cached") {
					b.ReportMetric(float64(hits-hits0)/float64(max(1, hits-hits0+misses-misses0)), "hit-ratio")
				}
			})
		}
	}
}

// BenchmarkIndexRebuild: `liaison index rebuild --restart` over N records
// (LIAISON_BENCH_LIST_RECORDS, default 2,000; one in ten with four
// selectors), on the embedded defaults; reports records/s.
func BenchmarkIndexRebuild(b *testing.B) {
	n := benchListRecords(b)
	env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true})
	plain := benchPayload()
	withSel, _ := json.Marshal(recordBody(func(m map[string]any) {
		m["selectors"] = []any{
			map[string]any{"type": "phone", "value": "020 7946 0018"},
			map[string]any{"type": "iban", "value": "GB82 WEST 1234 5698 7654 32"},
			map[string]any{"type": "vehicle", "country": "GB", "value": "MA19 XKD"},
			map[string]any{"type": "person", "name": "Ivan Petrov", "date_of_birth": "1981-04-12"},
		}
	}))
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := env.Client("met-police")
			for i := w; i < n; i += 8 {
				body := plain
				if i%10 == 0 {
					body = withSel
				}
				if r, err := c.Do("POST", "/v1/records", body); err != nil || r.Status != 201 {
					b.Errorf("publish: %v %v", err, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	cfg := env.Cfg
	env.Stop()
	ops, err := gateway.OpenIndexOps(context.Background(), cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer ops.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		p, err := ops.Rebuild(context.Background(), recordstore.RebuildOptions{Restart: true})
		if err != nil || p.Done != n {
			b.Fatalf("rebuild: %+v %v", p, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "records/s")
}
