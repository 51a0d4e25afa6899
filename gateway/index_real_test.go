package gateway_test

import (
	"slices"
	"testing"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestRealIndexSharedByReplicas: two replicas of one gateway on the real
// stack — MinIO, Vault and one PostgreSQL index — work as one gateway: a
// record published on one is listed (with filters) and found by a search
// on the other, and a recall on one removes it from the other's listings
// and searches.
func TestRealIndexSharedByReplicas(t *testing.T) {
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
	if a.Cfg.Index.Backend != "postgres" || b.Cfg.Index.Postgres.Schema != a.Cfg.Index.Postgres.Schema {
		t.Fatalf("replicas do not share the PostgreSQL index: %+v / %+v", a.Cfg.Index, b.Cfg.Index)
	}
	met := a.Client("met-police")
	id := publish(t, met, recordBody(func(m map[string]any) {
		m["ocg_ids"] = []any{"ocg-9001"}
		m["selectors"] = []any{map[string]any{"type": "iban", "value": "GB82 WEST 1234 5698 7654 32"}}
	}))
	other := publish(t, met, recordBody())

	if got := listIDs(t, b.Client("rocu-nw"), "ocg=ocg-9001"); !slices.Equal(got, []string{id}) {
		t.Fatalf("replica B lists %v for ocg-9001, want [%s]", got, id)
	}
	if got := listIDs(t, b.Client("rocu-nw"), ""); !slices.Equal(got, sorted(id, other)) {
		t.Fatalf("replica B lists %v, want %v", got, sorted(id, other))
	}
	search := func(env *gatewaytest.Env, agency string) *api.SearchResult {
		t.Helper()
		r := env.Client(agency).With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42", hCase, "OP-1").MustDo("POST", "/v1/search",
			map[string]any{"selectors": []any{map[string]any{"type": "iban", "value": "GB82WEST12345698765432"}}})
		if r.Status != 200 {
			t.Fatalf("search on a replica: %d %s", r.Status, r.Body)
		}
		return gatewaytest.Decode[api.SearchResult](t, r)
	}
	if res := search(b, "rocu-nw"); len(res.Selectors[0].Records) != 1 || res.Selectors[0].Records[0].ID != id {
		t.Fatalf("search on replica B: %+v", res)
	}
	// A reference issued by one replica is opaque but equally valid on the
	// other (same signing key): both issue hits for nca.
	if res := search(b, "nca"); len(res.Selectors[0].Hits) != 1 {
		t.Fatalf("hit on replica B: %+v", res)
	}
	// Recall on B; A no longer lists or finds it.
	if r := b.Client("met-police").MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("recall on B: %d %s", r.Status, r.Body)
	}
	if got := listIDs(t, a.Client("rocu-nw"), ""); !slices.Equal(got, []string{other}) {
		t.Fatalf("replica A lists %v after the recall, want [%s]", got, other)
	}
	if res := search(a, "nca"); res.Selectors[0].Outcome != api.SearchNoHit {
		t.Fatalf("a recalled record still hits: %+v", res)
	}
}
