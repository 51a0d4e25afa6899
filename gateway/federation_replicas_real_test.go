package gateway_test

import (
	"testing"

	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// Two replicas of one gateway behind one MinIO bucket and one Vault work
// as one member of the federation: a record published on one replica is
// delivered, the other replica sees its delivery state and recalls it, and
// the recall reaches the peer. Each gateway has its own bucket and Vault
// key prefix.
func TestFederationReplicasRealStack(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Gateways: 2, Configure: func(_ string, cfg *config.Config) {
		use, _ := gatewaytest.UseDevStack(t)
		use(cfg)
	}})
	police := f.HostID("met-police")
	a := f.Gateways[police]
	b := f.StartReplica(police)
	if a.Cfg.Store.MinIO.Bucket == "" || b.Cfg.Store.MinIO.Bucket != a.Cfg.Store.MinIO.Bucket || a.Cfg.Audit.Path == b.Cfg.Audit.Path {
		t.Fatalf("replicas: buckets %q %q, audit %q %q", a.Cfg.Store.MinIO.Bucket, b.Cfg.Store.MinIO.Bucket, a.Cfg.Audit.Path, b.Cfg.Audit.Path)
	}
	if f.Host("hmrc").Cfg.Store.MinIO.Bucket == a.Cfg.Store.MinIO.Bucket {
		t.Fatal("the peer shares the bucket")
	}
	metA, metB := a.Client("met-police"), b.Client("met-police")
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")

	id := publish(t, metA, recordBody(func(m map[string]any) { m["recipients"] = []string{"hmrc"} }))
	if d := deliveryState(t, metB, id, f.HostID("hmrc"), "share"); d.State != "delivered" {
		t.Fatalf("seen from the other replica: %+v", d)
	}
	waitStatus(t, hmrc, "/v1/records/"+id, 200)
	if r := metB.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("recall on the other replica: %d %s", r.Status, r.Body)
	}
	if d := deliveryState(t, metA, id, f.HostID("hmrc"), "recall"); d.State != "acknowledged" {
		t.Fatalf("recall: %+v", d)
	}
	waitStatus(t, hmrc, "/v1/records/"+id, 410)
}
