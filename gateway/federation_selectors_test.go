package gateway_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestFederatedSelectorsStaySealed: a record with selectors shared to an
// agency at another gateway arrives with its selectors (the recipient reads
// them there and its own gateway's search finds the record), and neither
// gateway keeps a selector in clear anywhere on disk — store, outbox and
// inbox, index database or audit log.
func TestFederatedSelectorsStaySealed(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	met := f.Client("met-police")
	noClear := func(gw string) {
		t.Helper()
		_ = filepath.WalkDir(f.Gateways[gw].Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			if holdsClear(b, "WEST12345698765432", "WEST 1234") {
				t.Errorf("%s holds the selector in clear (%s)", gw, strings.TrimPrefix(p, f.Gateways[gw].Dir))
			}
			return nil
		})
	}
	// The receiving gateway is down: the share waits in the sender's
	// outbox, which must not hold the selector either.
	f.Host("hmrc").Stop()
	id := publish(t, met, recordBody(func(m map[string]any) {
		m["recipients"] = []string{"hmrc"}
		m["selectors"] = []any{map[string]any{"type": "iban", "value": "GB82 WEST 1234 5698 7654 32"}}
	}))
	noClear(f.HostID("met-police"))
	f.Restart(f.HostID("hmrc"))
	if d := deliveryState(t, met, id, f.HostID("hmrc"), "share"); d.State != "delivered" {
		t.Fatalf("delivery: %+v", d)
	}
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9", hCase, "CUS-9")
	r := hmrc.MustDo("GET", "/v1/records/"+id, nil)
	if r.Status != 200 || !bytes.Contains(r.Body, []byte("GB82 WEST 1234 5698 7654 32")) {
		t.Fatalf("the copy lacks its selectors: %d %s", r.Status, r.Body)
	}
	r = hmrc.MustDo("POST", "/v1/search", map[string]any{"selectors": []any{map[string]any{"type": "iban", "value": "GB82WEST12345698765432"}}})
	res := gatewaytest.Decode[api.SearchResult](t, r)
	if r.Status != 200 || len(res.Selectors[0].Records) != 1 || res.Selectors[0].Records[0].ID != id {
		t.Fatalf("hmrc's gateway does not find its copy by selector: %d %s", r.Status, r.Body)
	}
	noClear(f.HostID("met-police"))
	noClear(f.HostID("hmrc"))
}
