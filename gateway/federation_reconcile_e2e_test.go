package gateway_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// readStatus polls agency c's read of record id until it answers want (or
// the deadline passes), and returns the last status.
func readStatus(t *testing.T, c *gatewaytest.Client, id string, want int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := c.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status == want || time.Now().After(deadline) {
			return r.Status
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reconciled finds the sender's reconciliation entry that queued message
// msgID again.
func reconciled(evs []audit.Event, peer, msgID string) *audit.Event {
	for i := range evs {
		f := evs[i].Federation
		if f == nil || f.Direction != "reconciled" || f.PeerGateway != peer || f.Reconciliation == nil {
			continue
		}
		if slices.ContainsFunc(f.Reconciliation.Repaired, func(m audit.ReconciledMessage) bool { return m.MessageID == msgID }) {
			return &evs[i]
		}
	}
	return nil
}

// A receiver whose store goes back in time (restored from an older
// backup, simulated by deleting or putting back its objects) is repaired
// by the sender's reconciliation: a lost copy is delivered again, and a
// recalled copy that reappeared is recalled again.
func TestFederationReconciliationRepairsARestoredReceiver(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Configure: func(_ string, cfg *config.Config) {
		// A full pass every 30 rounds: every 3s here.
		cfg.Federation.ReconcileInterval = 100 * time.Millisecond
	}})
	ctx := context.Background()
	met := f.Client("met-police")
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	sender, receiver := f.HostID("met-police"), f.HostID("hmrc")
	store, err := fsstore.Open(f.Host("hmrc").Cfg.Store.FS.Dir)
	if err != nil {
		t.Fatal(err)
	}

	id := publish(t, met, recordBody(func(m map[string]any) { m["recipients"] = []string{"hmrc"} }))
	d := deliveryState(t, met, id, receiver, "share")
	if d.State != "delivered" {
		t.Fatalf("share: %+v", d)
	}
	if s := readStatus(t, hmrc, id, 200, 0); s != 200 {
		t.Fatalf("hmrc before the restore: %d", s)
	}
	// Let a reconciliation round compare the share while it is held.
	time.Sleep(500 * time.Millisecond)
	if e := reconciled(f.Host("met-police").Audit(), receiver, d.MessageID); e != nil {
		t.Fatalf("a held share was repaired: %+v", e.Federation.Reconciliation)
	}

	t.Run("a copy lost by the receiver is delivered again", func(t *testing.T) {
		// The receiver loses the message and the copy (its inbox entry and
		// its record object).
		for _, k := range []string{"federation/inbox/" + sender + "/" + d.MessageID, "records/" + id} {
			if err := store.Delete(ctx, k); err != nil {
				t.Fatalf("delete %s: %v", k, err)
			}
		}
		if s := readStatus(t, hmrc, id, 404, 0); s != 404 {
			t.Fatalf("hmrc after the loss: %d", s)
		}
		if s := readStatus(t, hmrc, id, 200, 30*time.Second); s != 200 {
			t.Fatalf("the lost copy was not delivered again: hmrc reads %d", s)
		}
		e := reconciled(f.Host("met-police").Audit(), receiver, d.MessageID)
		if e == nil || e.Federation.Outcome != "repaired" || !slices.Contains(e.RecordIDs, id) || len(e.Federation.Reconciliation.Answers) == 0 {
			t.Fatalf("the repair was not audited at the sender: %+v", e)
		}
		rep := e.Federation.Reconciliation.Repaired[0]
		if rep.Type != "share" || rep.RecordID != id || rep.RepairMessageID == "" || rep.RepairMessageID == d.MessageID {
			t.Fatalf("repair: %+v", rep)
		}
		var found bool
		for _, p := range f.Host("met-police").GW.Federation().PeerStates() {
			if p.ID == receiver {
				found = true
				if p.Repairs < 1 || p.LastReconciled.IsZero() {
					t.Fatalf("peer state: %+v", p)
				}
			}
		}
		if !found {
			t.Fatalf("no peer state for %s", receiver)
		}
	})

	t.Run("a recalled copy that reappears is recalled again", func(t *testing.T) {
		// The copy as it is before the recall: what an older backup holds.
		old, err := store.Get(ctx, "records/"+id)
		if err != nil {
			t.Fatal(err)
		}
		if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("recall: %d %s", r.Status, r.Body)
		}
		rd := deliveryState(t, met, id, receiver, "recall")
		if rd.State != "acknowledged" {
			t.Fatalf("recall: %+v", rd)
		}
		if s := readStatus(t, hmrc, id, 410, 10*time.Second); s != 410 {
			t.Fatalf("hmrc after the recall: %d", s)
		}
		if err := store.Put(ctx, "records/"+id, old, objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if s := readStatus(t, hmrc, id, 200, 0); s != 200 {
			t.Fatalf("the old copy put back is not readable (the test shows nothing): %d", s)
		}
		if s := readStatus(t, hmrc, id, 410, 30*time.Second); s != 410 {
			t.Fatalf("the reappeared copy was not recalled again: hmrc reads %d", s)
		}
		e := reconciled(f.Host("met-police").Audit(), receiver, rd.MessageID)
		if e == nil || e.Federation.Reconciliation.Repaired[0].Type != "recall" {
			t.Fatalf("the recall's repair was not audited at the sender: %+v", e)
		}
	})
}
