package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policy"
)

// Onward sharing. A caller who may see a record asks to share it with more
// agencies. The policy answers allow (the recipients are added at once, as a
// new version of the record), deny, or "originator consent required" (its
// only reason is originator_consent_required): then a consent request waits
// for the originator, who approves or refuses it. An approval is a signed
// receipt, kept in the request and, by digest, in the record's metadata.

// Consent states.
const (
	consentPending  = "pending"
	consentApproved = "approved"
	consentRefused  = "refused"
	consentExpired  = "expired"
)

const consentFormat = "liaison.consent/v1"

type consentRecord struct {
	Format             string   `json:"format"`
	ID                 string   `json:"id"`
	RecordID           string   `json:"record_id"`
	Originator         string   `json:"originator"`
	RequestedBy        string   `json:"requested_by"`
	RequestedByOfficer string   `json:"requested_by_officer,omitempty"`
	Recipients         []string `json:"recipients"`
	Purpose            string   `json:"purpose,omitempty"`
	Justification      string   `json:"justification,omitempty"`
	Note               string   `json:"note,omitempty"`
	Created            string   `json:"created"`
	Expires            string   `json:"expires"`
	State              string   `json:"state"`
	DecidedBy          string   `json:"decided_by,omitempty"`
	DecidedByOfficer   string   `json:"decided_by_officer,omitempty"`
	DecidedAt          string   `json:"decided_at,omitempty"`
	// Receipt is the originator's signed approval (compact JWS).
	Receipt string `json:"receipt,omitempty"`
	// Reasons are the policy's public reasons why consent was required,
	// from the decision taken when the request was filed.
	Reasons []policy.Reason `json:"reasons,omitempty"`
	// PreviousRefusals are the earlier refusals of the same request (same
	// record, requester and recipient set), so that a repeat shows as one.
	PreviousRefusals []ConsentRefusal `json:"previous_refusals,omitempty"`
}

func consentKey(id string) string              { return "consents/" + id }
func consentIndexPrefix(agency string) string  { return "index/consents/" + agency + "/" }
func consentIndexKey(agency, id string) string { return consentIndexPrefix(agency) + id }
func errConsentNotFound() *Problem {
	return problem(http.StatusNotFound, "not-found", "Not found", "no such consent request, or it does not concern you")
}

// shareRequest is the body of POST /v1/records/{id}/shares.
type shareRequest struct {
	Recipients []string `json:"recipients"`
	Note       string   `json:"note"`
}

func parseShare(body []byte) (*shareRequest, error) {
	var req shareRequest
	if err := decodeJSON(body, &req, `body must be {"recipients": ["agency-id", ...], "note": "optional"}`); err != nil {
		return nil, err
	}
	if len(req.Recipients) == 0 || len(req.Recipients) > 16 {
		return nil, errBadRequest("recipients must list 1 to 16 agency ids")
	}
	seen := map[string]bool{}
	for _, a := range req.Recipients {
		if !validAgencyID(a) {
			return nil, errBadRequest(fmt.Sprintf("recipient %q is not an agency id", a))
		}
		if seen[a] {
			return nil, errBadRequest(fmt.Sprintf("recipient %q is listed twice", a))
		}
		seen[a] = true
	}
	if len(req.Note) > 1024 || !printable(req.Note) {
		return nil, errBadRequest("note must be printable text of at most 1024 bytes")
	}
	return &req, nil
}

// onlyConsentMissing reports whether the policy's sole objection is the
// originator's consent.
func onlyConsentMissing(d *policy.Decision) bool {
	if d.Allow || len(d.Reasons) == 0 {
		return false
	}
	for _, r := range d.Reasons {
		if r.Code != "originator_consent_required" {
			return false
		}
	}
	return true
}

// POST /v1/records/{id}/shares
func (s *Server) share(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if handled, err := s.withIdempotency(w, r, rc, s.share); handled {
		return err
	}
	id := r.PathValue("id")
	if !record.ValidID(id) {
		return errNotFound()
	}
	defer s.recordLocks.lock(id)()
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := parseShare(body)
	if err != nil {
		return err
	}
	rc.recordIDs = []string{id}
	st, err := s.records.load(r.Context(), id)
	if errors.Is(err, errRecordNotFound) {
		return errNotFound()
	}
	if err != nil {
		return backendProblem(err)
	}
	rc.setRecord(&st.Meta)
	in := s.input(rc, "record.share", &st.Meta)
	in.Share = &policy.Share{Recipients: req.Recipients}
	d, err := s.decideInput(r.Context(), rc, in)
	if err != nil {
		return err
	}
	if !d.Visible {
		return errNotFound()
	}
	if st.State != stateActive {
		return problem(http.StatusGone, "recalled", "Recalled", "the originator recalled this record")
	}
	switch {
	case d.Allow:
		meta, err := s.executeShare(r.Context(), rc, st, req.Recipients, nil)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "version": meta.Version, "state": "shared",
			"recipients": meta.Recipients, "decision_id": d.ID})
		return nil
	case onlyConsentMissing(d):
		return s.requestConsent(w, r, rc, st, req, d)
	default:
		return denied(d)
	}
}

// executeShare adds recipients as a new version of the record: content
// re-sealed (its AAD binds the new metadata), index entries for the new
// recipients, the audit entry durable before the commit.
func (s *Server) executeShare(ctx context.Context, rc *reqCtx, st *storedRecord, recipients []string, consent *record.ConsentRef) (*record.Meta, error) {
	meta := st.Meta
	meta.Recipients = slices.Clone(st.Meta.Recipients)
	var added []string
	for _, a := range recipients {
		if a != meta.Originator.OrgID && !slices.Contains(meta.Recipients, a) {
			meta.Recipients = append(meta.Recipients, a)
			added = append(added, a)
		}
	}
	if consent != nil {
		meta.Consents = append(slices.Clone(st.Meta.Consents), *consent)
	}
	p, err := s.records.reseal(ctx, st, meta)
	if err != nil {
		return nil, backendProblem(err)
	}
	// In order: the audit entry (durable), the index entries of the new
	// recipients (only candidates until the record names them), then the
	// new version, which is the commit point and drops the older versions.
	ev := &audit.Event{Operation: audit.OpDisclosure, Status: http.StatusOK, Recipients: added}
	if err := s.writeAudit(ctx, rc, ev); err != nil {
		return nil, backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	if err := s.records.index.add(ctx, meta.RecordID, added); err != nil {
		s.correct(ctx, rc, ev, err)
		return nil, backendProblem(err)
	}
	if err := s.records.replace(ctx, meta.RecordID, p.object); err != nil {
		s.correct(ctx, rc, ev, err)
		return nil, backendProblem(err)
	}
	return &p.st.Meta, nil
}

func (s *Server) requestConsent(w http.ResponseWriter, r *http.Request, rc *reqCtx, st *storedRecord, req *shareRequest, d *policy.Decision) error {
	ctx := r.Context()
	reqKey := consentRequestKey(st.Meta.RecordID, rc.agency, req.Recipients)
	// A few rounds at most: each lost race means another filing claimed the
	// slot, and the next round finds its request (pending, or in flight).
	for range 3 {
		now := s.now().UTC()
		h, err := s.consentHistory(ctx, reqKey, now)
		if err != nil {
			return err
		}
		if cr := h.pending; cr != nil {
			// The same request is already waiting: answer with it, file nothing.
			ev := &audit.Event{Operation: audit.OpConsultation, Status: http.StatusAccepted, Recipients: req.Recipients,
				Error: "consent request already pending: " + cr.ID}
			if err := s.writeAudit(ctx, rc, ev); err != nil {
				return backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
			}
			w.Header().Set("Location", "/v1/consents/"+cr.ID)
			writeJSON(w, http.StatusAccepted, cr.filed(d.ID, true))
			return nil
		}
		cr := &consentRecord{Format: consentFormat, ID: record.NewConsentID(now), RecordID: st.Meta.RecordID,
			Originator: st.Meta.Originator.OrgID, RequestedBy: rc.agency, RequestedByOfficer: officerID(rc),
			Recipients: req.Recipients, Purpose: rc.purpose, Justification: rc.justification, Note: req.Note,
			Created: now.Format(time.RFC3339), Expires: now.Add(s.cfg.Consents.TTL).Format(time.RFC3339), State: consentPending,
			Reasons: d.PublicReasons(), PreviousRefusals: h.refusals}
		if err := s.claimConsentSlot(ctx, reqKey, h.nextGen, cr.ID, now); errors.Is(err, objstore.ErrExists) {
			continue
		} else if err != nil {
			return backendProblem(err)
		}
		msg := "consent requested: " + cr.ID
		if n := len(cr.PreviousRefusals); n > 0 {
			msg += fmt.Sprintf(" (repeat: refused %d time(s) before, last %s)", n, cr.PreviousRefusals[n-1].ConsentID)
		}
		ev := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusAccepted, Recipients: req.Recipients, Error: msg}
		if err := s.writeAudit(ctx, rc, ev); err != nil {
			s.releaseConsentSlot(ctx, reqKey, h.nextGen)
			return backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
		}
		if err := s.storeConsent(ctx, cr, true); err != nil {
			s.releaseConsentSlot(ctx, reqKey, h.nextGen)
			s.correct(ctx, rc, ev, err)
			return backendProblem(err)
		}
		w.Header().Set("Location", "/v1/consents/"+cr.ID)
		writeJSON(w, http.StatusAccepted, cr.filed(d.ID, false))
		return nil
	}
	p := problem(http.StatusConflict, "consent-filing-in-progress", "Consent request being filed",
		"the same consent request is being filed concurrently; retry shortly")
	p.retryAfter = 2
	return p
}

func (s *Server) storeConsent(ctx context.Context, cr *consentRecord, create bool) error {
	b, err := json.Marshal(cr)
	if err != nil {
		return err
	}
	jws, err := s.records.signer.Sign(b)
	if err != nil {
		return err
	}
	if err := s.records.store.Put(ctx, consentKey(cr.ID), jws, objstore.PutOptions{IfAbsent: create, ContentType: "application/jose"}); err != nil {
		return fmt.Errorf("store consent: %w", err)
	}
	if create {
		for _, a := range []string{cr.Originator, cr.RequestedBy} {
			if err := s.records.store.Put(ctx, consentIndexKey(a, cr.ID), nil, objstore.PutOptions{}); err != nil {
				return fmt.Errorf("store consent index: %w", err)
			}
		}
	}
	return nil
}

func (s *Server) loadConsent(ctx context.Context, id string) (*consentRecord, error) {
	jws, err := s.records.store.Get(ctx, consentKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, errConsentNotFound()
	}
	if err != nil {
		return nil, backendProblem(err)
	}
	payload, err := s.records.signer.Verify(jws)
	if err != nil {
		return nil, errIntegrity(fmt.Errorf("consent %s: %w", id, err))
	}
	var cr consentRecord
	if err := json.Unmarshal(payload, &cr); err != nil || cr.Format != consentFormat || cr.ID != id {
		return nil, errIntegrity(fmt.Errorf("consent %s: malformed", id))
	}
	if cr.State == consentPending && s.now().UTC().Format(time.RFC3339) > cr.Expires {
		cr.State = consentExpired // lazily: expiry needs no background job
	}
	return &cr, nil
}

// consentForOriginator loads a consent request the caller must decide.
func (s *Server) consentForOriginator(r *http.Request, rc *reqCtx) (*consentRecord, error) {
	id := r.PathValue("id")
	if !record.ValidConsentID(id) {
		return nil, errConsentNotFound()
	}
	cr, err := s.loadConsent(r.Context(), id)
	if err != nil {
		return nil, err
	}
	rc.recordIDs, rc.originator, rc.recipients = []string{cr.RecordID}, cr.Originator, cr.Recipients
	switch {
	case rc.agency == cr.Originator:
	case rc.agency == cr.RequestedBy:
		return nil, problem(http.StatusForbidden, "not-originator", "Only the originator decides", "consent requests are decided by the originating agency")
	default:
		return nil, errConsentNotFound()
	}
	switch cr.State {
	case consentPending:
		return cr, nil
	case consentExpired:
		return nil, problem(http.StatusGone, "consent-expired", "Consent request expired", "the request expired on "+cr.Expires+"; the requester may ask again")
	default:
		return nil, problem(http.StatusConflict, "consent-decided", "Already decided", "this request was already "+cr.State)
	}
}

// POST /v1/consents/{id}/approve
func (s *Server) approveConsent(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	cr, err := s.consentForOriginator(r, rc)
	if err != nil {
		return err
	}
	defer s.recordLocks.lock(cr.RecordID)()
	st, err := s.records.load(r.Context(), cr.RecordID)
	if errors.Is(err, errRecordNotFound) {
		return errNotFound()
	}
	if err != nil {
		return backendProblem(err)
	}
	if st.State != stateActive {
		return problem(http.StatusGone, "recalled", "Recalled", "the record was recalled")
	}
	rc.setRecord(&st.Meta)
	now := s.now().UTC()
	receipt, err := json.Marshal(consentReceipt{Type: "liaison.consent-receipt/v1", ConsentID: cr.ID, RecordID: cr.RecordID,
		RequestedBy: cr.RequestedBy, Recipients: cr.Recipients, ApprovedBy: rc.agency,
		ApprovedByOfficer: officerID(rc), ApprovedAt: now.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	jws, err := s.records.signer.Sign(receipt)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(jws)
	ref := record.ConsentRef{ID: cr.ID, RequestedBy: cr.RequestedBy, Recipients: cr.Recipients, ApprovedBy: rc.agency,
		ApprovedAt: now.Format(time.RFC3339), ReceiptDigest: "sha256:" + hex.EncodeToString(sum[:])}
	// The originator's own decision still passes the policy: recipients must
	// be parties of the record's DSAs, the DSAs in force.
	in := s.input(rc, "record.share", &st.Meta)
	in.Share = &policy.Share{Recipients: cr.Recipients}
	in.Consent = &policy.Consent{ID: cr.ID, RequestedBy: cr.RequestedBy, ApprovedBy: rc.agency, Recipients: cr.Recipients}
	d, err := s.decideInput(r.Context(), rc, in)
	if err != nil {
		return err
	}
	if !d.Allow {
		return denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
	}
	meta, err := s.executeShare(r.Context(), rc, st, cr.Recipients, &ref)
	if err != nil {
		return err
	}
	cr.State, cr.DecidedBy, cr.DecidedByOfficer, cr.DecidedAt, cr.Receipt = consentApproved, rc.agency, officerID(rc), ref.ApprovedAt, string(jws)
	if err := s.storeConsent(r.Context(), cr, false); err != nil {
		// The share is committed and the record carries the receipt's
		// digest; only the request's own state is stale. Say so in the log.
		s.log.Error("consent approved and executed but its state was not stored", fieldRecord(cr.RecordID), fieldErr(err))
	}
	writeJSON(w, http.StatusOK, ConsentDecided{ConsentID: cr.ID, State: cr.State, RecordID: cr.RecordID,
		Version: meta.Version, Recipients: meta.Recipients, Receipt: cr.Receipt})
	return nil
}

// POST /v1/consents/{id}/refuse
func (s *Server) refuseConsent(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	cr, err := s.consentForOriginator(r, rc)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	ev := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusOK, Error: "consent refused: " + cr.ID}
	if err := s.writeAudit(r.Context(), rc, ev); err != nil {
		return backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	cr.State, cr.DecidedBy, cr.DecidedByOfficer, cr.DecidedAt = consentRefused, rc.agency, officerID(rc), now.Format(time.RFC3339)
	if err := s.storeConsent(r.Context(), cr, false); err != nil {
		s.correct(r.Context(), rc, ev, err)
		return backendProblem(err)
	}
	writeJSON(w, http.StatusOK, ConsentDecided{ConsentID: cr.ID, State: cr.State, RecordID: cr.RecordID})
	return nil
}

// GET /v1/consents?state=pending|all — requests the caller originated or must decide.
func (s *Server) listConsents(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	q, err := strictQuery(r, "state")
	if err != nil {
		return err
	}
	want := q.Get("state")
	switch want {
	case "":
		want = consentPending
	case consentPending, consentApproved, consentRefused, consentExpired, "all":
	default:
		return errBadRequest("state must be pending, approved, refused, expired or all")
	}
	keys, err := s.records.store.List(r.Context(), consentIndexPrefix(rc.agency), "", 1000)
	if err != nil {
		return backendProblem(err)
	}
	items := []ConsentItem{}
	for _, k := range keys {
		id := strings.TrimPrefix(k, consentIndexPrefix(rc.agency))
		if !record.ValidConsentID(id) {
			continue
		}
		cr, err := s.loadConsent(r.Context(), id)
		if err != nil {
			if p := asProblem(err); p.Status == http.StatusNotFound {
				continue
			}
			return err
		}
		if want != "all" && cr.State != want {
			continue
		}
		items = append(items, cr.item(rc.agency))
		rc.recordIDs = append(rc.recordIDs, cr.RecordID)
	}
	if err := s.writeAudit(r.Context(), rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK}); err != nil {
		return backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	writeJSON(w, http.StatusOK, ConsentList{Items: items})
	return nil
}
