package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
)

// Cross-witnessing (docs/federation.md). Every federation.witness_interval
// this gateway fetches each peer's latest signed audit checkpoint (the C2SP
// signed note its audit log publishes), verifies it with the peer's pinned
// audit key, and checks with a consistency proof that it extends the last
// checkpoint witnessed of that peer. Each newly witnessed checkpoint is an
// entry of this gateway's own audit log (the note, the proof, the note it
// extends), and the latest is kept in the ledger. A checkpoint that does
// not extend it is recorded as inconsistent and the last good one stays.
//
// That alone shows a peer rewriting its own history to this gateway. A
// peer showing different histories to different gateways (a split view)
// shows in two ways: the notes in two gateways' logs (each signed by the
// peer) cannot be joined by a consistency proof; and, online, each gateway
// serves the checkpoints it witnessed (GET /fed/v1/witnessed) and compares
// what its peers witnessed of a third gateway with what it witnessed
// itself, asking that gateway for the proof between the two sizes.
//
//	federation/witness/<peer>   witnessItem: the latest checkpoint witnessed of peer

const witnessFormat = "liaison.fed.witness/v1"

func witnessPrefix() string         { return "federation/witness/" }
func witnessKey(peer string) string { return witnessPrefix() + peer }

// Checkpoints is this gateway's audit log as its peers witness it
// (*audit.Log).
type Checkpoints interface {
	// LatestNote is the latest signed checkpoint note and what it states.
	LatestNote() ([]byte, audit.NoteCheckpoint, error)
	// ConsistencyProof proves that the tree of size1 entries is a prefix
	// of the tree of size2, and returns the root at size2.
	ConsistencyProof(size1, size2 uint64) ([]string, string, error)
}

// CheckpointAnswer is the body of GET /fed/v1/checkpoint.
type CheckpointAnswer struct {
	// Checkpoint is the gateway's latest signed checkpoint note (C2SP
	// tlog-checkpoint), origin liaison.audit/<gateway id>.
	Checkpoint string `json:"checkpoint"`
	// Proof answers ?from=<size>[&to=<size>] (to defaults to the
	// checkpoint's size); absent when the sizes asked for are beyond what
	// the checkpoint covers.
	Proof *ConsistencyProof `json:"proof,omitempty"`
}

// ConsistencyProof is an RFC 6962 consistency proof between two tree sizes
// of a gateway's audit log.
type ConsistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes []string `json:"hashes"` // lowercase hex
}

// WitnessedAnswer is the body of GET /fed/v1/witnessed: the latest
// checkpoint this gateway witnessed of each of its peers.
type WitnessedAnswer struct {
	Witnessed []WitnessedCheckpoint `json:"witnessed"`
}

// WitnessedCheckpoint is one peer's checkpoint as witnessed here.
type WitnessedCheckpoint struct {
	Gateway    string `json:"gateway"`
	Checkpoint string `json:"checkpoint"`
	Time       string `json:"time"`
}

// witnessItem is the ledger's record of the latest checkpoint witnessed of
// a peer.
type witnessItem struct {
	Format     string `json:"format"`
	Gateway    string `json:"gateway"`
	Checkpoint string `json:"checkpoint"`
	TreeSize   uint64 `json:"tree_size"`
	RootHash   string `json:"root_hash"`
	Time       string `json:"time"`
	// AuditSeq is the entry of this gateway's audit log that records it.
	AuditSeq uint64 `json:"audit_seq"`
}

func (w *witnessItem) state() audit.NoteCheckpoint {
	return audit.NoteCheckpoint{Origin: audit.NoteOrigin(w.Gateway), TreeSize: w.TreeSize, RootHash: w.RootHash}
}

// witnessState is the witness loop's memory: a client per peer, and the
// problems already recorded (one entry per distinct bad checkpoint, not
// one per interval).
type witnessState struct {
	mu       sync.Mutex
	clients  map[string]*peerClient
	reported map[string]bool
}

type peerClient struct {
	peer *Peer
	http *http.Client
}

// maxWitnessBody bounds what is read from a peer: a note with
// cosignatures and a proof of 64 hashes fit many times over.
const maxWitnessBody = 1 << 20

// GET /fed/v1/checkpoint[?from=<size>[&to=<size>]]
func (s *Service) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	if s.checkpoints == nil {
		writeProblem(w, http.StatusNotFound, "not-found", "Not found", "this gateway publishes no checkpoint")
		return
	}
	q := r.URL.Query()
	from, hasFrom, err1 := sizeParam(q, "from")
	to, hasTo, err2 := sizeParam(q, "to")
	if err1 != nil || err2 != nil || (hasTo && !hasFrom) {
		writeProblem(w, http.StatusBadRequest, "malformed", "Bad request", "from and to are tree sizes (decimal); to needs from")
		return
	}
	msg, nc, err := s.checkpoints.LatestNote()
	if errors.Is(err, audit.ErrNoCheckpoint) {
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "no checkpoint is signed yet; retry later")
		return
	}
	if err != nil {
		s.log.Error("audit checkpoint not served", zap.Error(err))
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "the checkpoint cannot be read; retry later")
		return
	}
	ans := CheckpointAnswer{Checkpoint: string(msg)}
	if !hasTo {
		to = nc.TreeSize
	}
	// Sizes beyond the signed checkpoint get no proof: the witness judges
	// (a size it holds that is beyond ours is a rollback).
	if hasFrom && from <= to && to <= nc.TreeSize {
		hashes, root, err := s.checkpoints.ConsistencyProof(from, to)
		if err == nil && to == nc.TreeSize && root != nc.RootHash {
			err = fmt.Errorf("the log's root at %d is not the one its checkpoint signs", to)
		}
		if err != nil {
			s.log.Error("audit consistency proof not made", zap.Uint64("from", from), zap.Uint64("to", to), zap.Error(err))
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "no consistency proof can be made now; retry later")
			return
		}
		ans.Proof = &ConsistencyProof{From: from, To: to, Hashes: hashes}
	}
	writeJSON(w, http.StatusOK, ans)
}

func sizeParam(q url.Values, name string) (uint64, bool, error) {
	v, ok := q[name]
	if !ok {
		return 0, false, nil
	}
	if len(v) != 1 {
		return 0, true, errors.New("repeated")
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	return n, true, err
}

// GET /fed/v1/witnessed
func (s *Service) serveWitnessed(w http.ResponseWriter, r *http.Request) {
	keys, err := s.ledger.listAll(r.Context(), witnessPrefix())
	if err != nil {
		s.unavailable(w, err)
		return
	}
	ans := WitnessedAnswer{Witnessed: []WitnessedCheckpoint{}}
	for _, k := range keys {
		var it witnessItem
		if err := s.ledger.get(r.Context(), k, witnessFormat, &it); err != nil {
			s.unavailable(w, err)
			return
		}
		ans.Witnessed = append(ans.Witnessed, WitnessedCheckpoint{Gateway: it.Gateway, Checkpoint: it.Checkpoint, Time: it.Time})
	}
	writeJSON(w, http.StatusOK, ans)
}

// runWitness witnesses the peers every federation.witness_interval.
func (s *Service) runWitness(ctx context.Context) {
	t := time.NewTicker(s.cfg.Federation.WitnessInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.witnessRound(ctx)
	}
}

// witnessRound witnesses every peer whose audit key is pinned, then
// compares what each witnessed of the others with what this gateway did.
func (s *Service) witnessRound(ctx context.Context) {
	var peers []*Peer
	for _, p := range s.peers.Peers() {
		if p.auditKeys != nil {
			peers = append(peers, p)
		}
	}
	for _, p := range peers {
		if ctx.Err() != nil {
			return
		}
		s.witnessPeer(ctx, p)
	}
	for _, p := range peers {
		if ctx.Err() != nil {
			return
		}
		s.crossCheck(ctx, p)
	}
}

// witnessPeer fetches, checks and records peer p's latest checkpoint. An
// unreachable peer leaves nothing: it is tried again next interval.
func (s *Service) witnessPeer(ctx context.Context, p *Peer) {
	last, err := s.lastWitnessed(ctx, p.ID)
	if err != nil {
		s.log.Warn("witness state not read", zap.String("peer", p.ID), zap.Error(err))
		return
	}
	var from uint64
	if last != nil {
		from = last.TreeSize
	}
	ans, err := s.fetchCheckpoint(ctx, p, from, 0, last != nil)
	if err != nil {
		s.log.Info("peer checkpoint not fetched; tried again next interval", zap.String("peer", p.ID), zap.Error(err))
		return
	}
	nc, err := audit.OpenNote([]byte(ans.Checkpoint), p.auditKeys, p.ID)
	if err != nil {
		s.witnessProblem(ctx, &audit.Federation{PeerGateway: p.ID, Outcome: audit.WitnessInvalid, Checkpoint: ans.Checkpoint},
			"the checkpoint served is not signed with the peer's pinned audit key: "+err.Error())
		return
	}
	fed := &audit.Federation{PeerGateway: p.ID, Direction: "witnessed", Type: "checkpoint", Outcome: audit.WitnessConsistent,
		Checkpoint: ans.Checkpoint, TreeSize: nc.TreeSize, RootHash: nc.RootHash}
	if last != nil {
		if nc.TreeSize == last.TreeSize && nc.RootHash == last.RootHash {
			return // nothing new
		}
		var hashes []string
		if ans.Proof != nil && ans.Proof.From == last.TreeSize && ans.Proof.To == nc.TreeSize {
			hashes = ans.Proof.Hashes
		}
		fed.Previous, fed.ConsistencyProof = last.Checkpoint, hashes
		if err := audit.CheckConsistency(last.state(), nc, hashes); err != nil {
			fed.Outcome = audit.WitnessInconsistent
			s.witnessProblem(ctx, fed, fmt.Sprintf("checkpoint at tree size %d does not extend the one witnessed at %d: %v",
				nc.TreeSize, last.TreeSize, err))
			return
		}
	}
	ev := &audit.Event{Operation: audit.OpConsultation, Action: "federation.witness", Status: http.StatusOK, Federation: fed}
	if err := s.writeAudit(ctx, ev); err != nil {
		return // not recorded, so not kept: witnessed again next interval
	}
	it := &witnessItem{Format: witnessFormat, Gateway: p.ID, Checkpoint: ans.Checkpoint, TreeSize: nc.TreeSize,
		RootHash: nc.RootHash, Time: s.now().UTC().Format(time.RFC3339), AuditSeq: ev.Seq}
	if err := s.ledger.put(ctx, witnessKey(p.ID), it, false); err != nil {
		s.log.Warn("witnessed checkpoint not kept", zap.String("peer", p.ID), zap.Error(err))
	}
}

// crossCheck compares what peer via witnessed of the other peers with
// what this gateway witnessed of them. Two checkpoints of one gateway must
// be the same at the same size, and otherwise joined by a consistency
// proof that gateway gives; if not, it showed different histories.
func (s *Service) crossCheck(ctx context.Context, via *Peer) {
	var ans WitnessedAnswer
	if err := s.peerGet(ctx, via, "/fed/v1/witnessed", &ans); err != nil {
		s.log.Info("peer's witnessed checkpoints not fetched", zap.String("peer", via.ID), zap.Error(err))
		return
	}
	for _, wc := range ans.Witnessed {
		g, ok := s.peers.Peer(wc.Gateway)
		if wc.Gateway == via.ID || wc.Gateway == s.cfg.GatewayID || !ok || g.auditKeys == nil {
			continue
		}
		theirs, err := audit.OpenNote([]byte(wc.Checkpoint), g.auditKeys, g.ID)
		if err != nil {
			s.log.Warn("a peer relayed a checkpoint that does not verify", zap.String("peer", via.ID), zap.String("gateway", g.ID), zap.Error(err))
			continue
		}
		mine, err := s.lastWitnessed(ctx, g.ID)
		if err != nil || mine == nil {
			continue
		}
		fed := &audit.Federation{PeerGateway: g.ID, Direction: "witnessed", Type: "checkpoint", Outcome: audit.WitnessInconsistent,
			Via: via.ID, Checkpoint: wc.Checkpoint, TreeSize: theirs.TreeSize, RootHash: theirs.RootHash, Previous: mine.Checkpoint}
		ours := mine.state()
		if theirs.TreeSize == ours.TreeSize {
			if theirs.RootHash != ours.RootHash {
				s.witnessProblem(ctx, fed, fmt.Sprintf("split view: %s witnessed %s at tree size %d with another root than this gateway did",
					via.ID, g.ID, theirs.TreeSize))
			}
			continue
		}
		lo, hi := ours, theirs
		if lo.TreeSize > hi.TreeSize {
			lo, hi = hi, lo
		}
		pa, err := s.fetchCheckpoint(ctx, g, lo.TreeSize, hi.TreeSize, true)
		if err != nil {
			continue // unreachable: compared again next interval
		}
		var hashes []string
		if pa.Proof != nil && pa.Proof.From == lo.TreeSize && pa.Proof.To == hi.TreeSize {
			hashes = pa.Proof.Hashes
		}
		if err := audit.CheckConsistency(lo, hi, hashes); err != nil {
			fed.ConsistencyProof = hashes
			s.witnessProblem(ctx, fed, fmt.Sprintf("split view: what %s witnessed of %s (tree size %d) and what this gateway witnessed (tree size %d) are not one history: %v",
				via.ID, g.ID, theirs.TreeSize, ours.TreeSize, err))
		}
	}
}

// witnessProblem records a checkpoint that is not consistent (or not
// validly signed), once per distinct checkpoint, and logs it at error
// level. What was witnessed before stays the reference.
func (s *Service) witnessProblem(ctx context.Context, fed *audit.Federation, why string) {
	fed.Direction, fed.Type = "witnessed", "checkpoint"
	key := strings.Join([]string{fed.PeerGateway, fed.Via, fed.Outcome, Digest([]byte(fed.Checkpoint)), Digest([]byte(fed.Previous))}, "\x00")
	s.wit.mu.Lock()
	seen := s.wit.reported[key]
	s.wit.mu.Unlock()
	if seen {
		return
	}
	s.log.Error("peer audit checkpoint not consistent", zap.String("peer", fed.PeerGateway), zap.String("via", fed.Via),
		zap.String("outcome", fed.Outcome), zap.Uint64("tree_size", fed.TreeSize), zap.String("reason", why))
	status := http.StatusConflict
	if fed.Outcome == audit.WitnessInvalid {
		status = http.StatusBadGateway
	}
	ev := &audit.Event{Operation: audit.OpConsultation, Action: "federation.witness", Status: status, Error: why, Federation: fed}
	if s.writeAudit(ctx, ev) != nil {
		return // recorded at a later interval
	}
	s.wit.mu.Lock()
	if s.wit.reported == nil {
		s.wit.reported = map[string]bool{}
	}
	s.wit.reported[key] = true
	s.wit.mu.Unlock()
}

// lastWitnessed is the latest checkpoint witnessed of peer, nil if none.
func (s *Service) lastWitnessed(ctx context.Context, peer string) (*witnessItem, error) {
	var it witnessItem
	err := s.ledger.get(ctx, witnessKey(peer), witnessFormat, &it)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if it.Gateway != peer {
		return nil, fmt.Errorf("%w: %s", errLedgerTampered, witnessKey(peer))
	}
	return &it, nil
}

// fetchCheckpoint asks p for its checkpoint, with a proof from..to (to 0:
// its checkpoint's size) when withProof.
func (s *Service) fetchCheckpoint(ctx context.Context, p *Peer, from, to uint64, withProof bool) (*CheckpointAnswer, error) {
	path := "/fed/v1/checkpoint"
	if withProof {
		path += "?from=" + strconv.FormatUint(from, 10)
		if to > 0 {
			path += "&to=" + strconv.FormatUint(to, 10)
		}
	}
	var ans CheckpointAnswer
	if err := s.peerGet(ctx, p, path, &ans); err != nil {
		return nil, err
	}
	if ans.Checkpoint == "" {
		return nil, fmt.Errorf("%s served no checkpoint", p.ID)
	}
	return &ans, nil
}

// peerGet GETs path from p over its pinned mutual TLS and decodes the
// JSON answer.
func (s *Service) peerGet(ctx context.Context, p *Peer, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Endpoint+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.witnessClient(p).Do(req)
	if err != nil {
		return fmt.Errorf("ask %s: %w", p.ID, err)
	}
	defer resp.Body.Close()
	s.contacted(p.ID) // its pinned identity answered, whatever it said
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessBody))
	if err != nil {
		return fmt.Errorf("read answer of %s: %w", p.ID, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d %s", p.ID, resp.StatusCode, problemDetail(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("answer of %s: %w", p.ID, err)
	}
	return nil
}

// witnessClient is the HTTP client for p (the peer's pinned identity and
// bundle), replaced when the registry's peer is.
func (s *Service) witnessClient(p *Peer) *http.Client {
	s.wit.mu.Lock()
	defer s.wit.mu.Unlock()
	if c, ok := s.wit.clients[p.ID]; ok && c.peer == p {
		return c.http
	}
	if s.wit.clients == nil {
		s.wit.clients = map[string]*peerClient{}
	}
	tr := &http.Transport{TLSClientConfig: p.ClientTLS(s.cert), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 2,
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	if old, ok := s.wit.clients[p.ID]; ok {
		old.http.CloseIdleConnections()
	}
	c := &peerClient{peer: p, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	s.wit.clients[p.ID] = c
	return c.http
}

// loadAuditKeys reads a peer's pinned audit key set (federation.peers[].
// audit_keys); none configured: nil, the peer is not witnessed.
func loadAuditKeys(peer, file string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("federation: peer %s audit keys: %w", peer, err)
	}
	if _, err := audit.NoteVerifierKeys(b, peer); err != nil {
		return nil, fmt.Errorf("federation: peer %s audit keys %s: %w", peer, file, err)
	}
	return b, nil
}

// closeWitnessClients drops the witness clients' idle connections.
func (s *Service) closeWitnessClients() {
	s.wit.mu.Lock()
	defer s.wit.mu.Unlock()
	for _, c := range s.wit.clients {
		c.http.CloseIdleConnections()
	}
}
