package gateway_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/record"
)

// TestRecoveryCorrectsPublishesThatNeverStored is issue 9 item 15: the
// gateway died after a publish's collection entry was durable and before
// its record object was stored (a kill -9 between the two halves of the
// publish). At the next start, recovery appends an entry correcting it,
// and does not make the record findable; a publish that did complete is
// left alone. Before the fix the collection entry stood uncorrected and
// the record was re-indexed.
func TestRecoveryCorrectsPublishesThatNeverStored(t *testing.T) {
	dir := t.TempDir()
	env := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	stored := publish(t, env.Client("met-police"), recordBody())
	env.Stop()

	// What the crash left: a durable collection entry for a record whose
	// object was never written, and a recovery state that is not clean.
	cfg := env.Cfg
	aw, err := audit.Open(cfg.Audit.Path, config.AuditOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	lost := record.NewID(time.Now())
	orphan := &audit.Event{Time: audit.Now(), Gateway: cfg.GatewayID, RequestID: "req-crashed", Operation: audit.OpCollection,
		Action: "record.publish", Status: http.StatusCreated, Agency: "met-police", RecordIDs: []string{lost},
		Originator: "met-police", Recipients: []string{"rocu-nw"}, DSAIDs: []string{"dsa-uk-soc"}}
	if err := aw.Append(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(audit.LogDir(cfg.Audit.Path), "index-state.json")
	if err := os.WriteFile(state, []byte(`{"flushed_through":"`+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)+`","clean":false}`), 0o600); err != nil {
		t.Fatal(err)
	}

	env2 := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	var corrections []audit.Event
	for _, ev := range env2.Audit() {
		if ev.Corrects != 0 {
			corrections = append(corrections, ev)
		}
	}
	if len(corrections) != 1 || corrections[0].Corrects != orphan.Seq || corrections[0].Status != http.StatusServiceUnavailable ||
		len(corrections[0].RecordIDs) != 1 || corrections[0].RecordIDs[0] != lost || corrections[0].Operation != audit.OpCollection {
		t.Fatalf("want one correction of entry %d (record %s), got %+v", orphan.Seq, lost, corrections)
	}
	rocu := env2.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	if r := rocu.MustDo("GET", "/v1/records/"+stored, nil); r.Status != http.StatusOK {
		t.Fatalf("the completed publish: %d %s", r.Status, r.Body)
	}
	if r := rocu.MustDo("GET", "/v1/records/"+lost, nil); r.Status != http.StatusNotFound {
		t.Fatalf("the lost publish: %d %s", r.Status, r.Body)
	}
	if _, err := audit.VerifyFile(env2.Cfg.Audit.Path); err != nil {
		t.Fatal(err)
	}

	// A second crash and recovery does not correct it again.
	env2.Stop()
	if err := os.WriteFile(state, []byte(`{"flushed_through":"`+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)+`","clean":false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env3 := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	n := 0
	for _, ev := range env3.Audit() {
		if ev.Corrects == orphan.Seq {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("entry %d corrected %d times", orphan.Seq, n)
	}
}

// TestRecoveryDoesNotListARecordTwice: after a crash, recovery re-adds the
// listing entries the crash may have lost, but not those that were
// written: before, every record of the window was added again, and a
// listing paged through both batches showed it on two pages (the
// kill -9 test of issue 11 counted 228 repeats for 215 records).
func TestRecoveryDoesNotListARecordTwice(t *testing.T) {
	dir := t.TempDir()
	env := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	met := env.Client("met-police")
	want := map[string]bool{}
	for range 5 {
		want[publish(t, met, recordBody())] = true
	}
	env.Stop()
	state := filepath.Join(audit.LogDir(env.Cfg.Audit.Path), "index-state.json")
	if err := os.WriteFile(state, []byte(`{"flushed_through":"`+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)+`","clean":false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env2 := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	rocu := env2.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	seen := map[string]int{}
	cursor := ""
	for range 50 {
		r := rocu.MustDo("GET", "/v1/records?limit=1&cursor="+cursor, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		page := gatewaytest.Decode[api.RecordList](t, r)
		for _, it := range page.Items {
			seen[it.ID]++
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("%s listed %d times", id, seen[id])
		}
	}
}
