package gateway_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// BenchmarkOversight10k: the oversight endpoints over a 10,000-entry log,
// through the real gateway (mutual TLS, policy, audit of each call). The
// log is written with the default checkpoint policy (every 1,000 entries
// or every minute), so a proof usually comes from the prover the gateway
// keeps, rebuilt when a newer checkpoint appears.
func BenchmarkOversight10k(b *testing.B) {
	const n = 10_000
	env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Audit.CheckpointEvery = 1000
	}})
	met := env.Client("met-police")
	id := publishB(b, met)
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "Operation KINGFISHER lead 42")
	aud := officer(env, "rocu-nw", "aud-rocu", "auditor")
	// Fill the log: reads (disclosures under dsa-uk-soc) and audit queries.
	var wg sync.WaitGroup
	per := n / 16
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				c, path := aud, "/v1/audit?limit=1"
				if (w+i)%10 == 0 {
					c, path = rocu, "/v1/records/"+id
				}
				if r, err := c.Do("GET", path, nil); err != nil || r.Status != 200 {
					b.Errorf("fill: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs := env.Audit()
	if len(evs) < n {
		b.Fatalf("log holds %d entries", len(evs))
	}
	// A seq the last checkpoint (every 1,000 entries) covers.
	signed := uint64(len(evs)) / 1000 * 1000
	var seq uint64
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Seq <= signed && evs[i].Agency == "rocu-nw" {
			seq = evs[i].Seq
			break
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if r := aud.MustDo("GET", "/v1/audit/proof?seq="+strconv.FormatUint(seq, 10), nil); r.Status == 200 {
			break
		} else if time.Now().After(deadline) {
			b.Fatalf("proof of %d: %d %s", seq, r.Status, r.Body)
		}
	}
	run := func(name, method, path string, body any) {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				if r := aud.MustDo(method, path, body); r.Status != 200 {
					b.Fatalf("%s: %d %s", name, r.Status, r.Body)
				}
			}
		})
	}
	run("proof", "GET", "/v1/audit/proof?seq="+strconv.FormatUint(seq, 10), nil)
	run("stats", "GET", "/v1/audit/stats", nil)
	run("evidence-record", "POST", "/v1/audit/evidence", map[string]any{"record": id})
	run("audit-page", "GET", "/v1/audit?limit=100", nil)
}

func publishB(b *testing.B, c *gatewaytest.Client) string {
	b.Helper()
	r := c.MustDo("POST", "/v1/records", recordBody())
	if r.Status != 201 {
		b.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	id, _ := r.JSON["id"].(string)
	return id
}
