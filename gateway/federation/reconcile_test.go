package federation

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/connectors/sqlite"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/policy"
)

// testKeys wraps data keys as themselves: enough to seal and open here.
type testKeys struct{}

func (testKeys) DataKeyFor(_ context.Context, _ string, _ int) (keys.DataKey, error) {
	k := make([]byte, 32)
	rand.Read(k)
	return keys.DataKey{Plaintext: slices.Clone(k), Wrapped: k}, nil
}

func (testKeys) Unwrap(_ context.Context, _ string, w []byte) ([]byte, error) {
	return slices.Clone(w), nil
}

type allowAll struct{}

func (allowAll) Decide(context.Context, policy.Input) (policy.Decision, error) {
	return policy.Decision{Allow: true}, nil
}

// clock is a settable clock shared by a test's gateways.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// node is one real gateway of a test: its Service, store, audit log.
type node struct {
	id       string
	s        *Service
	store    objstore.Store
	records  *recordstore.Store
	auditDir string
	fed      *pki.DevFederation
	jwks     string // its public signing keys
	signer   *jose.Signer
	cert     tls.Certificate
	dir      string
}

func newNode(t *testing.T, id, agency string) *node {
	t.Helper()
	dir := t.TempDir()
	fed, err := pki.EnsureDevFederation(filepath.Join(dir, "pki"), pki.DevOptions{TrustDomain: id + ".liaison.dev", GatewayID: id, Agencies: []string{agency}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(fed.GatewayCertFile, fed.GatewayKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.LoadOrCreateSigner(filepath.Join(dir, "signing.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := signer.PublicJWKS()
	jwks := filepath.Join(dir, "signing-keys.jwks.json")
	if err := os.WriteFile(jwks, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := fsstore.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	// The index database: a received copy is indexed before it is stored.
	db, err := sqlite.Open(filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &node{id: id, fed: fed, cert: cert, signer: signer, jwks: jwks, store: store, dir: dir,
		records: recordstore.New(recordstore.Options{Objects: store, Keys: testKeys{}, Signer: signer, Index: db,
			KeyName: func(*record.Meta) string { return "k" }})}
}

// start builds the node's Service (replica: another Service over the same
// store, key and audit directory would be one more replica).
func (n *node) start(t *testing.T, clk *clock, agency string, peers ...*node) *Service {
	t.Helper()
	// Each replica has its own audit log (one per node); events reads
	// the first one's.
	auditDir := filepath.Join(n.dir, "audit-"+rand.Text()[:8])
	if n.auditDir == "" {
		n.auditDir = auditDir
	}
	al, err := audit.Open(auditDir, audit.Options{Gateway: n.id, SigningKeyFile: filepath.Join(n.dir, "audit.jwk.json")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	cfg := config.Defaults(n.dir)
	cfg.GatewayID = n.id
	cfg.Federation.Listen = "127.0.0.1:0"
	cfg.Federation.Agencies = []string{agency}
	for _, p := range peers {
		ep := "https://127.0.0.1:9"
		if srv := servers[p.id]; srv != nil {
			ep = srv.URL
		}
		cfg.Federation.Peers = append(cfg.Federation.Peers, config.PeerConfig{ID: p.id, TrustDomain: p.fed.TrustDomain,
			Endpoint: ep, TrustBundle: []string{p.fed.CAFile}, SigningKeys: p.jwks, Agencies: p.fed.Agencies})
	}
	s, err := New(Options{Config: cfg, Store: n.store, Records: n.records, Signer: n.signer, Audit: al, Policy: allowAll{},
		Certificate: func() *tls.Certificate { return &n.cert }, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeWitnessClients)
	return s
}

// servers are the federation listeners of the nodes serving one (by id);
// tests do not run in parallel.
var servers = map[string]*httptest.Server{}

func (n *node) serve(t *testing.T) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{n.cert}, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	servers[n.id] = srv
	t.Cleanup(func() { srv.Close(); delete(servers, n.id) })
}

func (n *node) handle(s *Service) { servers[n.id].Config.Handler = s.Handler() }

func (n *node) events(t *testing.T, dir string) []audit.Event {
	t.Helper()
	evs, err := audit.ReadFile(n.auditDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, e := range evs {
		if e.Federation != nil && e.Federation.Direction == dir {
			out = append(out, e)
		}
	}
	return out
}

// pair is gw-a (sending, hosting met-police) and gw-b (receiving, hosting
// agency-b, serving its federation API), on one clock.
type pair struct {
	clk  *clock
	a, b *node
	sa   *Service // gw-a
	sb   *Service // gw-b
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{clk: &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}}
	p.a, p.b = newNode(t, "gw-a", "met-police"), newNode(t, "gw-b", "agency-b")
	p.b.serve(t)
	p.sb = p.b.start(t, p.clk, "agency-b", p.a)
	p.b.handle(p.sb)
	p.sa = p.a.start(t, p.clk, "met-police", p.b)
	return p
}

// publish stores a record at gw-a for agency-b.
func (p *pair) publish(t *testing.T) *record.Meta {
	t.Helper()
	req, err := record.ParsePublish([]byte(`{"meta":{"classification":{"tier":"OFFICIAL"},"tlp":"AMBER","grading":{"source":"1","intelligence":"B"},
		"handling":{"code":"P"},"allowed_purposes":["investigation"],"data_subject_category":"suspect","content_basis":"fact",
		"dsa_ids":["dsa-uk-soc"],"recipients":["agency-b"],"review_due":"2027-06-01"},"content":{"summary":"Subject A in Salford"}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := req.Meta
	m.RecordID, m.Version, m.Created = record.NewID(p.clk.now()), 1, p.clk.now().Format(time.RFC3339)
	m.Originator = record.Originator{OrgID: "met-police"}
	pend, err := p.a.records.Seal(context.Background(), m, req.Content)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.a.records.Create(context.Background(), pend); err != nil {
		t.Fatal(err)
	}
	return &m
}

func (p *pair) share(t *testing.T, m *record.Meta) {
	t.Helper()
	if err := p.sa.Share(context.Background(), m, "met-police", "", map[string][]string{"gw-b": {"agency-b"}}, nil); err != nil {
		t.Fatal(err)
	}
}

// recall queues a recall of a record to gw-b (as a recall at gw-a does).
func (p *pair) recall(t *testing.T, id string) {
	t.Helper()
	env := Envelope{Format: envelopeFormat, ID: record.NewMessageID(p.clk.now()), Type: TypeRecall, FromGateway: "gw-a", ToGateway: "gw-b",
		FromAgency: "met-police", ToAgencies: []string{}, RecordID: id, RecordVersion: 1, Provenance: []string{"gw-a"},
		Created: p.clk.now().Format(time.RFC3339)}
	if err := p.sa.enqueue(context.Background(), "gw-b", &outItem{Format: outboxFormat, Envelope: env}); err != nil {
		t.Fatal(err)
	}
}

// deliver sends everything queued at sender s to gw-b.
func deliver(t *testing.T, s *Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.sender("gw-b").drain(ctx); err != nil {
		t.Fatal(err)
	}
}

func (p *pair) reconcile(t *testing.T, s *Service) *reconcileReport {
	t.Helper()
	peer, _ := s.peers.Peer("gw-b")
	rep, err := s.reconcilePeer(context.Background(), peer)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// outbox lists gw-a's queued messages to gw-b, by seq.
func (p *pair) outbox(t *testing.T) map[uint64]outItem {
	t.Helper()
	keys, err := p.sa.ledger.listAll(context.Background(), outboxPrefix("gw-b"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]outItem{}
	for _, k := range keys {
		seq, _ := parseSeq(k, outboxPrefix("gw-b"))
		var it outItem
		if err := p.sa.ledger.get(context.Background(), k, outboxFormat, &it); err != nil {
			t.Fatal(err)
		}
		out[seq] = it
	}
	return out
}

func (p *pair) state(t *testing.T, id string) string {
	t.Helper()
	st, err := p.b.records.Load(context.Background(), id)
	if errors.Is(err, recordstore.ErrNotFound) {
		return "absent"
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.State
}

// restore deletes what gw-b wrote about message seq of gw-a (its index
// and inbox entries) and the record object: a store restored from before
// the message.
func (p *pair) restore(t *testing.T, seq uint64, id string) {
	t.Helper()
	ctx := context.Background()
	it := p.outbox(t)[seq]
	for _, k := range []string{inseqKey("gw-a", seq, it.Envelope.ID), inboxKey("gw-a", it.Envelope.ID), "records/" + id} {
		if err := p.b.store.Delete(ctx, k); err != nil && !errors.Is(err, objstore.ErrNotFound) {
			t.Fatal(err)
		}
	}
}

// The receiver's index and ledger answer: every message answered is
// indexed by the sender's seq; the digest covers what holds; the list
// pages; ranges are bounded.
func TestLedgerAnswer(t *testing.T) {
	p := newPair(t)
	ctx := context.Background()
	m1, m2 := p.publish(t), p.publish(t)
	p.share(t, m1)
	p.share(t, m2)
	p.recall(t, record.NewID(p.clk.now()))
	deliver(t, p.sa)
	peer, _ := p.sa.peers.Peer("gw-b")

	ans, raw, err := p.sa.fetchLedger(ctx, peer, 1, 3, false, "")
	if err != nil {
		t.Fatal(err)
	}
	sent, err := p.sa.sentRange(ctx, "gw-b", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	var mine []LedgerEntry
	for seq, m := range sent {
		if !m.expected {
			t.Fatalf("seq %d (%s, %s) not expected to hold", seq, m.typ, m.outcome)
		}
		mine = append(mine, LedgerEntry{Seq: seq, MessageID: m.id, EnvelopeDigest: m.envDigest, Held: true})
	}
	n, d := ledgerDigest(mine)
	if len(sent) != 3 || ans.Count != 3 || n != 3 || ans.Digest != d || raw == "" {
		t.Fatalf("digest: theirs %d %s, ours %d %s (%d sent)", ans.Count, ans.Digest, n, d, len(sent))
	}
	// Losing the first copy changes the digest of 1..3, not of 2..3.
	p.restore(t, 1, m1.RecordID)
	a13, _, _ := p.sa.fetchLedger(ctx, peer, 1, 3, false, "")
	a23, _, _ := p.sa.fetchLedger(ctx, peer, 2, 3, false, "")
	if a13.Digest == d || a13.Count != 2 || a23.Count != 2 || a23.Digest != digestOf(mine, 2, 3) {
		t.Fatalf("after the loss: 1..3 %d %s, 2..3 %d %s", a13.Count, a13.Digest, a23.Count, a23.Digest)
	}
	// m2 is recalled at gw-b since: its share still holds there.
	if err := p.sb.records.RecallReceived(ctx, nil, m2.RecordID, "met-police", "gw-a", record.NewMessageID(p.clk.now()), p.clk.now()); err != nil {
		t.Fatal(err)
	}
	l, _, err := p.sa.fetchLedger(ctx, peer, 1, 3, true, "")
	if err != nil {
		t.Fatal(err)
	}
	held := map[uint64]bool{}
	for _, e := range l.Entries {
		held[e.Seq] = e.Held
	}
	if len(l.Entries) != 2 || held[2] != true || held[3] != true {
		t.Fatalf("list: %+v", l.Entries)
	}

	t.Run("pages", func(t *testing.T) {
		for i := range uint64(maxLedgerPage + 10) {
			seq := 100 + i
			it := &inSeqItem{Format: inseqFormat, Seq: seq, MessageID: record.NewMessageID(p.clk.now()), EnvelopeDigest: "sha256:00",
				Type: TypeRecallAck, RecordID: m1.RecordID, RecordVersion: 1, Outcome: OutcomeAcknowledged}
			if err := p.sb.ledger.put(ctx, inseqKey("gw-a", seq, it.MessageID), it, true); err != nil {
				t.Fatal(err)
			}
		}
		var all []LedgerEntry
		after, pages := "", 0
		for {
			pg, _, err := p.sa.fetchLedger(ctx, peer, 100, 100+maxLedgerPage+20, true, after)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			all = append(all, pg.Entries...)
			if pg.Next == "" {
				break
			}
			after = pg.Next
		}
		dg, _, _ := p.sa.fetchLedger(ctx, peer, 100, 100+maxLedgerPage+20, false, "")
		n, d := ledgerDigest(all)
		if pages != 2 || len(all) != maxLedgerPage+10 || dg.Count != n || dg.Digest != d {
			t.Fatalf("%d pages, %d entries; digest %d %s, of the pages %d %s", pages, len(all), dg.Count, dg.Digest, n, d)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, q := range []string{"", "from=0&to=3", "from=3&to=2", fmt.Sprintf("from=1&to=%d", 1+maxLedgerRange),
			"from=1&to=3&after=x", "from=1&to=3&list=1&after=garbage", "from=1&to=3&list=1&after=" + seqName(9) + "." + record.NewMessageID(p.clk.now()),
			"from=1&to=3&extra=1", "from=1&from=2&to=3"} {
			var w WireLedger
			err := p.sa.peerGet(ctx, peer, "/fed/v1/ledger?"+q, &w)
			if err == nil || !strings.Contains(err.Error(), "400") {
				t.Errorf("%q: %v", q, err)
			}
		}
	})
}

func digestOf(mine []LedgerEntry, from, to uint64) string {
	var sub []LedgerEntry
	for _, e := range mine {
		if e.Seq >= from && e.Seq <= to {
			sub = append(sub, e)
		}
	}
	_, d := ledgerDigest(sub)
	return d
}

// What the receiver lost (a copy, a recall's tombstone) is queued again on
// the next full pass, audited, and delivered; once repaired, nothing is
// repaired twice. Messages still pending are not compared.
func TestReconcileRepairsWhatThePeerLost(t *testing.T) {
	p := newPair(t)
	m1, m2 := p.publish(t), p.publish(t)
	gone := record.NewID(p.clk.now())
	p.share(t, m1)
	p.share(t, m2)
	p.recall(t, gone)
	deliver(t, p.sa)
	if p.state(t, m1.RecordID) != recordstore.StateActive || p.state(t, gone) != recordstore.StateRecalled {
		t.Fatal("not delivered")
	}
	rep := p.reconcile(t, p.sa)
	if len(rep.Repaired) != 0 || len(rep.Discrepancies) != 0 || len(rep.Compared) != 1 || rep.Compared[0] != [2]uint64{1, 3} {
		t.Fatalf("first round: %+v", rep)
	}
	if wm, _ := p.sa.watermark(context.Background(), "gw-b"); wm.Upto != 3 {
		t.Fatalf("watermark %+v", wm)
	}
	// Nothing new: nothing compared.
	if rep := p.reconcile(t, p.sa); len(rep.Compared) != 0 {
		t.Fatalf("idle round compared %+v", rep.Compared)
	}

	// gw-b is restored from before seq 1 and seq 3 (the copy of m1 and
	// the tombstone of the recall are gone); a share to it is pending.
	p.restore(t, 1, m1.RecordID)
	p.restore(t, 3, gone)
	m3 := p.publish(t)
	p.share(t, m3) // seq 4, not delivered
	// The incremental pass does not look back; the full pass does.
	if rep := p.reconcile(t, p.sa); len(rep.Repaired) != 0 || len(rep.Compared) != 0 {
		t.Fatalf("before the full pass is due: %+v", rep)
	}
	p.clk.add(fullPassRounds * p.sa.cfg.Federation.ReconcileInterval)
	rep = p.reconcile(t, p.sa)
	if len(rep.Repaired) != 2 || rep.Repaired[0].Seq != 1 || rep.Repaired[0].Type != TypeShare ||
		rep.Repaired[1].Seq != 3 || rep.Repaired[1].Type != TypeRecall || len(rep.Compared) != 1 || rep.Compared[0] != [2]uint64{1, 3} {
		t.Fatalf("full pass: %+v", rep)
	}
	ob := p.outbox(t)
	if len(ob) != 6 || ob[5].Envelope.Type != TypeShare || ob[5].Envelope.RecordID != m1.RecordID || ob[5].Envelope.ID != rep.Repaired[0].RepairMessageID ||
		ob[5].Envelope.ID == ob[1].Envelope.ID || ob[6].Envelope.Type != TypeRecall || ob[6].Envelope.RecordID != gone || ob[6].Upstream != nil {
		t.Fatalf("outbox after the repairs: %+v", ob)
	}
	evs := p.a.events(t, "reconciled")
	if len(evs) != 1 || evs[0].Federation.Outcome != "repaired" || len(evs[0].Federation.Reconciliation.Repaired) != 2 ||
		len(evs[0].Federation.Reconciliation.Answers) != 1 || !slices.Contains(evs[0].RecordIDs, gone) {
		t.Fatalf("audit: %+v", evs)
	}
	if ps := peerState(p.sa, "gw-b"); ps.Repairs != 2 || ps.LastReconciled.IsZero() {
		t.Fatalf("peer state %+v", ps)
	}

	deliver(t, p.sa)
	if p.state(t, m1.RecordID) != recordstore.StateActive || p.state(t, gone) != recordstore.StateRecalled || p.state(t, m3.RecordID) != recordstore.StateActive {
		t.Fatal("the repairs were not delivered")
	}
	// The repairs (and the share pending before) are compared like any
	// message; the repaired messages are not repaired again.
	rep = p.reconcile(t, p.sa)
	if len(rep.Repaired) != 0 || len(rep.Compared) != 1 || rep.Compared[0] != [2]uint64{4, 6} {
		t.Fatalf("after the repairs: %+v", rep)
	}
	p.clk.add(fullPassRounds * p.sa.cfg.Federation.ReconcileInterval)
	if rep := p.reconcile(t, p.sa); len(rep.Repaired) != 0 || len(rep.Compared) != 1 || rep.Compared[0] != [2]uint64{1, 6} {
		t.Fatalf("second full pass: %+v", rep)
	}
	if n := len(p.a.events(t, "reconciled")); n != 1 {
		t.Fatalf("%d reconciliation entries", n)
	}
}

func peerState(s *Service, id string) PeerState {
	for _, ps := range s.PeerStates() {
		if ps.ID == id {
			return ps
		}
	}
	return PeerState{}
}

// A message the receiver holds that the sender has no record of sending
// is recorded once as a discrepancy; nothing is queued for it.
func TestReconcileRecordsDiscrepancies(t *testing.T) {
	p := newPair(t)
	ctx := context.Background()
	m1 := p.publish(t)
	p.share(t, m1)
	deliver(t, p.sa)
	stray := &inSeqItem{Format: inseqFormat, Seq: 1, MessageID: record.NewMessageID(p.clk.now()), EnvelopeDigest: "sha256:ff",
		Type: TypeRecallAck, RecordID: m1.RecordID, RecordVersion: 1, Outcome: OutcomeAcknowledged}
	if err := p.sb.ledger.put(ctx, inseqKey("gw-a", 1, stray.MessageID), stray, true); err != nil {
		t.Fatal(err)
	}
	rep := p.reconcile(t, p.sa)
	if len(rep.Discrepancies) != 1 || rep.Discrepancies[0].MessageID != stray.MessageID || len(rep.Repaired) != 0 {
		t.Fatalf("%+v", rep)
	}
	if len(p.outbox(t)) != 1 {
		t.Fatal("a discrepancy queued a message")
	}
	p.clk.add(fullPassRounds * p.sa.cfg.Federation.ReconcileInterval)
	rep = p.reconcile(t, p.sa) // found again, not recorded again
	evs := p.a.events(t, "reconciled")
	if len(rep.Discrepancies) != 1 || len(evs) != 1 || evs[0].Federation.Outcome != "discrepancy" || evs[0].Status != http.StatusConflict ||
		evs[0].Federation.Reconciliation.Discrepancies[0].MessageID != stray.MessageID {
		t.Fatalf("audit: %+v", evs)
	}
	if ps := peerState(p.sa, "gw-b"); ps.Discrepancies != 1 || ps.Repairs != 0 {
		t.Fatalf("peer state %+v", ps)
	}
}

// Two replicas of gw-a reconciling gw-b at once queue one repair between
// them (the repair marker is claimed by a conditional PUT); a claim left
// by a crash before its repair was queued is taken over after the grace
// period.
func TestReconcileReplicasAndOrphanedClaims(t *testing.T) {
	p := newPair(t)
	ctx := context.Background()
	m1, m2 := p.publish(t), p.publish(t)
	p.share(t, m1)
	p.share(t, m2)
	deliver(t, p.sa)
	p.reconcile(t, p.sa)
	p.restore(t, 1, m1.RecordID)
	p.restore(t, 2, m2.RecordID)
	p.clk.add(fullPassRounds * p.sa.cfg.Federation.ReconcileInterval)

	// A crash after claiming seq 2's repair, before queueing it.
	peer, _ := p.sa.peers.Peer("gw-b")
	sent, _ := p.sa.sentRange(ctx, "gw-b", 2, 2)
	orphan, err := p.sa.newRepair(ctx, "gw-b", sent[2])
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.sa.claimRepair(ctx, "gw-b", orphan); !ok || err != nil {
		t.Fatal(ok, err)
	}

	replica := p.a.start(t, p.clk, "met-police", p.b)
	var wg sync.WaitGroup
	reps := make([]*reconcileReport, 2)
	for i, s := range []*Service{p.sa, replica} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := s.reconcilePeer(ctx, peer)
			if err != nil {
				t.Error(err)
			}
			reps[i] = rep
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ob := p.outbox(t)
	var repairs []outItem
	for seq, it := range ob {
		if seq > 2 {
			repairs = append(repairs, it)
		}
	}
	if len(repairs) != 1 || repairs[0].Envelope.RecordID != m1.RecordID || len(reps[0].Repaired)+len(reps[1].Repaired) != 1 {
		t.Fatalf("replicas queued %d repairs: %+v / %+v", len(repairs), reps[0], reps[1])
	}
	// The orphaned claim is left alone within the grace period...
	if rep := p.reconcile(t, p.sa); len(rep.Repaired) != 0 {
		t.Fatalf("orphan taken over too early: %+v", rep)
	}
	// ...and taken over after it, on the next full pass.
	p.clk.add(fullPassRounds * p.sa.cfg.Federation.ReconcileInterval)
	rep := p.reconcile(t, p.sa)
	if len(rep.Repaired) != 1 || rep.Repaired[0].Seq != 2 || rep.Repaired[0].RepairMessageID == orphan.item.Envelope.ID {
		t.Fatalf("orphan: %+v", rep)
	}
	var mk repairItem
	if err := p.sa.ledger.get(ctx, repairKey("gw-b", 2), repairFormat, &mk); err != nil || mk.RepairSeq == 0 || mk.RepairID != rep.Repaired[0].RepairMessageID {
		t.Fatalf("marker %+v %v", mk, err)
	}
	deliver(t, p.sa)
	if p.state(t, m1.RecordID) != recordstore.StateActive || p.state(t, m2.RecordID) != recordstore.StateActive {
		t.Fatal("repairs not delivered")
	}
}

func TestLedgerDigestIsOverHeldEntriesInOrder(t *testing.T) {
	a := LedgerEntry{Seq: 2, MessageID: "msg_b", EnvelopeDigest: "sha256:1", Held: true}
	b := LedgerEntry{Seq: 1, MessageID: "msg_a", EnvelopeDigest: "sha256:2", Held: true}
	c := LedgerEntry{Seq: 3, MessageID: "msg_c", EnvelopeDigest: "sha256:3"}
	n1, d1 := ledgerDigest([]LedgerEntry{a, b, c})
	n2, d2 := ledgerDigest([]LedgerEntry{b, a})
	a.EnvelopeDigest = "sha256:9"
	_, d3 := ledgerDigest([]LedgerEntry{a, b})
	if n1 != 2 || n2 != 2 || d1 != d2 || d3 == d1 {
		t.Fatalf("%d %s / %d %s / %s", n1, d1, n2, d2, d3)
	}
}

// A recall whose copy reappeared at the receiver (its tombstone replaced by
// the copy from before the recall, its ledger intact) does not hold: the
// recall is queued again, and the copy recalled.
func TestReconcileRecallsACopyThatReappeared(t *testing.T) {
	p := newPair(t)
	ctx := context.Background()
	m1 := p.publish(t)
	p.share(t, m1)
	deliver(t, p.sa)
	old, err := p.b.store.Get(ctx, "records/"+m1.RecordID)
	if err != nil {
		t.Fatal(err)
	}
	p.recall(t, m1.RecordID)
	deliver(t, p.sa)
	if p.state(t, m1.RecordID) != recordstore.StateRecalled {
		t.Fatal("recall not applied")
	}
	if rep := p.reconcile(t, p.sa); len(rep.Repaired) != 0 || len(rep.Compared) != 1 {
		t.Fatalf("%+v", rep)
	}
	if err := p.b.store.Put(ctx, "records/"+m1.RecordID, old, objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	p.clk.add(fullPassRounds * p.sa.cfg.Federation.ReconcileInterval)
	rep := p.reconcile(t, p.sa)
	// The share holds (its copy is there); the recall does not.
	if len(rep.Repaired) != 1 || rep.Repaired[0].Seq != 2 || rep.Repaired[0].Type != TypeRecall {
		t.Fatalf("%+v", rep)
	}
	deliver(t, p.sa)
	if p.state(t, m1.RecordID) != recordstore.StateRecalled {
		t.Fatal("the reappeared copy was not recalled again")
	}
}
