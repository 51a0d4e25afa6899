package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/gateway/search"
	"github.com/liaison-project/liaison/policy"
)

// Requests for information (docs/requests.md). After a search hit the
// searcher files a request with the agency that holds the record; the
// holder shares the record (through the normal share path, so the policy,
// consent and audit apply), refuses with a reason, or asks for more detail.
// The answer deadline comes from the policy (request.file's
// obligations.deadline_hours), never from code.
//
// The deadline clock: due = filing time + deadline. A request is overdue
// while it is open and now > due, computed whenever it is read (no
// background job, like consent expiry), so every answer about it says so
// to both parties. need_detail stops the clock: while the requester owes
// the detail the request cannot become overdue, and when the detail comes
// the clock restarts with the time that remained (due moves on by as long
// as the clock stood).
//
// The requester never learns a record id from a hit reference: answers to
// the requester carry the reference instead, and the requester's own audit
// entries about such a request name the holder and the DSA, not the record.

// Request-text bounds: a detail, refusal reason or question is free text
// shown to the other agency and kept in the request's history.
const maxRequestText = 4096

// Request-for-information vocabulary (api.RequestFile).
const (
	urgencyUrgent = "urgent"
	urgencyNormal = "normal"
	accessDirect  = "direct"
	accessInDir   = "indirect"
	kindInfo      = "information"
	kindPrum      = "prum_core_data"
)

func errRequestNotFound() *Problem {
	return problem(http.StatusNotFound, "not-found", "Not found", "no such request for information, or it does not concern you")
}

// badField is a 400 naming the invalid member of the body by JSON pointer.
func badField(pointer, detail string) *Problem {
	p := problem(http.StatusBadRequest, "invalid-request", "Invalid request", pointer[1:]+": "+detail)
	p.Errors = []record.FieldError{{Pointer: pointer, Detail: detail}}
	return p
}

// requestText checks a free-text member: printable (record.Printable: no
// controls or format characters that could disguise a log line), bounded.
func requestText(pointer, s string, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return badField(pointer, "is required")
	case len(s) > maxRequestText || !record.Printable(s):
		return badField(pointer, fmt.Sprintf("must be printable text of at most %d bytes", maxRequestText))
	}
	return nil
}

// parseRequestFile reads and checks the body of POST /v1/requests. The
// purpose, justification and case follow the rules of the request-context
// headers (readContextHeaders), but here all three are required.
func parseRequestFile(body []byte) (*api.RequestFile, error) {
	var req api.RequestFile
	if err := decodeJSON(body, &req, `body must be {"reference" or "record_id", "purpose", "justification", "case", "urgency", "access", "kind", "detail"}`); err != nil {
		return nil, err
	}
	req.Purpose, req.Justification, req.Case = strings.TrimSpace(req.Purpose), strings.TrimSpace(req.Justification), strings.TrimSpace(req.Case)
	switch {
	case req.Reference == "" && req.RecordID == "":
		return nil, badField("/reference", "name the record: a search hit reference, or record_id")
	case req.Reference != "" && req.RecordID != "":
		return nil, badField("/reference", "give reference or record_id, not both")
	case req.RecordID != "" && !record.ValidID(req.RecordID):
		return nil, badField("/record_id", "is not a record id")
	case req.Reference != "" && !wellFormedRef(req.Reference):
		return nil, badField("/reference", "is not a search hit reference")
	case !isToken(req.Purpose, 64, "_"):
		return nil, badField("/purpose", "must be a purpose code such as investigation or prevention")
	case req.Justification == "":
		return nil, badField("/justification", "is required")
	case len(req.Justification) > record.MaxJustification || !record.Printable(req.Justification):
		return nil, badField("/justification", fmt.Sprintf("must be printable text of at most %d bytes", record.MaxJustification))
	case !isToken(strings.ToLower(req.Case), 128, "-_./"):
		return nil, badField("/case", "must be a case reference of letters, digits and -_./")
	case req.Urgency != urgencyUrgent && req.Urgency != urgencyNormal:
		return nil, badField("/urgency", "must be urgent or normal")
	case req.Access != accessDirect && req.Access != accessInDir:
		return nil, badField("/access", "must be direct or indirect (is the information directly accessible to the holder?)")
	}
	if req.Kind == "" {
		req.Kind = kindInfo
	}
	if req.Kind != kindInfo && req.Kind != kindPrum {
		return nil, badField("/kind", "must be information or prum_core_data")
	}
	if err := requestText("/detail", req.Detail, false); err != nil {
		return nil, err
	}
	return &req, nil
}

// wellFormedRef: the shape of a hit reference (search.RefPrefix and
// unpadded base64url, bounded), checked before any key is used, so that
// garbage is a 400 naming the field and only a well-formed reference that
// does not open is a 404.
func wellFormedRef(s string) bool {
	raw, ok := strings.CutPrefix(s, search.RefPrefix)
	if !ok || raw == "" || len(raw) > 1024 {
		return false
	}
	for _, c := range raw {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// SealHitRef issues a search hit reference under this gateway's key. The
// search endpoint issues references; tests use this to file requests for
// information without running a search.
func (s *Server) SealHitRef(r search.Ref) (string, error) { return search.SealRef(s.hitRefKey(), r) }

// agreeContext makes the body's purpose, justification and case the
// request's context (audit entries and the policy read it from there). A
// header that says something else is a 400: one request, one purpose.
func agreeContext(rc *reqCtx, req *api.RequestFile) error {
	for _, h := range []struct{ name, header, body string }{
		{headerPurpose, rc.purpose, req.Purpose},
		{headerJustification, rc.justification, req.Justification},
		{headerCase, rc.caseRef, req.Case},
	} {
		if h.header != "" && h.header != h.body {
			return errBadRequest(h.name + " differs from the body; send it once, in the body")
		}
	}
	rc.purpose, rc.justification, rc.caseRef = req.Purpose, req.Justification, req.Case
	return nil
}

// POST /v1/requests
func (s *Server) fileRequest(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if handled, err := s.withIdempotency(w, r, rc, s.fileRequest); handled {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := parseRequestFile(body)
	if err != nil {
		return err
	}
	if err := agreeContext(rc, req); err != nil {
		return err
	}
	ctx := r.Context()
	now := s.now().UTC()
	var (
		recordID, holder string
		dsaIDs           []string
		meta             *record.Meta
	)
	if req.Reference != "" {
		// Forged, altered, expired or issued to another agency: all the same
		// 404, so that the answer is no oracle for which one it was.
		ref, err := search.OpenRef(s.hitRefKey(), rc.agency, req.Reference, now)
		if err != nil {
			return problem(http.StatusNotFound, "not-found", "Not found", "no such hit reference for your agency (or it expired)")
		}
		st, err := s.records.Load(ctx, ref.RecordID)
		if errors.Is(err, recordstore.ErrNotFound) {
			return problem(http.StatusNotFound, "not-found", "Not found", "the record this reference named is no longer held")
		}
		if err != nil {
			return backendProblem(err)
		}
		if st.State != recordstore.StateActive || st.Meta.Originator.OrgID != ref.Holder {
			return problem(http.StatusNotFound, "not-found", "Not found", "the record this reference named is no longer held")
		}
		recordID, holder, dsaIDs = ref.RecordID, ref.Holder, []string{ref.DSA}
		// The requester's entries name the holder and the DSA, never the record.
		rc.originator, rc.controller, rc.dsaIDs = holder, holder, dsaIDs
	} else {
		st, err := s.loadRecord(ctx, rc, req.RecordID)
		if err != nil {
			return err
		}
		recordID, holder, dsaIDs, meta = st.Meta.RecordID, st.Meta.Originator.OrgID, st.Meta.DSAIDs, &st.Meta
		if st.State != recordstore.StateActive {
			// Only a caller the policy lets see the record learns it was recalled.
			in := s.input(rc, policy.ActionList, meta)
			if d, err := s.decideInput(ctx, rc, in); err != nil || !d.Visible {
				return errNotFound()
			}
			return problem(http.StatusGone, "recalled", "Recalled", "the originator recalled this record")
		}
	}
	in := s.input(rc, policy.ActionFileRequest, meta)
	in.InfoRequest = &policy.InfoRequest{Holder: holder, DSAIDs: dsaIDs, Urgency: req.Urgency, Access: req.Access, Kind: req.Kind}
	d, err := s.decideInput(ctx, rc, in)
	if err != nil {
		return err
	}
	if !d.Visible {
		return errNotFound()
	}
	if !d.Allow {
		return denied(d)
	}
	if d.Obligations.DeadlineHours <= 0 || d.DSAID == "" {
		// Fail closed: an allow without a deadline or an agreement is a
		// broken policy, never a request with no clock.
		return problem(http.StatusInternalServerError, "policy-error", "Policy evaluation failed",
			"the policy allowed the request without a deadline or an agreement; nothing was filed").withCause(errors.New("request.file allowed without deadline_hours or dsa_id"))
	}
	rq := &recordstore.InfoRequest{Format: recordstore.RequestFormat, ID: record.NewRequestID(now), RecordID: recordID,
		Reference: req.Reference, Requester: rc.agency, RequesterOfficer: officerID(rc), Holder: holder, DSA: d.DSAID,
		Purpose: req.Purpose, Justification: req.Justification, Case: req.Case, Urgency: req.Urgency, Access: req.Access,
		Kind: req.Kind, Detail: req.Detail, DeadlineHours: d.Obligations.DeadlineHours, DecisionID: d.ID,
		Created: now.Format(time.RFC3339), Due: now.Add(time.Duration(d.Obligations.DeadlineHours) * time.Hour).Format(time.RFC3339),
		State: recordstore.RequestOpen}
	rq.Record(now, "filed", rc.agency, officerID(rc), "")
	rc.infoRequestID, rc.dsaIDs = rq.ID, []string{rq.DSA}
	ev := &audit.Event{Operation: audit.OpConsultation, Status: http.StatusCreated,
		Error: fmt.Sprintf("request for information filed: %s with %s under %s, %s/%s/%s, due %s (%d h)", rq.ID, rq.Holder, rq.DSA, rq.Kind, rq.Urgency, rq.Access, rq.Due, rq.DeadlineHours)}
	if err := s.auditThen(ctx, rc, ev, func() error { return s.records.PutRequest(ctx, rq, true) }); err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/requests/"+rq.ID)
	writeJSON(w, http.StatusCreated, s.requestView(rq, rc.agency, now, d.ID))
	return nil
}

// requestView is the request as viewer (requester or holder) sees it.
func (s *Server) requestView(rq *recordstore.InfoRequest, viewer string, now time.Time, decisionID string) api.InfoRequest {
	v := api.InfoRequest{ID: rq.ID, State: rq.State, Role: "requester", Requester: rq.Requester, Holder: rq.Holder, DSA: rq.DSA,
		Purpose: rq.Purpose, Justification: rq.Justification, Case: rq.Case, Urgency: rq.Urgency, Access: rq.Access, Kind: rq.Kind,
		Detail: rq.Detail, DeadlineHours: rq.DeadlineHours, Created: rq.Created, Due: rq.Due, Overdue: rq.Overdue(now),
		ConsentID: rq.ConsentID, DecisionID: decisionID, History: slices.Clone(rq.History)}
	if v.History == nil {
		v.History = []api.RequestEvent{}
	}
	if viewer == rq.Holder {
		v.Role = "holder"
	}
	// A requester who filed with a reference learns the record id only
	// once the holder shared the record with it (it is then a recipient
	// and could list it anyway); a share waiting for consent does not.
	shared := rq.State == recordstore.RequestAnswered && rq.ConsentID == ""
	if v.Role == "holder" || rq.Reference == "" || shared {
		v.RecordID, v.Version = rq.RecordID, rq.Version
	}
	if v.Role == "requester" && rq.Reference != "" {
		v.Reference = rq.Reference
	}
	switch rq.State {
	case recordstore.RequestOpen:
		v.Clock = "running"
	case recordstore.RequestNeedsDetail:
		v.Clock = "stopped"
	default:
		v.Clock = "done"
	}
	return v
}

// loadRequest loads request id for a caller who must be one of its parties
// (anyone else: 404), sets what the request's audit entries record, and
// notes a request seen overdue for the first time.
func (s *Server) loadRequest(ctx context.Context, rc *reqCtx, id string) (*recordstore.InfoRequest, error) {
	if !record.ValidRequestID(id) {
		return nil, errRequestNotFound()
	}
	rq, err := s.records.LoadRequest(ctx, id)
	if errors.Is(err, recordstore.ErrNotFound) {
		return nil, errRequestNotFound()
	}
	if err != nil {
		return nil, backendProblem(err)
	}
	if rc.agency != rq.Requester && rc.agency != rq.Holder {
		return nil, errRequestNotFound()
	}
	s.noteRequest(rc, rq)
	s.noteOverdue(ctx, rq, s.now())
	return rq, nil
}

// noteRequest sets the audit fields of a request about rq: the holder as
// originator and controller, the DSA, and the record id unless the caller
// is a requester that filed with a hit reference.
func (s *Server) noteRequest(rc *reqCtx, rq *recordstore.InfoRequest) {
	rc.infoRequestID = rq.ID
	rc.originator, rc.controller, rc.dsaIDs = rq.Holder, rq.Holder, []string{rq.DSA}
	if rc.agency == rq.Holder || rq.Reference == "" {
		rc.recordIDs = []string{rq.RecordID}
	}
}

// noteOverdue counts rq in liaison_requests_became_overdue_total the first
// time any reader (an API call or a metrics scrape, on any replica sharing
// the store) finds it overdue. Best effort: a failure is logged and the
// next reader tries again.
func (s *Server) noteOverdue(ctx context.Context, rq *recordstore.InfoRequest, now time.Time) {
	if !rq.Overdue(now) {
		return
	}
	first, err := s.records.MarkOverdue(ctx, rq.ID, now)
	if err != nil {
		s.log.Warn("overdue request not marked", zap.String("info_request_id", rq.ID), fieldErr(err))
		return
	}
	if first {
		s.metrics.requestsBecameOverdue.Inc()
	}
}

// GET /v1/requests/{id}
func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	rq, err := s.loadRequest(r.Context(), rc, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.recordOutcome(r.Context(), rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.requestView(rq, rc.agency, s.now().UTC(), ""))
	return nil
}

// requestListParams are the parameters GET /v1/requests takes.
var requestListParams = []string{"role", "state", "overdue", "limit", "cursor"}

// GET /v1/requests?role=&state=&overdue=&limit=&cursor=
func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	q, err := strictQuery(r, requestListParams...)
	if err != nil {
		return err
	}
	role := q.Get("role")
	if role != "" && role != "holder" && role != "requester" {
		return errBadRequest("role must be holder or requester")
	}
	state := q.Get("state")
	switch state {
	case "", recordstore.RequestOpen, recordstore.RequestNeedsDetail, recordstore.RequestAnswered, recordstore.RequestRefused, recordstore.RequestWithdrawn:
	default:
		return errBadRequest("state must be open, needs_detail, answered, refused or withdrawn")
	}
	overdue := q.Get("overdue")
	if overdue != "" && overdue != "true" && overdue != "false" {
		return errBadRequest("overdue must be true or false")
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.cfg.Limits.MaxListLimit {
			return errBadRequest(fmt.Sprintf("limit must be 1..%d", s.cfg.Limits.MaxListLimit))
		}
		limit = n
	}
	// The cursor is the last request id the previous page considered: the
	// caller's own index is listed in id order, and an id it names only
	// moves the start within that index, so it needs no authentication.
	cursor := q.Get("cursor")
	if cursor != "" && !record.ValidRequestID(cursor) {
		return errBadRequest("cursor is not one this gateway issued")
	}
	ctx := r.Context()
	now := s.now().UTC()
	items := []api.InfoRequest{}
	after, exhausted := cursor, false
	// At most a few pages of the index per call, so that a filter that
	// matches little has a bounded cost; the cursor resumes.
scan:
	for page := 0; page < 5 && len(items) < limit; page++ {
		ids, err := s.records.RequestIDs(ctx, rc.agency, after, limit)
		if err != nil {
			return backendProblem(err)
		}
		for i, id := range ids {
			after = id
			rq, err := s.records.LoadRequest(ctx, id)
			if err != nil {
				if errors.Is(err, recordstore.ErrTampered) {
					s.log.Error("request failed integrity check during listing", zap.String("info_request_id", id), zap.Error(err))
				} else if !errors.Is(err, recordstore.ErrNotFound) {
					return backendProblem(err)
				}
				continue
			}
			v := s.requestView(rq, rc.agency, now, "")
			switch {
			case rq.Requester != rc.agency && rq.Holder != rc.agency:
				continue // an index entry that is not the caller's: never shown
			case role != "" && v.Role != role, state != "" && rq.State != state,
				overdue == "true" && !v.Overdue, overdue == "false" && v.Overdue:
				continue
			}
			s.noteOverdue(ctx, rq, now)
			items = append(items, v)
			if len(items) == limit {
				exhausted = len(ids) < limit && i == len(ids)-1
				break scan
			}
		}
		if len(ids) < limit {
			exhausted = true
			break
		}
	}
	next := after
	if exhausted {
		next = ""
	}
	if err := s.recordOutcome(ctx, rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.InfoRequestList{Items: items, NextCursor: next})
	return nil
}

// transition runs one change of a request's state for its party: the
// request locked, loaded and checked (who may act, in which states), the
// change applied by change, the audit entry durable before the new state
// is stored (auditThen), the answer the request as the caller now sees it.
func (s *Server) transition(w http.ResponseWriter, r *http.Request, rc *reqCtx, party string, states []string,
	change func(rq *recordstore.InfoRequest, now time.Time) (*audit.Event, error)) error {
	id := r.PathValue("id")
	if !record.ValidRequestID(id) {
		return errRequestNotFound()
	}
	defer s.records.Lock(id)()
	ctx := r.Context()
	// A change stored meanwhile by another replica makes the write lose:
	// the next attempt loads the request as it now is and checks again.
	return s.retryConflicts(ctx, rc, func() error { return s.transitionOnce(ctx, w, rc, id, party, states, change) })
}

func (s *Server) transitionOnce(ctx context.Context, w http.ResponseWriter, rc *reqCtx, id, party string, states []string,
	change func(rq *recordstore.InfoRequest, now time.Time) (*audit.Event, error)) error {
	rq, err := s.loadRequest(ctx, rc, id)
	if err != nil {
		return err
	}
	if (party == "holder" && rc.agency != rq.Holder) || (party == "requester" && rc.agency != rq.Requester) {
		return problem(http.StatusForbidden, "not-"+party, "Only the "+party+" may do this",
			"this step of a request for information is the "+party+"'s")
	}
	if !slices.Contains(states, rq.State) {
		return problem(http.StatusConflict, "request-"+strings.ReplaceAll(rq.State, "_", "-"), "Request is "+rq.State,
			"this request is "+rq.State+"; that step is not possible now")
	}
	now := s.now().UTC()
	wasPending := rq.Pending()
	ev, err := change(rq, now)
	if err != nil {
		return err
	}
	ev.Error = fmt.Sprintf("request for information %s: %s", rq.ID, ev.Error)
	if err := s.auditThen(ctx, rc, ev, func() error { return s.records.PutRequest(ctx, rq, false) }); err != nil {
		return err
	}
	if wasPending && !rq.Pending() {
		if err := s.records.ClearPending(ctx, rq.ID); err != nil {
			s.log.Warn("request pending index entry not removed", zap.String("info_request_id", rq.ID), fieldErr(err))
		}
	}
	writeJSON(w, http.StatusOK, s.requestView(rq, rc.agency, now, ""))
	return nil
}

// POST /v1/requests/{id}/answer (the holder): share, refuse or need_detail.
func (s *Server) answerRequest(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var ans api.RequestAnswer
	if err := decodeJSON(body, &ans, `body must be {"action": "share"|"refuse"|"need_detail", "reason": "...", "question": "..."}`); err != nil {
		return err
	}
	switch ans.Action {
	case "share":
		if ans.Reason != "" || ans.Question != "" {
			return badField("/action", "share takes no reason or question")
		}
	case "refuse":
		if err := requestText("/reason", ans.Reason, true); err != nil {
			return err
		}
		if ans.Question != "" {
			return badField("/question", "only need_detail asks a question")
		}
	case "need_detail":
		if err := requestText("/question", ans.Question, true); err != nil {
			return err
		}
		if ans.Reason != "" {
			return badField("/reason", "only refuse gives a reason")
		}
	default:
		return badField("/action", "must be share, refuse or need_detail")
	}
	return s.transition(w, r, rc, "holder", []string{recordstore.RequestOpen}, func(rq *recordstore.InfoRequest, now time.Time) (*audit.Event, error) {
		switch ans.Action {
		case "refuse":
			rq.State = recordstore.RequestRefused
			rq.Record(now, "refused", rc.agency, officerID(rc), ans.Reason)
			return &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK, Error: "refused by the holder"}, nil
		case "need_detail":
			rq.State = recordstore.RequestNeedsDetail
			rq.StopClock(now)
			rq.Record(now, "need_detail", rc.agency, officerID(rc), ans.Question)
			return &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK, Error: "the holder asks for more detail; the clock stops"}, nil
		}
		return s.answerByShare(r.Context(), rc, rq, now)
	})
}

// answerByShare shares the record with the requester through the share
// path of POST /v1/records/{id}/shares (policy, consent, audit), made for
// the request's purpose unless the holder names its own.
func (s *Server) answerByShare(ctx context.Context, rc *reqCtx, rq *recordstore.InfoRequest, now time.Time) (*audit.Event, error) {
	if rc.purpose == "" && rc.justification == "" && rc.caseRef == "" {
		rc.purpose, rc.justification, rc.caseRef = rq.Purpose, rq.Justification, rq.Case
	}
	out, err := s.shareRecord(ctx, rc, rq.RecordID, &api.ShareRequest{Recipients: []string{rq.Requester},
		Note: "answer to request for information " + rq.ID})
	if err != nil {
		return nil, err
	}
	// The share wrote its own entries (the disclosure, or the consent
	// request); the request's entry below records its new state.
	rq.State = recordstore.RequestAnswered
	if out.consent != nil {
		rq.ConsentID = out.consent.ConsentID
		rq.Record(now, "consent_requested", rc.agency, officerID(rc), "the share waits for the originator's consent: "+out.consent.ConsentID)
		return &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK, Recipients: []string{rq.Requester},
			Error: "answered by a share that waits for consent " + out.consent.ConsentID}, nil
	}
	rq.Version = out.shared.Version
	rq.Record(now, "shared", rc.agency, officerID(rc), "")
	return &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK, Recipients: []string{rq.Requester},
		Error: fmt.Sprintf("answered: shared with the requester (version %d)", rq.Version)}, nil
}

// POST /v1/requests/{id}/detail (the requester answers a need_detail).
func (s *Server) detailRequest(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var d api.RequestDetail
	if err := decodeJSON(body, &d, `body must be {"text": "..."}`); err != nil {
		return err
	}
	if err := requestText("/text", d.Text, true); err != nil {
		return err
	}
	return s.transition(w, r, rc, "requester", []string{recordstore.RequestNeedsDetail}, func(rq *recordstore.InfoRequest, now time.Time) (*audit.Event, error) {
		rq.State = recordstore.RequestOpen
		rq.RestartClock(now)
		rq.Record(now, "detail", rc.agency, officerID(rc), d.Text)
		return &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK, Error: "the requester gave the detail asked for; the clock restarts, due " + rq.Due}, nil
	})
}

// POST /v1/requests/{id}/withdraw (the requester).
func (s *Server) withdrawRequest(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return s.transition(w, r, rc, "requester", []string{recordstore.RequestOpen, recordstore.RequestNeedsDetail}, func(rq *recordstore.InfoRequest, now time.Time) (*audit.Event, error) {
		rq.State = recordstore.RequestWithdrawn
		rq.ClockStopped = ""
		rq.Record(now, "withdrawn", rc.agency, officerID(rc), "")
		return &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK, Error: "withdrawn by the requester"}, nil
	})
}

// overdueCollector is the liaison_requests_overdue gauge: the open
// requests past their due time, by holder, computed at each scrape from
// the pending index (no background sweep: the gauge is exact whenever it is
// read, and a replica that crashed leaves no sweep state behind). The
// scrape also notes requests that just became overdue (noteOverdue).
type overdueCollector struct {
	s    *Server
	desc *prometheus.Desc
}

// maxOverdueScan bounds one scrape's work: requests pending at once are
// a queue, not an archive.
const maxOverdueScan = 100000

func newOverdueCollector(s *Server) *overdueCollector {
	return &overdueCollector{s: s, desc: prometheus.NewDesc("liaison_requests_overdue",
		"Open requests for information past their answer deadline, by holding agency (computed at scrape).", []string{"holder"}, nil)}
}

func (c *overdueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *overdueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := c.s
	ids, err := s.records.PendingRequestIDs(ctx, maxOverdueScan)
	if err != nil {
		s.log.Warn("overdue requests not counted", fieldErr(err))
		return
	}
	now := s.now().UTC()
	byHolder := map[string]int{}
	for _, id := range ids {
		rq, err := s.records.LoadRequest(ctx, id)
		if err != nil {
			if errors.Is(err, recordstore.ErrNotFound) {
				_ = s.records.ClearPending(ctx, id)
			}
			continue
		}
		if !rq.Pending() {
			_ = s.records.ClearPending(ctx, id) // left by a failed clean-up
			continue
		}
		if _, ok := byHolder[rq.Holder]; !ok {
			byHolder[rq.Holder] = 0
		}
		if rq.Overdue(now) {
			byHolder[rq.Holder]++
			s.noteOverdue(ctx, rq, now)
		}
	}
	for h, n := range byHolder {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), h)
	}
}
