package gateway_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/policies"
)

// selecBody is a record from met-police under dsa-selec-ops (met-police
// provides; hmrc both; selec receives).
func selecBody(recipients ...string) map[string]any {
	return recordBody(func(m map[string]any) {
		m["dsa_ids"] = []string{"dsa-selec-ops"}
		m["recipients"] = recipients
	})
}

// waitStatus polls GET path as c until it answers want (or fails).
func waitStatus(t *testing.T, c *gatewaytest.Client, path string, want int) *gatewaytest.Response {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var r *gatewaytest.Response
	for time.Now().Before(deadline) {
		r = c.MustDo("GET", path, nil)
		if r.Status == want {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: %d %s, want %d", path, r.Status, r.Body, want)
	return nil
}

func TestFederationOnwardConsentAndRecallTwoHops(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	met := f.Client("met-police")
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	selec := f.Client("selec").With(hPurpose, "investigation", hJust, "SELEC case 12")

	id := publish(t, met, selecBody("hmrc"))
	if d := deliveryState(t, met, id, f.HostID("hmrc"), "share"); d.State != "delivered" {
		t.Fatalf("delivery: %+v", d)
	}
	if r := selec.MustDo("GET", "/v1/records/"+id, nil); r.Status != 404 {
		t.Fatalf("selec before the onward share: %d", r.Status)
	}

	// hmrc asks to share onward to selec, hosted by a third gateway: the
	// request goes to the originator's gateway.
	r := hmrc.MustDo("POST", "/v1/records/"+id+"/shares", api.ShareRequest{Recipients: []string{"selec"}, Note: "SELEC leads"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("onward share: %d %s", r.Status, r.Body)
	}
	consentID := gatewaytest.Decode[api.ConsentFiled](t, r).ConsentID
	var pending *api.ConsentList
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		pending = gatewaytest.Decode[api.ConsentList](t, met.MustDo("GET", "/v1/consents", nil))
		if len(pending.Items) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(pending.Items) != 1 || pending.Items[0].ConsentID != consentID || pending.Items[0].RequestedBy != "hmrc" || pending.Items[0].Role != "originator" {
		t.Fatalf("the originator's pending requests: %+v", pending.Items)
	}
	if r := met.MustDo("POST", "/v1/consents/"+consentID+"/approve", nil); r.Status != 200 {
		t.Fatalf("approve: %d %s", r.Status, r.Body)
	}
	// The approval travels back; gw-national makes the share; gw-intl
	// verifies the originator gateway's receipt and accepts.
	rr := waitStatus(t, selec, "/v1/records/"+id, 200)
	if !strings.Contains(string(rr.Body), "Salford") {
		t.Fatalf("selec reads: %s", rr.Body)
	}
	requester := gatewaytest.Decode[api.ConsentList](t, hmrc.MustDo("GET", "/v1/consents?state=all", nil))
	if len(requester.Items) != 1 || requester.Items[0].State != "approved" {
		t.Fatalf("the requester's view: %+v", requester.Items)
	}

	// The recall reaches the copy two hops away, and its acknowledgement
	// comes back to the originator through the middle gateway.
	if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("recall: %d", r.Status)
	}
	d := deliveryState(t, met, id, f.HostID("selec"), "recall")
	if d.State != "acknowledged" || d.Via != f.HostID("hmrc") || !d.Verified {
		t.Fatalf("two-hop acknowledgement: %+v", d)
	}
	waitStatus(t, selec, "/v1/records/"+id, 410)
	waitStatus(t, hmrc, "/v1/records/"+id, 410)
}

// suspendDSA writes the bundled policy library to dir with dsa suspended:
// a gateway's own copy of the DSAs, which it decides acceptance with.
func suspendDSA(t *testing.T, dir, dsa string) {
	t.Helper()
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "data", "dsas.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["dsas"][dsa]["status"] = "suspended"
	b, _ = json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFederationReceiverRefusesUnderItsOwnDSA(t *testing.T) {
	polDir := t.TempDir()
	suspendDSA(t, polDir, "dsa-selec-ops")
	var intl string
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Configure: func(id string, cfg *config.Config) {
		for _, a := range cfg.Federation.Agencies {
			if a == "selec" {
				cfg.Policy.Dir, intl = polDir, id
			}
		}
	}})
	met := f.Client("met-police")
	selec := f.Client("selec").With(hPurpose, "investigation", hJust, "SELEC case 12")
	// The originator's gateway holds the DSA active and sends; the
	// receiver holds it suspended and refuses, with public reasons.
	id := publish(t, met, selecBody("selec"))
	d := deliveryState(t, met, id, intl, "share")
	if d.State != "refused" || len(d.Reasons) == 0 || d.Receipt == "" {
		t.Fatalf("delivery to %s: %+v", intl, d)
	}
	if r := selec.MustDo("GET", "/v1/records/"+id, nil); r.Status != 404 {
		t.Fatalf("selec reads a refused record: %d", r.Status)
	}
}

func TestFederationPeerDownThenBack(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	met := f.Client("met-police")
	national := f.HostID("hmrc")
	f.Gateways[national].Stop()
	id := publish(t, met, recordBody(func(m map[string]any) { m["recipients"] = []string{"hmrc"} }))
	time.Sleep(300 * time.Millisecond) // a few failed attempts
	r := met.MustDo("GET", "/v1/records/"+id+"/deliveries", nil)
	ds := gatewaytest.Decode[api.Deliveries](t, r)
	if len(ds.Items) != 1 || ds.Items[0].State != "pending" || ds.Items[0].Error == "" {
		t.Fatalf("while the peer is down: %+v", ds.Items)
	}
	f.Restart(national)
	if d := deliveryState(t, met, id, national, "share"); d.State != "delivered" {
		t.Fatalf("after the peer returned: %+v", d)
	}
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	waitStatus(t, hmrc, "/v1/records/"+id, 200)
}

// setDSAStatus edits a gateway's own copy of the DSAs in place.
func setDSAStatus(t *testing.T, dir, dsa, status string) {
	t.Helper()
	p := filepath.Join(dir, "data", "dsas.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["dsas"][dsa]["status"] = status
	b, _ = json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A recall is never blocked by a suspended DSA: suspended at the
// originator's gateway and at the receiver's, the recall still reaches the
// copy and is acknowledged.
func TestFederationRecallNotBlockedBySuspendedDSA(t *testing.T) {
	dirs := map[string]string{}
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Gateways: 2, Configure: func(id string, cfg *config.Config) {
		if dirs[id] == "" {
			dirs[id] = t.TempDir()
			if err := os.CopyFS(dirs[id], policies.FS()); err != nil {
				t.Fatal(err)
			}
		}
		cfg.Policy.Dir = dirs[id]
	}})
	met := f.Client("met-police")
	national := f.HostID("hmrc")
	id := publish(t, met, selecBody("hmrc"))
	if d := deliveryState(t, met, id, national, "share"); d.State != "delivered" {
		t.Fatalf("delivery: %+v", d)
	}
	for gw, dir := range dirs {
		setDSAStatus(t, dir, "dsa-selec-ops", "suspended")
		f.Restart(gw)
	}
	met = f.Client("met-police")
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	if r := hmrc.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusForbidden {
		t.Fatalf("read under the suspended DSA: %d %s", r.Status, r.Body)
	}
	if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("recall under a suspended DSA: %d %s", r.Status, r.Body)
	}
	if d := deliveryState(t, met, id, national, "recall"); d.State != "acknowledged" {
		t.Fatalf("recall at the receiver under a suspended DSA: %+v", d)
	}
	waitStatus(t, hmrc, "/v1/records/"+id, http.StatusGone)
}
