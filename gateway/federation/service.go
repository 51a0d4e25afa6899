// Package federation connects this gateway to its peer gateways
// (docs/federation.md): the peer registry with each peer's pinned identity,
// own trust bundle and signing keys; the signed messages (share, recall,
// recall-ack) and receipts; the durable outbox, delivered with retries and
// capped exponential backoff, and the idempotent inbox, which together give
// exactly-once effects over at-least-once delivery; and the
// gateway-to-gateway API under /fed/v1 on its own mutual-TLS listener. Each
// side decides with its own policy and keeps its own evidence: the sender's
// audit entry holds the receiver's signed receipt, the receiver's holds the
// sender's signed envelope.
package federation

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/policy"
)

// Signer signs and verifies with the gateway key (jose.Signer).
type Signer interface {
	Sign(payload []byte) ([]byte, error)
	Verify(jws []byte) ([]byte, error)
	DeriveKey(label string) ([]byte, error)
}

// Decider is the policy engine.
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
}

// Options are a Service's collaborators.
type Options struct {
	Config  config.Config
	Log     *zap.Logger
	Records *recordstore.Store
	Store   objstore.Store
	Signer  Signer
	Audit   audit.Writer
	Policy  Decider
	// Certificate is the gateway's current certificate (reloaded with the
	// agency listener's).
	Certificate func() *tls.Certificate
	Now         func() time.Time
	// Checkpoints is this gateway's audit log, whose signed checkpoints
	// peers witness (GET /fed/v1/checkpoint); nil publishes none.
	Checkpoints Checkpoints
}

// Service is this gateway's side of the federation.
type Service struct {
	cfg      config.Config
	log      *zap.Logger
	records  *recordstore.Store
	ledger   *ledger
	signer   Signer
	audit    audit.Writer
	policy   Decider
	peers    *Registry
	cert     func() *tls.Certificate
	now      func() time.Time
	officerK []byte
	exec     ConsentExecutor
	// checkpoints and wit: cross-witnessing (witness.go).
	checkpoints Checkpoints
	wit         witnessState
	// rec: per-peer reconciliation (reconcile.go).
	rec reconcileState

	metrics *metrics

	mu      sync.Mutex
	senders map[string]*sender
	wg      sync.WaitGroup
	cancel  context.CancelFunc

	// mf is this gateway's signed manifest and the peer reloads
	// (manifest.go).
	mf manifestState
}

// New builds the federation service (not yet sending: see Start).
func New(o Options) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	reg, err := NewRegistry(o.Config)
	if err != nil {
		return nil, err
	}
	k, err := o.Signer.DeriveKey("federation.officer-ref")
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: o.Config, log: o.Log.Named("federation"), records: o.Records,
		ledger: &ledger{store: o.Store, signer: o.Signer}, signer: o.Signer, audit: o.Audit, policy: o.Policy,
		peers: reg, cert: o.Certificate, now: o.Now, officerK: k, senders: map[string]*sender{}, checkpoints: o.Checkpoints, metrics: newMetrics()}
	for _, p := range reg.Peers() {
		s.senders[p.ID] = newSender(s, p)
	}
	return s, nil
}

// Peers is the registry in force.
func (s *Service) Peers() *Registry { return s.peers }

// Start starts one sender per peer: each resumes what the outbox holds.
func (s *Service) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, snd := range s.senders {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); snd.run(ctx) }()
	}
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.runManifests(ctx) }()
	go func() { defer s.wg.Done(); s.runWitness(ctx) }()
	// Per-peer reconciliation of the ledgers (reconcile.go).
	go func() { defer s.wg.Done(); s.runReconcile(ctx) }()
	return nil
}

// syncSenders makes the senders match the registry after a reload: a new
// peer gets a sender (run under ctx, the service's), a removed peer's
// sender is stopped (what was queued for it stays in the outbox and is
// resumed if the peer comes back), and a peer whose manifest changed
// (endpoint, keys, bundle) gets a fresh sender built from the new identity,
// started once the old one has returned, so that one peer never has two
// senders at once. The new sender is in the map before the old stops, so
// enqueue never finds the peer missing.
func (s *Service) syncSenders(ctx context.Context) {
	want := map[string]*Peer{}
	for _, p := range s.peers.Peers() {
		want[p.ID] = p
	}
	s.mu.Lock()
	var old, fresh []*sender
	for id, d := range s.senders {
		if p, ok := want[id]; !ok || p != d.peer {
			old = append(old, d)
			delete(s.senders, id)
		}
	}
	for id, p := range want {
		if _, ok := s.senders[id]; !ok {
			d := newSender(s, p)
			s.senders[id] = d
			fresh = append(fresh, d)
		}
	}
	s.mu.Unlock()
	for _, d := range old {
		d.stop()
	}
	for _, d := range fresh {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); d.run(ctx) }()
	}
}

// Stop stops the senders; what is queued stays queued.
func (s *Service) Stop() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.closeWitnessClients()
	return nil
}

// Route splits recipients by the peer gateway hosting them; recipients
// hosted here (or by nobody known) are not in the result.
func (s *Service) Route(recipients []string) map[string][]string {
	out := map[string][]string{}
	for _, a := range recipients {
		if p, ok := s.peers.HostOf(a); ok {
			out[p.ID] = append(out[p.ID], a)
		}
	}
	return out
}

// DeliverInput completes a federation.deliver policy input for the
// recipients hosted by peer.
func (s *Service) DeliverInput(in *policy.Input, peer string, recipients []string, provenance []string) {
	var agencies []string
	if p, ok := s.peers.Peer(peer); ok {
		agencies = slices.Clone(p.Agencies)
	}
	in.Action = policy.ActionDeliver
	in.Federation = &policy.Federation{PeerGateway: peer, PeerAgencies: orEmpty(agencies),
		Recipients: orEmpty(slices.Clone(recipients)), Provenance: orEmpty(provenance)}
}

// Provenance is the provenance a copy of st carries onward: the gateways
// it passed through, this one last.
func (s *Service) Provenance(st *recordstore.Record) []string {
	var p []string
	if st != nil && st.Origin != nil {
		p = slices.Clone(st.Origin.Provenance)
		p = append(p, st.Origin.From)
		p = slices.DeleteFunc(p, func(g string) bool { return g == "" })
	}
	return p
}

// Share queues a share of meta's version to each peer in byPeer (agencies
// it hosts), durably, before the caller acknowledges the publish or share.
// provenance is what the record passed through before this gateway (nil
// for a record published here).
func (s *Service) Share(ctx context.Context, meta *record.Meta, fromAgency, officer string, byPeer map[string][]string, provenance []string) error {
	peers := make([]string, 0, len(byPeer))
	for p := range byPeer {
		peers = append(peers, p)
	}
	sort.Strings(peers)
	now := s.now().UTC()
	for _, peer := range peers {
		env := Envelope{Format: envelopeFormat, ID: record.NewMessageID(now), Type: TypeShare,
			FromGateway: s.cfg.GatewayID, ToGateway: peer, FromAgency: fromAgency, ToAgencies: byPeer[peer],
			OfficerRef: s.officerRef(officer), DSAID: firstDSA(meta), RecordID: meta.RecordID, RecordVersion: meta.Version,
			Provenance: append(slices.Clone(provenance), s.cfg.GatewayID), Created: now.Format(time.RFC3339),
			Expires: now.Add(s.cfg.Federation.MessageTTL).Format(time.RFC3339), Handling: meta.HandlingSnapshot()}
		if len(meta.Consents) > 0 && len(provenance) > 0 {
			r, err := s.receiptsFor(ctx, meta)
			if err != nil {
				return err
			}
			env.ConsentReceipts = r
		}
		m := *meta
		// The outbox is in the (untrusted) store: selectors are personal
		// data and travel only in the message body, read from the sealed
		// record when it is sent.
		m.Selectors = nil
		if err := s.enqueue(ctx, peer, &outItem{Format: outboxFormat, Envelope: env, Meta: &m}); err != nil {
			return err
		}
	}
	return nil
}

// Recall queues the recall of a record recalled here to every peer a
// message about it was sent to (its copies, and shares still queued), and
// returns those peers.
func (s *Service) Recall(ctx context.Context, id, originator string, version int) ([]string, error) {
	return s.recallEdges(ctx, id, originator, version, nil)
}

// recallEdges is Recall; up is set when this gateway forwards a recall it
// received (acknowledgements then go back there).
func (s *Service) recallEdges(ctx context.Context, id, originator string, version int, up *upstreamRef) ([]string, error) {
	peers, err := s.edgePeers(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var sent []string
	for _, peer := range peers {
		if up != nil && peer == up.Gateway {
			continue // never back the way it came
		}
		if s.sender(peer) == nil {
			// A gateway removed from the peers since it was sent the
			// record: the recall cannot be sent, and must not stop the
			// recall to everyone else. The status API shows it.
			s.log.Error("recall not sent: the gateway holding a copy is no longer a peer",
				zap.String("peer", peer), zap.String("record_id", id))
			continue
		}
		env := Envelope{Format: envelopeFormat, ID: record.NewMessageID(now), Type: TypeRecall,
			FromGateway: s.cfg.GatewayID, ToGateway: peer, FromAgency: originator, ToAgencies: []string{},
			RecordID: id, RecordVersion: max(version, 1), Provenance: []string{s.cfg.GatewayID}, Created: now.Format(time.RFC3339)}
		if err := s.enqueue(ctx, peer, &outItem{Format: outboxFormat, Envelope: env, Upstream: up}); err != nil {
			return nil, err
		}
		sent = append(sent, peer)
	}
	return sent, nil
}

// edgePeers lists the peers a message about record id was sent to.
func (s *Service) edgePeers(ctx context.Context, id string) ([]string, error) {
	keys, err := s.ledger.listAll(ctx, edgePrefix(id))
	if err != nil {
		return nil, err
	}
	var peers []string
	for _, k := range keys {
		if p, _, ok := parseEdge(k, edgePrefix(id)); ok && !slices.Contains(peers, p) {
			peers = append(peers, p)
		}
	}
	return peers, nil
}

// enqueue claims the peer's next sequence number by creating the outbox
// object (conditional PUT: concurrent replicas never share a number), then
// records the edge and wakes the peer's sender.
func (s *Service) enqueue(ctx context.Context, peer string, it *outItem) error {
	snd := s.sender(peer)
	if snd == nil {
		return fmt.Errorf("federation: %s is not a peer", peer)
	}
	for range 64 {
		seq, err := snd.nextSeq(ctx)
		if err != nil {
			return err
		}
		it.Envelope.Seq = seq
		err = s.ledger.put(ctx, outboxKey(peer, seq), it, true)
		if errors.Is(err, objstore.ErrExists) {
			snd.claimed(seq) // another replica took it
			continue
		}
		if err != nil {
			return fmt.Errorf("federation: queue message to %s: %w", peer, err)
		}
		snd.claimed(seq)
		if err := s.ledger.store.Put(ctx, edgeKey(it.Envelope.RecordID, peer, seq), []byte("{}"), objstore.PutOptions{ContentType: "application/json"}); err != nil {
			return fmt.Errorf("federation: record edge to %s: %w", peer, err)
		}
		snd.wake()
		return nil
	}
	return fmt.Errorf("federation: could not claim a sequence number for %s", peer)
}

func (s *Service) sender(peer string) *sender {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.senders[peer]
}

// officerRef is a pseudonymous, stable reference to an officer: peers can
// correlate requests of one officer without learning who it is; this
// gateway can resolve it from its own audit log.
func (s *Service) officerRef(officer string) string {
	if officer == "" {
		return ""
	}
	m := hmac.New(sha256.New, s.officerK)
	m.Write([]byte(officer))
	return "off-" + hex.EncodeToString(m.Sum(nil)[:12])
}

func firstDSA(m *record.Meta) string {
	if len(m.DSAIDs) == 0 {
		return ""
	}
	return m.DSAIDs[0]
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Route is one endpoint of the gateway-to-gateway API: its ServeMux
// pattern's method and path. The OpenAPI document's test compares Routes
// with the document (gateway/gatewaytest).
type Route struct{ Method, Path string }

// Pattern is the ServeMux pattern ("GET /fed/v1/manifest").
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// routes is the federation listener's routing table: Handler registers
// exactly these and Routes lists them.
func (s *Service) routes() []struct {
	Route
	h http.HandlerFunc
} {
	return []struct {
		Route
		h http.HandlerFunc
	}{
		{Route{"POST", "/fed/v1/messages"}, s.receive},
		{Route{"GET", "/fed/v1/manifest"}, s.serveManifest},
		{Route{"GET", "/fed/v1/checkpoint"}, s.serveCheckpoint},
		{Route{"GET", "/fed/v1/witnessed"}, s.serveWitnessed},
		{Route{"GET", "/fed/v1/ledger"}, s.serveLedger}, // reconcile.go
	}
}

// Routes lists the federation listener's endpoints.
func Routes() []Route {
	var out []Route
	for _, r := range (&Service{}).routes() {
		out = append(out, r.Route)
	}
	return out
}

// Handler serves the gateway-to-gateway API (/fed/v1/...). Every request
// must come from a pinned peer; anyone else gets 404 and is audited.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		mux.HandleFunc(r.Pattern(), r.h)
	}
	return s.peerOnly(mux)
}
