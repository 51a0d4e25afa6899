package federation

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// Reconciliation (docs/federation.md, "Reconciliation"). The outbox and the
// inbox give exactly-once effects while both stores keep what they wrote;
// they do not survive a store restored from an older backup, or an object
// put back by hand. Every federation.reconcile_interval the sender of each
// peer's messages compares, by the sequence numbers it gave them (never by
// time), what it holds as settled with what the peer says it holds, and
// repairs what the peer lost by queueing the message again.
//
// The receiver indexes every message it answers by the sender's sequence
// number, and answers GET /fed/v1/ledger with a signed digest of a range
// (or, on request, the list, in pages). An entry is "held" when the
// message's effect still holds there now: a share's copy exists (at that
// version or later, or recalled since), a recall's tombstone is in place, a
// recall-ack is recorded. Only those kinds are reconciled: a refused or
// given-up message has no effect to repair, and consent messages are
// answered by their own flows.
//
//	federation/inseq/<peer>/<seq>.<message id>  inSeqItem: a message received from peer, by its seq
//	federation/reconciled/<peer>                 reconciledItem: how far peer's ledger was compared
//	federation/repairs/<peer>/<seq>              repairItem: message seq to peer was queued again

const (
	inseqFormat        = "liaison.fed.inseq/v1"
	reconciledFormat   = "liaison.fed.reconciled/v1"
	repairFormat       = "liaison.fed.repair/v1"
	ledgerAnswerFormat = "liaison.fed.ledger/v1"

	// reconcileChunk is how many sequence numbers one digest covers: a
	// mismatch costs one list of at most this many entries.
	reconcileChunk = 256
	// reconcileBudget bounds the sequence numbers compared per peer per
	// round (the rest waits for the next round).
	reconcileBudget = 16 * reconcileChunk
	// fullPassRounds: every this many intervals the whole range already
	// reconciled is compared again (a store restored after it was
	// compared), a budget's worth per round.
	fullPassRounds = 30
	// maxLedgerRange, maxLedgerPage and maxLedgerScan bound what one
	// GET /fed/v1/ledger costs the answering gateway.
	maxLedgerRange = 4 * reconcileChunk
	maxLedgerPage  = reconcileChunk
	maxLedgerScan  = 8 * maxLedgerRange
)

func inseqPrefix(peer string) string { return "federation/inseq/" + peer + "/" }
func inseqKey(peer string, seq uint64, msgID string) string {
	return inseqPrefix(peer) + seqName(seq) + "." + msgID
}
func reconciledKey(peer string) string         { return "federation/reconciled/" + peer }
func repairPrefix(peer string) string          { return "federation/repairs/" + peer + "/" }
func repairKey(peer string, seq uint64) string { return repairPrefix(peer) + seqName(seq) }

// inseqAfter is the List start that returns the entries of seq from on
// ("<seq>/" sorts after every "<seq>.<id>" and before the next seq).
func inseqAfter(peer string, from uint64) string { return inseqPrefix(peer) + seqName(from-1) + "/" }

// parseInseq reads "<seq>.<message id>" (a key, without its prefix, or a
// list cursor).
func parseInseq(rest string) (seq uint64, msgID string, ok bool) {
	s, id, ok := strings.Cut(rest, ".")
	if !ok || len(s) != seqWidth || !record.ValidMessageID(id) {
		return 0, "", false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, id, err == nil
}

// inSeqItem is a received message as the sequence index keeps it: enough
// to say, without the inbox, what was answered and what must still hold.
type inSeqItem struct {
	Format         string `json:"format"`
	Seq            uint64 `json:"seq"`
	MessageID      string `json:"message_id"`
	EnvelopeDigest string `json:"envelope_digest"`
	Type           string `json:"type"`
	RecordID       string `json:"record_id"`
	RecordVersion  int    `json:"record_version"`
	Outcome        string `json:"outcome"`
}

// reconciledItem is how far a peer's ledger was compared: Upto is the
// watermark of the incremental passes; FullNext, when not 0, where the
// full pass in progress resumes; LastFull when the last one ended (a
// schedule, not a cursor: sequence numbers say what is compared).
type reconciledItem struct {
	Format   string `json:"format"`
	Peer     string `json:"peer"`
	Upto     uint64 `json:"upto"`
	FullNext uint64 `json:"full_next,omitempty"`
	LastFull string `json:"last_full,omitempty"`
}

// repairItem marks that message Seq to a peer was queued again as
// RepairID. It is created by a conditional PUT before the repair is
// queued: of two replicas reconciling the same peer, one repairs. RepairSeq
// is filled once the repair is queued; a marker left without it (a crash
// in between) is taken over after a grace period.
type repairItem struct {
	Format    string `json:"format"`
	Seq       uint64 `json:"seq"`
	MessageID string `json:"message_id"`
	RecordID  string `json:"record_id"`
	RepairID  string `json:"repair_id"`
	RepairSeq uint64 `json:"repair_seq,omitempty"`
	Claimed   string `json:"claimed"`
}

// LedgerEntry is one message the answering gateway received from the
// asking one.
type LedgerEntry struct {
	Seq            uint64 `json:"seq"`
	MessageID      string `json:"message_id"`
	EnvelopeDigest string `json:"envelope_digest"`
	Type           string `json:"type"`
	RecordID       string `json:"record_id"`
	Outcome        string `json:"outcome"`
	// Held: the message's effect holds here now.
	Held bool `json:"held"`
}

// LedgerAnswer answers GET /fed/v1/ledger: what Gateway holds of the
// messages Peer sent it with sequence numbers From..To. Without list, the
// count and digest of the held entries; with list, a page of entries
// (held or not) and the cursor of the next page.
type LedgerAnswer struct {
	Format  string        `json:"format"`
	Gateway string        `json:"gateway"`
	Peer    string        `json:"peer"`
	From    uint64        `json:"from"`
	To      uint64        `json:"to"`
	Count   int           `json:"count"`
	Digest  string        `json:"digest,omitempty"`
	Entries []LedgerEntry `json:"entries,omitempty"`
	Next    string        `json:"next,omitempty"`
	Time    string        `json:"time"`
}

// WireLedger is the body of the answer: the LedgerAnswer signed (compact
// JWS) with the answering gateway's key, so that what a peer said it held
// can be kept as evidence.
type WireLedger struct {
	Answer string `json:"answer"`
}

// heldKind reports whether a message of type typ answered with outcome
// leaves an effect that reconciliation keeps in place.
func heldKind(typ, outcome string) bool {
	switch typ {
	case TypeShare:
		return outcome == OutcomeAccepted
	case TypeRecall:
		return outcome == OutcomeRecalled
	case TypeRecallAck:
		return outcome == OutcomeAcknowledged
	}
	return false
}

// ledgerDigest is the count and "sha256:<hex>" over the held entries,
// sorted by (seq, message id): "<seq> <message id> <envelope digest>\n"
// each. Both sides compute it the same way.
func ledgerDigest(entries []LedgerEntry) (int, string) {
	held := make([]LedgerEntry, 0, len(entries))
	for _, e := range entries {
		if e.Held {
			held = append(held, e)
		}
	}
	slices.SortFunc(held, func(a, b LedgerEntry) int {
		if c := cmpSeq(a.Seq, b.Seq); c != 0 {
			return c
		}
		return strings.Compare(a.MessageID, b.MessageID)
	})
	h := sha256.New()
	for _, e := range held {
		fmt.Fprintf(h, "%d %s %s\n", e.Seq, e.MessageID, e.EnvelopeDigest)
	}
	return len(held), "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ---- Receiving side ----

// indexReceived adds a received message to the sequence index (receive.go
// writes it just before the inbox entry, so every message answered from
// the inbox is indexed). It is overwritten by a re-application, which
// reflects the latest answer.
func (s *Service) indexReceived(ctx context.Context, peer string, env *Envelope, envDigest, outcome string) error {
	it := &inSeqItem{Format: inseqFormat, Seq: env.Seq, MessageID: env.ID, EnvelopeDigest: envDigest, Type: env.Type,
		RecordID: env.RecordID, RecordVersion: env.RecordVersion, Outcome: outcome}
	return s.ledger.put(ctx, inseqKey(peer, env.Seq, env.ID), it, false)
}

// GET /fed/v1/ledger?from=<seq>&to=<seq>[&list=1[&after=<cursor>]]
func (s *Service) serveLedger(w http.ResponseWriter, r *http.Request) {
	peer := r.Context().Value(peerKey{}).(*Peer)
	q := r.URL.Query()
	from, okF, err1 := sizeParam(q, "from")
	to, okT, err2 := sizeParam(q, "to")
	list := q.Get("list") == "1"
	after := q.Get("after")
	bad := err1 != nil || err2 != nil || !okF || !okT || from < 1 || to < from || to-from >= maxLedgerRange ||
		len(q["list"]) > 1 || len(q["after"]) > 1 || (after != "" && !list)
	var afterSeq uint64
	if !bad && after != "" {
		var ok bool
		afterSeq, _, ok = parseInseq(after)
		bad = !ok || afterSeq < from || afterSeq > to
	}
	for k := range q {
		if k != "from" && k != "to" && k != "list" && k != "after" {
			bad = true
		}
	}
	if bad {
		writeProblem(w, http.StatusBadRequest, "malformed", "Bad request",
			fmt.Sprintf("from and to are sequence numbers, from <= to, at most %d apart; list=1 pages with after=<next>", maxLedgerRange))
		return
	}
	ans := LedgerAnswer{Format: ledgerAnswerFormat, Gateway: s.cfg.GatewayID, Peer: peer.ID, From: from, To: to,
		Time: s.now().UTC().Format(time.RFC3339)}
	start := inseqAfter(peer.ID, from)
	if after != "" {
		start = inseqPrefix(peer.ID) + after
	}
	limit := maxLedgerScan + 1
	if list {
		limit = maxLedgerPage + 1
	}
	entries, more, err := s.ledgerEntries(r.Context(), peer.ID, start, to, limit)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	if list {
		ans.Entries = entries
		if more {
			last := entries[len(entries)-1]
			ans.Next = seqName(last.Seq) + "." + last.MessageID
		}
		ans.Count = len(entries)
	} else {
		if more {
			writeProblem(w, http.StatusBadRequest, "range-too-dense", "Bad request", "too many entries in the range: ask a smaller one")
			return
		}
		ans.Count, ans.Digest = ledgerDigest(entries)
	}
	b, err := json.Marshal(ans)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	sig, err := s.signer.Sign(b)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, WireLedger{Answer: string(sig)})
}

// ledgerEntries reads the sequence index of peer from startAfter up to seq
// to, at most limit-1 entries (more: there were others), and says of each
// whether its effect holds.
func (s *Service) ledgerEntries(ctx context.Context, peer, startAfter string, to uint64, limit int) ([]LedgerEntry, bool, error) {
	var out []LedgerEntry
	records := map[string]*heldRecord{}
	for {
		keys, err := s.ledger.store.List(ctx, inseqPrefix(peer), startAfter, 1000)
		if err != nil {
			return nil, false, err
		}
		for _, k := range keys {
			seq, id, ok := parseInseq(strings.TrimPrefix(k, inseqPrefix(peer)))
			if !ok {
				continue
			}
			if seq > to {
				return out, false, nil
			}
			if len(out) == limit-1 {
				return out, true, nil
			}
			var it inSeqItem
			if err := s.ledger.get(ctx, k, inseqFormat, &it); err != nil {
				return nil, false, err
			}
			if it.Seq != seq || it.MessageID != id {
				return nil, false, fmt.Errorf("%w: %s", errLedgerTampered, k)
			}
			held, err := s.effectHolds(ctx, records, &it)
			if err != nil {
				return nil, false, err
			}
			out = append(out, LedgerEntry{Seq: seq, MessageID: id, EnvelopeDigest: it.EnvelopeDigest, Type: it.Type,
				RecordID: it.RecordID, Outcome: it.Outcome, Held: held})
		}
		if len(keys) < 1000 {
			return out, false, nil
		}
		startAfter = keys[len(keys)-1]
	}
}

// heldRecord is a record's state as the held checks need it (loaded once
// per answer).
type heldRecord struct {
	found, tampered, active bool
	version                 int
}

// effectHolds reports whether what message it did here still holds: a
// share's copy exists at its version or later (or was recalled since); a
// recall's tombstone is in place (no copy, a damaged one, or an active one
// put back, are all repaired by sending the recall again); a recall-ack is
// recorded. Other messages hold nothing.
func (s *Service) effectHolds(ctx context.Context, cache map[string]*heldRecord, it *inSeqItem) (bool, error) {
	if !heldKind(it.Type, it.Outcome) {
		return false, nil
	}
	if it.Type == TypeRecallAck {
		return true, nil
	}
	rec, ok := cache[it.RecordID]
	if !ok {
		rec = &heldRecord{}
		st, err := s.records.Load(ctx, it.RecordID)
		switch {
		case errors.Is(err, recordstore.ErrNotFound):
		case errors.Is(err, recordstore.ErrTampered):
			rec.found, rec.tampered = true, true
		case err != nil:
			return false, err
		default:
			rec.found, rec.active, rec.version = true, st.State == recordstore.StateActive, st.Meta.Version
		}
		cache[it.RecordID] = rec
	}
	if it.Type == TypeRecall {
		return rec.found && !rec.tampered && !rec.active, nil
	}
	// A damaged copy is not repaired by sending the share again (the
	// receiver refuses to overwrite what it cannot verify): it counts as
	// held, and the integrity checks report it.
	return rec.found && (rec.tampered || !rec.active || rec.version >= it.RecordVersion), nil
}

// ---- Sending side ----

// reconcileState is the reconciliation loop's memory: per-peer counters
// for `liaison peers`, and the discrepancies already recorded.
type reconcileState struct {
	mu       sync.Mutex
	peers    map[string]*peerReconcile
	reported map[string]bool
}

type peerReconcile struct {
	last          time.Time
	repairs       int
	discrepancies int
	lastError     string
}

func (s *Service) reconcileStats(peer string) (last time.Time, repairs, discrepancies int) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if p := s.rec.peers[peer]; p != nil {
		return p.last, p.repairs, p.discrepancies
	}
	return time.Time{}, 0, 0
}

func (s *Service) noteReconcile(peer string, repairs, discrepancies int, err error) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if s.rec.peers == nil {
		s.rec.peers = map[string]*peerReconcile{}
	}
	p := s.rec.peers[peer]
	if p == nil {
		p = &peerReconcile{}
		s.rec.peers[peer] = p
	}
	p.repairs += repairs
	p.discrepancies += discrepancies
	if err != nil {
		p.lastError = err.Error()
		return
	}
	p.last, p.lastError = s.now().UTC(), ""
}

// runReconcile reconciles every peer each federation.reconcile_interval.
func (s *Service) runReconcile(ctx context.Context) {
	t := time.NewTicker(s.cfg.Federation.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range s.peers.Peers() {
			if ctx.Err() != nil {
				return
			}
			if s.sender(p.ID) == nil {
				continue
			}
			if _, err := s.reconcilePeer(ctx, p); err != nil && ctx.Err() == nil {
				s.log.Info("peer ledger not reconciled; tried again next interval", zap.String("peer", p.ID), zap.Error(err))
			}
		}
	}
}

// reconcileReport is what one round found with one peer.
type reconcileReport struct {
	Compared      [][2]uint64 // the ranges compared
	Repaired      []audit.ReconciledMessage
	Discrepancies []audit.ReconciledMessage
}

// reconcilePeer runs one round with peer p: the full pass in progress (or
// due) first, then the messages settled since the watermark, a budget's
// worth in all; it records what diverged, queues the repairs and moves the
// watermark.
func (s *Service) reconcilePeer(ctx context.Context, p *Peer) (*reconcileReport, error) {
	wm, err := s.watermark(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if wm.FullNext > wm.Upto {
		wm.FullNext = 0
	}
	if wm.FullNext == 0 && wm.Upto > 0 {
		last, _ := time.Parse(time.RFC3339, wm.LastFull)
		if now.Sub(last) >= fullPassRounds*s.cfg.Federation.ReconcileInterval {
			wm.FullNext = 1
		}
	}
	var ranges [][2]uint64
	budget := uint64(reconcileBudget)
	if wm.FullNext > 0 {
		hi := min(wm.Upto, wm.FullNext+budget-1)
		ranges = append(ranges, [2]uint64{wm.FullNext, hi})
		budget -= hi - wm.FullNext + 1
	}
	settled, err := s.settledUpTo(ctx, p.ID, wm.Upto, budget)
	if err != nil {
		return nil, err
	}
	if settled > wm.Upto {
		ranges = append(ranges, [2]uint64{wm.Upto + 1, settled})
	}
	rep := &reconcileReport{}
	var repairs []*repairJob
	var evidence []string
	for _, rg := range ranges {
		for a := rg[0]; a <= rg[1]; a += reconcileChunk {
			b := min(rg[1], a+reconcileChunk-1)
			jobs, disc, answer, err := s.compareChunk(ctx, p, a, b)
			if err != nil {
				s.noteReconcile(p.ID, 0, 0, err)
				return nil, err
			}
			if answer != "" && (len(jobs) > 0 || len(disc) > 0) {
				evidence = append(evidence, answer)
			}
			repairs = append(repairs, jobs...)
			rep.Discrepancies = append(rep.Discrepancies, disc...)
		}
		rep.Compared = append(rep.Compared, rg)
	}
	// Repairs are claimed (conditional PUT), then recorded, then queued:
	// nothing is queued without its audit entry, and a claim left by a
	// crash before the queueing is taken over later (claimRepair).
	var claimed []*repairJob
	for _, j := range repairs {
		ok, err := s.claimRepair(ctx, p.ID, j)
		if err != nil {
			s.noteReconcile(p.ID, 0, 0, err)
			return nil, err
		}
		if ok {
			claimed = append(claimed, j)
			rep.Repaired = append(rep.Repaired, j.msg)
		}
	}
	newDisc := s.unreported(p.ID, rep.Discrepancies)
	if len(claimed) > 0 || len(newDisc) > 0 {
		if err := s.auditReconcile(ctx, p.ID, rep, newDisc, evidence); err != nil {
			s.noteReconcile(p.ID, 0, 0, err)
			return nil, err
		}
		s.markReported(p.ID, newDisc)
	}
	for _, j := range claimed {
		if err := s.queueRepair(ctx, p.ID, j); err != nil {
			s.noteReconcile(p.ID, 0, 0, err)
			return nil, err
		}
	}
	// The watermark moves only once the ranges were compared and their
	// repairs queued.
	if wm.FullNext > 0 && len(ranges) > 0 {
		wm.FullNext = ranges[0][1] + 1
		if wm.FullNext > wm.Upto {
			wm.FullNext, wm.LastFull = 0, now.Format(time.RFC3339)
		}
	}
	if settled > wm.Upto {
		if wm.Upto == 0 {
			wm.LastFull = now.Format(time.RFC3339) // the first pass was a full one
		}
		wm.Upto = settled
	}
	if len(ranges) > 0 {
		if err := s.saveWatermark(ctx, p.ID, wm); err != nil {
			s.noteReconcile(p.ID, 0, 0, err)
			return nil, err
		}
	}
	s.noteReconcile(p.ID, len(claimed), len(newDisc), nil)
	if len(claimed) > 0 || len(newDisc) > 0 {
		s.log.Warn("peer ledger diverged; repaired", zap.String("peer", p.ID), zap.Int("repaired", len(claimed)),
			zap.Int("discrepancies", len(newDisc)))
	}
	return rep, nil
}

func (s *Service) watermark(ctx context.Context, peer string) (*reconciledItem, error) {
	var it reconciledItem
	err := s.ledger.get(ctx, reconciledKey(peer), reconciledFormat, &it)
	if errors.Is(err, objstore.ErrNotFound) {
		return &reconciledItem{Format: reconciledFormat, Peer: peer}, nil
	}
	if err != nil {
		return nil, err
	}
	if it.Peer != peer {
		return nil, fmt.Errorf("%w: %s", errLedgerTampered, reconciledKey(peer))
	}
	return &it, nil
}

// saveWatermark stores wm unless another replica already went further
// (a race between the read and the write only makes a range compared
// twice).
func (s *Service) saveWatermark(ctx context.Context, peer string, wm *reconciledItem) error {
	cur, err := s.watermark(ctx, peer)
	if err != nil {
		return err
	}
	if cur.Upto > wm.Upto {
		return nil
	}
	return s.ledger.put(ctx, reconciledKey(peer), wm, false)
}

// settledUpTo is the highest seq such that every message to peer after
// upto and up to it is settled (at most budget past upto): what is still
// pending is not compared, the peer may or may not have it yet.
func (s *Service) settledUpTo(ctx context.Context, peer string, upto, budget uint64) (uint64, error) {
	if budget == 0 {
		return upto, nil
	}
	out, err := s.ledger.store.List(ctx, outboxPrefix(peer), outboxKey(peer, upto), int(budget))
	if err != nil {
		return 0, err
	}
	sent, err := s.ledger.store.List(ctx, sentPrefix(peer), sentKey(peer, upto), int(budget))
	if err != nil {
		return 0, err
	}
	done := map[uint64]bool{}
	for _, k := range sent {
		if n, ok := parseSeq(k, sentPrefix(peer)); ok {
			done[n] = true
		}
	}
	hi := upto
	for _, k := range out {
		n, ok := parseSeq(k, outboxPrefix(peer))
		if !ok {
			continue
		}
		if !done[n] {
			break
		}
		hi = n
	}
	return hi, nil
}

// sentMessage is one settled message to the peer, as its receipt names it.
type sentMessage struct {
	seq           uint64
	id, envDigest string
	typ, recordID string
	outcome       string
	expected      bool // its effect must hold at the peer
	repaired      bool // already queued again once
	item          *outItem
}

// sentRange reads the messages to peer settled with a receipt, seq a..b.
func (s *Service) sentRange(ctx context.Context, peer string, a, b uint64) (map[uint64]*sentMessage, error) {
	keys, err := s.ledger.store.List(ctx, sentPrefix(peer), sentKey(peer, a-1), int(b-a+1))
	if err != nil {
		return nil, err
	}
	out := map[uint64]*sentMessage{}
	for _, k := range keys {
		seq, ok := parseSeq(k, sentPrefix(peer))
		if !ok || seq > b {
			continue
		}
		var st sentItem
		if err := s.ledger.get(ctx, k, sentFormat, &st); err != nil {
			return nil, err
		}
		if st.Receipt == "" {
			continue // never answered (failed, or not sent): nothing to hold
		}
		// The receipt was verified when it settled the message, and our
		// signed ledger object holds it since: its payload is read as is
		// (the peer's keys may have rotated).
		payload, err := jwsPayload(st.Receipt)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", errLedgerTampered, k)
		}
		rc, err := parseReceipt(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", errLedgerTampered, k)
		}
		m := &sentMessage{seq: seq, id: rc.MessageID, envDigest: rc.EnvelopeDigest, recordID: rc.RecordID, outcome: rc.Outcome}
		// Only shares are accepted; recalled and acknowledged answer
		// several types: the queued message says which.
		if rc.Outcome == OutcomeAccepted {
			m.typ = TypeShare
		} else if rc.Outcome == OutcomeRecalled || rc.Outcome == OutcomeAcknowledged {
			var it outItem
			if err := s.ledger.get(ctx, outboxKey(peer, seq), outboxFormat, &it); err != nil {
				return nil, err
			}
			m.typ, m.item = it.Envelope.Type, &it
		}
		m.expected = heldKind(m.typ, m.outcome)
		out[seq] = m
	}
	return out, nil
}

// jwsPayload decodes the payload of a compact JWS without verifying it.
func jwsPayload(jws string) ([]byte, error) {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return nil, errMalformed
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}

// repairJob is a message to queue again.
type repairJob struct {
	msg    audit.ReconciledMessage
	item   *outItem
	marker *repairItem
	// takeover is, for an orphaned claim, the repair id it named: the
	// claim is replaced only if it still names it.
	takeover string
}

// compareChunk compares seq a..b with the peer: the digests first, the
// lists on a mismatch. It returns the repairs to make, the discrepancies
// (held there, never sent from here), and the peer's signed digest answer.
func (s *Service) compareChunk(ctx context.Context, p *Peer, a, b uint64) ([]*repairJob, []audit.ReconciledMessage, string, error) {
	sent, err := s.sentRange(ctx, p.ID, a, b)
	if err != nil {
		return nil, nil, "", err
	}
	markers, err := s.repairMarkers(ctx, p.ID, a, b)
	if err != nil {
		return nil, nil, "", err
	}
	var jobs []*repairJob
	var mine []LedgerEntry
	for seq, m := range sent {
		mk := markers[seq]
		if mk != nil {
			m.repaired = true
			// A claim left without its repair (a crash between the two)
			// is taken over once it is older than the grace period.
			claimed, _ := time.Parse(time.RFC3339, mk.Claimed)
			if mk.RepairSeq == 0 && m.expected && s.now().Sub(claimed) > 2*s.cfg.Federation.ReconcileInterval {
				if j, err := s.orphanRepair(ctx, p.ID, m, mk); err != nil {
					return nil, nil, "", err
				} else if j != nil {
					jobs = append(jobs, j)
				}
			}
		}
		if m.expected && !m.repaired {
			mine = append(mine, LedgerEntry{Seq: seq, MessageID: m.id, EnvelopeDigest: m.envDigest, Held: true})
		}
	}
	slices.SortFunc(mine, func(x, y LedgerEntry) int { return cmpSeq(x.Seq, y.Seq) })
	slices.SortFunc(jobs, func(x, y *repairJob) int { return cmpSeq(x.msg.Seq, y.msg.Seq) })
	wantN, wantD := ledgerDigest(mine)
	ans, raw, err := s.fetchLedger(ctx, p, a, b, false, "")
	if err != nil {
		return nil, nil, "", err
	}
	if ans.Count == wantN && ans.Digest == wantD {
		return jobs, nil, "", nil
	}
	// Mismatch: the lists say where.
	var theirs []LedgerEntry
	after := ""
	for {
		page, _, err := s.fetchLedger(ctx, p, a, b, true, after)
		if err != nil {
			return nil, nil, "", err
		}
		theirs = append(theirs, page.Entries...)
		if page.Next == "" {
			break
		}
		if page.Next <= after || len(theirs) > maxLedgerScan {
			return nil, nil, "", fmt.Errorf("%s's ledger list does not advance", p.ID)
		}
		after = page.Next
	}
	held := map[string]bool{}
	for _, e := range theirs {
		if e.Held {
			held[fmt.Sprintf("%d %s %s", e.Seq, e.MessageID, e.EnvelopeDigest)] = true
		}
	}
	var disc []audit.ReconciledMessage
	for _, e := range mine {
		if held[fmt.Sprintf("%d %s %s", e.Seq, e.MessageID, e.EnvelopeDigest)] {
			continue
		}
		m := sent[e.Seq]
		j, err := s.newRepair(ctx, p.ID, m)
		if err != nil {
			return nil, nil, "", err
		}
		jobs = append(jobs, j)
	}
	for _, e := range theirs {
		if !e.Held || e.Seq < a || e.Seq > b {
			continue
		}
		if m := sent[e.Seq]; m != nil && m.id == e.MessageID && m.envDigest == e.EnvelopeDigest {
			continue // ours: answered otherwise than we recorded, or already repaired
		}
		disc = append(disc, audit.ReconciledMessage{Seq: e.Seq, MessageID: e.MessageID, Type: e.Type, RecordID: e.RecordID})
	}
	return jobs, disc, raw, nil
}

// fetchLedger asks p for its ledger of seq a..b (digest, or a list page)
// and checks the signed answer is about what was asked.
func (s *Service) fetchLedger(ctx context.Context, p *Peer, a, b uint64, list bool, after string) (*LedgerAnswer, string, error) {
	q := url.Values{"from": {strconv.FormatUint(a, 10)}, "to": {strconv.FormatUint(b, 10)}}
	if list {
		q.Set("list", "1")
		if after != "" {
			q.Set("after", after)
		}
	}
	var w WireLedger
	if err := s.peerGet(ctx, p, "/fed/v1/ledger?"+q.Encode(), &w); err != nil {
		return nil, "", err
	}
	payload, err := p.keys.Verify([]byte(w.Answer))
	if err != nil {
		return nil, "", fmt.Errorf("ledger answer of %s does not verify: %w", p.ID, err)
	}
	var ans LedgerAnswer
	if err := strictJSON(payload, &ans); err != nil {
		return nil, "", fmt.Errorf("ledger answer of %s: %w", p.ID, err)
	}
	if ans.Format != ledgerAnswerFormat || ans.Gateway != p.ID || ans.Peer != s.cfg.GatewayID || ans.From != a || ans.To != b ||
		(!list && (ans.Digest == "" || len(ans.Entries) > 0)) || len(ans.Entries) > maxLedgerPage {
		return nil, "", fmt.Errorf("ledger answer of %s does not answer the question", p.ID)
	}
	return &ans, w.Answer, nil
}

// repairMarkers reads the repair markers of seq a..b.
func (s *Service) repairMarkers(ctx context.Context, peer string, a, b uint64) (map[uint64]*repairItem, error) {
	keys, err := s.ledger.store.List(ctx, repairPrefix(peer), repairKey(peer, a-1), int(b-a+1))
	if err != nil {
		return nil, err
	}
	out := map[uint64]*repairItem{}
	for _, k := range keys {
		seq, ok := parseSeq(k, repairPrefix(peer))
		if !ok || seq > b {
			continue
		}
		var it repairItem
		if err := s.ledger.get(ctx, k, repairFormat, &it); err != nil {
			return nil, err
		}
		if it.Seq != seq {
			return nil, fmt.Errorf("%w: %s", errLedgerTampered, k)
		}
		out[seq] = &it
	}
	return out, nil
}

// newRepair prepares message m to be queued again: the same message
// (type, record, version, recipients, pinned metadata) under a new id,
// with a new seq and, for a share, a new expiry; the receiver applies it
// idempotently.
func (s *Service) newRepair(ctx context.Context, peer string, m *sentMessage) (*repairJob, error) {
	it := m.item
	if it == nil {
		var o outItem
		if err := s.ledger.get(ctx, outboxKey(peer, m.seq), outboxFormat, &o); err != nil {
			return nil, err
		}
		it = &o
	}
	now := s.now().UTC()
	cp := *it
	cp.Envelope.ID = record.NewMessageID(now)
	cp.Envelope.Seq = 0
	cp.Envelope.Created = now.Format(time.RFC3339)
	cp.Envelope.PayloadDigest = ""
	if cp.Envelope.Expires != "" {
		cp.Envelope.Expires = now.Add(s.cfg.Federation.MessageTTL).Format(time.RFC3339)
	}
	// A repair generates no traffic upstream: the acknowledgement of a
	// forwarded recall went there when it first settled.
	cp.Upstream = nil
	return &repairJob{item: &cp, msg: audit.ReconciledMessage{Seq: m.seq, MessageID: m.id, Type: m.typ, RecordID: m.recordID,
		RepairMessageID: cp.Envelope.ID},
		marker: &repairItem{Format: repairFormat, Seq: m.seq, MessageID: m.id, RecordID: m.recordID, RepairID: cp.Envelope.ID,
			Claimed: now.Format(time.RFC3339)}}, nil
}

// orphanRepair takes over a repair claimed but never queued (its message
// id is in no queued message about the record): the marker is replaced and
// the repair queued anew. If it was queued after all, the marker is
// completed and nothing else is done.
func (s *Service) orphanRepair(ctx context.Context, peer string, m *sentMessage, mk *repairItem) (*repairJob, error) {
	keys, err := s.ledger.listAll(ctx, edgePrefix(mk.RecordID))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		p, seq, ok := parseEdge(k, edgePrefix(mk.RecordID))
		if !ok || p != peer {
			continue
		}
		var it outItem
		if err := s.ledger.get(ctx, outboxKey(peer, seq), outboxFormat, &it); err != nil {
			return nil, err
		}
		if it.Envelope.ID == mk.RepairID {
			done := *mk
			done.RepairSeq = seq
			return nil, s.ledger.put(ctx, repairKey(peer, mk.Seq), &done, false)
		}
	}
	j, err := s.newRepair(ctx, peer, m)
	if err != nil {
		return nil, err
	}
	j.takeover = mk.RepairID
	return j, nil
}

// claimRepair creates the repair marker (conditional PUT); false: another
// replica claimed it first and repairs it. An orphan's marker is replaced
// only if it is still the claim read.
func (s *Service) claimRepair(ctx context.Context, peer string, j *repairJob) (bool, error) {
	key := repairKey(peer, j.marker.Seq)
	var cur repairItem
	j.marker.Claimed = s.now().UTC().Format(time.RFC3339)
	if j.takeover == "" {
		err := s.ledger.put(ctx, key, j.marker, true)
		if errors.Is(err, objstore.ErrExists) {
			return false, nil
		}
		return err == nil, err
	}
	// An orphan being taken over: replaced only if still the claim read.
	// Two replicas doing so at once may both queue (there is no
	// compare-and-swap); the receiver applies the effect once.
	if err := s.ledger.get(ctx, key, repairFormat, &cur); err != nil {
		return false, err
	}
	if cur.RepairSeq != 0 || cur.RepairID != j.takeover {
		return false, nil
	}
	return true, s.ledger.put(ctx, key, j.marker, false)
}

// queueRepair queues the repair and completes its marker.
func (s *Service) queueRepair(ctx context.Context, peer string, j *repairJob) error {
	if err := s.enqueue(ctx, peer, j.item); err != nil {
		return err
	}
	done := *j.marker
	done.RepairSeq = j.item.Envelope.Seq
	return s.ledger.put(ctx, repairKey(peer, done.Seq), &done, false)
}

// unreported drops the discrepancies already recorded (one entry per
// distinct message, not one per round).
func (s *Service) unreported(peer string, disc []audit.ReconciledMessage) []audit.ReconciledMessage {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	var out []audit.ReconciledMessage
	for _, d := range disc {
		if !s.rec.reported[peer+"\x00"+strconv.FormatUint(d.Seq, 10)+"\x00"+d.MessageID] {
			out = append(out, d)
		}
	}
	return out
}

func (s *Service) markReported(peer string, disc []audit.ReconciledMessage) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if s.rec.reported == nil {
		s.rec.reported = map[string]bool{}
	}
	for _, d := range disc {
		s.rec.reported[peer+"\x00"+strconv.FormatUint(d.Seq, 10)+"\x00"+d.MessageID] = true
	}
}

// auditReconcile records a round that found divergence: the ranges
// compared, the messages queued again, the discrepancies, and the peer's
// signed digest answers that showed them.
func (s *Service) auditReconcile(ctx context.Context, peer string, rep *reconcileReport, disc []audit.ReconciledMessage, evidence []string) error {
	rc := &audit.Reconciliation{Repaired: rep.Repaired, Discrepancies: disc, Answers: evidence}
	for _, r := range rep.Compared {
		rc.Ranges = append(rc.Ranges, audit.SeqRange{From: r[0], To: r[1]})
	}
	outcome, status := "repaired", http.StatusOK
	if len(disc) > 0 {
		outcome, status = "discrepancy", http.StatusConflict
	}
	var ids []string
	for _, m := range slices.Concat(rep.Repaired, disc) {
		if m.RecordID != "" && !slices.Contains(ids, m.RecordID) {
			ids = append(ids, m.RecordID)
		}
	}
	ev := &audit.Event{Operation: audit.OpConsultation, Action: "federation.reconcile", Status: status, RecordIDs: ids,
		Federation: &audit.Federation{PeerGateway: peer, Direction: "reconciled", Type: "ledger", Outcome: outcome, Reconciliation: rc}}
	if len(disc) > 0 {
		ev.Error = fmt.Sprintf("%s holds %d message(s) this gateway's ledger has no record of sending", peer, len(disc))
		s.log.Error("peer holds messages this gateway did not send", zap.String("peer", peer), zap.Int("count", len(disc)))
	}
	return s.writeAudit(ctx, ev)
}
