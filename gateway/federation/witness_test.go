package federation

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
)

// fakePeer is a peer gateway played by the test: its real gateway
// certificate, and the audit log it serves checkpoints of, which the test
// swaps for a fork, a rollback or a log signed with another key.
type fakePeer struct {
	id     string
	fed    *pki.DevFederation
	signer *jose.Signer // its audit key
	jwks   string       // file: its public audit (and signing) keys
	srv    *httptest.Server

	mu        sync.Mutex
	log       *audit.Log
	witnessed WitnessedAnswer
}

func newFakePeer(t *testing.T, id string) *fakePeer {
	t.Helper()
	dir := t.TempDir()
	fed, err := pki.EnsureDevFederation(filepath.Join(dir, "pki"), pki.DevOptions{TrustDomain: id + ".liaison.dev", GatewayID: id, Agencies: []string{"agency-" + id}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.LoadOrCreateSigner(filepath.Join(dir, "audit.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := s.PublicJWKS()
	p := &fakePeer{id: id, fed: fed, signer: s, jwks: filepath.Join(dir, "audit-keys.jwks.json"), witnessed: WitnessedAnswer{Witnessed: []WitnessedCheckpoint{}}}
	if err := os.WriteFile(p.jwks, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(fed.GatewayCertFile, fed.GatewayKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fed/v1/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		l := p.log
		p.mu.Unlock()
		// The real handler, over whichever log the peer shows now.
		(&Service{checkpoints: l, log: zap.NewNop()}).serveCheckpoint(w, r)
	})
	mux.HandleFunc("GET /fed/v1/witnessed", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		writeJSON(w, http.StatusOK, p.witnessed)
	})
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS13}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// newLog opens a log of this peer signed with key (its own if nil) holding
// the entries named by tags, in order; the same tags give the same entries.
func (p *fakePeer) newLog(t *testing.T, key *jose.Signer, tags ...string) *audit.Log {
	t.Helper()
	if key == nil {
		key = p.signer
	}
	l, err := audit.Open(t.TempDir(), audit.Options{Gateway: p.id, Signer: key, CheckpointEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p.grow(t, l, tags...)
	return l
}

// grow appends entries and waits for the note over all of them.
func (p *fakePeer) grow(t *testing.T, l *audit.Log, tags ...string) {
	t.Helper()
	for _, tag := range tags {
		e := &audit.Event{Time: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Gateway: p.id, RequestID: tag,
			Operation: audit.OpConsultation, Action: "record.list", Status: 200}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, nc, err := l.LatestNote(); err == nil && nc.TreeSize == l.Size() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint note")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *fakePeer) show(l *audit.Log) {
	p.mu.Lock()
	p.log = l
	p.mu.Unlock()
}

func (p *fakePeer) note(t *testing.T, l *audit.Log) string {
	t.Helper()
	msg, _, err := l.LatestNote()
	if err != nil {
		t.Fatal(err)
	}
	return string(msg)
}

// witness is gateway gw-a with the fake peers, its own audit log and
// ledger; the test drives its rounds.
type witness struct {
	s        *Service
	auditDir string
}

func newWitness(t *testing.T, peers ...*fakePeer) *witness {
	t.Helper()
	dir := t.TempDir()
	fed, err := pki.EnsureDevFederation(filepath.Join(dir, "pki"), pki.DevOptions{TrustDomain: "gw-a.liaison.dev", GatewayID: "gw-a", Agencies: []string{"met-police"}})
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
	store, err := fsstore.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	auditDir := filepath.Join(dir, "audit")
	al, err := audit.Open(auditDir, audit.Options{Gateway: "gw-a", SigningKeyFile: filepath.Join(dir, "audit.jwk.json")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	cfg := config.Defaults(dir)
	cfg.GatewayID = "gw-a"
	cfg.Federation.Listen = "127.0.0.1:0"
	cfg.Federation.Agencies = []string{"met-police"}
	for _, p := range peers {
		cfg.Federation.Peers = append(cfg.Federation.Peers, config.PeerConfig{ID: p.id, TrustDomain: p.fed.TrustDomain,
			Endpoint: p.srv.URL, TrustBundle: []string{p.fed.CAFile}, SigningKeys: p.jwks, AuditKeys: p.jwks, Agencies: []string{"agency-" + p.id}})
	}
	s, err := New(Options{Config: cfg, Store: store, Signer: signer, Audit: al, Checkpoints: al,
		Certificate: func() *tls.Certificate { return &cert }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeWitnessClients)
	return &witness{s: s, auditDir: auditDir}
}

// entries are the witnessed-checkpoint entries of gw-a's log about peer.
func (w *witness) entries(t *testing.T, peer string) []audit.Event {
	t.Helper()
	evs, err := audit.ReadFile(w.auditDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, e := range evs {
		if e.Federation != nil && e.Federation.Direction == "witnessed" && e.Federation.PeerGateway == peer {
			out = append(out, e)
		}
	}
	return out
}

func (w *witness) last(t *testing.T, peer string) *witnessItem {
	t.Helper()
	it, err := w.s.lastWitnessed(context.Background(), peer)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// A peer's checkpoints are witnessed while they extend each other; a fork
// (same key, another history), a rollback and a note not signed with the
// pinned key are each recorded once as such, and the last good checkpoint
// stays the reference; an unreachable peer leaves nothing.
func TestWitnessDetectsForksRollbacksAndForgeries(t *testing.T) {
	ctx := context.Background()
	b := newFakePeer(t, "gw-b")
	good := b.newLog(t, nil, "e1", "e2", "e3")
	b.show(good)
	w := newWitness(t, b)

	w.s.witnessRound(ctx)
	evs := w.entries(t, "gw-b")
	if len(evs) != 1 || evs[0].Federation.Outcome != audit.WitnessConsistent || evs[0].Federation.TreeSize != 3 ||
		evs[0].Federation.Checkpoint != b.note(t, good) {
		t.Fatalf("first round: %+v", evs)
	}
	if it := w.last(t, "gw-b"); it == nil || it.TreeSize != 3 || it.AuditSeq != evs[0].Seq {
		t.Fatalf("ledger: %+v", it)
	}
	// Nothing new: nothing recorded.
	w.s.witnessRound(ctx)
	if n := len(w.entries(t, "gw-b")); n != 1 {
		t.Fatalf("an unchanged checkpoint was recorded again: %d entries", n)
	}
	// The log grows: witnessed with a proof from 3.
	b.grow(t, good, "e4", "e5")
	w.s.witnessRound(ctx)
	evs = w.entries(t, "gw-b")
	if len(evs) != 2 || evs[1].Federation.Outcome != audit.WitnessConsistent || evs[1].Federation.TreeSize != 5 ||
		len(evs[1].Federation.ConsistencyProof) == 0 || evs[1].Federation.Previous != evs[0].Federation.Checkpoint {
		t.Fatalf("second checkpoint: %+v", evs[len(evs)-1].Federation)
	}
	goodNote := b.note(t, good)

	bad := []struct {
		name    string
		log     *audit.Log
		outcome string
	}{
		// Same key, first three entries shared, then another history.
		{"fork", b.newLog(t, nil, "e1", "e2", "e3", "x4", "x5", "x6"), audit.WitnessInconsistent},
		// Same size, another root.
		{"same size", b.newLog(t, nil, "e1", "e2", "e3", "e4", "x5"), audit.WitnessInconsistent},
		// The same history, shorter: the log was rolled back.
		{"rollback", b.newLog(t, nil, "e1", "e2", "e3", "e4"), audit.WitnessInconsistent},
		// Signed with a key that is not the pinned one.
		{"forged", b.newLog(t, mustSigner(t), "e1", "e2", "e3", "e4", "e5", "e6", "e7"), audit.WitnessInvalid},
	}
	for i, c := range bad {
		b.show(c.log)
		w.s.witnessRound(ctx)
		w.s.witnessRound(ctx) // recorded once, not once per interval
		evs = w.entries(t, "gw-b")
		if len(evs) != 3+i {
			t.Fatalf("%s: %d entries, want %d", c.name, len(evs), 3+i)
		}
		e := evs[len(evs)-1]
		if e.Federation.Outcome != c.outcome || e.Federation.Checkpoint != b.note(t, c.log) || e.Error == "" {
			t.Fatalf("%s: %+v (%s)", c.name, e.Federation, e.Error)
		}
		if c.outcome == audit.WitnessInconsistent && (e.Status != http.StatusConflict || e.Federation.Previous != goodNote) {
			t.Fatalf("%s: the entry does not hold both views: status %d, previous %q", c.name, e.Status, e.Federation.Previous)
		}
		if it := w.last(t, "gw-b"); it.TreeSize != 5 || it.Checkpoint != goodNote {
			t.Fatalf("%s: the last good checkpoint was replaced: %+v", c.name, it)
		}
	}
	// Back to the honest log, grown: witnessed again from the last good.
	b.grow(t, good, "e6")
	b.show(good)
	w.s.witnessRound(ctx)
	evs = w.entries(t, "gw-b")
	if e := evs[len(evs)-1].Federation; e.Outcome != audit.WitnessConsistent || e.TreeSize != 6 {
		t.Fatalf("after the problems: %+v", e)
	}
	// Unreachable: nothing recorded.
	n := len(evs)
	b.srv.Close()
	w.s.witnessRound(ctx)
	if got := len(w.entries(t, "gw-b")); got != n {
		t.Fatalf("an unreachable peer left %d entries", got-n)
	}
	// The log's own verification reports all of it.
	r, err := audit.Verify(w.auditDir, audit.VerifyOptions{Live: true})
	if err != nil || !r.OK || len(r.Witness) != 1 {
		t.Fatalf("verify: %v %v %+v", err, r.Err(), r.Witness)
	}
	if ws := r.Witness[0]; ws.Witnessed != 3 || ws.TreeSize != 6 || len(ws.Problems) != 4 {
		t.Fatalf("witness status: %+v", ws)
	}
}

func mustSigner(t *testing.T) *jose.Signer {
	t.Helper()
	s, err := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "other.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A gateway that shows one history to gw-a and another to gw-b is caught
// when gw-a compares what gw-b witnessed of it with what gw-a witnessed:
// at the same size by the roots, at another size because it cannot give a
// proof joining the two.
func TestWitnessDetectsSplitViewThroughAnotherPeer(t *testing.T) {
	ctx := context.Background()
	b := newFakePeer(t, "gw-b")
	c := newFakePeer(t, "gw-c")
	b.show(b.newLog(t, nil, "b1"))
	cMine := c.newLog(t, nil, "c1", "c2", "c3")
	c.show(cMine) // what gw-c shows gw-a
	w := newWitness(t, b, c)

	relay := func(note string) {
		b.mu.Lock()
		b.witnessed = WitnessedAnswer{Witnessed: []WitnessedCheckpoint{{Gateway: "gw-c", Checkpoint: note, Time: "2026-03-01T09:00:00Z"}}}
		b.mu.Unlock()
	}
	w.s.witnessRound(ctx)
	if evs := w.entries(t, "gw-c"); len(evs) != 1 || evs[0].Federation.Outcome != audit.WitnessConsistent {
		t.Fatalf("first round: %+v", evs)
	}
	// gw-b saw the same history, earlier or at the same size: gw-c proves
	// 2→3, nothing is recorded.
	for _, tags := range [][]string{{"c1", "c2"}, {"c1", "c2", "c3"}} {
		relay(b.note(t, c.newLog(t, nil, tags...)))
		w.s.witnessRound(ctx)
		if evs := w.entries(t, "gw-c"); len(evs) != 1 {
			t.Fatalf("honest views (%d): %+v", len(tags), evs[len(evs)-1])
		}
	}

	// gw-c showed gw-b another history of the same size.
	other := c.newLog(t, nil, "c1", "c2", "y3")
	relay(c.note(t, other))
	w.s.witnessRound(ctx)
	w.s.witnessRound(ctx) // recorded once
	evs := w.entries(t, "gw-c")
	e := evs[len(evs)-1]
	if len(evs) != 2 || e.Federation.Outcome != audit.WitnessInconsistent || e.Federation.Via != "gw-b" ||
		e.Federation.Checkpoint != c.note(t, other) || e.Federation.Previous != c.note(t, cMine) {
		t.Fatalf("same-size split view: %d entries, %+v", len(evs), e.Federation)
	}

	// gw-c showed gw-b a diverging history of 6 entries and gw-a an honest
	// one of 7: the proof gw-c gives from 6 to 7 does not join them.
	longer := c.newLog(t, nil, "c1", "c2", "y3", "y4", "y5", "y6")
	relay(c.note(t, longer))
	c.grow(t, cMine, "c4", "c5", "c6", "c7")
	w.s.witnessRound(ctx)
	evs = w.entries(t, "gw-c")
	if len(evs) != 4 || evs[2].Federation.Outcome != audit.WitnessConsistent || evs[2].Federation.TreeSize != 7 {
		t.Fatalf("own view: %d entries, %+v", len(evs), evs[len(evs)-1].Federation)
	}
	e = evs[3]
	if e.Federation.Outcome != audit.WitnessInconsistent || e.Federation.Via != "gw-b" || e.Federation.TreeSize != 6 ||
		e.Federation.Previous != c.note(t, cMine) || len(e.Federation.ConsistencyProof) == 0 {
		t.Fatalf("diverging split view (gw-c's proof recorded): %+v (%s)", e.Federation, e.Error)
	}
	// What gw-a witnessed of gw-c itself is unchanged.
	if it := w.last(t, "gw-c"); it.TreeSize != 7 || it.Checkpoint != c.note(t, cMine) {
		t.Fatalf("own view replaced: %+v", it)
	}
	// And gw-a serves what it witnessed, for its peers to compare.
	rec := httptest.NewRecorder()
	w.s.serveWitnessed(rec, httptest.NewRequest("GET", "/fed/v1/witnessed", nil))
	var ans WitnessedAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || len(ans.Witnessed) != 2 {
		t.Fatalf("witnessed: %v %s", err, rec.Body)
	}
	for _, wc := range ans.Witnessed {
		if wc.Gateway == "gw-c" && wc.Checkpoint != c.note(t, cMine) {
			t.Fatalf("served %s", wc.Checkpoint)
		}
	}
}

// The checkpoint endpoint: the note, a proof from ?from (and to ?to), no
// proof for sizes beyond the note, 400 for malformed sizes.
func TestServeCheckpoint(t *testing.T) {
	p := newFakePeer(t, "gw-b")
	l := p.newLog(t, nil, "1", "2", "3", "4", "5")
	s := &Service{checkpoints: l, log: zap.NewNop()}
	get := func(q string) (int, CheckpointAnswer) {
		rec := httptest.NewRecorder()
		s.serveCheckpoint(rec, httptest.NewRequest("GET", "/fed/v1/checkpoint"+q, nil))
		var a CheckpointAnswer
		_ = json.Unmarshal(rec.Body.Bytes(), &a)
		return rec.Code, a
	}
	jwks, _ := os.ReadFile(p.jwks)
	code, a := get("")
	nc, err := audit.OpenNote([]byte(a.Checkpoint), jwks, "gw-b")
	if code != 200 || err != nil || nc.TreeSize != 5 || a.Proof != nil {
		t.Fatalf("plain: %d %v %+v", code, err, a)
	}
	code, a = get("?from=2")
	if code != 200 || a.Proof == nil || a.Proof.From != 2 || a.Proof.To != 5 || len(a.Proof.Hashes) == 0 {
		t.Fatalf("from: %d %+v", code, a.Proof)
	}
	code, a = get("?from=2&to=4")
	if code != 200 || a.Proof == nil || a.Proof.To != 4 {
		t.Fatalf("from-to: %d %+v", code, a.Proof)
	}
	if code, a = get("?from=7"); code != 200 || a.Proof != nil {
		t.Fatalf("beyond: %d %+v", code, a.Proof)
	}
	for _, q := range []string{"?from=x", "?to=3", "?from=1&from=2", "?from=-1"} {
		if code, _ := get(q); code != 400 {
			t.Fatalf("%s: %d", q, code)
		}
	}
	if code, _ := get(fmt.Sprintf("?from=%d", 3)); code != 200 {
		t.Fatal(code)
	}
}
