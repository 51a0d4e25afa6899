package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/minio"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// BenchmarkProxyFloor is the ceiling for any gateway in front of this MinIO
// on this machine: an mTLS (TLS 1.3, HTTP/2) server whose handler does
// nothing but one conditional PUT of the request body through the same
// MinIO connector, into a versioned bucket like the gateway's. Compare it,
// in the same run, with MinIODirectPut (no hop) and RealPublish (the
// gateway: policy, envelope encryption, signing, audit, index), or use
// BenchmarkPublishFloor, which measures gateway and floor side by side.
func BenchmarkProxyFloor(b *testing.B) {
	for _, sz := range benchSizes {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%s/c%d", sz.name, conc), func(b *testing.B) {
				env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true})
				floor := startFloor(b, env)
				cl := make([]*gatewaytest.Client, conc)
				for i := range cl {
					cl[i] = floor.Client("met-police").Unchecked() // a stub, not the gateway
				}
				body := benchPayloadOf(sz.size)
				runConcurrent(b, conc, func(i int) error { return post(cl[i%conc], body) })
			})
		}
	}
}

// startFloor starts the floor server on the dev stack: its own versioned
// bucket, the TLS configuration of env's gateway (same certificates, same
// client CAs). The returned Env only makes clients for it.
func startFloor(b *testing.B, env *gatewaytest.Env) *gatewaytest.Env {
	b.Helper()
	use, _ := gatewaytest.UseDevStack(b)
	var cfg config.Config
	use(&cfg)
	ctx := context.Background()
	st, err := minio.New(ctx, cfg.Store.MinIO, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() }) // its idle connections, for the leak check
	if err := st.Init(ctx); err != nil {
		b.Fatal(err)
	}
	stls, err := pki.NewServerTLS(env.Fed.ServerTLSOptions(), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	srv := &http.Server{TLSConfig: stls.Config(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		k := fmt.Sprintf("records/r%09d", n.Add(1))
		if err := st.Put(r.Context(), k, body, objstore.PutOptions{IfAbsent: true}); err != nil {
			http.Error(w, err.Error(), 503)
			return
		}
		w.WriteHeader(201)
	})}
	go srv.ServeTLS(ln, "", "")
	b.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &gatewaytest.Env{T: b, Fed: env.Fed, URL: "https://localhost:" + port}
}

// post publishes body and expects 201.
func post(c *gatewaytest.Client, body []byte) error {
	r, err := c.Do("POST", "/v1/records", body)
	if err != nil {
		return err
	}
	if r.Status != 201 {
		return fmt.Errorf("%d %s", r.Status, r.Body)
	}
	return nil
}

// BenchmarkPublishFloor measures, in one sub-benchmark per body size and
// concurrency, the gateway's publish (real MinIO and Vault) and the proxy
// floor (BenchmarkProxyFloor's server) in the same run, interleaved in
// rounds so that both see the same machine, and reports both throughputs
// and their ratio (issue 15 goal 2: gateway ÷ floor ≥ 0.9):
//
//	source /tmp/ds-<you>/env
//	go test -run '^$' -bench PublishFloor -benchtime 1000x ./gateway/
//
// b.N records go through each side. Both sides' clients skip the OpenAPI
// check of gatewaytest's client (it runs in this process and would be
// charged to the gateway; the tests check the contract) and both check the
// status. While the gateway's rounds run, the process's Go heap and RSS
// are sampled (goal 4): heap-max-MiB is the largest heap of objects seen
// (live and not yet swept, runtime/metrics), live-max-MiB the largest live
// heap marked by a collection, rss-max-MiB the largest VmRSS. RSS is the whole
// test process: the gateway, its in-process clients, the idle floor
// server and the Go runtime's retained memory.
//
// CPU is labelled for the profiler: side=gateway (everything the gateway
// started: handlers, policy workers, audit, its MinIO and Vault clients),
// side=floor and side=client; the garbage collector's background work
// carries no label. So, with -cpuprofile cpu.out:
//
//	go tool pprof -tagfocus side=gateway -top gateway.test cpu.out
func BenchmarkPublishFloor(b *testing.B) {
	for _, sz := range benchSizes {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%s/c%d", sz.name, conc), func(b *testing.B) {
				benchPublishFloor(b, sz.size, conc)
			})
		}
	}
}

func benchPublishFloor(b *testing.B, size, conc int) {
	use, _ := gatewaytest.UseDevStack(b)
	var gw, floor *gatewaytest.Env
	// Goroutines inherit the labels of the goroutine that starts them: the
	// servers' accept loops, connections and workers are started here.
	pprof.Do(context.Background(), pprof.Labels("side", "gateway"), func(context.Context) {
		gw = gatewaytest.Start(b, gatewaytest.Options{Quiet: true, Configure: use})
	})
	pprof.Do(context.Background(), pprof.Labels("side", "floor"), func(context.Context) {
		floor = startFloor(b, gw)
	})
	body := benchPayloadOf(size)
	sides := []struct {
		name    string
		clients []*gatewaytest.Client
		took    time.Duration
	}{{name: "floor"}, {name: "gateway"}}
	for range conc {
		sides[0].clients = append(sides[0].clients, floor.Client("met-police").Unchecked())
		sides[1].clients = append(sides[1].clients, gw.Client("met-police").Unchecked())
	}
	// Warm up both: connections, TLS sessions, the data key, the policy
	// workers' stacks.
	for s := range sides {
		for _, c := range sides[s].clients {
			if err := post(c, body); err != nil {
				b.Fatal(err)
			}
		}
	}
	const rounds = 4
	var mem memSampler
	b.ResetTimer()
	done := 0
	for r := range rounds {
		n := (b.N - done) / (rounds - r)
		if n == 0 {
			continue
		}
		done += n
		// Alternate which side goes first, so that neither always follows
		// the other's backlog (MinIO's, the audit log's fsyncs).
		for k := range sides {
			s := &sides[(k+r)%2]
			if s.name == "gateway" {
				mem.start()
			}
			took, err := timeConcurrent(conc, n, func(i int) error { return post(s.clients[i%conc], body) })
			if s.name == "gateway" {
				mem.stop()
			}
			if err != nil {
				b.Fatalf("%s: %v", s.name, err)
			}
			s.took += took
		}
	}
	b.StopTimer()
	fl, g := float64(b.N)/sides[0].took.Seconds(), float64(b.N)/sides[1].took.Seconds()
	b.ReportMetric(0, "ns/op") // two sides per op: records/s say more
	b.ReportMetric(fl, "floor-rec/s")
	b.ReportMetric(g, "gateway-rec/s")
	b.ReportMetric(g/fl, "ratio")
	mem.report(b)
}

// timeConcurrent runs op for i in [0, n) from conc client goroutines
// (labelled side=client for the profiler) and returns the wall time.
func timeConcurrent(conc, n int, op func(i int) error) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, conc)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go pprof.Do(context.Background(), pprof.Labels("side", "client"), func(context.Context) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errc)
	return took, <-errc
}

// memSampler samples the process's Go heap and RSS every 20 ms between
// start and stop, keeping the maxima over all its intervals.
type memSampler struct {
	heapMax, liveMax, rssMax int64
	stopc                    chan struct{}
	wg                       sync.WaitGroup
}

func (m *memSampler) start() {
	m.stopc = make(chan struct{})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
		for {
			metrics.Read(s)
			m.heapMax = max(m.heapMax, int64(s[0].Value.Uint64()))
			m.liveMax = max(m.liveMax, int64(s[1].Value.Uint64()))
			m.rssMax = max(m.rssMax, procStatus("VmRSS"))
			select {
			case <-m.stopc:
				return
			case <-t.C:
			}
		}
	}()
}

func (m *memSampler) stop() {
	close(m.stopc)
	m.wg.Wait()
}

// report reports the maxima in MiB.
func (m *memSampler) report(b *testing.B) {
	b.ReportMetric(float64(m.heapMax)/(1<<20), "heap-max-MiB")
	b.ReportMetric(float64(m.liveMax)/(1<<20), "live-max-MiB")
	b.ReportMetric(float64(m.rssMax)/(1<<20), "rss-max-MiB")
}

// procStatus reads a "kB" field of /proc/self/status in bytes (0 where
// there is no /proc).
func procStatus(field string) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(k) != field {
			continue
		}
		kb, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
		return kb << 10
	}
	return 0
}
