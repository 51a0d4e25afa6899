package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// Federation benchmarks: three in-process gateways (gatewaytest, laid out
// as `liaison dev --federation 3`), with the delivery knobs at their
// defaults (the test federation's 20 ms retry is for tests waiting on
// failures, not for measuring). Each reports p50-ns and p99-ns of what it
// times, against a baseline in the same run:
//
//	go test -run '^$' -bench 'FederatedShareReadable|LocalPublishReadable|FederatedDeliveries|BenchmarkPublish/c1|FederatedRecall' -benchtime 100x ./gateway/
//
// LIAISON_BENCH_FED_BACKENDS=real puts every gateway on the dev stack
// (its own MinIO bucket and Vault key prefix) instead of the embedded
// filesystem store and local keyring.

// fedBench is a benchmark federation. With proxied set, every peer
// endpoint in every gateway's configuration points at a TCP fault proxy in
// front of the peer's federation listener (one proxy per direction of each
// pair), so that latency can be injected on every gateway-to-gateway hop.
type fedBench struct {
	f       *gatewaytest.Federation
	proxies map[string]*toxiproxy.Proxy // "from>to"
}

func startFedBench(b *testing.B, proxied bool) *fedBench {
	b.Helper()
	fb := &fedBench{proxies: map[string]*toxiproxy.Proxy{}}
	real := os.Getenv("LIAISON_BENCH_FED_BACKENDS") == "real"
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	defaults := config.Defaults("").Federation
	fb.f = gatewaytest.StartFederation(b, gatewaytest.FederationOptions{Configure: func(id string, cfg *config.Config) {
		cfg.Federation.RetryInitial, cfg.Federation.RetryMax = defaults.RetryInitial, defaults.RetryMax
		if real {
			use, _ := gatewaytest.UseDevStack(b)
			use(cfg)
		}
		if !proxied {
			return
		}
		for i, p := range cfg.Federation.Peers {
			u, err := url.Parse(p.Endpoint)
			if err != nil {
				b.Fatal(err)
			}
			// The proxy listens before the gateways start: their senders
			// dial it from their first delivery on.
			px := toxiproxy.NewProxy(srv, id+">"+p.ID, "127.0.0.1:0", net.JoinHostPort("127.0.0.1", u.Port()))
			if err := px.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(px.Stop)
			fb.proxies[id+">"+p.ID] = px
			cfg.Federation.Peers[i].Endpoint = "https://" + px.Listen
		}
	}})
	return fb
}

// addLatency delays every chunk on every gateway-to-gateway connection by
// ms in each direction.
func (fb *fedBench) addLatency(b *testing.B, ms int) {
	b.Helper()
	for _, px := range fb.proxies {
		for _, dir := range []string{"upstream", "downstream"} {
			j := fmt.Sprintf(`{"name":"latency-%s","type":"latency","stream":%q,"attributes":{"latency":%d}}`, dir, dir, ms)
			if _, err := px.Toxics.AddToxicJson(strings.NewReader(j)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// latencies collects one duration per operation, from any goroutine.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// report adds p50-ns and p99-ns (nearest rank; with fewer than 100
// samples p99 is the maximum).
func (l *latencies) report(b *testing.B, prefix string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		b.Fatal("no samples")
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	q := func(p float64) float64 {
		i := int(p*float64(len(l.d))+0.5) - 1
		return float64(l.d[min(max(i, 0), len(l.d)-1)].Nanoseconds())
	}
	b.ReportMetric(q(0.50), prefix+"p50-ns")
	b.ReportMetric(q(0.99), prefix+"p99-ns")
}

// pollEvery is how often a benchmark looks for an effect: the resolution
// of its latencies. Each poll is an API call (a policy decision for a
// read), so polling faster would take CPU from what is measured.
const pollEvery = 5 * time.Millisecond

// until calls cond every pollEvery until it reports done (or 60 s pass).
func until(what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after 60s", what)
		}
		time.Sleep(pollEvery)
	}
}

// readable polls GET /v1/records/id as c until it answers want.
func readable(c *gatewaytest.Client, id string, want int) error {
	return until(fmt.Sprintf("GET %s = %d", id, want), func() (bool, error) {
		r, err := c.Do("GET", "/v1/records/"+id, nil)
		if err != nil {
			return false, err
		}
		return r.Status == want, nil
	})
}

// settled polls the originator's delivery status of id until the message
// of type typ to gateway gw is in state want (an unexpected settled state
// is an error).
func settled(c *gatewaytest.Client, id, gw, typ, want string) error {
	var last []api.Delivery
	err := until(fmt.Sprintf("%s of %s to %s %s", typ, id, gw, want), func() (bool, error) {
		r, err := c.Do("GET", "/v1/records/"+id+"/deliveries", nil)
		if err != nil {
			return false, err
		}
		var ds api.Deliveries
		if r.Status != http.StatusOK {
			return false, fmt.Errorf("deliveries: %d %s", r.Status, r.Body)
		}
		if err := api.Decode(r.Body, &ds); err != nil {
			return false, err
		}
		last = ds.Items
		for _, d := range ds.Items {
			if d.Gateway == gw && d.Type == typ {
				switch d.State {
				case want:
					return true, nil
				case "pending":
				default:
					return false, fmt.Errorf("state %s: %+v", d.State, d)
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last seen: %+v)", err, last)
	}
	return nil
}

// deliveriesOf is the originator's delivery status of id, for messages.
func deliveriesOf(c *gatewaytest.Client, id string) string {
	r, err := c.Do("GET", "/v1/records/"+id+"/deliveries", nil)
	if err != nil {
		return err.Error()
	}
	return string(r.Body)
}

func publishErr(c *gatewaytest.Client, body any) (string, error) {
	r, err := c.Do("POST", "/v1/records", body)
	if err != nil {
		return "", err
	}
	if r.Status != http.StatusCreated {
		return "", fmt.Errorf("publish: %d %s", r.Status, r.Body)
	}
	var p api.Published
	if err := api.Decode(r.Body, &p); err != nil {
		return "", err
	}
	return p.ID, nil
}

// publishReadable publishes records from met-police (at its own gateway)
// to recipient, conc at a time, and times each from the publish request
// until recipient reads the record at its own gateway.
func publishReadable(b *testing.B, fb *fedBench, conc int, recipient string) {
	f := fb.f
	pubs := make([]*gatewaytest.Client, conc)
	readers := make([]*gatewaytest.Client, conc)
	for i := range pubs {
		pubs[i] = f.Client("met-police")
		readers[i] = f.Client(recipient).With(hPurpose, "investigation", hJust, "benchmark run 2026")
	}
	body := recordBody(func(m map[string]any) { m["recipients"] = []string{recipient} })
	// One round untimed: connections, the data key, the peer link.
	id, err := publishErr(pubs[0], body)
	if err == nil {
		if err = readable(readers[0], id, 200); err != nil {
			err = fmt.Errorf("%w; deliveries: %s", err, deliveriesOf(pubs[0], id))
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	var lat latencies
	runConcurrent(b, conc, func(i int) error {
		t0 := time.Now()
		id, err := publishErr(pubs[i%conc], body)
		if err != nil {
			return err
		}
		if err := readable(readers[i%conc], id, 200); err != nil {
			return fmt.Errorf("%w; deliveries: %s", err, deliveriesOf(pubs[i%conc], id))
		}
		lat.add(time.Since(t0))
		return nil
	})
	lat.report(b, "")
}

// BenchmarkFederatedShareReadable: met-police publishes at gw-police to
// hmrc, hosted by another gateway; timed until hmrc reads the record at its
// own gateway (delivered, accepted, sealed and stored there).
func BenchmarkFederatedShareReadable(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			publishReadable(b, startFedBench(b, false), conc, "hmrc")
		})
	}
}

// BenchmarkLocalPublishReadable is the baseline: the same federation and
// record, shared with rocu-nw, hosted by the originator's own gateway.
func BenchmarkLocalPublishReadable(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			publishReadable(b, startFedBench(b, false), conc, "rocu-nw")
		})
	}
}

// BenchmarkFederatedDeliveries queues b.N shares to one peer and times
// the peer's sender delivering all of them. The queue is built by holding
// the gateway-to-gateway connection in the fault proxy (a latency of an
// hour on the sender's side) while the records are published; releasing
// it starts the clock. Compare deliveries/s with BenchmarkPublish/c1: a
// delivery costs the receiver about what a publish costs a gateway.
func BenchmarkFederatedDeliveries(b *testing.B) {
	fb := startFedBench(b, true)
	f := fb.f
	met := f.Client("met-police")
	police, border := f.HostID("met-police"), f.HostID("hmrc")
	px := fb.proxies[police+">"+border]
	body := recordBody(func(m map[string]any) { m["recipients"] = []string{"hmrc"} })
	// Warm up: the sender's connection to the peer is open and idle.
	id, err := publishErr(met, body)
	if err == nil {
		err = settled(met, id, border, "share", "delivered")
	}
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if _, err := px.Toxics.AddToxicJson(strings.NewReader(`{"name":"hold","type":"latency","stream":"upstream","attributes":{"latency":3600000}}`)); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	for i := range ids {
		if ids[i], err = publishErr(met, body); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	if err := px.Toxics.RemoveToxic(context.Background(), "hold"); err != nil {
		b.Fatal(err)
	}
	// Until every one is delivered: records go in parallel lanes, so the
	// last queued is not necessarily the last delivered. Polled from the
	// last queued back (it is among the last), then each in turn.
	for i := len(ids) - 1; i >= 0; i-- {
		if err := settled(met, ids[i], border, "share", "delivered"); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(t0)
	b.ReportMetric(float64(b.N)/el.Seconds(), "deliveries/s")
	b.ReportMetric(float64(el.Nanoseconds())/float64(b.N), "ns/delivery")
}

// BenchmarkFederatedRecall times a recall from the originator's DELETE
// until the originator holds the acknowledgement of the gateway 1 or 2
// hops away (ack-p50/p99), and until the recipient there reads 410
// (gone-p50/p99), with no added latency and with 20 ms each way on every
// gateway-to-gateway connection (through the fault proxy in both cases).
// Two hops: met-police shares to hmrc (gw-national), which shares onward
// to selec (gw-intl) with met-police's consent; the recall goes
// gw-police → gw-national → gw-intl and the acknowledgement comes back the
// same way.
func BenchmarkFederatedRecall(b *testing.B) {
	for _, hops := range []int{1, 2} {
		for _, ms := range []int{0, 20} {
			b.Run(fmt.Sprintf("hops=%d/latency=%dms", hops, ms), func(b *testing.B) {
				fb := startFedBench(b, true)
				fb.addLatency(b, ms)
				benchRecall(b, fb.f, hops)
			})
		}
	}
}

func benchRecall(b *testing.B, f *gatewaytest.Federation, hops int) {
	met := f.Client("met-police")
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	selec := f.Client("selec").With(hPurpose, "investigation", hJust, "SELEC case 12")
	far, farReader := f.HostID("hmrc"), hmrc
	if hops == 2 {
		far, farReader = f.HostID("selec"), selec
	}
	// setup shares a record as far as the far gateway (untimed).
	setup := func() (string, error) {
		id, err := publishErr(met, selecBody("hmrc"))
		if err != nil {
			return "", err
		}
		if err := readable(hmrc, id, 200); err != nil || hops == 1 {
			return id, err
		}
		r, err := hmrc.Do("POST", "/v1/records/"+id+"/shares", api.ShareRequest{Recipients: []string{"selec"}, Note: "benchmark"})
		if err != nil {
			return "", err
		}
		if r.Status != http.StatusAccepted {
			return "", fmt.Errorf("onward share: %d %s", r.Status, r.Body)
		}
		var filed api.ConsentFiled
		if err := api.Decode(r.Body, &filed); err != nil {
			return "", err
		}
		err = until("consent request at the originator", func() (bool, error) {
			r, err := met.Do("POST", "/v1/consents/"+filed.ConsentID+"/approve", nil)
			if err != nil {
				return false, err
			}
			return r.Status == 200, nil
		})
		if err != nil {
			return "", err
		}
		return id, readable(selec, id, 200)
	}
	var ack, gone latencies
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		id, err := setup()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if r, err := met.Do("DELETE", "/v1/records/"+id, nil); err != nil || r.Status != 200 {
			b.Fatalf("recall: %v %v", r, err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			if errs[0] = settled(met, id, far, "recall", "acknowledged"); errs[0] == nil {
				ack.add(time.Since(t0))
			}
		}()
		go func() {
			defer wg.Done()
			if errs[1] = readable(farReader, id, 410); errs[1] == nil {
				gone.add(time.Since(t0))
			}
		}()
		wg.Wait()
		b.StopTimer()
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
	}
	ack.report(b, "ack-")
	gone.report(b, "gone-")
}
