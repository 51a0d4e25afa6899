package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/registry"
	"github.com/liaison-project/liaison/policy"
)

// Registry is the gateway's registry of agencies and agreements
// (gateway/registry, docs/registry.md).
type Registry interface {
	// Ready fails until the registry has been read from the store (a
	// suspension made on another replica would not be in force).
	Ready(ctx context.Context) error
	Suspended(agency string) bool
	AnchorAllows(rootFingerprint, agency string) bool
	AgencyList() api.RegistryAgencies
	AgencyView(id string) (api.RegistryAgency, bool)
	AddAgency(ctx context.Context, who registry.Who, req api.AgencyAdd, before registry.Before) (registry.Change, error)
	ChangeAgency(ctx context.Context, who registry.Who, id, change string, before registry.Before) (registry.Change, error)
	DSAList() api.RegistryDSAs
	DSAView(id string) (api.RegistryDSA, bool)
	ChangeDSA(ctx context.Context, who registry.Who, id, change string, req *api.DSARenew, before registry.Before) (registry.Change, error)
	Enumerations() api.RegistryEnumerations
	AddEnumValue(ctx context.Context, who registry.Who, name string, req api.EnumAdd, before registry.Before) (registry.Change, error)
}

// UseRegistry serves the registry API and enforces agency suspensions.
func (s *Server) UseRegistry(r Registry) {
	s.registry = r
	if s.ready == nil {
		s.ready = map[string]func(context.Context) error{}
	}
	s.ready["registry"] = r.Ready
}

// registryRouteTable is the registry's part of the routing table (routes).
func (s *Server) registryRouteTable() []route {
	read, change := string(policy.ActionRegistryRead), string(policy.ActionRegistryChange)
	r := func(method, path, action string, h handlerFunc) route {
		return route{Route: Route{Method: method, Path: path}, action: action, handler: h, registry: true}
	}
	out := []route{
		r("GET", "/v1/registry/agencies", read, s.registryAgencies),
		r("GET", "/v1/registry/agencies/{id}", read, s.registryAgency),
		r("POST", "/v1/registry/agencies", change, s.registryAddAgency),
		r("DELETE", "/v1/registry/agencies/{id}", change, s.registryChange("agency", registry.ChangeRemove)),
	}
	for _, c := range []string{registry.ChangeSuspend, registry.ChangeActivate} {
		out = append(out, r("POST", "/v1/registry/agencies/{id}/"+c, change, s.registryChange("agency", c)))
	}
	out = append(out, r("GET", "/v1/registry/dsas", read, s.registryDSAs), r("GET", "/v1/registry/dsas/{id}", read, s.registryDSA))
	for _, c := range []string{registry.ChangeActivate, registry.ChangeSuspend, registry.ChangeTerminate, registry.ChangeRenew} {
		out = append(out, r("POST", "/v1/registry/dsas/{id}/"+c, change, s.registryChange("dsa", c)))
	}
	return append(out, r("GET", "/v1/registry/enumerations", read, s.registryEnumerations),
		r("POST", "/v1/registry/enumerations/{name}", change, s.registryAddEnumValue))
}

func (s *Server) registryEnumerations(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if _, err := strictQuery(r); err != nil {
		return err
	}
	if err := s.registryRead(r.Context(), rc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.registry.Enumerations())
	return nil
}

// POST /v1/registry/enumerations/{name}: a value added to agency_types or
// recipient_types.
func (s *Server) registryAddEnumValue(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	name := r.PathValue("name")
	if name != policy.EnumAgencyTypes && name != policy.EnumRecipientTypes {
		return problem(http.StatusNotFound, "not-found", "Not found", "the enumerations are agency_types and recipient_types")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req api.EnumAdd
	if err := decodeJSON(body, &req, `body must be {"value": "...", "description": "..."}`); err != nil {
		return err
	}
	rc.registry = &audit.Registry{Kind: "enumeration", ID: name, Change: registry.ChangeAdd}
	if _, err := s.decideChange(r.Context(), rc, "enumeration", name, registry.ChangeAdd); err != nil {
		return err
	}
	before, written := s.auditBefore(r.Context(), rc)
	ch, err := s.registry.AddEnumValue(r.Context(), s.who(rc), name, req, before)
	return s.registryAnswer(w, r, rc, ch, err, written)
}

// registryRead decides registry.read and audits the consultation.
func (s *Server) registryRead(ctx context.Context, rc *reqCtx) error {
	d, err := s.decide(ctx, rc, policy.ActionRegistryRead, nil)
	if err != nil {
		return err
	}
	if !d.Allow {
		return denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
	}
	return s.recordOutcome(ctx, rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK})
}

func (s *Server) registryAgencies(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if _, err := strictQuery(r); err != nil {
		return err
	}
	if err := s.registryRead(r.Context(), rc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.registry.AgencyList())
	return nil
}

func (s *Server) registryAgency(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	id := r.PathValue("id")
	if !identity.ValidID(id) {
		return errBadRequest("the agency id in the path must be 1-63 of a-z, 0-9 and -")
	}
	rc.registry = &audit.Registry{Kind: "agency", ID: id, Change: "read"}
	if err := s.registryRead(r.Context(), rc); err != nil {
		return err
	}
	v, ok := s.registry.AgencyView(id)
	if !ok {
		return problem(http.StatusNotFound, "not-found", "Not found", "no agency "+id+" in the registry")
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) registryDSAs(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if _, err := strictQuery(r); err != nil {
		return err
	}
	if err := s.registryRead(r.Context(), rc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.registry.DSAList())
	return nil
}

var dsaIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (s *Server) registryDSA(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	id := r.PathValue("id")
	if !dsaIDPattern.MatchString(id) {
		return errBadRequest("the DSA id in the path must be 1-63 of a-z, 0-9 and -")
	}
	rc.dsaIDs = []string{id}
	rc.registry = &audit.Registry{Kind: "dsa", ID: id, Change: "read"}
	if err := s.registryRead(r.Context(), rc); err != nil {
		return err
	}
	v, ok := s.registry.DSAView(id)
	if !ok {
		return problem(http.StatusNotFound, "not-found", "Not found", "no agreement "+id+" in the registry")
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// decideChange asks the policy about a registry change; a refusal says why
// (the registry is no secret to the caller who may not change it).
func (s *Server) decideChange(ctx context.Context, rc *reqCtx, kind, id, change string) (*policy.Decision, error) {
	in := s.input(rc, policy.ActionRegistryChange, nil)
	in.Registry = &policy.RegistryChange{Kind: kind, ID: id, Change: change}
	d, err := s.decideInput(ctx, rc, in)
	if err != nil {
		return nil, err
	}
	if !d.Allow {
		return nil, denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
	}
	return d, nil
}

func (s *Server) who(rc *reqCtx) registry.Who {
	w := registry.Who{Agency: rc.agency, RequestID: rc.id, Gateway: s.cfg.GatewayID}
	if rc.officer != nil {
		w.Officer = rc.officer.ID
	}
	return w
}

// registryChange is every POST .../{id}/<change> and DELETE of the
// registry. The order: path and body checked (400, nothing changed), the
// policy asked (403, audited as a denial), then the registry commits the
// change: the audit entry with the old and new state is written just
// before the new version (registry.Before), so no change is in force
// without its entry; a version that then fails to be written is corrected
// in the log.
func (s *Server) registryChange(kind, change string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		id := r.PathValue("id")
		valid := identity.ValidID(id)
		if kind == "dsa" {
			valid = dsaIDPattern.MatchString(id)
			if valid {
				rc.dsaIDs = []string{id}
			}
		}
		if !valid {
			return errBadRequest("the " + kind + " id in the path must be 1-63 of a-z, 0-9 and -")
		}
		rc.registry = &audit.Registry{Kind: kind, ID: id, Change: change}
		var renew *api.DSARenew
		if change == registry.ChangeRenew {
			body, err := readBody(r)
			if err != nil {
				return err
			}
			renew = &api.DSARenew{}
			if err := decodeJSON(body, renew, `body must be {"expiry_date": "YYYY-MM-DD", "review_date": "YYYY-MM-DD", "version": "..."}`); err != nil {
				return err
			}
			if err := registryInputError(checkRenewShape(renew)); err != nil {
				return err
			}
		} else if err := requireEmptyBody(r); err != nil {
			return err
		}
		if _, err := s.decideChange(r.Context(), rc, kind, id, change); err != nil {
			return err
		}
		before, written := s.auditBefore(r.Context(), rc)
		var ch registry.Change
		var err error
		if kind == "dsa" {
			ch, err = s.registry.ChangeDSA(r.Context(), s.who(rc), id, change, renew, before)
		} else {
			ch, err = s.registry.ChangeAgency(r.Context(), s.who(rc), id, change, before)
		}
		return s.registryAnswer(w, r, rc, ch, err, written)
	}
}

// checkRenewShape: a renewal needs an expiry date (the rest is checked by
// the registry against the agreement in force).
func checkRenewShape(req *api.DSARenew) error {
	if req.ExpiryDate == "" {
		return &registry.FieldError{Pointer: "/expiry_date", Detail: "expiry_date is required: the new expiry date, YYYY-MM-DD"}
	}
	return nil
}

func (s *Server) registryAddAgency(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req api.AgencyAdd
	if err := decodeJSON(body, &req, `body must be {"id", "name", "org_type", "country", "ca_cert", "jwks" or "jwks_url", ...}`); err != nil {
		return err
	}
	if identity.ValidID(req.ID) {
		rc.registry = &audit.Registry{Kind: "agency", ID: req.ID, Change: registry.ChangeAdd}
	}
	if err := registryInputError(registry.CheckAgencyAdd(&req, s.now())); err != nil {
		return err
	}
	if _, err := s.decideChange(r.Context(), rc, "agency", req.ID, registry.ChangeAdd); err != nil {
		return err
	}
	before, written := s.auditBefore(r.Context(), rc)
	ch, err := s.registry.AddAgency(r.Context(), s.who(rc), req, before)
	return s.registryAnswer(w, r, rc, ch, err, written)
}

// auditBefore returns the registry.Before hook that writes the change's
// entry, and a function that reports the last entry written (to correct
// it if the version is not written after all).
func (s *Server) auditBefore(ctx context.Context, rc *reqCtx) (registry.Before, func() *audit.Event) {
	var last *audit.Event
	before := func(ch registry.Change) error {
		if last != nil {
			// The previous attempt lost the race for its version number:
			// its entry did not take effect; the retry writes its own.
			s.correct(ctx, rc, last, errors.New("another replica wrote that registry version first; retried on top of it"))
		}
		rc.registry = registryEvidence(ch)
		ev := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusOK}
		if err := s.recordOutcome(ctx, rc, ev); err != nil {
			return err
		}
		last = ev
		return nil
	}
	return before, func() *audit.Event { return last }
}

func registryEvidence(ch registry.Change) *audit.Registry {
	return &audit.Registry{Kind: ch.Kind, ID: ch.ID, Change: ch.Change, Old: ch.Old, New: ch.New, Version: ch.Version}
}

// registryAnswer answers a change: the new state, or the problem. A change
// that failed after its entry was written is corrected in the log; an
// unchanged entry (already in that state) is audited as a consultation.
func (s *Server) registryAnswer(w http.ResponseWriter, r *http.Request, rc *reqCtx, ch registry.Change, err error, written func() *audit.Event) error {
	if err != nil {
		if ev := written(); ev != nil {
			s.correct(r.Context(), rc, ev, err)
		}
		if ch.Kind != "" {
			rc.registry = registryEvidence(ch)
		}
		return registryProblem(err)
	}
	if ch.Unchanged {
		rc.registry = registryEvidence(ch)
		if err := s.recordOutcome(r.Context(), rc, &audit.Event{Operation: audit.OpAlteration, Status: http.StatusOK}); err != nil {
			return err
		}
	}
	out := api.RegistryChanged{Kind: ch.Kind, ID: ch.ID, Change: ch.Change, Old: ch.Old, New: ch.New,
		Unchanged: ch.Unchanged, Version: ch.Version}
	if rc.decision != nil {
		out.DecisionID = rc.decision.ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// registryInputError turns a registry.FieldError into a 400 naming the member.
func registryInputError(err error) error {
	if err == nil {
		return nil
	}
	return registryProblem(err)
}

func registryProblem(err error) error {
	var fe *registry.FieldError
	switch {
	case errors.As(err, &fe):
		p := problem(http.StatusBadRequest, "invalid-registry-change", "Invalid registry change", fe.Detail)
		p.Errors = []record.FieldError{{Pointer: fe.Pointer, Detail: fe.Detail}}
		return p.withCause(err)
	case errors.Is(err, registry.ErrNotFound):
		return problem(http.StatusNotFound, "not-found", "Not found", err.Error()).withCause(err)
	case errors.Is(err, registry.ErrConflict):
		return problem(http.StatusConflict, "registry-conflict", "Conflict", err.Error()).withCause(err)
	case errors.Is(err, registry.ErrInvalid):
		p := problem(http.StatusBadRequest, "invalid-registry-change", "Invalid registry change",
			"the change would make the policy data invalid; nothing was changed")
		for i, pr := range policy.ProblemsOf(err) {
			if i == 10 {
				break
			}
			p.Errors = append(p.Errors, record.FieldError{Pointer: "", Detail: pr.String()})
		}
		return p.withCause(err)
	case errors.Is(err, registry.ErrUnavailable):
		return errUnavailable("the registry store", err)
	}
	var prob *Problem
	if errors.As(err, &prob) {
		return prob
	}
	return errInternal(err)
}

// requireEmptyBody: the state changes take no body; one sent anyway is a
// mistake worth saying (a renewal's dates sent to suspend, say).
func requireEmptyBody(r *http.Request) error {
	var one [1]byte
	n, _ := r.Body.Read(one[:])
	if n > 0 {
		return errBadRequest("this change takes no request body")
	}
	return nil
}

// recipientTyper is implemented by policy engines whose recipient types
// are data (policy.Engine: data.enumerations).
type recipientTyper interface {
	RecipientTypes() []string
}

// checkRecipientTypes: a record's handling conditions may name only
// recipient types the policy knows (the publish schema checks their shape;
// the vocabulary is the policy's data, extended by the operator). An
// unknown type would match no agency: a 400 naming it, not a record no one
// can read.
func (s *Server) checkRecipientTypes(m *record.Meta) error {
	rt, ok := s.policy.(recipientTyper)
	if !ok || m.Handling.Conditions == nil {
		return nil
	}
	known := rt.RecipientTypes()
	for i, t := range m.Handling.Conditions.AllowedRecipientTypes {
		if !slices.Contains(known, t) {
			return invalidField(fmt.Sprintf("/meta/handling/conditions/allowed_recipient_types/%d", i),
				fmt.Sprintf("%q is not a recipient type of this gateway's registry (%s)", t, strings.Join(known, ", ")))
		}
	}
	return nil
}
