package httpapi

import (
	"context"
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
