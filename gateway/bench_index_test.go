package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
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

// BenchmarkListPage: a page of 100 records for a recipient that may see
// all of them, unfiltered and filtered by an organised crime group that 1
// in 10 records carries, over N published records on the embedded
// defaults. Reports p50/p99 of one page (walking pages from the start
// again and again, so every page position is measured).
func BenchmarkListPage(b *testing.B) {
	n := benchListRecords(b)
	env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	plain := benchPayload()
	tagged, _ := json.Marshal(recordBody(func(m map[string]any) { m["ocg_ids"] = []any{"ocg-2291"} }))
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := env.Client("met-police")
			for i := w; i < n; i += 8 {
				body := plain
				if i%10 == 0 {
					body = tagged
				}
				r, err := c.Do("POST", "/v1/records", body)
				if err == nil && r.Status != 201 {
					err = fmt.Errorf("publish: %d %s", r.Status, r.Body)
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
	_ = met
	b.Logf("published %d records in %s", n, time.Since(start).Round(time.Second))
	rocu := env.Client("rocu-nw")
	for _, q := range []struct{ name, query string }{{"unfiltered", ""}, {"ocg-10pct", "&ocg=ocg-2291"}} {
		b.Run(q.name, func(b *testing.B) {
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
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
