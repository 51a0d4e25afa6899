package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/policy"
)

// Federation is what the handlers need from gateway/federation: which
// recipients peer gateways host, the federation.deliver input, and the
// durable queue of shares and recalls to them.
type Federation interface {
	Route(recipients []string) map[string][]string
	DeliverInput(in *policy.Input, peer string, recipients, provenance []string)
	Provenance(st *recordstore.Record) []string
	Share(ctx context.Context, meta *record.Meta, fromAgency, officer string, byPeer map[string][]string, provenance []string) error
	Recall(ctx context.Context, id, originator string, version int) ([]string, error)
	Deliveries(ctx context.Context, id string) (*api.Deliveries, error)
	// OriginGateway is the gateway where a received copy's originator
	// decides consent.
	OriginGateway(st *recordstore.Record) string
	RequestConsent(ctx context.Context, cr *recordstore.Consent, st *recordstore.Record) error
	DecideConsent(ctx context.Context, cr *recordstore.Consent) error
}

// UseFederation connects the handlers to the federation (before Start).
func (s *Server) UseFederation(f Federation) { s.fed = f }

// remote splits off the recipients hosted by peer gateways, by peer.
func (s *Server) remote(recipients []string) map[string][]string {
	if s.fed == nil {
		return nil
	}
	return s.fed.Route(recipients)
}

// decideDeliveries asks federation.deliver for each peer: the sending
// side's own decision that the record may go to the agencies that peer
// hosts. A refusal refuses the whole request, before anything is written.
// The request's audit entry keeps the decision of the request itself.
func (s *Server) decideDeliveries(ctx context.Context, rc *reqCtx, meta *record.Meta, byPeer map[string][]string, provenance []string) error {
	own := rc.decision
	defer func() { rc.decision = own }()
	for peer, recipients := range byPeer {
		in := s.input(rc, policy.ActionDeliver, meta)
		s.fed.DeliverInput(&in, peer, recipients, provenance)
		d, err := s.decideInput(ctx, rc, in)
		if err != nil {
			return err
		}
		if !d.Allow {
			p := denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
			p.Detail = "the policy denied delivery to gateway " + peer
			return p
		}
	}
	return nil
}

// GET /v1/records/{id}/deliveries: where the record went beyond this
// gateway and what each gateway answered. Only its originator sees it.
func (s *Server) deliveries(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	id := r.PathValue("id")
	if !record.ValidID(id) || s.fed == nil {
		return errNotFound()
	}
	st, err := s.loadRecord(r.Context(), rc, id)
	if err != nil {
		return err
	}
	if st.Meta.Originator.OrgID != rc.agency || st.Origin != nil {
		return errNotFound()
	}
	out, err := s.fed.Deliveries(r.Context(), id)
	if err != nil {
		return backendProblem(err)
	}
	if err := s.recordOutcome(r.Context(), rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// decideRemoteConsent stores the originator's decision on a request that
// came from another gateway and queues it back there (with the signed
// receipt when approved): the audit entry first, then both.
func (s *Server) decideRemoteConsent(ctx context.Context, rc *reqCtx, cr *recordstore.Consent) error {
	ev := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusOK, Recipients: cr.Recipients,
		Error: "consent " + cr.State + ": " + cr.ID + " (requested at gateway " + cr.RemoteGateway + ")"}
	return s.auditThen(ctx, rc, ev, func() error {
		if err := s.records.PutConsent(ctx, cr, false); err != nil {
			return err
		}
		return s.fed.DecideConsent(ctx, cr)
	})
}

// ExecuteApprovedConsent makes the onward share the originator approved at
// its gateway (the decision arrived as a signed consent-decision): as the
// requesting agency, through the same policy decision and share path as a
// local approval, with the receipt's digest in the new version's metadata.
func (s *Server) ExecuteApprovedConsent(ctx context.Context, cr *recordstore.Consent) error {
	rc := &reqCtx{id: audit.NewRequestID(), start: s.now(), action: string(policy.ActionShare), route: "federation:consent-decision",
		agency: cr.RequestedBy, purpose: cr.Purpose, justification: cr.Justification}
	defer s.records.Lock(cr.RecordID)()
	return s.retryConflicts(ctx, rc, func() error { return s.executeApprovedConsentOnce(ctx, rc, cr) })
}

func (s *Server) executeApprovedConsentOnce(ctx context.Context, rc *reqCtx, cr *recordstore.Consent) error {
	st, err := s.loadRecord(ctx, rc, cr.RecordID)
	if err != nil {
		return err
	}
	if st.State != recordstore.StateActive {
		return nil // recalled meanwhile: nothing to share
	}
	for _, c := range st.Meta.Consents {
		if c.ID == cr.ID {
			return nil // already executed (a repeated decision)
		}
	}
	sum := sha256.Sum256([]byte(cr.Receipt))
	ref := record.ConsentRef{ID: cr.ID, RequestedBy: cr.RequestedBy, Recipients: cr.Recipients, ApprovedBy: cr.DecidedBy,
		ApprovedAt: cr.DecidedAt, ReceiptDigest: "sha256:" + hex.EncodeToString(sum[:])}
	in := s.input(rc, policy.ActionShare, &st.Meta)
	in.Share = &policy.Share{Recipients: cr.Recipients}
	in.Consent = &policy.Consent{ID: cr.ID, RequestedBy: cr.RequestedBy, ApprovedBy: cr.DecidedBy, Recipients: cr.Recipients}
	d, err := s.decideInput(ctx, rc, in)
	if err != nil {
		return err
	}
	if !d.Allow {
		// Audited as a denial; the consent stays approved, unexecuted.
		_ = s.recordOutcome(ctx, rc, &audit.Event{Operation: audit.OpDenial, Status: http.StatusForbidden, Recipients: cr.Recipients})
		return nil
	}
	_, err = s.executeShare(ctx, rc, st, cr.Recipients, &ref)
	return err
}
