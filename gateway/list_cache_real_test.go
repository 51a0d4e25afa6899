package gateway_test

import (
	"slices"
	"testing"

	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestRealListCacheAcrossReplicas: on the real stack (MinIO, Vault, one
// PostgreSQL index), a record that replica A's cache of verified metadata
// holds and that replica B recalls is not listed by A afterwards: A reads
// the object from MinIO on every listing, and the tombstone B wrote there
// has other bytes than what A's cache holds.
func TestRealListCacheAcrossReplicas(t *testing.T) {
	use, _ := gatewaytest.UseDevStack(t)
	pg, _ := gatewaytest.UsePostgres(t)
	dir := t.TempDir()
	a := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true, Configure: func(c *config.Config) { use(c); pg(c) }})
	auditB := t.TempDir()
	b := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true, Configure: func(c *config.Config) {
		use(c)
		pg(c)
		c.Audit.Path = auditB + "/audit"
	}})
	met := a.Client("met-police")
	id := publish(t, met, recordBody())
	other := publish(t, met, recordBody())
	rocuA := a.Client("rocu-nw")
	hits0, _, _ := a.GW.ListCacheStats()
	for range 2 {
		if got := listIDs(t, rocuA, ""); !slices.Equal(got, sorted(id, other)) {
			t.Fatalf("replica A lists %v, want %v", got, sorted(id, other))
		}
	}
	if hits, _, _ := a.GW.ListCacheStats(); hits-hits0 < 2 {
		t.Fatalf("replica A's second listing was not served from its cache (%d hits)", hits-hits0)
	}
	if r := b.Client("met-police").MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("recall on B: %d %s", r.Status, r.Body)
	}
	if got := listIDs(t, rocuA, ""); !slices.Equal(got, []string{other}) {
		t.Fatalf("replica A lists %v after B recalled %s, want [%s]", got, id, other)
	}
}
