package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/policy"
)

type peerKey struct{}

// peerOnly identifies the calling peer from its certificate and answers
// 404 to anyone else (an agency, an unknown gateway, no certificate), so
// the federation API reveals nothing to them; each refusal is audited.
func (s *Service) peerOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var certs = r.TLS.PeerCertificates
		p, err := s.peers.Identify(certs)
		if err != nil {
			ev := &audit.Event{Operation: audit.OpDenial, Action: "federation.connect", Status: http.StatusNotFound,
				Method: r.Method, Route: "/fed/v1", Error: err.Error()}
			if len(certs) > 0 {
				ev.CertFingerprint = pki.CertFingerprint(certs[0])
			}
			s.writeAudit(r.Context(), ev)
			writeProblem(w, http.StatusNotFound, "not-found", "Not found", "")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, p)))
	})
}

// refusal is a message refused before or without a signed receipt: the
// envelope did not verify or did not parse (400), the same id came with
// another digest (409). The sender must not retry it unchanged.
type refusal struct {
	status int
	slug   string
	detail string
}

// POST /fed/v1/messages
func (s *Service) receive(w http.ResponseWriter, r *http.Request) {
	peer := r.Context().Value(peerKey{}).(*Peer)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody+1<<20))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, "too-large", "Message too large", "")
		return
	}
	var wire Wire
	if err := strictJSON(body, &wire); err != nil || wire.Envelope == "" {
		s.refuse(r.Context(), w, peer, nil, refusal{http.StatusBadRequest, "malformed", "the body must be {\"envelope\": JWS, \"body\": base64}"})
		return
	}
	payload, err := peer.keys.Verify([]byte(wire.Envelope))
	if err != nil {
		s.refuse(r.Context(), w, peer, nil, refusal{http.StatusBadRequest, "bad-signature", "the envelope is not signed by " + peer.ID})
		return
	}
	env, err := parseEnvelope(payload)
	if err != nil {
		s.refuse(r.Context(), w, peer, nil, refusal{http.StatusBadRequest, "malformed", err.Error()})
		return
	}
	if env.Type == TypeShare {
		if len(wire.Body) > maxBody || Digest(wire.Body) != env.PayloadDigest {
			s.refuse(r.Context(), w, peer, env, refusal{http.StatusBadRequest, "digest-mismatch", "the body does not match the envelope's payload digest"})
			return
		}
	} else if len(wire.Body) != 0 {
		s.refuse(r.Context(), w, peer, env, refusal{http.StatusBadRequest, "malformed", "only a share has a body"})
		return
	}
	envDigest := Digest([]byte(wire.Envelope))
	// One record's messages are applied one at a time, under the same lock
	// the agency API takes to change it. Not for a consent decision: its
	// approved share is made through the agency API's path, which takes
	// the lock itself.
	if env.Type != TypeConsentDecision {
		defer s.records.Lock(env.RecordID)()
	}

	// The inbox: a message already answered gets its original receipt; the
	// same id with other bytes is refused.
	var prior inItem
	switch err := s.ledger.get(r.Context(), inboxKey(peer.ID, env.ID), inboxFormat, &prior); {
	case err == nil:
		if prior.EnvelopeDigest != envDigest {
			s.refuse(r.Context(), w, peer, env, refusal{http.StatusConflict, "id-reused", "message id " + env.ID + " was received before with another content"})
			return
		}
		writeJSON(w, http.StatusOK, WireReceipt{Receipt: prior.Receipt})
		return
	case !errors.Is(err, objstore.ErrNotFound):
		s.unavailable(w, err)
		return
	}

	out, err := s.apply(r.Context(), peer, env, wire)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	ev := out.event
	ev.Federation = &audit.Federation{PeerGateway: peer.ID, Direction: "received", MessageID: env.ID, Type: env.Type,
		Seq: env.Seq, Outcome: out.outcome, Envelope: wire.Envelope}
	ev.CertFingerprint = pki.CertFingerprint(r.TLS.PeerCertificates[0])
	if err := s.writeAudit(r.Context(), ev); err != nil {
		// Nothing is acknowledged without evidence: the sender retries,
		// and the effect (idempotent) is applied once.
		s.unavailable(w, err)
		return
	}
	rc := Receipt{Format: receiptFormat, MessageID: env.ID, EnvelopeDigest: envDigest, From: s.cfg.GatewayID, To: peer.ID,
		RecordID: env.RecordID, Outcome: out.outcome, Reasons: out.reasons, Downstream: out.downstream, AuditSeq: ev.Seq,
		Time: s.now().UTC().Format(time.RFC3339)}
	rb, _ := json.Marshal(rc)
	sig, err := s.signer.Sign(rb)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	// Reconciliation (reconcile.go): the message is indexed by the sender's
	// sequence number before the inbox entry is written, so that every
	// message the inbox answers is in the index.
	if err := s.indexReceived(r.Context(), peer.ID, env, envDigest, out.outcome); err != nil {
		s.unavailable(w, err)
		return
	}
	err = s.ledger.put(r.Context(), inboxKey(peer.ID, env.ID), &inItem{Format: inboxFormat, EnvelopeDigest: envDigest, Receipt: string(sig)}, true)
	if err != nil && !errors.Is(err, objstore.ErrExists) {
		s.unavailable(w, err)
		return
	}
	s.metrics.messages.WithLabelValues(peer.ID, "received", env.Type, out.outcome).Inc()
	writeJSON(w, http.StatusOK, WireReceipt{Receipt: string(sig)})
}

// applied is what a message did here.
type applied struct {
	event      *audit.Event
	outcome    string
	reasons    []PublicReason
	downstream []string
}

// apply checks a verified message against what this gateway knows of the
// peer and applies it. Refusals are outcomes (with a signed receipt), not
// errors; an error means a backend failed and nothing was acknowledged.
func (s *Service) apply(ctx context.Context, peer *Peer, env *Envelope, wire Wire) (*applied, error) {
	refused := func(op string, status int, code, msg string) *applied {
		return &applied{event: &audit.Event{Operation: op, Status: status, Action: string(policy.ActionAccept),
			Agency: env.FromAgency, RecordIDs: []string{env.RecordID}, Recipients: env.ToAgencies,
			Decision: &audit.Decision{Allow: false, Reasons: []audit.Reason{{Code: code, Message: msg}}}},
			outcome: OutcomeRefused, reasons: []PublicReason{{Code: code, Message: msg}}}
	}
	// Binding: the signed sender is the connection's peer, the message is
	// for us, and the peer speaks only for agencies it hosts.
	switch {
	case env.FromGateway != peer.ID:
		return refused(audit.OpDenial, http.StatusForbidden, "sender_mismatch", "the message is signed as from "+env.FromGateway+" but came from "+peer.ID), nil
	case env.ToGateway != s.cfg.GatewayID:
		return refused(audit.OpDenial, http.StatusForbidden, "wrong_receiver", "the message is for gateway "+env.ToGateway), nil
	case !peer.Hosts(env.FromAgency) && env.Type != TypeRecall && env.Type != TypeRecallAck:
		// A recall (and its acknowledgement) is relayed along the path the
		// record took: it names the originator, whom a middle gateway does
		// not host. Its authority is checked in applyRecall (the copy came
		// from this peer) and applyRecallAck (we sent the recall there).
		return refused(audit.OpDenial, http.StatusForbidden, "agency_not_hosted_by_peer", "gateway "+peer.ID+" does not host agency "+env.FromAgency), nil
	case slices.Contains(env.Provenance, s.cfg.GatewayID):
		return refused(audit.OpDenial, http.StatusForbidden, "loop", "the record already passed through this gateway"), nil
	}
	// A peer whose manifest expired stays known (its recalls are applied)
	// but may share nothing new until a fresh manifest is imported or
	// fetched.
	if env.Type == TypeShare && peer.Expired(s.now()) {
		return refused(audit.OpDenial, http.StatusForbidden, "manifest_expired",
			"the manifest of gateway "+peer.ID+" expired at "+peer.ManifestExpires().UTC().Format(time.RFC3339)), nil
	}
	switch env.Type {
	case TypeShare:
		return s.applyShare(ctx, peer, env, wire.Body, refused)
	case TypeRecall:
		return s.applyRecall(ctx, peer, env, refused)
	case TypeConsentRequest:
		return s.applyConsentRequest(ctx, peer, env, refused)
	case TypeConsentDecision:
		return s.applyConsentDecision(ctx, peer, env, refused)
	default:
		return s.applyRecallAck(ctx, peer, env, refused)
	}
}

func (s *Service) applyShare(ctx context.Context, peer *Peer, env *Envelope, body []byte,
	refused func(string, int, string, string) *applied) (*applied, error) {
	for _, a := range env.ToAgencies {
		if !s.cfg.Federation.Hosts(a) {
			return refused(audit.OpDenial, http.StatusForbidden, "recipient_not_hosted", "agency "+a+" is not hosted by this gateway"), nil
		}
	}
	if exp, _ := time.Parse(time.RFC3339, env.Expires); s.now().After(exp) {
		return refused(audit.OpDenial, http.StatusForbidden, "expired", "the message expired at "+env.Expires), nil
	}
	sb, err := parseShareBody(body)
	if err != nil {
		return refused(audit.OpDenial, http.StatusBadRequest, "malformed_body", "the share body does not parse"), nil
	}
	meta := sb.Meta
	defer clear(sb.Content)
	if meta.RecordID != env.RecordID || meta.Version != env.RecordVersion {
		return refused(audit.OpDenial, http.StatusBadRequest, "body_mismatch", "the body is another record or version than the envelope names"), nil
	}
	for _, a := range env.ToAgencies {
		if !slices.Contains(meta.Recipients, a) {
			return refused(audit.OpDenial, http.StatusForbidden, "not_a_recipient", "agency "+a+" is not a recipient of the record"), nil
		}
	}
	if err := validateReceived(&meta, sb.Content); err != nil {
		return refused(audit.OpDenial, http.StatusBadRequest, "invalid_record", "the record's metadata is not valid here"), nil
	}
	if err := s.checkOnwardConsents(&meta, env); err != nil {
		return refused(audit.OpDenial, http.StatusForbidden, "consent_receipt_invalid", err.Error()), nil
	}
	base := func(op string, status int) *audit.Event {
		return &audit.Event{Operation: op, Status: status, Action: string(policy.ActionAccept), Agency: env.FromAgency,
			RecordIDs: []string{meta.RecordID}, Originator: meta.Originator.OrgID, ControllerID: meta.Originator.OrgID,
			Recipients: env.ToAgencies, DSAIDs: meta.DSAIDs, Handling: meta.HandlingSnapshot()}
	}

	// A tombstone wins over any share: a recalled record is never
	// resurrected, whatever order the messages came in.
	cur, err := s.records.Load(ctx, meta.RecordID)
	switch {
	case errors.Is(err, recordstore.ErrNotFound):
		cur = nil
	case err != nil:
		return nil, err
	}
	if cur != nil && cur.State != recordstore.StateActive {
		return &applied{event: base(audit.OpDenial, http.StatusGone), outcome: OutcomeRecalled,
			reasons: []PublicReason{{Code: "recalled", Message: "the record was recalled"}}}, nil
	}
	if cur != nil && (cur.Origin == nil || cur.Origin.From != peer.ID) {
		return refused(audit.OpDenial, http.StatusConflict, "record_held_from_elsewhere", "this gateway holds the record from another source"), nil
	}

	in := policy.Input{Action: policy.ActionAccept, Time: s.now().UTC().Format(time.RFC3339),
		Subject: policy.Subject{AgencyID: env.FromAgency, CertFingerprint: ""}, Record: &meta,
		Federation: &policy.Federation{PeerGateway: peer.ID, PeerAgencies: orEmpty(slices.Clone(peer.Agencies)),
			Recipients: orEmpty(slices.Clone(env.ToAgencies)), Provenance: slices.Clone(env.Provenance)}}
	d, err := s.policy.Decide(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	ad := auditDecision(&d)
	if !d.Allow {
		ev := base(audit.OpDenial, http.StatusForbidden)
		ev.Decision = ad
		var pub []PublicReason
		for _, r := range d.PublicReasons() {
			pub = append(pub, PublicReason{Code: r.Code, Message: r.Message})
		}
		if len(pub) == 0 {
			pub = []PublicReason{{Code: "refused", Message: "the receiving gateway's policy refused the record"}}
		}
		return &applied{event: ev, outcome: OutcomeRefused, reasons: pub}, nil
	}
	ev := base(audit.OpCollection, http.StatusCreated)
	ev.Decision = ad
	if cur != nil && cur.Meta.Version >= meta.Version {
		// Already held at this version or a later one: a duplicate with a
		// new message id (a sender that retried after a crash) changes
		// nothing, except that the recipients' index entries are added
		// again: this gateway may have died after storing the copy and
		// before its entries (added without waiting) were written, and
		// the re-send is then the only thing that makes the copy listable.
		// Entries are candidates; a duplicate entry is skipped by listings.
		if err := s.records.Index().Put(ctx, cur); err != nil {
			return nil, err
		}
		ev.Status = http.StatusOK
		return &applied{event: ev, outcome: OutcomeAccepted}, nil
	}
	origin := recordstore.Origin{From: peer.ID, Provenance: env.Provenance[:len(env.Provenance)-1], MessageID: env.ID}
	if origin.Provenance == nil {
		origin.Provenance = []string{}
	}
	p, err := s.records.SealReceived(ctx, meta, sb.Content, origin)
	if err != nil {
		return nil, err
	}
	// The index entries first (candidates only), then the copy: a copy is
	// readable only once both exist.
	if err := s.records.Index().Put(ctx, &p.Record); err != nil {
		return nil, err
	}
	if cur == nil {
		err = s.records.Create(ctx, p)
		if errors.Is(err, objstore.ErrExists) {
			return nil, fmt.Errorf("record %s appeared concurrently; retry", meta.RecordID)
		}
	} else {
		err = s.records.Replace(ctx, cur, p.Object)
	}
	if err != nil {
		return nil, err
	}
	return &applied{event: ev, outcome: OutcomeAccepted}, nil
}

func (s *Service) applyRecall(ctx context.Context, peer *Peer, env *Envelope,
	refused func(string, int, string, string) *applied) (*applied, error) {
	cur, err := s.records.Load(ctx, env.RecordID)
	switch {
	case errors.Is(err, recordstore.ErrNotFound):
		// No copy here. Only the originator's own gateway leaves a
		// tombstone for a record this gateway may yet receive (a share
		// reordered after its recall, or held up by a partition). A
		// recall relayed by any other peer concerns a copy that peer
		// sent, and its queue is in order (the share settles before the
		// recall goes): with no copy here it was never sent, so there is
		// nothing to delete or to stop. A tombstone from it would let a
		// peer that merely learnt a record's id suppress the share the
		// originator's gateway makes later.
		if !peer.Hosts(env.FromAgency) {
			ev := &audit.Event{Operation: audit.OpErasure, Status: http.StatusOK, Action: "federation.recall", Agency: env.FromAgency,
				RecordIDs: []string{env.RecordID}, Originator: env.FromAgency, ControllerID: env.FromAgency}
			return &applied{event: ev, outcome: OutcomeRecalled}, nil
		}
		cur = nil
	case errors.Is(err, recordstore.ErrTampered):
		cur = nil // a damaged copy is recalled all the same: tombstone over it
	case err != nil:
		return nil, err
	}
	// Already recalled (a repeated recall, or one for a record whose
	// share was never sent because the recall came first and left a
	// tombstone without an origin): nothing left to do, and nothing is
	// disclosed by saying so.
	if cur != nil && cur.State != recordstore.StateActive && cur.Recalled != nil &&
		(cur.Recalled.Gateway == peer.ID || cur.Origin != nil && cur.Origin.From == peer.ID) {
		ev := &audit.Event{Operation: audit.OpErasure, Status: http.StatusOK, Action: "federation.recall", Agency: env.FromAgency,
			RecordIDs: []string{env.RecordID}, Originator: env.FromAgency, ControllerID: env.FromAgency, Error: "already recalled"}
		return &applied{event: ev, outcome: OutcomeRecalled}, nil
	}
	// Only the gateway a copy came from may recall it; a record that
	// originated here is never recalled by a peer.
	if cur != nil && (cur.Origin == nil || cur.Origin.From != peer.ID) {
		return refused(audit.OpDenial, http.StatusForbidden, "not_from_sender", "this gateway did not receive the record from "+peer.ID), nil
	}
	if cur != nil && cur.Meta.Originator.OrgID != env.FromAgency {
		return refused(audit.OpDenial, http.StatusForbidden, "not_originator", "only the originator recalls a record"), nil
	}
	if err := s.records.RecallReceived(ctx, cur, env.RecordID, env.FromAgency, peer.ID, env.ID, s.now()); err != nil {
		return nil, err
	}
	// Onward copies: the recall follows every edge this gateway created.
	down, err := s.recallEdges(ctx, env.RecordID, env.FromAgency, env.RecordVersion, &upstreamRef{Gateway: peer.ID, MessageID: env.ID})
	if err != nil {
		return nil, err
	}
	ev := &audit.Event{Operation: audit.OpErasure, Status: http.StatusOK, Action: "federation.recall", Agency: env.FromAgency,
		RecordIDs: []string{env.RecordID}, Originator: env.FromAgency, ControllerID: env.FromAgency, Recipients: down}
	if cur != nil {
		ev.DSAIDs, ev.Handling = cur.Meta.DSAIDs, cur.Meta.HandlingSnapshot()
	}
	return &applied{event: ev, outcome: OutcomeRecalled, downstream: down}, nil
}

func (s *Service) applyRecallAck(ctx context.Context, peer *Peer, env *Envelope,
	refused func(string, int, string, string) *applied) (*applied, error) {
	// Only a peer we sent the record (and so its recall) to reports on
	// copies further downstream.
	peers, err := s.edgePeers(ctx, env.RecordID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(peers, peer.ID) {
		return refused(audit.OpDenial, http.StatusForbidden, "no_such_recall", "no recall of this record was sent to "+peer.ID), nil
	}
	var gws []string
	for _, a := range env.Acks {
		it := &ackItem{Format: ackFormat, Gateway: a.Gateway, Via: peer.ID, Receipt: a.Receipt, Time: s.now().UTC().Format(time.RFC3339)}
		if p, ok := s.peers.Peer(a.Gateway); ok {
			if payload, err := p.keys.Verify([]byte(a.Receipt)); err == nil {
				if rc, err := parseReceipt(payload); err == nil && rc.From == a.Gateway && rc.RecordID == env.RecordID && rc.Outcome == OutcomeRecalled {
					it.Verified = true
				}
			}
		}
		if err := s.ledger.put(ctx, ackKey(env.RecordID, a.Gateway), it, false); err != nil {
			return nil, err
		}
		gws = append(gws, a.Gateway)
	}
	// Further upstream, if this gateway is not the originator's.
	if cur, err := s.records.Load(ctx, env.RecordID); err == nil && cur.Recalled != nil && cur.Recalled.Gateway != "" {
		if err := s.forwardAcks(ctx, cur.Recalled.Gateway, cur.Recalled.MessageID, env.RecordID, env.FromAgency, env.Acks); err != nil {
			return nil, err
		}
	}
	ev := &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK, Action: "federation.recall-ack", Agency: env.FromAgency,
		RecordIDs: []string{env.RecordID}, Recipients: gws}
	return &applied{event: ev, outcome: OutcomeAcknowledged}, nil
}

// forwardAcks relays downstream recall receipts one hop upstream.
func (s *Service) forwardAcks(ctx context.Context, upstream, ref, id, originator string, acks []ForwardedAck) error {
	if s.sender(upstream) == nil {
		return nil
	}
	now := s.now().UTC()
	env := Envelope{Format: envelopeFormat, ID: record.NewMessageID(now), Type: TypeRecallAck, FromGateway: s.cfg.GatewayID,
		ToGateway: upstream, FromAgency: originator, ToAgencies: []string{}, RecordID: id, RecordVersion: 1,
		Provenance: []string{s.cfg.GatewayID}, Created: now.Format(time.RFC3339), Ref: ref, Acks: acks}
	return s.enqueue(ctx, upstream, &outItem{Format: outboxFormat, Envelope: env})
}

func auditDecision(d *policy.Decision) *audit.Decision {
	ad := &audit.Decision{ID: d.ID, Revision: d.Revision, Allow: d.Allow}
	for _, r := range d.Reasons {
		ad.Reasons = append(ad.Reasons, audit.Reason{Code: r.Code, Message: r.Message})
	}
	return ad
}

// refuse answers a message refused without a receipt, and audits it.
func (s *Service) refuse(ctx context.Context, w http.ResponseWriter, peer *Peer, env *Envelope, rf refusal) {
	ev := &audit.Event{Operation: audit.OpDenial, Action: string(policy.ActionAccept), Status: rf.status, Error: rf.slug + ": " + rf.detail,
		Federation: &audit.Federation{PeerGateway: peer.ID, Direction: "received", Outcome: "rejected"}}
	if env != nil {
		ev.Federation.MessageID, ev.Federation.Type, ev.RecordIDs, ev.Agency = env.ID, env.Type, []string{env.RecordID}, env.FromAgency
	}
	s.writeAudit(ctx, ev)
	writeProblem(w, rf.status, rf.slug, "Message refused", rf.detail)
}

func (s *Service) unavailable(w http.ResponseWriter, err error) {
	s.log.Warn("federation message not processed", zap.Error(err))
	writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "the message was not processed; retry later")
}

// writeAudit fills the common fields and appends durably; it is not
// cancelled with the caller.
func (s *Service) writeAudit(ctx context.Context, ev *audit.Event) error {
	ev.Time = s.now().UTC()
	ev.Gateway = s.cfg.GatewayID
	if ev.RequestID == "" {
		ev.RequestID = audit.NewRequestID()
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.audit.Append(actx, ev)
	if err != nil {
		s.log.Error("federation audit entry not written", zap.String("action", ev.Action), zap.Error(err))
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, slug, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemTypeBase + slug, Title: title, Status: status, Detail: detail})
}

// serverSet are the metadata members a gateway sets, not a publisher: the
// publish schema does not allow them.
var serverSet = []string{"record_id", "version", "created", "originator", "consents"}

// validateReceived checks a delivered record by the rules a publish here
// would meet (the JSON Schema, text rules, protected fields): a peer's
// metadata is no more trusted than an agency's.
func validateReceived(m *record.Meta, content []byte) error {
	if !record.ValidID(m.RecordID) || m.Version < 1 {
		return errMalformed
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	for _, k := range serverSet {
		delete(doc, k)
	}
	body, err := json.Marshal(map[string]any{"meta": doc, "content": json.RawMessage(content)})
	if err != nil {
		return err
	}
	req, err := record.ParsePublish(body)
	if err != nil {
		return err
	}
	return record.CheckProtectedFields(req)
}
