package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/policy"
)

// Benchmarks for the request path. Each reports records/s; the baseline
// writes the same payloads straight to the same store interface in the same
// run, so the ratio survives a noisy shared machine:
//
//	go test -run '^$' -bench 'Publish|Read|StoreBaseline' -benchtime 2000x ./gateway/
func runConcurrent(b *testing.B, conc int, op func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, conc)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(i); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func benchPayload() []byte { return benchPayloadOf(0) }

// benchPayloadOf is the benchmark record with its summary padded so that
// the whole request body is about size bytes (0: the ~0.6 KB test record).
func benchPayloadOf(size int) []byte {
	body := recordBody()
	b, _ := json.Marshal(body)
	if pad := size - len(b); pad > 0 {
		c := body["content"].(map[string]any)
		c["summary"] = c["summary"].(string) + " " + strings.Repeat("x", pad)
		b, _ = json.Marshal(body)
	}
	return b
}

// publishLoop publishes b.N records as met-police from conc clients.
func publishLoop(b *testing.B, env *gatewaytest.Env, conc int) {
	publishLoopOf(b, env, conc, benchPayload())
}

func publishLoopOf(b *testing.B, env *gatewaytest.Env, conc int, body []byte) {
	clients := make([]*gatewaytest.Client, conc)
	for i := range clients {
		clients[i] = env.Client("met-police")
	}
	runConcurrent(b, conc, func(i int) error {
		r, err := clients[i%conc].Do("POST", "/v1/records", body)
		if err != nil {
			return err
		}
		if r.Status != 201 {
			return fmt.Errorf("publish: %d %s", r.Status, r.Body)
		}
		return nil
	})
}

// BenchmarkPublish publishes the small record on the embedded defaults,
// and reports the process's Go heap and RSS sampled during the run (see
// memSampler; the process is the gateway and its in-process clients).
func BenchmarkPublish(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true})
			var mem memSampler
			mem.start()
			publishLoop(b, env, conc)
			mem.stop()
			mem.report(b)
		})
	}
}

// BenchmarkPublishBytes publishes the three body sizes at c1 on the
// embedded defaults and reports the process's allocations per publish
// (B/op, allocs/op: the gateway's and its in-process client's, which does
// not check answers against the OpenAPI document here). No dev stack is
// needed, and allocation counts hardly move with the machine's load, so
// a change to the publish path's copies is compared in one run of each
// build:
//
//	go test -run '^$' -bench PublishBytes -benchtime 300x ./gateway/
func BenchmarkPublishBytes(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("size="+sz.name, func(b *testing.B) {
			env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true})
			c := env.Client("met-police").Unchecked()
			body := benchPayloadOf(sz.size)
			if err := post(c, body); err != nil { // warm: connection, data key
				b.Fatal(err)
			}
			b.ReportAllocs()
			runConcurrent(b, 1, func(int) error { return post(c, body) })
		})
	}
}

func BenchmarkRead(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true})
			met := env.Client("met-police")
			ids := make([]string, 64)
			for i := range ids {
				r := met.MustDo("POST", "/v1/records", benchPayload())
				ids[i], _ = r.JSON["id"].(string)
			}
			clients := make([]*gatewaytest.Client, conc)
			for i := range clients {
				clients[i] = env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "benchmark run 2026")
			}
			runConcurrent(b, conc, func(i int) error {
				r, err := clients[i%conc].Do("GET", "/v1/records/"+ids[i%len(ids)], nil)
				if err != nil {
					return err
				}
				if r.Status != 200 {
					return fmt.Errorf("read: %d %s", r.Status, r.Body)
				}
				return nil
			})
		})
	}
}

// BenchmarkStoreBaseline writes the same payloads straight to the
// filesystem store the gateway uses: no TLS, policy, crypto or audit.
func BenchmarkStoreBaseline(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			st, err := fsstore.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			body := benchPayload()
			runConcurrent(b, conc, func(i int) error {
				return st.Put(context.Background(), fmt.Sprintf("records/r%09d/v1/content", i), body, objstore.PutOptions{IfAbsent: true})
			})
		})
	}
}

// BenchmarkDecisionLatency reports p50 and p99 of a typical read decision.
func BenchmarkDecisionLatency(b *testing.B) {
	eng, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	in := []byte(`{"action":"record.read","time":"2026-11-21T10:00:00Z",
	 "subject":{"agency_id":"rocu-nw"},
	 "request":{"purpose":"investigation","justification":"benchmark run 2026","case":""},
	 "record":{"record_id":"rec_01jd0000000000000000000000","version":1,"created":"2026-11-20T09:00:00Z",
	  "originator":{"org_id":"met-police"},"classification":{"tier":"OFFICIAL"},"tlp":"AMBER",
	  "grading":{"source":"1","intelligence":"B"},"handling":{"code":"P"},
	  "allowed_purposes":["investigation"],"data_subject_category":"suspect","content_basis":"fact",
	  "dsa_ids":["dsa-uk-soc"],"recipients":["rocu-nw"],"protected_fields":["source_details"],"review_due":"2027-06-01"}}`)
	defer eng.Close()
	d, err := eng.DecideJSON(context.Background(), in)
	if err != nil || !d.Allow {
		b.Fatalf("sample read must be allowed: %+v %v", d, err)
	}
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := eng.DecideJSON(context.Background(), in); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t0)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// discardAudit acknowledges without writing: the "audit off" baseline.
type discardAudit struct{}

func (discardAudit) Append(context.Context, *audit.Event) error { return nil }

// BenchmarkPublishAuditOverhead compares publish throughput with the real
// audit log (group-committed, fsynced, Merkle tree) against no audit at all,
// in the same run (target: on >= 0.9 x off).
func BenchmarkPublishAuditOverhead(b *testing.B) {
	for _, mode := range []string{"audit-on", "audit-off"} {
		b.Run(mode+"/c8", func(b *testing.B) {
			var opts []gateway.Option
			if mode == "audit-off" {
				opts = append(opts, gateway.WithAuditWrapper(func(audit.Writer) audit.Writer { return discardAudit{} }))
			}
			publishLoop(b, gatewaytest.Start(b, gatewaytest.Options{Quiet: true, BuildOptions: opts}), 8)
		})
	}
}
