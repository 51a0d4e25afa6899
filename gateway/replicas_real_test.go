package gateway_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// startReplicaPair starts two replicas of one gateway on the real stack:
// one MinIO bucket, one Vault, one PostgreSQL index schema, the same
// certificate and signing key (one data directory's), and an audit log
// each.
func startReplicaPair(t *testing.T) (a, b *gatewaytest.Env) {
	t.Helper()
	stack, _ := gatewaytest.UseDevStack(t)
	pg, _ := gatewaytest.UsePostgres(t)
	a = gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) { stack(c); pg(c) }})
	auditB := t.TempDir()
	b = gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Dir: a.Dir, Configure: func(c *config.Config) {
		stack(c)
		pg(c)
		c.Audit.Path = auditB + "/audit"
	}})
	if a.Cfg.Store.MinIO.Bucket != b.Cfg.Store.MinIO.Bucket || a.Cfg.Audit.Path == b.Cfg.Audit.Path || a.Cfg.GatewayID != b.Cfg.GatewayID {
		t.Fatalf("not replicas: buckets %q %q, audit %q %q", a.Cfg.Store.MinIO.Bucket, b.Cfg.Store.MinIO.Bucket, a.Cfg.Audit.Path, b.Cfg.Audit.Path)
	}
	return a, b
}

// recordState reads a record's recipients and version as the originator
// sees them.
func recordState(t *testing.T, c *gatewaytest.Client, id string) (recipients []string, version int) {
	t.Helper()
	r := c.MustDo("GET", "/v1/records/"+id, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("read %s: %d %s", id, r.Status, r.Body)
	}
	rec := gatewaytest.Decode[api.Record](t, r)
	return rec.Meta.Recipients, rec.Meta.Version
}

// TestReplicasConcurrentSharesRealStack: two replicas each share the same
// record at the same moment, many times over. Without compare-and-swap the
// later write of two that read the same version silently drops the
// other's recipient; with it, every share answered 200 is one version of
// the record (version = 1 + successful shares) and every recipient any of
// them added is there. (Shown to fail with IfMatch disabled in
// recordstore.replace: versions were lost.)
func TestReplicasConcurrentSharesRealStack(t *testing.T) {
	a, b := startReplicaPair(t)
	metA, metB := a.Client("met-police"), b.Client("met-police")
	shared := 0 // shares answered 200, over every subtest

	t.Run("two shares at once both count", func(t *testing.T) {
		id := publish(t, metA, recordBody(func(m map[string]any) { m["recipients"] = []string{} }))
		var wg sync.WaitGroup
		res := make([]*gatewaytest.Response, 2)
		wg.Go(func() {
			res[0] = metA.MustDo("POST", "/v1/records/"+id+"/shares", api.ShareRequest{Recipients: []string{"nca"}})
		})
		wg.Go(func() {
			res[1] = metB.MustDo("POST", "/v1/records/"+id+"/shares", api.ShareRequest{Recipients: []string{"hmrc"}})
		})
		wg.Wait()
		for i, r := range res {
			if r.Status != http.StatusOK {
				t.Fatalf("share %d: %d %s", i, r.Status, r.Body)
			}
			shared++
		}
		for _, c := range []*gatewaytest.Client{metA, metB} {
			rcp, v := recordState(t, c, id)
			if !slices.Contains(rcp, "nca") || !slices.Contains(rcp, "hmrc") || v != 3 {
				t.Fatalf("after two concurrent shares: recipients %v, version %d; want nca and hmrc, version 3", rcp, v)
			}
		}
	})

	t.Run("many shares from both replicas lose none", func(t *testing.T) {
		id := publish(t, metA, recordBody(func(m map[string]any) { m["recipients"] = []string{} }))
		agencies := []string{"rocu-nw", "nca", "hmrc"}
		const perReplica = 6
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			ok       int
			added    = map[string]bool{}
			statuses = map[int]int{}
		)
		for i := range 2 * perReplica {
			c := metA
			if i%2 == 1 {
				c = metB
			}
			ag := agencies[i%len(agencies)]
			wg.Go(func() {
				r, err := c.Do("POST", "/v1/records/"+id+"/shares", api.ShareRequest{Recipients: []string{ag}})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					statuses[-1]++
					return
				}
				statuses[r.Status]++
				if r.Status == http.StatusOK {
					ok++
					added[ag] = true
				}
			})
		}
		wg.Wait()
		shared += ok
		t.Logf("%d concurrent shares from two replicas: statuses %v", 2*perReplica, statuses)
		for st, n := range statuses {
			// 409 is the documented answer when a request loses every
			// attempt; anything else is a failure.
			if st != http.StatusOK && st != http.StatusConflict {
				t.Fatalf("%d shares answered %d", n, st)
			}
		}
		rcp, v := recordState(t, metB, id)
		if v != 1+ok {
			t.Fatalf("version %d after %d successful shares: %d updates lost", v, ok, 1+ok-v)
		}
		for ag := range added {
			if !slices.Contains(rcp, ag) {
				t.Fatalf("recipient %s was acknowledged but is missing: %v", ag, rcp)
			}
		}
		for _, ag := range agencies {
			if added[ag] {
				c := a.Client(ag).With(hPurpose, "investigation", hJust, "replica test")
				if r := c.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusOK {
					t.Fatalf("recipient %s cannot read: %d %s", ag, r.Status, r.Body)
				}
			}
		}
	})

	t.Run("share against recall never resurrects", func(t *testing.T) {
		for round := range 4 {
			id := publish(t, metA, recordBody(func(m map[string]any) { m["recipients"] = []string{} }))
			var wg sync.WaitGroup
			var share, recall *gatewaytest.Response
			sharer, recaller := metA, metB
			if round%2 == 1 {
				sharer, recaller = metB, metA
			}
			wg.Go(func() {
				share = sharer.MustDo("POST", "/v1/records/"+id+"/shares", api.ShareRequest{Recipients: []string{"nca"}})
			})
			wg.Go(func() { recall = recaller.MustDo("DELETE", "/v1/records/"+id, nil) })
			wg.Wait()
			if recall.Status != http.StatusOK {
				t.Fatalf("round %d: recall: %d %s", round, recall.Status, recall.Body)
			}
			// The share either committed before the recall (200) or
			// found the record recalled (410).
			if share.Status != http.StatusOK && share.Status != http.StatusGone {
				t.Fatalf("round %d: share: %d %s", round, share.Status, share.Body)
			}
			if share.Status == http.StatusOK {
				shared++
			}
			for _, c := range []*gatewaytest.Client{metA, metB, a.Client("nca").With(hPurpose, "investigation", hJust, "replica test")} {
				if r := c.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusGone && r.Status != http.StatusNotFound {
					t.Fatalf("round %d: the recalled record answers %d after a concurrent share (%d): %s", round, r.Status, share.Status, r.Body)
				}
			}
		}
	})

	t.Run("each share is audited once, lost attempts corrected", func(t *testing.T) {
		// A share whose commit lost a race has its disclosure entry
		// corrected (status 409) and is decided and audited again; the
		// disclosures left standing are exactly the shares answered 200.
		standing, corrections := 0, 0
		for _, env := range []*gatewaytest.Env{a, b} {
			evs := env.Audit()
			bySeq := map[uint64]audit.Event{}
			corrected := map[uint64]bool{}
			for _, ev := range evs {
				bySeq[ev.Seq] = ev
			}
			for _, ev := range evs {
				if ev.Corrects == 0 {
					continue
				}
				orig, ok := bySeq[ev.Corrects]
				if !ok || orig.Operation != ev.Operation || orig.RequestID != ev.RequestID {
					t.Fatalf("correction %d points at %d, not an entry of its request: %+v", ev.Seq, ev.Corrects, orig)
				}
				corrected[ev.Corrects] = true
				if ev.Status == http.StatusConflict {
					corrections++
				}
			}
			for _, ev := range evs {
				if ev.Operation == audit.OpDisclosure && strings.HasSuffix(ev.Route, "/shares") && ev.Status == http.StatusOK && !corrected[ev.Seq] {
					standing++
				}
			}
		}
		t.Logf("audit over both replicas: %d share disclosures standing, %d lost attempts corrected with 409", standing, corrections)
		if standing != shared {
			t.Fatalf("%d share disclosures stand in the audit logs, but %d shares were answered 200", standing, shared)
		}
	})
}
