package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/deploy/devstack"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/backup"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
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

// recallAuditedNotStored appends to the stopped gateway's log the entry a
// DELETE writes before it stores the record's tombstone, as the handler
// writes it, and returns it: the state a kill -9 between the two leaves,
// and the state a backup captures when it copies the record before the
// tombstone and the log after the entry.
func recallAuditedNotStored(t *testing.T, cfg config.Config, id string) *audit.Event {
	t.Helper()
	aw, err := audit.Open(cfg.Audit.Path, config.AuditOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer aw.Close()
	ev := &audit.Event{Time: audit.Now(), Gateway: cfg.GatewayID, RequestID: "req-recall-" + id, Operation: audit.OpErasure,
		Action: "record.recall", Method: "DELETE", Route: "/v1/records/{id}", Status: http.StatusOK, Agency: "met-police",
		RecordIDs: []string{id}, Originator: "met-police", ControllerID: "met-police", DSAIDs: []string{"dsa-uk-soc"}}
	if err := aw.Append(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// recoveryCompletions are the entries recovery wrote to complete recalls.
func recoveryCompletions(evs []audit.Event) []audit.Event {
	var out []audit.Event
	for _, ev := range evs {
		if ev.Operation == audit.OpErasure && ev.Status == http.StatusOK && strings.HasPrefix(ev.Error, "completed at recovery") {
			out = append(out, ev)
		}
	}
	return out
}

// backendsFor runs a test on the embedded defaults (filesystem store,
// local keyring) and on the dev stack's Vault and MinIO (skipped without
// it; failing under LIAISON_INTEGRATION=required). Each call of the
// use's configure step names one bucket, so a restart sees the same store;
// otherStore names another (a restored node's own, empty store).
func backendsFor(t *testing.T, run func(t *testing.T, use, otherStore func(*config.Config))) {
	t.Run("embedded", func(t *testing.T) { run(t, func(*config.Config) {}, func(*config.Config) {}) })
	t.Run("vault+minio", func(t *testing.T) {
		use, _ := gatewaytest.UseDevStack(t)
		m := devstack.MinIO(t)
		other, _ := gatewaytest.UseMinIO(t, m.Endpoint, m.AccessKey, m.SecretKey)
		run(t, use, other)
	})
}

// TestRecoveryCompletesRecallsAuditedButNotStored: the gateway died after
// a recall's erasure entry was durable and before the record's tombstone
// was stored. Before the fix, recovery re-indexed the record from the
// store (active) and it read 200 while the log said it was recalled — a
// disclosure after a recall. Now recovery completes the recall, audits
// that it did, and does so once.
func TestRecoveryCompletesRecallsAuditedButNotStored(t *testing.T) {
	backendsFor(t, func(t *testing.T, use, _ func(*config.Config)) {
		dir := t.TempDir()
		env := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true, Configure: use})
		met := env.Client("met-police")
		recalled, kept := publish(t, met, recordBody()), publish(t, met, recordBody())
		env.Stop()
		orig := recallAuditedNotStored(t, env.Cfg, recalled)
		state := filepath.Join(audit.LogDir(env.Cfg.Audit.Path), "index-state.json")
		crash := func() {
			if err := os.WriteFile(state, []byte(`{"flushed_through":"`+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)+`","clean":false}`), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		crash()

		env2 := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true, Configure: use})
		rocu := readerClient(env2)
		if r := rocu.MustDo("GET", "/v1/records/"+recalled, nil); r.Status != http.StatusGone {
			t.Fatalf("record %s, recalled in the log (entry %d), reads %d after recovery", recalled, orig.Seq, r.Status)
		}
		if r := rocu.MustDo("GET", "/v1/records/"+kept, nil); r.Status != http.StatusOK {
			t.Fatalf("the record not recalled: %d %s", r.Status, r.Body)
		}
		list := gatewaytest.Decode[api.RecordList](t, rocu.MustDo("GET", "/v1/records?limit=100", nil))
		for _, it := range list.Items {
			if it.ID == recalled {
				t.Fatalf("the recalled record is listed: %+v", it)
			}
		}
		done := recoveryCompletions(env2.Audit())
		if len(done) != 1 || len(done[0].RecordIDs) != 1 || done[0].RecordIDs[0] != recalled || done[0].RequestID != orig.RequestID ||
			done[0].Corrects != 0 || !strings.Contains(done[0].Error, fmt.Sprintf("entry %d", orig.Seq)) {
			t.Fatalf("want one entry completing the recall of entry %d, got %+v", orig.Seq, done)
		}
		if _, err := audit.VerifyFile(env2.Cfg.Audit.Path); err != nil {
			t.Fatal(err)
		}

		// Another crash: the tombstone is stored, nothing is done twice.
		env2.Stop()
		crash()
		env3 := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true, Configure: use})
		if n := len(recoveryCompletions(env3.Audit())); n != 1 {
			t.Fatalf("recall completed %d times", n)
		}
		if r := readerClient(env3).MustDo("GET", "/v1/records/"+recalled, nil); r.Status != http.StatusGone {
			t.Fatalf("after a second recovery: %d", r.Status)
		}
	})
}

// TestRecoveryLeavesCorrectedRecallsAlone: a recall whose entry was
// corrected (it failed, and the caller was told so) is not applied by
// recovery: the record stays readable.
func TestRecoveryLeavesCorrectedRecallsAlone(t *testing.T) {
	dir := t.TempDir()
	env := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	id := publish(t, env.Client("met-police"), recordBody())
	env.Stop()
	orig := recallAuditedNotStored(t, env.Cfg, id)
	aw, err := audit.Open(env.Cfg.Audit.Path, config.AuditOptions(env.Cfg))
	if err != nil {
		t.Fatal(err)
	}
	fix := &audit.Event{Time: audit.Now(), Gateway: env.Cfg.GatewayID, RequestID: orig.RequestID, Operation: audit.OpErasure,
		Action: orig.Action, Status: http.StatusServiceUnavailable, Agency: "met-police", RecordIDs: []string{id}, Corrects: orig.Seq,
		Error: "not completed: store unavailable"}
	if err := aw.Append(context.Background(), fix); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	state := filepath.Join(audit.LogDir(env.Cfg.Audit.Path), "index-state.json")
	if err := os.WriteFile(state, []byte(`{"flushed_through":"`+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)+`","clean":false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env2 := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	if r := readerClient(env2).MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusOK {
		t.Fatalf("a recall that failed (corrected) was applied: %d", r.Status)
	}
	if done := recoveryCompletions(env2.Audit()); len(done) != 0 {
		t.Fatalf("recovery completed a corrected recall: %+v", done)
	}
}

// recallDuringCopy is the record store as a backup reads it while a
// recall runs on the live gateway: the first read of key (the copy) is
// followed by the recall's erasure entry, and the tombstone is not stored
// before the backup ends — the interleaving in which the backup's last
// re-read of the records its log names still finds the record active.
type recallDuringCopy struct {
	objstore.Store
	key  string
	once sync.Once
	hook func()
}

func (s *recallDuringCopy) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Store.Get(ctx, key)
	if key == s.key {
		s.once.Do(s.hook)
	}
	return b, err
}

// TestRestoreCompletesARecallTheBackupCaughtHalfDone is the flake of the
// restore drill (TestBackupRestoreDrill), made deterministic: a recall is
// audited while a backup runs, after the backup copied the record and
// before the tombstone is stored, so the archive holds the erasure entry
// and the active record. Before the fix the restored gateway served the
// record (200) while its restored log said it was recalled.
func TestRestoreCompletesARecallTheBackupCaughtHalfDone(t *testing.T) {
	backendsFor(t, func(t *testing.T, use, otherStore func(*config.Config)) {
		ctx := t.Context()
		src := t.TempDir()
		env := gatewaytest.Start(t, gatewaytest.Options{Dir: src, Quiet: true, Configure: use})
		met := env.Client("met-police")
		recalled, kept := publish(t, met, recordBody()), publish(t, met, recordBody())
		env.Stop()

		cfg := env.Cfg
		cfgPath := filepath.Join(src, "liaison.yaml")
		y, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfgPath, y, 0o600); err != nil {
			t.Fatal(err)
		}
		st, closeStore, err := gateway.OpenRecordStore(ctx, cfg, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		defer closeStore()
		var orig *audit.Event
		racing := &recallDuringCopy{Store: st, key: recordstore.RecordKey(recalled), hook: func() { orig = recallAuditedNotStored(t, cfg, recalled) }}
		var archive bytes.Buffer
		m, err := backup.Create(ctx, backup.CreateOptions{Config: cfg, ConfigPath: cfgPath, Store: racing, Out: &archive})
		if err != nil {
			t.Fatal(err)
		}
		if orig == nil || m.Audit.Entries < orig.Seq {
			t.Fatalf("the archive does not hold the recall's entry (%v; %d entries): the test proves nothing", orig, m.Audit.Entries)
		}

		// Restore onto a new node (its own directory and store), rebuild its
		// index, start it: `liaison backup restore --data-dir`, then serve.
		s, err := backup.Stage(bytes.NewReader(archive.Bytes()), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		dst := t.TempDir()
		target, ty, err := s.RebasedConfig(dst, nil)
		if err != nil {
			t.Fatal(err)
		}
		otherStore(&target)
		tst, closeTarget, err := gateway.OpenRecordStore(ctx, target, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Restore(ctx, backup.RestoreOptions{Target: target, ConfigPath: filepath.Join(dst, "liaison.yaml"), ConfigYAML: ty, Store: tst})
		closeTarget()
		if err != nil {
			t.Fatal(err)
		}
		ops, err := gateway.OpenIndexOps(ctx, target, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		_, err = ops.Rebuild(ctx, recordstore.RebuildOptions{Restart: true})
		ops.Close()
		if err != nil {
			t.Fatal(err)
		}

		restored := gatewaytest.Start(t, gatewaytest.Options{Dir: dst, Quiet: true, Configure: func(c *config.Config) { use(c); otherStore(c) }})
		rocu := readerClient(restored)
		if r := rocu.MustDo("GET", "/v1/records/"+recalled, nil); r.Status != http.StatusGone {
			t.Fatalf("record %s, recalled in the restored log (entry %d), reads %d on the restored gateway", recalled, orig.Seq, r.Status)
		}
		if r := rocu.MustDo("GET", "/v1/records/"+kept, nil); r.Status != http.StatusOK {
			t.Fatalf("the record not recalled: %d %s", r.Status, r.Body)
		}
		list := gatewaytest.Decode[api.RecordList](t, rocu.MustDo("GET", "/v1/records?limit=100", nil))
		if len(list.Items) != 1 || list.Items[0].ID != kept {
			t.Fatalf("the restored listing: %+v, want only %s", list.Items, kept)
		}
		if done := recoveryCompletions(restored.Audit()); len(done) != 1 || done[0].RecordIDs[0] != recalled {
			t.Fatalf("want one entry completing the recall, got %+v", done)
		}
		restored.Stop()
		if rep, err := audit.Verify(audit.LogDir(restored.Cfg.Audit.Path), audit.VerifyOptions{}); err != nil || !rep.OK || rep.Entries <= m.Audit.Entries {
			t.Fatalf("the restored log with recovery's entry: %v %+v", err, rep)
		}
	})
}

// TestRecoveryQueuesTheCompletedRecallToPeers: the recall cut off by the
// crash never reached the peer gateway holding a copy (the request stops
// before it queues it). Completing it at recovery without telling the peer
// would leave the copy readable there; recovery queues it, and the peer's
// copy reads 410.
func TestRecoveryQueuesTheCompletedRecallToPeers(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	met := f.Client("met-police")
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	id := publish(t, met, recordBody(func(m map[string]any) { m["recipients"] = []string{"rocu-nw", "hmrc"} }))
	if d := deliveryState(t, met, id, f.HostID("hmrc"), "share"); d.State != "delivered" {
		t.Fatalf("delivery to hmrc's gateway: %+v", d)
	}
	if r := hmrc.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusOK {
		t.Fatalf("hmrc before the recall: %d", r.Status)
	}

	origin := f.Host("met-police")
	origin.Stop()
	recallAuditedNotStored(t, origin.Cfg, id)
	state := filepath.Join(audit.LogDir(origin.Cfg.Audit.Path), "index-state.json")
	if err := os.WriteFile(state, []byte(`{"flushed_through":"`+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)+`","clean":false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Restart(f.HostID("met-police"))
	met = f.Client("met-police")
	if d := deliveryState(t, met, id, f.HostID("hmrc"), "recall"); d.State != "acknowledged" {
		t.Fatalf("the completed recall at hmrc's gateway: %+v", d)
	}
	if r := hmrc.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusGone {
		t.Fatalf("hmrc's copy after the recall completed at recovery: %d", r.Status)
	}
}
