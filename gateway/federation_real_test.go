package gateway_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/deploy/devstack"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestFederationRealBackends runs the share → read → recall flow across
// three gateways on the real dev stack: each gateway seals under its own
// Vault Transit keys (its own key-name prefix) and stores in its own MinIO
// bucket, as separate agencies' deployments would. Like the other real-stack
// tests it skips without the stack and fails under
// LIAISON_INTEGRATION=required.
func TestFederationRealBackends(t *testing.T) {
	m := devstack.MinIO(t)
	devstack.Vault(t)
	buckets := map[string]string{}
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Configure: func(id string, cfg *config.Config) {
		use, bucket := gatewaytest.UseDevStack(t)
		use(cfg)
		buckets[id] = bucket
	}})
	if len(buckets) != 3 {
		t.Fatalf("buckets %v: want one per gateway", buckets)
	}
	seen := map[string]bool{}
	for id, env := range f.Gateways {
		if env.Cfg.Store.Backend != "minio" || env.Cfg.Keys.Provider != "vault" {
			t.Fatalf("%s runs on %s/%s", id, env.Cfg.Store.Backend, env.Cfg.Keys.Provider)
		}
		// Distinct buckets and key prefixes: no gateway can open another's
		// objects with its own keys.
		for _, k := range []string{env.Cfg.Store.MinIO.Bucket, env.Cfg.Keys.Vault.KeyNamePattern} {
			if seen[k] {
				t.Fatalf("%s shares %q with another gateway", id, k)
			}
			seen[k] = true
		}
	}

	// A marker of this run only, in the content and in a protected field:
	// found in a bucket, it would be plaintext at rest.
	marker := "marker-" + gatewaytest.Unique(t)
	// Shared to hmrc and selec, hosted by the two other gateways.
	body := selecBody("hmrc", "selec")
	content := body["content"].(map[string]any)
	content["summary"] = content["summary"].(string) + " " + marker
	content["source_details"] = "handler notes: " + marker + "-chis"

	met := f.Client("met-police")
	readers := map[string]*gatewaytest.Client{
		"hmrc":  f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9"),
		"selec": f.Client("selec").With(hPurpose, "investigation", hJust, "SELEC case 12"),
	}
	id := publish(t, met, body)
	for agency, c := range readers {
		gw := f.HostID(agency)
		if d := deliveryState(t, met, id, gw, "share"); d.State != "delivered" || d.Receipt == "" {
			t.Fatalf("delivery to %s: %+v", gw, d)
		}
		r := waitStatus(t, c, "/v1/records/"+id, 200)
		if !strings.Contains(string(r.Body), marker) {
			t.Fatalf("%s reads at its gateway without the content: %s", agency, r.Body)
		}
	}

	raw := rawBucket(t, m.Endpoint, m.AccessKey, m.SecretKey)
	noPlaintext := func(when string) {
		t.Helper()
		for gw, bucket := range buckets {
			objs := bucketObjects(t, raw, bucket)
			if len(objs) == 0 {
				t.Fatalf("%s: nothing in %s's bucket %s", when, gw, bucket)
			}
			for k, b := range objs {
				if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte("Salford")) {
					t.Fatalf("%s: plaintext in %s's bucket %s, object %s", when, gw, bucket, k)
				}
			}
		}
	}
	// Each receiver's copy is in its own bucket (sealed), not read through
	// from the originator's.
	holds := func(gw string) bool {
		for k := range bucketObjects(t, raw, buckets[gw]) {
			if strings.HasPrefix(k, "records/"+id) {
				return true
			}
		}
		return false
	}
	for gw := range buckets {
		if !holds(gw) {
			t.Fatalf("the record is not in %s's bucket", gw)
		}
	}
	noPlaintext("after the share")

	if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("recall: %d %s", r.Status, r.Body)
	}
	for agency, c := range readers {
		gw := f.HostID(agency)
		if d := deliveryState(t, met, id, gw, "recall"); d.State != "acknowledged" || d.Receipt == "" {
			t.Fatalf("recall at %s: %+v", gw, d)
		}
		if r := c.MustDo("GET", "/v1/records/"+id, nil); r.Status != 410 {
			t.Fatalf("%s after the recall: %d %s", agency, r.Status, r.Body)
		}
	}
	noPlaintext("after the recall")
}
