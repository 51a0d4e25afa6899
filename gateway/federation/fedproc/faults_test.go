package fedproc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/devnet"
	"github.com/liaison-project/liaison/gateway/devnet/devnettest"
)

// load is what the publishing clients saw: only a publish answered 201 is
// acknowledged; a recall answered 200 is certain, one whose answer was
// lost (the gateway was killed) is unsure until retried.
type load struct {
	mu           sync.Mutex
	acked        []string
	recalled     map[string]bool
	recallUnsure map[string]bool
	failed       int // publishes not acknowledged (refused connection, reset, 5xx)
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// publisher publishes records for hmrc (at gw-national) as met-police
// until stop is closed, recalling every fifth record it published (the
// one published two before, so recalls race deliveries in flight).
func (l *load) publisher(ctx context.Context, c *http.Client, base string, body []byte, stop <-chan struct{}) {
	var mine []string
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		st, b, err := do(rctx, c, http.MethodPost, base+"/v1/records", body, nil)
		cancel()
		var pub api.Published
		if err != nil || st != http.StatusCreated || json.Unmarshal(b, &pub) != nil || pub.ID == "" {
			l.mu.Lock()
			l.failed++
			l.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		mine = append(mine, pub.ID)
		l.mu.Lock()
		l.acked = append(l.acked, pub.ID)
		l.mu.Unlock()
		if len(mine)%5 == 0 {
			id := mine[len(mine)-3]
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			st, _, err := do(rctx, c, http.MethodDelete, base+"/v1/records/"+id, nil, nil)
			cancel()
			l.mu.Lock()
			if err == nil && st == http.StatusOK {
				l.recalled[id] = true
			} else {
				l.recallUnsure[id] = true
			}
			l.mu.Unlock()
		}
		time.Sleep(60 * time.Millisecond)
	}
}

// Faults over processes: a peer down while sharing, then kill -9 of the
// sender and of the receiver, three times each, while four clients publish
// records for the receiver's agency and recall some of them. At the end,
// after restarts and a settle period: zero lost (every acknowledged
// publish delivered and readable at the receiver unless recalled), zero
// duplicated effects (one copy, at version 1, created once), zero
// recalled records readable anywhere.
func TestProcessesPeerDownAndKillUnderLoad(t *testing.T) {
	began := time.Now()
	f := start(t, nil)
	police, national := f.Host("met-police"), f.Host("hmrc")
	hmrc := newReader(t, f, "hmrc", "customs referral 9")
	met := newReader(t, f, "met-police", "originator check")
	body := recordBody(t, func(m map[string]any) { m["recipients"] = []string{"hmrc"} })

	t.Run("a peer down while sharing: delivered when it returns", func(t *testing.T) {
		f.Kill(national.ID)
		file := writeTemp(t, "record.json", body)
		id := decode[api.Published](t, []byte(mustCLI(t, f, "records", "put", "--profile", "met-police", "--file", file, "-o", "json"))).ID
		// Pending, with the last error visible, while the peer is down.
		deadline := time.Now().Add(settle)
		for {
			ds := decode[api.Deliveries](t, []byte(mustCLI(t, f, "records", "status", "--profile", "met-police", "-o", "json", id)))
			d := find(ds, national.ID, "share")
			if d == nil || d.State != "pending" {
				t.Fatalf("while %s is down: %+v", national.ID, ds.Items)
			}
			if d.Error != "" {
				t.Logf("pending: %s", d.Error)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no delivery error shown while the peer is down")
			}
			time.Sleep(200 * time.Millisecond)
		}
		f.Start(national.ID)
		ds := decode[api.Deliveries](t, []byte(mustCLI(t, f, "records", "status", "--profile", "met-police", "--wait", "2m", "-o", "json", id)))
		if d := find(ds, national.ID, "share"); d == nil || d.State != "delivered" || d.Receipt == "" {
			t.Fatalf("after %s returned: %+v", national.ID, ds.Items)
		}
		hmrc.waitRead(t, id, http.StatusOK)
	})

	l := &load{recalled: map[string]bool{}, recallUnsure: map[string]bool{}}
	t.Run("kill -9 of sender and receiver under load", func(t *testing.T) {
		loadBegan := time.Now()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		client := f.Client("met-police")
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.publisher(t.Context(), client, f.URL("met-police"), body, stop)
			}()
		}
		stopped := false
		stopLoad := func() {
			if !stopped {
				stopped = true
				close(stop)
				wg.Wait()
			}
		}
		defer stopLoad()
		waitAcked := func(n int) {
			t.Helper()
			deadline := time.Now().Add(settle)
			for l.count() < n {
				if time.Now().After(deadline) {
					t.Fatalf("publishing stalled at %d acknowledged", l.count())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		for i, victim := range []*devnet.Node{police, national, police, national, police, national} {
			waitAcked(l.count() + 20)
			f.Kill(victim.ID)
			time.Sleep(time.Duration(200+100*i) * time.Millisecond)
			f.Start(victim.ID)
		}
		waitAcked(l.count() + 20)
		stopLoad()
		// A recall whose answer was lost is sent again: 200 now, or 410
		// if the first one went through. Either way it is recalled.
		for id := range l.recallUnsure {
			st, b := mustDo(t, client, http.MethodDelete, f.URL("met-police")+"/v1/records/"+id, nil, nil)
			if st != http.StatusOK && st != http.StatusGone {
				t.Fatalf("recall of %s again: %d %s", id, st, b)
			}
			l.recalled[id] = true
		}
		t.Logf("load: %d publishes acknowledged, %d not; %d recalled (%d of them retried); %v",
			len(l.acked), l.failed, len(l.recalled), len(l.recallUnsure), time.Since(loadBegan).Round(time.Second))
		verifyNoLossNoDuplicate(t, f, l, police, national, hmrc, met)
	})
	t.Logf("took %v", time.Since(began).Round(time.Second))
}

// verifyNoLossNoDuplicate waits until every acknowledged record is settled
// at the sender, then checks the receiver's store, reads and audit log.
func verifyNoLossNoDuplicate(t *testing.T, f *devnettest.Federation, l *load, police, national *devnet.Node, hmrc, met *reader) {
	t.Helper()
	settleBegan := time.Now()
	client := f.Client("met-police")
	pending := slices.Clone(l.acked)
	deadline := time.Now().Add(settle)
	for len(pending) > 0 {
		var still []string
		for _, id := range pending {
			ds := deliveries(t, client, f.URL("met-police"), id)
			share, recall := find(ds, national.ID, "share"), find(ds, national.ID, "recall")
			if share == nil {
				t.Fatalf("%s: no share to %s queued: %+v", id, national.ID, ds.Items)
			}
			switch {
			case share.State == "pending", l.recalled[id] && (recall == nil || recall.State == "pending"):
				still = append(still, id)
			case !l.recalled[id] && share.State != "delivered":
				t.Errorf("LOST %s: share %+v", id, share)
			case l.recalled[id] && recall.State != "acknowledged":
				t.Errorf("recall of %s not acknowledged: %+v", id, recall)
			}
		}
		pending = still
		if len(pending) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d records still pending after %v, e.g. %s", len(pending), settle, pending[0])
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("settled %d records in %v", len(l.acked), time.Since(settleBegan).Round(time.Second))

	// Reads: every acknowledged record at version 1 unless recalled; no
	// recalled record readable at the receiver or at the originator.
	for _, id := range l.acked {
		st, b := hmrc.get(t, id)
		if l.recalled[id] {
			if st == http.StatusOK {
				t.Errorf("RECALLED READABLE at %s: %s", national.ID, id)
			}
			if st, _ := met.get(t, id); st != http.StatusGone {
				t.Errorf("recalled %s at the originator: %d", id, st)
			}
			continue
		}
		if st != http.StatusOK {
			t.Errorf("LOST %s: hmrc reads %d %s", id, st, b)
			continue
		}
		var rec api.Record
		if err := json.Unmarshal(b, &rec); err != nil || rec.Meta.Version != 1 || rec.ID != id {
			t.Errorf("%s at %s: version %d (%v)", id, national.ID, rec.Meta.Version, err)
		}
	}

	// The receiver's listing: every acknowledged, unrecalled record in it
	// at version 1; none recalled; any other is a publish whose answer was
	// lost in a kill, at most one per failed publish. (A record may come
	// up on more than one page: index recovery after a kill re-adds the
	// entries it cannot tell were written, and a listing skips repeats
	// only within one request. That is no second copy; it is counted.)
	seen, repeats := map[string]int{}, 0
	for _, it := range hmrc.list(t) {
		if seen[it.ID]++; seen[it.ID] > 1 {
			repeats++
		}
		if it.Meta.Version != 1 {
			t.Errorf("DUPLICATED EFFECT: %s listed at version %d", it.ID, it.Meta.Version)
		}
	}
	acked := map[string]bool{}
	for _, id := range l.acked {
		acked[id] = true
		if !l.recalled[id] && seen[id] == 0 {
			t.Errorf("LOST from the listing at %s: %s (readable: it was stored)", national.ID, id)
		}
		if l.recalled[id] && seen[id] != 0 {
			t.Errorf("RECALLED LISTED at %s: %s", national.ID, id)
		}
	}
	extra := 0
	for id := range seen {
		if !acked[id] {
			extra++
		}
	}
	t.Logf("listing at %s: %d records, %d of them unacknowledged publishes, %d repeated on a later page", national.ID, len(seen), extra, repeats)
	// Records at the receiver whose publish at the sender was never
	// answered (the sender was killed after it queued the share).
	if extra > l.failed {
		t.Errorf("%d records at %s that no publish accounts for (%d publishes unacknowledged)", extra, national.ID, l.failed)
	}

	// The receiver's audit log: each record created at most once (the
	// copy is created with a conditional write; a share re-sent after a
	// crash finds it and is recorded as unchanged, status 200), and every
	// delivered record has its acceptance on record. The sender's: each
	// delivered record's receipt.
	created, accepted, resent := map[string]int{}, map[string]int{}, 0
	for _, e := range auditOf(t, national, audit.Filter{Action: "federation.accept"}) {
		if e.Operation != audit.OpCollection || len(e.RecordIDs) != 1 {
			continue
		}
		id := e.RecordIDs[0]
		accepted[id]++
		switch e.Status {
		case http.StatusCreated:
			created[id]++
		case http.StatusOK:
			resent++
		}
	}
	receipts := map[string]int{}
	for _, e := range auditOf(t, police, audit.Filter{Action: "federation.deliver"}) {
		if e.Federation != nil && e.Federation.Receipt != "" && len(e.RecordIDs) == 1 {
			receipts[e.RecordIDs[0]]++
		}
	}
	for _, id := range l.acked {
		if created[id] > 1 {
			t.Errorf("DUPLICATED EFFECT: %s created %d times at %s", id, created[id], national.ID)
		}
		if !l.recalled[id] && (accepted[id] == 0 || receipts[id] == 0) {
			t.Errorf("%s delivered without evidence: %d acceptance entries at %s, %d receipts at %s", id, accepted[id], national.ID, receipts[id], police.ID)
		}
	}
	t.Logf("receiver evidence: %d acceptance entries for %d records, %d of them re-sends recorded unchanged", func() (n int) {
		for _, c := range accepted {
			n += c
		}
		return
	}(), len(accepted), resent)
}
