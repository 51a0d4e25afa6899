package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// deliveryState polls the originator's delivery status until gateway's
// message of type typ is in a settled state (or the deadline passes).
func deliveryState(t *testing.T, c *gatewaytest.Client, id, gateway, typ string) api.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last api.Delivery
	for time.Now().Before(deadline) {
		r := c.MustDo("GET", "/v1/records/"+id+"/deliveries", nil)
		if r.Status != 200 {
			t.Fatalf("deliveries: %d %s", r.Status, r.Body)
		}
		for _, d := range gatewaytest.Decode[api.Deliveries](t, r).Items {
			if d.Gateway == gateway && d.Type == typ {
				last = d
				if d.State != "pending" {
					return d
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s to %s not settled: last %+v", typ, gateway, last)
	return last
}

func TestFederationShareReadRecall(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	met := f.Client("met-police")
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	nca := f.Client("nca").With(hPurpose, "investigation", hJust, "NCA tasking 7")
	rocu := f.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")

	id := publish(t, met, recordBody(func(m map[string]any) { m["recipients"] = []string{"rocu-nw", "hmrc"} }))

	d := deliveryState(t, met, id, f.HostID("hmrc"), "share")
	if d.State != "delivered" || d.Receipt == "" || strings.Join(d.Agencies, ",") != "hmrc" {
		t.Fatalf("delivery to hmrc's gateway: %+v", d)
	}
	t.Run("the recipient reads its own gateway's copy", func(t *testing.T) {
		r := hmrc.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), "Salford") {
			t.Fatalf("hmrc at its gateway: %d %s", r.Status, r.Body)
		}
		rec := gatewaytest.Decode[api.Record](t, r)
		if rec.Meta.Originator.OrgID != "met-police" {
			t.Fatalf("originator %+v", rec.Meta.Originator)
		}
		if r := nca.MustDo("GET", "/v1/records/"+id, nil); r.Status != 404 {
			t.Fatalf("nca (same gateway, not a recipient): %d", r.Status)
		}
		// The copy is sealed under gw-border's keys: its store never holds
		// the content in clear.
		for _, p := range storeFilesIn(t, f.Host("hmrc")) {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte("Salford")) {
				t.Fatalf("plaintext in gw-border's store: %s", p)
			}
		}
		if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("local recipient rocu-nw: %d", r.Status)
		}
	})
	t.Run("two-sided evidence", func(t *testing.T) {
		sent := findFed(f.Host("met-police").Audit(), "sent", "share")
		recv := findFed(f.Host("hmrc").Audit(), "received", "share")
		if sent == nil || recv == nil {
			t.Fatalf("sent %v received %v", sent, recv)
		}
		if sent.Federation.Receipt == "" || recv.Federation.Envelope == "" || sent.Federation.MessageID != recv.Federation.MessageID {
			t.Fatalf("evidence: sent %+v received %+v", sent.Federation, recv.Federation)
		}
		if sent.Federation.Envelope != recv.Federation.Envelope {
			t.Fatalf("the two sides hold different envelopes")
		}
	})
	t.Run("recall propagates and is acknowledged", func(t *testing.T) {
		if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("recall: %d %s", r.Status, r.Body)
		}
		d := deliveryState(t, met, id, f.HostID("hmrc"), "recall")
		if d.State != "acknowledged" || d.Receipt == "" {
			t.Fatalf("recall at gw-border: %+v", d)
		}
		if r := hmrc.MustDo("GET", "/v1/records/"+id, nil); r.Status != 410 {
			t.Fatalf("hmrc after the recall: %d %s", r.Status, r.Body)
		}
	})
}

func TestFederationRefusesStrangers(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	border := f.Host("hmrc")
	fedURL := "https://" + border.Cfg.Federation.Listen + "/fed/v1/messages"
	t.Run("an agency certificate on the federation listener", func(t *testing.T) {
		// met-police's certificate is issued by gw-police's CA, the bundle
		// gw-border pins for gw-police: it verifies, but names no gateway.
		tc, err := f.Host("met-police").Fed.ClientTLSConfig("met-police", "localhost")
		if err != nil {
			t.Fatal(err)
		}
		tc.InsecureSkipVerify = true
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		defer c.CloseIdleConnections()
		resp, err := c.Post(fedURL, "application/json", strings.NewReader(`{"envelope":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("agency certificate at /fed: %d", resp.StatusCode)
		}
	})
	t.Run("a gateway certificate on the agency listener", func(t *testing.T) {
		police := f.Host("met-police")
		cert, _ := os.ReadFile(police.Fed.GatewayCertFile)
		key, _ := os.ReadFile(police.Fed.GatewayKeyFile)
		r, err := border.ClientWithCert(cert, key).Do("GET", "/v1/records", nil)
		if err == nil && r.Status < 400 {
			t.Fatalf("gateway certificate accepted as an agency: %d", r.Status)
		}
	})
	var denials int
	for _, e := range border.Audit() {
		if e.Action == "federation.connect" && e.Status == 404 {
			denials++
		}
	}
	if denials == 0 {
		t.Fatal("the refused federation caller was not audited")
	}
}

func findFed(evs []audit.Event, dir, typ string) *audit.Event {
	for i := range evs {
		if f := evs[i].Federation; f != nil && f.Direction == dir && f.Type == typ && f.Outcome != "rejected" {
			return &evs[i]
		}
	}
	return nil
}

func storeFilesIn(t *testing.T, env *gatewaytest.Env) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(env.Cfg.Store.FS.Dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() && strings.HasPrefix(info.Name(), "~") {
			return filepath.SkipDir // the store's own write locks and temporary files, not objects
		}
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestFederationMetrics(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Gateways: 2})
	met := f.Client("met-police")
	id := publish(t, met, recordBody(func(m map[string]any) { m["recipients"] = []string{"hmrc"} }))
	deliveryState(t, met, id, f.HostID("hmrc"), "share")
	scrape := func(env *gatewaytest.Env) string {
		resp, err := env.AdminGet("/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	national := f.HostID("hmrc")
	sent := scrape(f.Host("met-police"))
	if !strings.Contains(sent, `liaison_federation_messages_total{direction="sent",outcome="accepted",peer="`+national+`",type="share"} 1`) ||
		!strings.Contains(sent, `liaison_federation_delivery_seconds_count{peer="`+national+`",type="share"} 1`) {
		t.Fatalf("sender's metrics:\n%s", grepLines(sent, "liaison_federation"))
	}
	if recv := scrape(f.Host("hmrc")); !strings.Contains(recv, `liaison_federation_messages_total{direction="received",outcome="accepted",peer="`+f.HostID("met-police")+`",type="share"} 1`) {
		t.Fatalf("receiver's metrics:\n%s", grepLines(recv, "liaison_federation"))
	}
	if strings.Contains(sent, id) {
		t.Fatal("a record id in the metrics")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
