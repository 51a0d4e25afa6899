package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/policy"
)

// Onward sharing. A caller who may see a record asks to share it with more
// agencies. The policy answers allow (the recipients are added at once, as a
// new version of the record), deny, or "originator consent required" (its
// only reason is originator_consent_required): then a consent request waits
// for the originator, who approves or refuses it. An approval is a signed
// receipt, kept in the request and, by digest, in the record's metadata.

func errConsentNotFound() *Problem {
	return problem(http.StatusNotFound, "not-found", "Not found", "no such consent request, or it does not concern you")
}

// parseShare reads the body of POST /v1/records/{id}/shares.
func parseShare(body []byte) (*api.ShareRequest, error) {
	var req api.ShareRequest
	if err := decodeJSON(body, &req, `body must be {"recipients": ["agency-id", ...], "note": "optional"}`); err != nil {
		return nil, err
	}
	if len(req.Recipients) == 0 || len(req.Recipients) > 16 {
		return nil, errBadRequest("recipients must list 1 to 16 agency ids")
	}
	seen := map[string]bool{}
	for _, a := range req.Recipients {
		if !identity.ValidID(a) {
			return nil, errBadRequest(fmt.Sprintf("recipient %q is not an agency id", a))
		}
		if seen[a] {
			return nil, errBadRequest(fmt.Sprintf("recipient %q is listed twice", a))
		}
		seen[a] = true
	}
	if len(req.Note) > 1024 || !record.Printable(req.Note) {
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
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := parseShare(body)
	if err != nil {
		return err
	}
	out, err := s.shareRecord(r.Context(), rc, id, req)
	if err != nil {
		return err
	}
	if out.consent != nil {
		w.Header().Set("Location", "/v1/consents/"+out.consent.ConsentID)
		writeJSON(w, http.StatusAccepted, out.consent)
		return nil
	}
	writeJSON(w, http.StatusOK, out.shared)
	return nil
}

// shareOutcome is what a share came to: done at once (shared), or waiting
// for the originator's consent (consent).
type shareOutcome struct {
	shared  *api.Shared
	consent *api.ConsentFiled
}

// shareRecord is the share path, whoever asks: POST /v1/records/{id}/shares
// and a holder's answer to a request for information (requests.go) both
// come through here, so that the policy, consent and audit apply alike.
//
// A share that loses a compare-and-swap to a concurrent change (another
// replica's share or recall) is decided again on the record as it now
// stands (retryConflicts).
func (s *Server) shareRecord(ctx context.Context, rc *reqCtx, id string, req *api.ShareRequest) (*shareOutcome, error) {
	var out *shareOutcome
	err := s.retryConflicts(ctx, rc, func() error {
		var err error
		out, err = s.shareRecordOnce(ctx, rc, id, req)
		return err
	})
	return out, err
}

func (s *Server) shareRecordOnce(ctx context.Context, rc *reqCtx, id string, req *api.ShareRequest) (*shareOutcome, error) {
	defer s.records.Lock(id)()
	st, err := s.loadRecord(ctx, rc, id)
	if err != nil {
		return nil, err
	}
	in := s.input(rc, policy.ActionShare, &st.Meta)
	in.Share = &policy.Share{Recipients: req.Recipients}
	d, err := s.decideInput(ctx, rc, in)
	if err != nil {
		return nil, err
	}
	if !d.Visible {
		return nil, errNotFound()
	}
	if st.State != recordstore.StateActive {
		return nil, problem(http.StatusGone, "recalled", "Recalled", "the originator recalled this record")
	}
	switch {
	case d.Allow:
		meta, err := s.executeShare(ctx, rc, st, req.Recipients, nil)
		if err != nil {
			return nil, err
		}
		return &shareOutcome{shared: &api.Shared{ID: id, Version: meta.Version, State: "shared",
			Recipients: meta.Recipients, DecisionID: d.ID}}, nil
	case onlyConsentMissing(d):
		f, err := s.requestConsent(ctx, rc, st, req, d)
		if err != nil {
			return nil, err
		}
		return &shareOutcome{consent: f}, nil
	default:
		return nil, denied(d)
	}
}

// executeShare adds recipients as a new version of the record: content
// re-sealed (its AAD binds the new metadata), index entries for the new
// recipients, the audit entry durable before the commit.
func (s *Server) executeShare(ctx context.Context, rc *reqCtx, st *recordstore.Record, recipients []string, consent *record.ConsentRef) (*record.Meta, error) {
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
	byPeer := s.remote(added)
	var provenance []string
	if len(byPeer) > 0 {
		provenance = s.fed.Provenance(st)
		if err := s.decideDeliveries(ctx, rc, &meta, byPeer, provenance); err != nil {
			return nil, err
		}
	}
	p, err := s.records.Reseal(ctx, st, meta)
	if err != nil {
		return nil, backendProblem(err)
	}
	ev := &audit.Event{Operation: audit.OpDisclosure, Status: http.StatusOK, Recipients: added}
	if err := s.commitVersion(ctx, rc, ev, p, byPeer, provenance); err != nil {
		return nil, err
	}
	return &p.Record.Meta, nil
}

// commitVersion stores a new version of a record (a share, a review's
// retain), in order: the audit entry ev (durable), the index entry (only a
// candidate until the record says so), then the new version, which is the
// commit point and drops the older versions, and the deliveries of the new
// version to peer gateways in byPeer. A step that fails after the audit
// entry is corrected in the log.
func (s *Server) commitVersion(ctx context.Context, rc *reqCtx, ev *audit.Event, p *recordstore.Pending,
	byPeer map[string][]string, provenance []string) error {
	return s.auditThen(ctx, rc, ev, func() error {
		if err := s.records.Index().Put(ctx, &p.Record); err != nil {
			return err
		}
		if err := s.records.ReplaceWith(ctx, p); err != nil {
			if isConflict(err) {
				s.reindexCurrent(ctx, p.Record.Meta.RecordID)
			}
			return err
		}
		if len(byPeer) > 0 {
			return s.fed.Share(ctx, &p.Record.Meta, rc.agency, officerID(rc), byPeer, provenance)
		}
		return nil
	})
}

// requestConsent files (or finds pending) the consent request for a share
// the policy allows only with the originator's consent; the caller answers
// 202 with it and its Location.
func (s *Server) requestConsent(ctx context.Context, rc *reqCtx, st *recordstore.Record, req *api.ShareRequest, d *policy.Decision) (*api.ConsentFiled, error) {
	reqKey := recordstore.ConsentRequestKey(st.Meta.RecordID, rc.agency, req.Recipients)
	// A few rounds at most: each lost race means another filing claimed the
	// slot, and the next round finds its request (pending, or in flight).
	for range 3 {
		now := s.now().UTC()
		h, err := s.consentHistory(ctx, reqKey, now)
		if err != nil {
			return nil, err
		}
		if cr := h.pending; cr != nil {
			// The same request is already waiting: answer with it, file
			// nothing (a request to another gateway is sent again: its
			// first sending may not have been queued, and the originator's
			// gateway files it once).
			if cr.RemoteGateway != "" {
				if err := s.fed.RequestConsent(ctx, cr, st); err != nil {
					return nil, backendProblem(err)
				}
			}
			ev := &audit.Event{Operation: audit.OpConsultation, Status: http.StatusAccepted, Recipients: req.Recipients,
				Error: "consent request already pending: " + cr.ID}
			if err := s.recordOutcome(ctx, rc, ev); err != nil {
				return nil, err
			}
			f := consentFiled(cr, d.ID, true)
			return &f, nil
		}
		cr := &recordstore.Consent{Format: recordstore.ConsentFormat, ID: record.NewConsentID(now), RecordID: st.Meta.RecordID,
			Originator: st.Meta.Originator.OrgID, RequestedBy: rc.agency, RequestedByOfficer: officerID(rc),
			Recipients: req.Recipients, Purpose: rc.purpose, Justification: rc.justification, Note: req.Note,
			Created: now.Format(time.RFC3339), Expires: now.Add(s.cfg.Consents.TTL).Format(time.RFC3339), State: recordstore.ConsentPending,
			Reasons: d.PublicReasons(), PreviousRefusals: h.refusals}
		// A copy received from another gateway: the originator decides at
		// its own gateway, where the request is sent.
		if st.Origin != nil && s.fed != nil {
			cr.RemoteGateway = s.fed.OriginGateway(st)
		}
		if err := s.claimConsentSlot(ctx, reqKey, h.nextGen, cr.ID, now); errors.Is(err, objstore.ErrExists) {
			continue
		} else if err != nil {
			return nil, backendProblem(err)
		}
		msg := "consent requested: " + cr.ID
		if n := len(cr.PreviousRefusals); n > 0 {
			msg += fmt.Sprintf(" (repeat: refused %d time(s) before, last %s)", n, cr.PreviousRefusals[n-1].ConsentID)
		}
		ev := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusAccepted, Recipients: req.Recipients, Error: msg}
		stored := false
		err = s.auditThen(ctx, rc, ev, func() error {
			err := s.records.PutConsent(ctx, cr, true)
			stored = err == nil
			if err == nil && cr.RemoteGateway != "" {
				err = s.fed.RequestConsent(ctx, cr, st)
			}
			return err
		})
		if !stored {
			s.releaseConsentSlot(ctx, reqKey, h.nextGen)
		}
		if err != nil {
			return nil, err
		}
		f := consentFiled(cr, d.ID, false)
		return &f, nil
	}
	p := problem(http.StatusConflict, "consent-filing-in-progress", "Consent request being filed",
		"the same consent request is being filed concurrently; retry shortly")
	p.retryAfter = 2
	return nil, p
}

func (s *Server) loadConsent(ctx context.Context, id string) (*recordstore.Consent, error) {
	cr, err := s.records.LoadConsent(ctx, id)
	if errors.Is(err, recordstore.ErrNotFound) {
		return nil, errConsentNotFound()
	}
	if err != nil {
		return nil, backendProblem(err)
	}
	if cr.State == recordstore.ConsentPending && s.now().UTC().Format(time.RFC3339) > cr.Expires {
		cr.State = recordstore.ConsentExpired // lazily: expiry needs no background job
	}
	return cr, nil
}

// consentForOriginator loads a consent request the caller must decide.
func (s *Server) consentForOriginator(r *http.Request, rc *reqCtx) (*recordstore.Consent, error) {
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
	case recordstore.ConsentPending:
		return cr, nil
	case recordstore.ConsentExpired:
		return nil, problem(http.StatusGone, "consent-expired", "Consent request expired", "the request expired on "+cr.Expires+"; the requester may ask again")
	default:
		return nil, problem(http.StatusConflict, "consent-decided", "Already decided", "this request was already "+cr.State)
	}
}

// POST /v1/consents/{id}/approve
func (s *Server) approveConsent(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return s.retryConflicts(r.Context(), rc, func() error { return s.approveConsentOnce(w, r, rc) })
}

func (s *Server) approveConsentOnce(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	cr, err := s.consentForOriginator(r, rc)
	if err != nil {
		return err
	}
	defer s.records.Lock(cr.RecordID)()
	st, err := s.loadRecord(r.Context(), rc, cr.RecordID)
	if err != nil {
		return err
	}
	if st.State != recordstore.StateActive {
		return problem(http.StatusGone, "recalled", "Recalled", "the record was recalled")
	}
	now := s.now().UTC()
	receipt, err := json.Marshal(recordstore.ConsentReceipt{Type: recordstore.ConsentReceiptType, ConsentID: cr.ID, RecordID: cr.RecordID,
		RequestedBy: cr.RequestedBy, Recipients: cr.Recipients, ApprovedBy: rc.agency,
		ApprovedByOfficer: officerID(rc), ApprovedAt: now.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	jws, err := s.signer.Sign(receipt)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(jws)
	ref := record.ConsentRef{ID: cr.ID, RequestedBy: cr.RequestedBy, Recipients: cr.Recipients, ApprovedBy: rc.agency,
		ApprovedAt: now.Format(time.RFC3339), ReceiptDigest: "sha256:" + hex.EncodeToString(sum[:])}
	// The originator's own decision still passes the policy: recipients must
	// be parties of the record's DSAs, the DSAs in force.
	in := s.input(rc, policy.ActionShare, &st.Meta)
	in.Share = &policy.Share{Recipients: cr.Recipients}
	in.Consent = &policy.Consent{ID: cr.ID, RequestedBy: cr.RequestedBy, ApprovedBy: rc.agency, Recipients: cr.Recipients}
	d, err := s.decideInput(r.Context(), rc, in)
	if err != nil {
		return err
	}
	if !d.Allow {
		return denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
	}
	if cr.RemoteGateway != "" {
		// The requester holds its copy at another gateway: the share is
		// made there, and the signed receipt travels back to it.
		cr.State, cr.DecidedBy, cr.DecidedByOfficer, cr.DecidedAt, cr.Receipt = recordstore.ConsentApproved, rc.agency, officerID(rc), ref.ApprovedAt, string(jws)
		if err := s.decideRemoteConsent(r.Context(), rc, cr); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, api.ConsentDecided{ConsentID: cr.ID, State: cr.State, RecordID: cr.RecordID,
			Version: st.Meta.Version, Recipients: cr.Recipients, Receipt: cr.Receipt})
		return nil
	}
	meta, err := s.executeShare(r.Context(), rc, st, cr.Recipients, &ref)
	if err != nil {
		return err
	}
	cr.State, cr.DecidedBy, cr.DecidedByOfficer, cr.DecidedAt, cr.Receipt = recordstore.ConsentApproved, rc.agency, officerID(rc), ref.ApprovedAt, string(jws)
	if err := s.records.PutConsent(r.Context(), cr, false); err != nil {
		// The share is committed and the record carries the receipt's
		// digest; only the request's own state is stale. Say so in the log.
		s.log.Error("consent approved and executed but its state was not stored", fieldRecord(cr.RecordID), fieldErr(err))
	}
	writeJSON(w, http.StatusOK, api.ConsentDecided{ConsentID: cr.ID, State: cr.State, RecordID: cr.RecordID,
		Version: meta.Version, Recipients: meta.Recipients, Receipt: cr.Receipt})
	return nil
}

// POST /v1/consents/{id}/refuse
func (s *Server) refuseConsent(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	// A decision made meanwhile on another replica makes the write lose;
	// the next attempt finds the request decided (409 consent-decided).
	return s.retryConflicts(r.Context(), rc, func() error { return s.refuseConsentOnce(w, r, rc) })
}

func (s *Server) refuseConsentOnce(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	cr, err := s.consentForOriginator(r, rc)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	cr.State, cr.DecidedBy, cr.DecidedByOfficer, cr.DecidedAt = recordstore.ConsentRefused, rc.agency, officerID(rc), now.Format(time.RFC3339)
	if cr.RemoteGateway != "" {
		if err := s.decideRemoteConsent(r.Context(), rc, cr); err != nil {
			return err
		}
	} else {
		ev := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusOK, Error: "consent refused: " + cr.ID}
		err = s.auditThen(r.Context(), rc, ev, func() error { return s.records.PutConsent(r.Context(), cr, false) })
		if err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, api.ConsentDecided{ConsentID: cr.ID, State: cr.State, RecordID: cr.RecordID})
	return nil
}

// consentListParams are the parameters GET /v1/consents takes.
var consentListParams = []string{"state"}

// GET /v1/consents?state=pending|all — requests the caller originated or must decide.
func (s *Server) listConsents(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	q, err := strictQuery(r, consentListParams...)
	if err != nil {
		return err
	}
	want := q.Get("state")
	switch want {
	case "":
		want = recordstore.ConsentPending
	case recordstore.ConsentPending, recordstore.ConsentApproved, recordstore.ConsentRefused, recordstore.ConsentExpired, "all":
	default:
		return errBadRequest("state must be pending, approved, refused, expired or all")
	}
	ids, err := s.records.ConsentIDs(r.Context(), rc.agency)
	if err != nil {
		return backendProblem(err)
	}
	items := []api.ConsentItem{}
	for _, id := range ids {
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
		items = append(items, consentItem(cr, rc.agency))
		rc.recordIDs = append(rc.recordIDs, cr.RecordID)
	}
	if err := s.recordOutcome(r.Context(), rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ConsentList{Items: items})
	return nil
}

// reindexCurrent puts the record's index entry back to the stored version
// after a commit lost to a concurrent change: the losing attempt had
// already written its candidate entry (of the same version number as the
// winner's), which would otherwise stand until the next change. Best
// effort: entries are candidates, and a rebuild repairs any.
func (s *Server) reindexCurrent(ctx context.Context, id string) {
	cur, err := s.records.Load(ctx, id)
	if err == nil {
		err = s.records.Index().Put(ctx, cur)
	}
	if err != nil {
		s.log.Warn("index entry not repaired after a lost concurrent update; a rebuild will", fieldRecord(id), fieldErr(err))
	}
}
