package fedproc_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/devnet"
	"github.com/liaison-project/liaison/gateway/federation"
)

// faultProxy is a TCP proxy (toxiproxy, as a library) between a gateway
// and one of its peers' federation listener.
type faultProxy struct {
	t     *testing.T
	proxy *toxiproxy.Proxy
}

func newFaultProxy(t *testing.T, upstream string) *faultProxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "federation", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &faultProxy{t: t, proxy: p}
}

func (fp *faultProxy) port() string {
	_, port, err := net.SplitHostPort(fp.proxy.Listen)
	if err != nil {
		fp.t.Fatal(err)
	}
	return port
}

// cut drops every byte in the given directions ("upstream": towards the
// peer; "downstream": its answers) and closes a connection after silent ms.
func (fp *faultProxy) cut(ms int, streams ...string) {
	fp.t.Helper()
	for _, s := range streams {
		js := `{"name":"cut-` + s + `","type":"timeout","stream":"` + s + `","attributes":{"timeout":` + strconv.Itoa(ms) + `}}`
		if _, err := fp.proxy.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
			fp.t.Fatal(err)
		}
	}
}

// heal removes the cuts.
func (fp *faultProxy) heal(streams ...string) {
	fp.t.Helper()
	for _, s := range streams {
		if err := fp.proxy.Toxics.RemoveToxic(context.Background(), "cut-"+s); err != nil {
			fp.t.Fatal(err)
		}
	}
}

// A network partition between gw-police and gw-national, injected with a
// TCP fault proxy on gw-police's route to gw-national's federation
// listener: first only the answers are lost (the receiver applies a share
// the sender never hears about), then both directions. Shares made across
// it stay pending with the error visible in `records status`; a record
// recalled during the partition is never readable at the receiver; after
// the heal everything is delivered, each message applied once.
func TestProcessesPartitionHealed(t *testing.T) {
	began := time.Now()
	var fp *faultProxy
	f := start(t, func(n *devnet.Net, nd *devnet.Node) {
		national := n.Host("hmrc")
		if fp == nil {
			fp = newFaultProxy(t, national.Config.Federation.Listen)
		}
		if nd.ID != n.Host("met-police").ID {
			return
		}
		// Ledgers compared often, so that a round after the heal is seen.
		nd.Config.Federation.ReconcileInterval = 300 * time.Millisecond
		for i := range nd.Config.Federation.Peers {
			if p := &nd.Config.Federation.Peers[i]; p.ID == national.ID {
				p.Endpoint = "https://localhost:" + fp.port()
			}
		}
	})
	police, national := f.Host("met-police"), f.Host("hmrc")
	met := f.Client("met-police")
	hmrc := newReader(t, f, "hmrc", "customs referral 9")
	body := recordBody(t, func(m map[string]any) { m["recipients"] = []string{"hmrc"} })
	publish := func() string {
		t.Helper()
		st, b := mustDo(t, met, http.MethodPost, f.URL("met-police")+"/v1/records", body, nil)
		if st != http.StatusCreated {
			t.Fatalf("publish: %d %s", st, b)
		}
		return decode[api.Published](t, b).ID
	}
	status := func(id string) api.Deliveries {
		return decode[api.Deliveries](t, []byte(mustCLI(t, f, "records", "status", "--profile", "met-police", "-o", "json", id)))
	}
	waitState := func(id, typ, want string) *api.Delivery {
		t.Helper()
		deadline := time.Now().Add(settle)
		for {
			d := find(deliveries(t, met, f.URL("met-police"), id), national.ID, typ)
			if d != nil && d.State == want {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s of %s to %s: %+v, want %s", typ, id, national.ID, d, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	accepts := func(id string) (entries int) {
		for _, e := range auditOf(t, national, audit.Filter{RecordID: id, Action: "federation.accept"}) {
			if e.Operation == audit.OpCollection {
				entries++
			}
		}
		return entries
	}

	// Through the proxy, healthy: this also leaves gw-police a pooled
	// connection to gw-national, which the next step needs.
	first := publish()
	waitState(first, "share", "delivered")
	hmrc.waitRead(t, first, http.StatusOK)

	t.Run("answers lost: applied at the receiver once, settled after the heal", func(t *testing.T) {
		// The connection is closed only after 15 s of silence: long
		// enough for a loaded receiver to read and apply the share (the
		// heal, as soon as it has, closes it anyway).
		fp.cut(15000, "downstream")
		id := publish()
		// The share went out on the open connection and was applied;
		// its receipt never came back.
		deadline := time.Now().Add(settle)
		for accepts(id) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the share never reached the receiver")
			}
			time.Sleep(100 * time.Millisecond)
		}
		d := find(status(id), national.ID, "share")
		if d == nil || d.State != "pending" {
			t.Fatalf("at the sender, while the answer is lost: %+v", d)
		}
		fp.heal("downstream")
		d = waitState(id, "share", "delivered")
		// The re-send carried the same message id: the receiver's inbox
		// answered with the original receipt, no second entry.
		if rc := receipt(t, national, d.Receipt); rc.MessageID != d.MessageID || rc.Outcome != "accepted" {
			t.Fatalf("receipt %+v", rc)
		}
		if n := accepts(id); n != 1 {
			t.Fatalf("%d acceptance entries at %s for one message", n, national.ID)
		}
		hmrc.waitRead(t, id, http.StatusOK)
	})

	t.Run("both directions cut: pending with errors, then delivered once", func(t *testing.T) {
		fp.cut(500, "upstream", "downstream")
		var ids []string
		for range 8 {
			ids = append(ids, publish())
		}
		recalled := map[string]bool{ids[2]: true, ids[5]: true}
		for id := range recalled {
			if st, b := mustDo(t, met, http.MethodDelete, f.URL("met-police")+"/v1/records/"+id, nil, nil); st != http.StatusOK {
				t.Fatalf("recall: %d %s", st, b)
			}
		}
		deadline := time.Now().Add(settle)
		for {
			d := find(status(ids[0]), national.ID, "share")
			if d == nil || d.State != "pending" {
				t.Fatalf("during the partition: %+v", d)
			}
			if d.Error != "" {
				t.Logf("pending: %s", d.Error)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no delivery error shown during the partition")
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, id := range ids {
			if st, _ := hmrc.get(t, id); st == http.StatusOK {
				t.Fatalf("%s readable at %s across the partition", id, national.ID)
			}
		}
		fp.heal("upstream", "downstream")
		healed := time.Now()
		for _, id := range ids {
			if recalled[id] {
				waitState(id, "recall", "acknowledged")
				// Recalled before it could be sent: never sent at all.
				if d := find(deliveries(t, met, f.URL("met-police"), id), national.ID, "share"); d == nil || d.State != "recalled" {
					t.Errorf("share of %s recalled during the partition: %+v", id, d)
				}
				if st, _ := hmrc.get(t, id); st == http.StatusOK {
					t.Errorf("recalled %s readable at %s", id, national.ID)
				}
				if n := accepts(id); n != 0 {
					t.Errorf("recalled %s accepted %d times at %s", id, n, national.ID)
				}
				continue
			}
			waitState(id, "share", "delivered")
			b := hmrc.waitRead(t, id, http.StatusOK)
			if rec := decode[api.Record](t, b); rec.Meta.Version != 1 {
				t.Errorf("%s at version %d", id, rec.Meta.Version)
			}
			if n := accepts(id); n != 1 {
				t.Errorf("%s: %d acceptance entries at %s", id, n, national.ID)
			}
		}
		sent := 0
		for _, e := range auditOf(t, police, audit.Filter{Action: "federation.deliver"}) {
			if e.Federation != nil && e.Federation.Outcome == "accepted" {
				sent++
			}
		}
		if want := 2 + len(ids) - len(recalled); sent != want {
			t.Errorf("%d deliveries settled accepted at %s, want %d", sent, police.ID, want)
		}
		// Then reconciliation: a round after the heal compares both
		// ledgers and finds nothing to repair (retries delivered it all).
		deadline = time.Now().Add(settle)
		for {
			var states []federation.PeerState
			resp, err := http.Get(police.AdminURL() + "/federation/peers")
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(resp.Body).Decode(&states)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			var ps *federation.PeerState
			for i := range states {
				if states[i].ID == national.ID {
					ps = &states[i]
				}
			}
			if ps != nil && ps.LastReconciled.After(healed.Add(time.Second)) {
				if ps.Repairs != 0 || ps.Discrepancies != 0 {
					t.Errorf("reconciliation after the heal: %d repairs, %d discrepancies", ps.Repairs, ps.Discrepancies)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no reconciliation round after the heal: %+v", ps)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	t.Logf("took %v", time.Since(began).Round(time.Second))
}
