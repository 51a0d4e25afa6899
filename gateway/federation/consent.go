package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// Onward sharing across gateways. An agency holding a received copy asks
// to share it onward; when the policy wants the originator's consent, the
// request is filed at the requester's gateway and sent to the originator's
// (consent-request). The originator decides there; the decision, with the
// originator gateway's signed receipt when approved, comes back
// (consent-decision), and the requester's gateway makes the share. Every
// gateway that receives the onward copy verifies the receipt with the
// originator gateway's key before accepting.

// ConsentExecutor makes an approved onward share at the requester's gateway
// (gateway/httpapi: the same policy decision and share path as a local
// approval).
type ConsentExecutor interface {
	ExecuteApprovedConsent(ctx context.Context, cr *recordstore.Consent) error
}

// UseConsentExecutor connects the executor (before Start).
func (s *Service) UseConsentExecutor(e ConsentExecutor) { s.exec = e }

// OriginGateway is the gateway of the record's originator: the first in a
// received copy's provenance ("" for a record published here).
func (s *Service) OriginGateway(st *recordstore.Record) string {
	if st == nil || st.Origin == nil {
		return ""
	}
	if len(st.Origin.Provenance) > 0 {
		return st.Origin.Provenance[0]
	}
	return st.Origin.From
}

// RequestConsent sends a consent request filed here to the originator's
// gateway.
func (s *Service) RequestConsent(ctx context.Context, cr *recordstore.Consent, st *recordstore.Record) error {
	now := s.now().UTC()
	env := Envelope{Format: envelopeFormat, ID: record.NewMessageID(now), Type: TypeConsentRequest, FromGateway: s.cfg.GatewayID,
		ToGateway: cr.RemoteGateway, FromAgency: cr.RequestedBy, ToAgencies: cr.Recipients, OfficerRef: s.officerRef(cr.RequestedByOfficer),
		DSAID: firstDSA(&st.Meta), RecordID: cr.RecordID, RecordVersion: st.Meta.Version, Provenance: []string{s.cfg.GatewayID},
		Created: now.Format(time.RFC3339), Expires: cr.Expires,
		Consent: &ConsentMessage{ID: cr.ID, State: recordstore.ConsentPending, Purpose: cr.Purpose, Justification: cr.Justification,
			Note: cr.Note, Expires: cr.Expires}}
	return s.enqueue(ctx, cr.RemoteGateway, &outItem{Format: outboxFormat, Envelope: env})
}

// DecideConsent sends the originator's decision back to the gateway the
// request came from.
func (s *Service) DecideConsent(ctx context.Context, cr *recordstore.Consent) error {
	now := s.now().UTC()
	env := Envelope{Format: envelopeFormat, ID: record.NewMessageID(now), Type: TypeConsentDecision, FromGateway: s.cfg.GatewayID,
		ToGateway: cr.RemoteGateway, FromAgency: cr.Originator, ToAgencies: cr.Recipients, OfficerRef: s.officerRef(cr.DecidedByOfficer),
		RecordID: cr.RecordID, RecordVersion: 1, Provenance: []string{s.cfg.GatewayID}, Created: now.Format(time.RFC3339),
		Consent: &ConsentMessage{ID: cr.ID, State: cr.State, Receipt: cr.Receipt}}
	return s.enqueue(ctx, cr.RemoteGateway, &outItem{Format: outboxFormat, Envelope: env})
}

type refuser func(op string, status int, code, msg string) *applied

// applyConsentRequest files, at the originator's gateway, a request that
// came from a gateway this one delivered the record to.
func (s *Service) applyConsentRequest(ctx context.Context, peer *Peer, env *Envelope, refused refuser) (*applied, error) {
	st, err := s.records.Load(ctx, env.RecordID)
	if errors.Is(err, recordstore.ErrNotFound) {
		return refused(audit.OpDenial, http.StatusNotFound, "no_such_record", "this gateway holds no such record"), nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case st.Origin != nil || !s.cfg.Federation.Hosts(st.Meta.Originator.OrgID):
		return refused(audit.OpDenial, http.StatusForbidden, "not_originator_gateway", "the record's originator is not hosted here"), nil
	case st.State != recordstore.StateActive:
		return refused(audit.OpDenial, http.StatusGone, "recalled", "the record was recalled"), nil
	case !slices.Contains(st.Meta.Recipients, env.FromAgency):
		return refused(audit.OpDenial, http.StatusForbidden, "requester_not_recipient", env.FromAgency+" is not a recipient of the record"), nil
	}
	peers, err := s.edgePeers(ctx, env.RecordID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(peers, peer.ID) {
		return refused(audit.OpDenial, http.StatusForbidden, "not_delivered_there", "the record was not delivered to "+peer.ID), nil
	}
	c := env.Consent
	expires := c.Expires
	if limit := s.now().UTC().Add(s.cfg.Consents.TTL).Format(time.RFC3339); expires == "" || expires > limit {
		expires = limit
	}
	cr := &recordstore.Consent{Format: recordstore.ConsentFormat, ID: c.ID, RecordID: env.RecordID, Originator: st.Meta.Originator.OrgID,
		RequestedBy: env.FromAgency, RequestedByOfficer: env.OfficerRef, Recipients: env.ToAgencies, Purpose: c.Purpose,
		Justification: c.Justification, Note: c.Note, Created: s.now().UTC().Format(time.RFC3339), Expires: expires,
		State: recordstore.ConsentPending, RemoteGateway: peer.ID}
	if err := s.records.PutConsent(ctx, cr, true); err != nil && !errors.Is(err, objstore.ErrExists) {
		return nil, err
	}
	ev := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusAccepted, Action: "federation.consent-request", Agency: env.FromAgency,
		RecordIDs: []string{env.RecordID}, Originator: st.Meta.Originator.OrgID, ControllerID: st.Meta.Originator.OrgID,
		Recipients: env.ToAgencies, DSAIDs: st.Meta.DSAIDs, Purpose: c.Purpose, Justification: c.Justification,
		Error: "consent requested from gateway " + peer.ID + ": " + c.ID}
	return &applied{event: ev, outcome: OutcomeAcknowledged}, nil
}

// applyConsentDecision takes the originator's decision on a request filed
// here; an approval is verified and executed.
func (s *Service) applyConsentDecision(ctx context.Context, peer *Peer, env *Envelope, refused refuser) (*applied, error) {
	c := env.Consent
	cr, err := s.records.LoadConsent(ctx, c.ID)
	if errors.Is(err, recordstore.ErrNotFound) {
		return refused(audit.OpDenial, http.StatusNotFound, "no_such_consent", "no consent request "+c.ID+" was filed here"), nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case cr.RemoteGateway != peer.ID || cr.RecordID != env.RecordID || cr.Originator != env.FromAgency:
		return refused(audit.OpDenial, http.StatusForbidden, "not_the_decider", "consent request "+c.ID+" is not decided by "+peer.ID), nil
	case cr.State != recordstore.ConsentPending && cr.State != c.State:
		return refused(audit.OpDenial, http.StatusConflict, "already_decided", "consent request "+c.ID+" was already "+cr.State), nil
	}
	if c.State == recordstore.ConsentApproved {
		if err := s.checkReceipt(peer, c.Receipt, cr.ID, cr.RecordID, cr.RequestedBy, cr.Originator, cr.Recipients); err != nil {
			return refused(audit.OpDenial, http.StatusForbidden, "consent_receipt_invalid", err.Error()), nil
		}
	}
	if cr.State == recordstore.ConsentPending {
		cr.State, cr.DecidedBy, cr.DecidedAt, cr.Receipt = c.State, env.FromAgency, s.now().UTC().Format(time.RFC3339), c.Receipt
	}
	// The request's state first (the share carries its receipt, read from
	// it), then the share. A failure or crash between them is retried by
	// the sender: the decision is then already stored, and the executor
	// recognises a share already made.
	if err := s.records.PutConsent(ctx, cr, false); err != nil {
		return nil, err
	}
	if cr.State == recordstore.ConsentApproved && s.exec != nil {
		if err := s.exec.ExecuteApprovedConsent(ctx, cr); err != nil {
			return nil, fmt.Errorf("execute consent %s: %w", cr.ID, err)
		}
	}
	ev := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusOK, Action: "federation.consent-decision", Agency: env.FromAgency,
		RecordIDs: []string{env.RecordID}, Originator: cr.Originator, ControllerID: cr.Originator, Recipients: env.ToAgencies,
		Error: "consent " + cr.State + " at gateway " + peer.ID + ": " + cr.ID}
	return &applied{event: ev, outcome: OutcomeAcknowledged}, nil
}

// checkReceipt verifies an originator's consent receipt: signed by the
// originator's gateway (origin), for this consent, record, requester,
// approver and exactly these recipients.
func (s *Service) checkReceipt(origin *Peer, jws, consentID, recordID, requester, originator string, recipients []string) error {
	payload, err := origin.keys.Verify([]byte(jws))
	if err != nil {
		return fmt.Errorf("the consent receipt is not signed by gateway %s", origin.ID)
	}
	var rc recordstore.ConsentReceipt
	if err := strictJSON(payload, &rc); err != nil || rc.Type != recordstore.ConsentReceiptType {
		return errors.New("the consent receipt does not parse")
	}
	if rc.ConsentID != consentID || rc.RecordID != recordID || rc.RequestedBy != requester || rc.ApprovedBy != originator ||
		!sameSet(rc.Recipients, recipients) {
		return errors.New("the consent receipt approves another share")
	}
	return nil
}

// receiptsFor gathers, for an onward share, the signed receipts of the
// consents the metadata names (those this gateway holds).
func (s *Service) receiptsFor(ctx context.Context, meta *record.Meta) ([]string, error) {
	var out []string
	for _, ref := range meta.Consents {
		cr, err := s.records.LoadConsent(ctx, ref.ID)
		if errors.Is(err, recordstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if cr.Receipt != "" {
			out = append(out, cr.Receipt)
		}
	}
	return out, nil
}

// checkOnwardConsents verifies, at a receiving gateway, every consent the
// delivered metadata names for the recipients here: its receipt must come
// with the message, match the digest in the metadata, and be signed by the
// originator's gateway, a peer of this one.
func (s *Service) checkOnwardConsents(meta *record.Meta, env *Envelope) error {
	origin := env.Provenance[0]
	if origin == s.cfg.GatewayID {
		return nil
	}
	byDigest := map[string]string{}
	for _, r := range env.ConsentReceipts {
		sum := sha256.Sum256([]byte(r))
		byDigest["sha256:"+hex.EncodeToString(sum[:])] = r
	}
	for _, ref := range meta.Consents {
		if !slices.ContainsFunc(ref.Recipients, func(a string) bool { return slices.Contains(env.ToAgencies, a) }) {
			continue
		}
		jws, ok := byDigest[ref.ReceiptDigest]
		if !ok {
			return fmt.Errorf("the receipt of consent %s does not come with the share", ref.ID)
		}
		p, ok := s.peers.Peer(origin)
		if !ok {
			return fmt.Errorf("the originator's gateway %s is not a peer: its consent receipt cannot be verified", origin)
		}
		if err := s.checkReceipt(p, jws, ref.ID, meta.RecordID, ref.RequestedBy, meta.Originator.OrgID, ref.Recipients); err != nil {
			return err
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
