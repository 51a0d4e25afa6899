package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// sender delivers one peer's outbox in sequence order: per peer FIFO, so a
// record's share always reaches the peer before its recall. Each message
// is retried with capped exponential backoff and jitter until it is
// settled by a signed receipt; shares are given up after
// federation.give_up, recalls never.
type sender struct {
	s      *Service
	peer   *Peer
	client *http.Client
	wakeC  chan struct{}
	// stopC asks run to return (the peer was removed or replaced on a
	// reload); done is closed when it has.
	stopC    chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu sync.Mutex
	// next is the next sequence number to claim (0: not read yet); low is
	// the lowest sequence number that may still be unsettled.
	next, low   uint64
	lastContact time.Time
	lastError   string
	reachable   bool
	queued      int
}

func newSender(s *Service, p *Peer) *sender {
	tr := &http.Transport{TLSClientConfig: p.ClientTLS(s.cert), ForceAttemptHTTP2: true,
		MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	return &sender{s: s, peer: p, wakeC: make(chan struct{}, 1), low: 1, stopC: make(chan struct{}), done: make(chan struct{}),
		client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (d *sender) wake() {
	select {
	case d.wakeC <- struct{}{}:
	default:
	}
}

// nextSeq is the sequence number to try to claim next.
func (d *sender) nextSeq(ctx context.Context) (uint64, error) {
	d.mu.Lock()
	n := d.next
	d.mu.Unlock()
	if n != 0 {
		return n, nil
	}
	keys, err := d.s.ledger.listAll(ctx, outboxPrefix(d.peer.ID))
	if err != nil {
		return 0, fmt.Errorf("federation: read outbox of %s: %w", d.peer.ID, err)
	}
	n = 1
	if len(keys) > 0 {
		if last, ok := parseSeq(keys[len(keys)-1], outboxPrefix(d.peer.ID)); ok {
			n = last + 1
		}
	}
	d.mu.Lock()
	if n > d.next {
		d.next = n
	}
	n = d.next
	d.mu.Unlock()
	return n, nil
}

func (d *sender) claimed(seq uint64) {
	d.mu.Lock()
	if seq >= d.next {
		d.next = seq + 1
	}
	d.mu.Unlock()
}

// stop makes run return and waits until it has (a message being sent is
// abandoned unsettled: the next sender for the peer sends it again, and the
// peer's inbox answers a duplicate with its original receipt).
func (d *sender) stop() {
	d.stopOnce.Do(func() { close(d.stopC) })
	<-d.done
	d.client.CloseIdleConnections()
}

// run delivers until ctx ends or stop is called. It also wakes on a timer,
// to pick up what another replica queued.
func (d *sender) run(ctx context.Context) {
	defer close(d.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.stopC:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := d.drain(ctx); err != nil && ctx.Err() == nil {
			d.s.log.Warn("federation outbox", zap.String("peer", d.peer.ID), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wakeC:
		case <-t.C:
		}
	}
}

// pending lists the unsettled sequence numbers from low up, in order.
func (d *sender) pending(ctx context.Context) ([]uint64, error) {
	d.mu.Lock()
	low := d.low
	d.mu.Unlock()
	after := ""
	if low > 1 {
		after = outboxKey(d.peer.ID, low-1)
	}
	out, err := d.s.ledger.store.List(ctx, outboxPrefix(d.peer.ID), after, 1000)
	if err != nil {
		return nil, err
	}
	sentAfter := ""
	if low > 1 {
		sentAfter = sentKey(d.peer.ID, low-1)
	}
	sent, err := d.s.ledger.store.List(ctx, sentPrefix(d.peer.ID), sentAfter, 1000)
	if err != nil {
		return nil, err
	}
	done := map[uint64]bool{}
	for _, k := range sent {
		if n, ok := parseSeq(k, sentPrefix(d.peer.ID)); ok {
			done[n] = true
		}
	}
	var seqs []uint64
	for _, k := range out {
		if n, ok := parseSeq(k, outboxPrefix(d.peer.ID)); ok && !done[n] {
			seqs = append(seqs, n)
		}
	}
	return seqs, nil
}

func (d *sender) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		// What was claimed before the listing starts is in the listing (a
		// number is claimed once its outbox object is written); a number
		// claimed while the listing runs may not be, so next is read now,
		// not after: raising low past a message the listing missed would
		// strand it until a restart.
		d.mu.Lock()
		claimed := d.next
		d.mu.Unlock()
		seqs, err := d.pending(ctx)
		if err != nil {
			return err
		}
		d.s.metrics.pending.WithLabelValues(d.peer.ID).Set(float64(len(seqs)))
		d.mu.Lock()
		d.queued = len(seqs)
		if len(seqs) == 0 {
			// Everything claimed before the listing is settled.
			if claimed > d.low {
				d.low = claimed
			}
			d.mu.Unlock()
			return nil
		}
		d.low = seqs[0]
		d.mu.Unlock()
		if err := d.deliverAll(ctx, seqs); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// senderLanes bounds the messages in flight to one peer. Messages about one
// record always go in one lane, in sequence order (a share before its
// recall, a consent request before anything that follows it); different
// records overlap, so one slow delivery (a large record, a slow disk at the
// peer) does not hold up the others.
const senderLanes = 8

// deliverAll delivers seqs (in sequence order), one lane per group of
// records, until each is settled or ctx ends. An error in one lane stops
// the others; what is unsettled is picked up by the next drain.
func (d *sender) deliverAll(ctx context.Context, seqs []uint64) error {
	items := make([]*outItem, len(seqs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(senderLanes)
	for i, seq := range seqs {
		g.Go(func() error {
			var it outItem
			if err := d.s.ledger.get(gctx, outboxKey(d.peer.ID, seq), outboxFormat, &it); err != nil {
				return err
			}
			items[i] = &it
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	lanes := make([][]int, senderLanes)
	for i, it := range items {
		l := laneOf(it.Envelope.RecordID)
		lanes[l] = append(lanes[l], i)
	}
	g, gctx = errgroup.WithContext(ctx)
	for _, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		g.Go(func() error {
			for _, i := range lane {
				if err := d.deliver(gctx, seqs[i], items[i]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// laneOf is the lane of a record's messages.
func laneOf(recordID string) int {
	h := fnv.New32a()
	h.Write([]byte(recordID))
	return int(h.Sum32() % senderLanes)
}

// deliver sends message seq until it is settled (or ctx ends).
func (d *sender) deliver(ctx context.Context, seq uint64, item *outItem) error {
	it := *item
	created, _ := time.Parse(time.RFC3339, it.Envelope.Created)
	bo := &backoff.ExponentialBackOff{InitialInterval: d.s.cfg.Federation.RetryInitial, MaxInterval: d.s.cfg.Federation.RetryMax,
		Multiplier: 2, RandomizationFactor: 0.5}
	bo.Reset()
	for {
		st, err := d.attempt(ctx, &it)
		if err == nil {
			return d.settle(ctx, seq, &it, st)
		}
		d.note(false, err)
		d.s.metrics.failures.WithLabelValues(d.peer.ID).Inc()
		var perm *permanentError
		if errors.As(err, &perm) && it.Envelope.Type != TypeRecall {
			return d.settle(ctx, seq, &it, &settlement{outcome: outcomeFailed, err: err.Error()})
		}
		if it.Envelope.Type == TypeShare && d.s.now().Sub(created) > d.s.cfg.Federation.GiveUp {
			return d.settle(ctx, seq, &it, &settlement{outcome: outcomeFailed, err: "given up after " + d.s.cfg.Federation.GiveUp.String() + ": " + err.Error()})
		}
		d.s.log.Info("federation delivery will be retried", zap.String("peer", d.peer.ID), zap.Uint64("seq", seq),
			zap.String("type", it.Envelope.Type), zap.Error(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(bo.NextBackOff()):
		}
	}
}

// permanentError: the peer refused the message itself (malformed, id
// reused): sending it again unchanged cannot succeed.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

type settlement struct {
	outcome  string
	envelope string
	receipt  string
	rc       *Receipt
	err      string
}

// attempt sends the message once and verifies the receipt.
func (d *sender) attempt(ctx context.Context, it *outItem) (*settlement, error) {
	env := it.Envelope
	// A peer whose manifest expired stays known, and recalls still flow
	// to it, but nothing new is shared with it: the share is settled as
	// failed, visibly, instead of waiting for a fresh manifest.
	if env.Type == TypeShare && d.peer.Expired(d.s.now()) {
		return &settlement{outcome: outcomeFailed, err: "not sent: the manifest of peer " + d.peer.ID + " expired at " +
			d.peer.ManifestExpires().UTC().Format(time.RFC3339) + " (import a fresh one with `liaison peers add`)"}, nil
	}
	var body []byte
	if env.Type == TypeShare {
		b, skip, err := d.shareBody(ctx, it)
		if err != nil {
			return nil, err
		}
		if skip != "" {
			return &settlement{outcome: OutcomeRecalled, err: skip}, nil
		}
		body = b
		defer clear(body)
		env.PayloadDigest = Digest(body)
	}
	eb, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	sig, err := d.s.signer.Sign(eb)
	if err != nil {
		return nil, err
	}
	wb, err := json.Marshal(Wire{Envelope: string(sig), Body: body})
	if err != nil {
		return nil, err
	}
	defer clear(wb)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.peer.Endpoint+"/fed/v1/messages", bytes.NewReader(wb))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("send to %s: %w", d.peer.ID, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer of %s: %w", d.peer.ID, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusConflict:
		return nil, &permanentError{fmt.Sprintf("%s refused the message: %d %s", d.peer.ID, resp.StatusCode, problemDetail(rb))}
	default:
		return nil, fmt.Errorf("%s answered %d %s", d.peer.ID, resp.StatusCode, problemDetail(rb))
	}
	var wr WireReceipt
	if err := strictJSON(rb, &wr); err != nil {
		return nil, fmt.Errorf("answer of %s: %w", d.peer.ID, err)
	}
	payload, err := d.peer.keys.Verify([]byte(wr.Receipt))
	if err != nil {
		return nil, fmt.Errorf("receipt of %s does not verify: %w", d.peer.ID, err)
	}
	rc, err := parseReceipt(payload)
	if err != nil {
		return nil, err
	}
	if rc.MessageID != env.ID || rc.From != d.peer.ID || rc.To != d.s.cfg.GatewayID || rc.EnvelopeDigest != Digest(sig) {
		return nil, fmt.Errorf("receipt of %s does not answer message %s", d.peer.ID, env.ID)
	}
	d.note(true, nil)
	return &settlement{outcome: rc.Outcome, envelope: string(sig), receipt: wr.Receipt, rc: rc}, nil
}

func problemDetail(b []byte) string {
	var p struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(b, &p) == nil && p.Detail != "" {
		return "(" + p.Detail + ")"
	}
	return ""
}

// shareBody is the body of a share: the pinned metadata of the version
// queued and the record's content, which no later version changes. A
// record recalled (or gone) since is not sent: skip says why.
func (d *sender) shareBody(ctx context.Context, it *outItem) (body []byte, skip string, err error) {
	st, err := d.s.records.Load(ctx, it.Envelope.RecordID)
	if errors.Is(err, recordstore.ErrNotFound) {
		return nil, "not sent: the record no longer exists here", nil
	}
	if err != nil {
		return nil, "", err
	}
	if st.State != recordstore.StateActive {
		return nil, "not sent: the record was recalled before delivery", nil
	}
	content, err := d.s.records.Open(ctx, st)
	if err != nil {
		return nil, "", err
	}
	defer clear(content)
	meta := *it.Meta
	// Opened with the content; selectors never change between versions.
	meta.Selectors = st.Meta.Selectors
	// The originating officer stays at the originator: peers see a stable
	// pseudonym.
	if meta.Originator.OfficerRef != "" && st.Origin == nil {
		meta.Originator.OfficerRef = d.s.officerRef(meta.Originator.OfficerRef)
	}
	body, err = json.Marshal(ShareBody{Meta: meta, Content: content})
	return body, "", err
}

// settle records the outcome: the audit entry (with the receipt) first,
// then the ledger's sent object; a crash between them re-sends, and the
// peer's inbox replays the same receipt.
func (d *sender) settle(ctx context.Context, seq uint64, it *outItem, st *settlement) error {
	env := it.Envelope
	ev := &audit.Event{Action: "federation." + env.Type, Agency: env.FromAgency, RecordIDs: []string{env.RecordID},
		Recipients: env.ToAgencies, Error: st.err,
		Federation: &audit.Federation{PeerGateway: d.peer.ID, Direction: "sent", MessageID: env.ID, Type: env.Type, Seq: seq,
			Outcome: st.outcome, Envelope: st.envelope, Receipt: st.receipt}}
	if env.DSAID != "" {
		ev.DSAIDs = []string{env.DSAID}
	}
	if it.Meta != nil {
		ev.Originator, ev.ControllerID, ev.Handling = it.Meta.Originator.OrgID, it.Meta.Originator.OrgID, it.Meta.HandlingSnapshot()
	}
	switch env.Type {
	case TypeShare:
		ev.Action = "federation.deliver"
		ev.Operation, ev.Status = audit.OpDisclosure, http.StatusOK
		switch st.outcome {
		case OutcomeRefused:
			ev.Status = http.StatusForbidden
		case OutcomeRecalled:
			ev.Status = http.StatusGone
		case outcomeFailed:
			ev.Status = http.StatusGatewayTimeout
		}
	case TypeRecall:
		ev.Operation, ev.Status = audit.OpErasure, http.StatusOK
		if st.outcome != OutcomeRecalled {
			ev.Status = http.StatusForbidden
		}
	default:
		ev.Operation, ev.Status = audit.OpConsultation, http.StatusOK
	}
	var reasons []PublicReason
	var down []string
	if st.rc != nil {
		reasons, down = st.rc.Reasons, st.rc.Downstream
		if len(reasons) > 0 {
			ev.Decision = &audit.Decision{Allow: false}
			for _, r := range reasons {
				ev.Decision.Reasons = append(ev.Decision.Reasons, audit.Reason{Code: r.Code, Message: r.Message, Public: true})
			}
		}
	}
	if err := d.s.writeAudit(ctx, ev); err != nil {
		return err
	}
	err := d.s.ledger.put(ctx, sentKey(d.peer.ID, seq), &sentItem{Format: sentFormat, Outcome: st.outcome, Receipt: st.receipt,
		Reasons: reasons, Time: d.s.now().UTC().Format(time.RFC3339), Error: st.err, Downstream: down}, true)
	if err != nil && !errors.Is(err, objstore.ErrExists) {
		return err
	}
	d.s.metrics.settled(d.peer.ID, env.Type, st.outcome, env.Created, d.s.now())
	// A recall this gateway forwarded: its acknowledgement goes upstream,
	// towards the originator.
	if env.Type == TypeRecall && it.Upstream != nil && st.receipt != "" {
		acks := []ForwardedAck{{Gateway: d.peer.ID, Receipt: st.receipt}}
		if err := d.s.forwardAcks(ctx, it.Upstream.Gateway, it.Upstream.MessageID, env.RecordID, env.FromAgency, acks); err != nil {
			return err
		}
	}
	return nil
}

// note keeps the peer's reachability for `liaison peers`.
func (d *sender) note(ok bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reachable = ok
	if ok {
		d.lastContact = d.s.now().UTC()
		d.lastError = ""
		return
	}
	if err != nil {
		d.lastError = err.Error()
	}
}

// contacted notes that peer answered over its pinned mutual TLS (a
// witness or reconciliation request): it is reachable, even if no message
// was sent to it lately. A delivery error stays shown until a delivery
// succeeds.
func (s *Service) contacted(peer string) {
	if d := s.sender(peer); d != nil {
		d.mu.Lock()
		d.reachable, d.lastContact = true, s.now().UTC()
		d.mu.Unlock()
	}
}

// PeerState is what `liaison peers list` shows of a peer.
type PeerState struct {
	ID          string    `json:"id"`
	Endpoint    string    `json:"endpoint"`
	TrustDomain string    `json:"trust_domain"`
	Agencies    []string  `json:"agencies"`
	Source      string    `json:"source"`
	Reachable   bool      `json:"reachable"`
	LastContact time.Time `json:"last_contact,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Queued      int       `json:"queued"`
	// ManifestExpires and Fingerprint are those of a manifest-imported
	// peer (Source "manifest"); ManifestExpired: shares to and from it are
	// refused, recalls still flow.
	ManifestExpires time.Time `json:"manifest_expires,omitzero"`
	ManifestExpired bool      `json:"manifest_expired,omitempty"`
	Fingerprint     string    `json:"fingerprint,omitempty"`
	// Reconciliation (reconcile.go): when this gateway last compared its
	// ledger with the peer's, and, since it started, how many messages it
	// queued again and how many the peer held that it never sent.
	LastReconciled time.Time `json:"last_reconciled,omitzero"`
	Repairs        int       `json:"repairs"`
	Discrepancies  int       `json:"discrepancies"`
}

// PeerStates lists every peer's state.
func (s *Service) PeerStates() []PeerState {
	var out []PeerState
	for _, p := range s.peers.Peers() {
		ps := PeerState{ID: p.ID, Endpoint: p.Endpoint, TrustDomain: p.TrustDomain, Agencies: slices.Clone(p.Agencies), Source: p.Source,
			ManifestExpires: p.ManifestExpires(), ManifestExpired: p.Expired(s.now()), Fingerprint: p.Fingerprint()}
		if d := s.sender(p.ID); d != nil {
			d.mu.Lock()
			ps.Reachable, ps.LastContact, ps.LastError, ps.Queued = d.reachable, d.lastContact, d.lastError, d.queued
			d.mu.Unlock()
		}
		ps.LastReconciled, ps.Repairs, ps.Discrepancies = s.reconcileStats(p.ID) // reconcile.go
		out = append(out, ps)
	}
	return out
}
