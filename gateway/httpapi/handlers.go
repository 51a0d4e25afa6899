package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/gateway/selector"
	"github.com/liaison-project/liaison/policy"
	"go.uber.org/zap"
)

// backendProblem maps a failure of the key service, the store, the audit
// log or an integrity check to what the caller sees. All of them fail
// closed: nothing stored, nothing disclosed.
func backendProblem(err error) *Problem {
	switch {
	case errors.Is(err, recordstore.ErrTampered):
		return errIntegrity(err)
	case errors.Is(err, recordstore.ErrShredded):
		return problem(http.StatusGone, "shredded", "Shredded",
			"this record's key has been destroyed (crypto-shredded): its content cannot be recovered").withCause(err)
	case errors.Is(err, keys.ErrUnavailable), errors.Is(err, keys.ErrPermissionDenied), errors.Is(err, keys.ErrNotFound):
		return errUnavailable("the key service", err)
	case errors.Is(err, objstore.ErrConflict):
		return errConflict(err)
	case errors.Is(err, objstore.ErrUnavailable):
		return errUnavailable("the record store", err)
	case errors.Is(err, audit.ErrUnavailable):
		return errUnavailable("the audit log", err)
	case errors.Is(err, index.ErrUnavailable):
		return errUnavailable("the index database", err)
	case errors.Is(err, context.DeadlineExceeded):
		return errUnavailable("a backend", err)
	default:
		return errInternal(err)
	}
}

// readBody reads a JSON request body, after checking that it is declared
// as JSON (415 otherwise): every endpoint that takes a body reads it here.
func readBody(r *http.Request) ([]byte, error) {
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	b, err := readAllSized(r.Body, r.ContentLength)
	if err != nil {
		if isMaxBytes(err) {
			return nil, err
		}
		return nil, errBadRequest("could not read the request body")
	}
	return b, nil
}

// maxBodyHint caps how much a declared Content-Length may make us allocate
// before the body arrives (the body limit itself is enforced by the reader).
const maxBodyHint = 4 << 20

// readAllSized is io.ReadAll starting from the declared length, so that a
// large record is read into one buffer instead of a chain of growing ones.
func readAllSized(r io.Reader, declared int64) ([]byte, error) {
	size := 512
	if declared > 0 {
		size = int(min(declared, maxBodyHint)) + 1 // +1: EOF without regrowing
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				return b, nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// POST /v1/records
func (s *Server) publish(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if handled, err := s.withIdempotency(w, r, rc, s.publish); handled {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := record.ParsePublish(body)
	if err != nil {
		var ve *record.ValidationError
		if errors.As(err, &ve) {
			p := problem(http.StatusBadRequest, "invalid-record", "Invalid record", "the record failed validation; see errors")
			p.Errors = ve.Fields
			return p
		}
		return err
	}
	// Every protected field must apply to this content: a path that would
	// protect nothing is refused, never accepted silently.
	if err := record.CheckProtectedFields(req); err != nil {
		var ve *record.ValidationError
		if errors.As(err, &ve) {
			p := problem(http.StatusBadRequest, "invalid-record", "Invalid record", "a protected field cannot be applied to the content; see errors")
			p.Errors = ve.Fields
			return p
		}
		return err
	}
	// Selectors must normalise (the publisher's jurisdiction reads national
	// phone numbers): an invalid one is a 400 naming it, never indexed as
	// something else. The errors never echo a selector.
	if len(req.Meta.Selectors) > 0 {
		region := ""
		if a, ok := s.policy.Agency(rc.agency); ok {
			region = a.Country
		}
		if _, bad := selector.NormalizeAll(req.Meta.Selectors, region); len(bad) > 0 {
			p := problem(http.StatusBadRequest, "invalid-record", "Invalid record", "a selector is not valid; see errors")
			for _, fe := range bad {
				p.Errors = append(p.Errors, record.FieldError{Pointer: "/meta" + fe.Pointer, Detail: fe.Detail})
			}
			return p
		}
	}
	if err := s.checkRecipientTypes(&req.Meta); err != nil {
		return err
	}
	now := s.now().UTC()
	meta := req.Meta
	if err := checkReviewDue(&meta, now); err != nil {
		return err
	}
	if err := s.importLegacy(r.Context(), &meta); err != nil {
		return err
	}
	meta.RecordID = record.NewID(now)
	attempt := idemFrom(r.Context())
	if attempt != nil && attempt.recordID != "" {
		meta.RecordID = attempt.recordID // the id reserved with the Idempotency-Key
	}
	meta.Version = 1
	meta.Created = now.Format(time.RFC3339)
	meta.Originator = record.Originator{OrgID: rc.agency}
	if rc.officer != nil {
		meta.Originator.OfficerRef = rc.officer.ID
	}
	if meta.Recipients == nil {
		meta.Recipients = []string{}
	}
	rc.recordIDs, rc.recipients = []string{meta.RecordID}, meta.Recipients
	rc.setRecord(&meta)

	d, err := s.decide(r.Context(), rc, policy.ActionPublish, &meta)
	if err != nil {
		return err
	}
	if !d.Allow {
		p := denied(d)
		if p.Status == http.StatusNotFound { // publishing reveals nothing: say why
			p = denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
		}
		return p
	}
	byPeer := s.remote(meta.Recipients)
	if len(byPeer) > 0 {
		if err := s.decideDeliveries(r.Context(), rc, &meta, byPeer, nil); err != nil {
			return err
		}
	}
	if attempt != nil && attempt.resume {
		if adopted, err := s.adoptPublish(w, r, rc, d, meta.RecordID); adopted || err != nil {
			return err
		}
	}
	pending, err := s.records.Seal(r.Context(), meta, req.Content)
	if err != nil {
		return backendProblem(err)
	}
	// One store round trip: the record object (its conditional PUT is the
	// commit point) goes in parallel with the audit entry. Until the index
	// entries exist, which are written only once the audit entry is durable,
	// the record is reachable by nobody: its id is unguessable and given out
	// only in the 201 below. A publish that fails in any step is undone
	// (and corrected in the audit log) before the caller gets its 503.
	ev := &audit.Event{Operation: audit.OpCollection, Status: http.StatusCreated, Review: importAudit(&meta)}
	created := make(chan error, 1)
	go func() { created <- s.records.Create(r.Context(), pending) }()
	auditErr := s.writeAudit(r.Context(), rc, ev)
	var indexErr error
	if auditErr == nil {
		indexErr = s.records.Index().Put(r.Context(), &pending.Record)
	}
	createErr := <-created
	switch {
	case auditErr != nil:
		if createErr == nil {
			s.records.Remove(r.Context(), meta.RecordID)
		}
		return s.recordOutcomeFailed(auditErr)
	case createErr != nil:
		s.correct(r.Context(), rc, ev, createErr)
		return backendProblem(createErr)
	case indexErr != nil:
		s.records.Remove(r.Context(), meta.RecordID)
		s.correct(r.Context(), rc, ev, indexErr)
		return backendProblem(indexErr)
	}
	// Deliveries to peer gateways are queued durably before the 201: once
	// the caller hears of the record, its delivery cannot be lost.
	if len(byPeer) > 0 {
		if err := s.fed.Share(r.Context(), &pending.Record.Meta, rc.agency, officerID(rc), byPeer, nil); err != nil {
			s.records.Remove(r.Context(), meta.RecordID)
			s.correct(r.Context(), rc, ev, err)
			return backendProblem(err)
		}
	}
	w.Header().Set("Location", "/v1/records/"+meta.RecordID)
	writeJSON(w, http.StatusCreated, api.Published{ID: meta.RecordID, Version: meta.Version, Digest: pending.Record.MetaDigest,
		DecisionID: d.ID, PolicyRevision: d.Revision})
	return nil
}

// adoptPublish finishes a publish that an earlier attempt under the same
// Idempotency-Key began and was cut off (the gateway stopped) after its
// record object was stored: the object is the record (same body, same
// reserved id), and this request writes its collection entry and index
// entries and answers 201. Whether or not the first attempt's collection
// entry became durable, the record's collection is then on the audit
// record. If the object is absent, the caller publishes afresh under the
// reserved id.
func (s *Server) adoptPublish(w http.ResponseWriter, r *http.Request, rc *reqCtx, d *policy.Decision, id string) (bool, error) {
	st, err := s.records.Load(r.Context(), id)
	if errors.Is(err, recordstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, backendProblem(err)
	}
	if st.Meta.Originator.OrgID != rc.agency || st.State != recordstore.StateActive {
		return false, errInternal(fmt.Errorf("idempotent publish: reserved id %s holds another record", id))
	}
	rc.recordIDs, rc.recipients, rc.dsaIDs = []string{id}, st.Meta.Recipients, st.Meta.DSAIDs
	ev := &audit.Event{Operation: audit.OpCollection, Status: http.StatusCreated, Review: importAudit(&st.Meta)}
	if err := s.auditThen(r.Context(), rc, ev, func() error { return s.records.Index().Put(r.Context(), st) }); err != nil {
		return false, err
	}
	// The first attempt may have stopped before queuing its deliveries; a
	// second copy of a share is harmless (the receiver keeps one version).
	if byPeer := s.remote(st.Meta.Recipients); len(byPeer) > 0 {
		if err := s.fed.Share(r.Context(), &st.Meta, rc.agency, officerID(rc), byPeer, nil); err != nil {
			return false, backendProblem(err)
		}
	}
	w.Header().Set("Location", "/v1/records/"+id)
	writeJSON(w, http.StatusCreated, api.Published{ID: id, Version: st.Meta.Version, Digest: st.MetaDigest,
		DecisionID: d.ID, PolicyRevision: d.Revision})
	return true, nil
}

// crosswalker is implemented by policy engines that can read a legacy
// 5x5x5 grade through the policy's cross-walk (data, not Go).
type crosswalker interface {
	Crosswalk(ctx context.Context, legacy string) (policy.Crosswalk, error)
}

// importLegacy completes a record graded only in the legacy 5x5x5 scheme:
// source and intelligence (and handling, if the publisher gave none) come
// from the policy's cross-walk; the original grade stays in the metadata.
func (s *Server) importLegacy(ctx context.Context, m *record.Meta) error {
	if m.Grading.Source != "" || m.Grading.Legacy5x5x5 == "" {
		return nil
	}
	cw, ok := s.policy.(crosswalker)
	if !ok {
		return errBadRequest("this gateway's policy has no 5x5x5 cross-walk: give grading.source and grading.intelligence")
	}
	x, err := cw.Crosswalk(ctx, m.Grading.Legacy5x5x5)
	if err != nil {
		p := problem(http.StatusBadRequest, "invalid-record", "Invalid record", "the legacy grade cannot be cross-walked")
		p.Errors = []record.FieldError{{Pointer: "/meta/grading/legacy_5x5x5", Detail: err.Error()}}
		return p
	}
	m.Grading.Source, _ = x.Grading["source"].(string)
	m.Grading.Intelligence, _ = x.Grading["intelligence"].(string)
	if m.Handling.Code == "" {
		b, err := json.Marshal(x.Handling)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &m.Handling); err != nil {
			return errInternal(fmt.Errorf("cross-walk handling: %w", err))
		}
	}
	return nil
}

// loadRecord is the one way a request loads the record it acts on: the
// store verifies it (and counts an integrity failure), and from here on
// every audit entry of the request names the record, its originator, DSAs
// and handling codes. An absent record is 404; a record that fails its
// integrity checks is 500 integrity (backendProblem).
func (s *Server) loadRecord(ctx context.Context, rc *reqCtx, id string) (*recordstore.Record, error) {
	rc.recordIDs = []string{id}
	st, err := s.records.Load(ctx, id)
	if errors.Is(err, recordstore.ErrNotFound) {
		return nil, errNotFound()
	}
	if err != nil {
		return nil, backendProblem(err)
	}
	rc.setRecord(&st.Meta)
	return st, nil
}

// loadForCaller loads a record, asks the policy, and returns 404 or 403
// as the decision says. Recalled records are 410 for those who knew them.
func (s *Server) loadForCaller(r *http.Request, rc *reqCtx, action policy.Action) (*recordstore.Record, *policy.Decision, error) {
	id := r.PathValue("id")
	if !record.ValidID(id) {
		return nil, nil, errNotFound() // hostile or mistyped ids never reach storage
	}
	st, err := s.loadRecord(r.Context(), rc, id)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.decide(r.Context(), rc, action, &st.Meta)
	if err != nil {
		return nil, nil, err
	}
	if !d.Visible {
		return nil, nil, errNotFound()
	}
	if st.State == recordstore.StateRecalled && (action != policy.ActionRecall || !d.Allow) {
		return nil, nil, problem(http.StatusGone, "recalled", "Recalled", "the originator recalled this record; it can no longer be read")
	}
	if !d.Allow {
		return nil, nil, denied(d)
	}
	return st, d, nil
}

// GET /v1/records/{id}
func (s *Server) read(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	st, d, err := s.loadForCaller(r, rc, policy.ActionRead)
	if err != nil {
		s.noteWithheld(rc.decision)
		return err
	}
	content, err := s.records.Open(r.Context(), st)
	if err != nil {
		return backendProblem(err)
	}
	// Zero the plaintext once it is written out (out may alias content).
	defer clear(content)
	redacted, out, err := redact(content, st.Meta.Originator.OrgID != rc.agency, d.Obligations.Redact)
	if err != nil {
		return err
	}
	op := audit.OpDisclosure
	var recips []string
	if st.Meta.Originator.OrgID == rc.agency {
		op = audit.OpConsultation
	} else {
		recips = []string{rc.agency}
	}
	if err := s.recordOutcome(r.Context(), rc, &audit.Event{Operation: op, Status: http.StatusOK, Recipients: recips}); err != nil {
		return err
	}
	handling := api.Handling{
		Banner:                    d.Obligations.Banner,
		Conditions:                nonNil(d.Obligations.Conditions),
		OriginatorConsentRequired: d.Obligations.OriginatorConsentRequired,
		Redacted:                  redacted,
	}
	if d.Obligations.AttachGrading {
		grading := st.Meta.Grading
		handling.Grading = &grading
	}
	handling.Review = s.reviewState(&st.Meta, s.now())
	s.noteOverdueRead(handling.Review, op)
	w.Header().Set("Liaison-Review", reviewHeader(handling.Review))
	w.Header().Set("Liaison-Handling", headerSafe(d.Obligations.Banner))
	w.Header().Set("Liaison-Decision-Id", d.ID)
	w.Header().Set("Liaison-Policy-Revision", d.Revision)
	writeJSON(w, http.StatusOK, api.Record{ID: st.Meta.RecordID, Version: st.Meta.Version, Meta: st.Meta,
		Content: json.RawMessage(out), Handling: handling,
		DecisionID: d.ID, PolicyRevision: d.Revision})
	return nil
}

// redact removes what the record's protected fields and the policy's
// redaction obligation name (see record.Redact for the path syntax and the
// fail-closed rule). The originator sees its own record whole. A path the
// redactor cannot parse (only the policy can name one: protected fields are
// checked at publish) refuses the disclosure rather than guess.
func redact(content []byte, apply bool, fields []string) ([]string, []byte, error) {
	if !apply {
		return []string{}, content, nil
	}
	redacted, out, err := record.Redact(content, fields)
	switch {
	case errors.Is(err, record.ErrPathSyntax):
		return nil, nil, problem(http.StatusInternalServerError, "policy-error", "Policy evaluation failed",
			"the disclosure was refused because the policy names a redaction path that is not valid").withCause(err)
	case err != nil:
		return nil, nil, errIntegrity(err)
	}
	return redacted, out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// headerSafe keeps a banner to printable ASCII for an HTTP header.
func headerSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// DELETE /v1/records/{id}
func (s *Server) recall(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if record.ValidID(r.PathValue("id")) {
		defer s.records.Lock(r.PathValue("id"))()
	}
	// A share committed on another replica meanwhile makes the tombstone's
	// write lose: recall again what is there now (retryConflicts).
	return s.retryConflicts(r.Context(), rc, func() error {
		st, _, err := s.loadForCaller(r, rc, policy.ActionRecall)
		if err != nil {
			return err
		}
		if err := s.recallRecord(r.Context(), rc, st, &audit.Event{Operation: audit.OpErasure, Status: http.StatusOK}); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, api.Recalled{ID: st.Meta.RecordID, State: recordstore.StateRecalled})
		return nil
	})
}

// recallRecord recalls a loaded record (DELETE, and a review's dispose):
// the erasure entry ev, then the tombstone, then the recall queued to
// every gateway a copy went to.
func (s *Server) recallRecord(ctx context.Context, rc *reqCtx, st *recordstore.Record, ev *audit.Event) error {
	// Recall is idempotent: repeating it on a recalled record writes the
	// same tombstone again, which finishes dropping older versions if an
	// earlier attempt stopped half-way.
	if err := s.auditThen(ctx, rc, ev, func() error { return s.records.Recall(ctx, st, rc.agency, officerID(rc), s.now()) }); err != nil {
		return err
	}
	// The index learns of the recall (best effort: an entry still marked
	// active is only a candidate, refused when its tombstone is loaded, and
	// start-up recovery writes it again from the audit log).
	tomb := *st
	tomb.State = recordstore.StateRecalled
	if err := s.records.Index().Put(ctx, &tomb); err != nil {
		s.log.Warn("index not updated after a recall; recovery or a rebuild will", zap.String(fRecordID, st.Meta.RecordID), zap.Error(err))
	}
	// Every gateway a copy went to gets the recall, retried until it
	// acknowledges; a repeated recall queues it again (harmless).
	if s.fed != nil {
		if _, err := s.fed.Recall(ctx, st.Meta.RecordID, st.Meta.Originator.OrgID, st.Meta.Version); err != nil {
			return backendProblem(err)
		}
	}
	return nil
}

func officerID(rc *reqCtx) string {
	if rc.officer == nil {
		return ""
	}
	return rc.officer.ID
}

// POST /v1/decisions {"input": {...}} — a security officer's dry run.
func (s *Server) decisions(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	d, err := s.decide(r.Context(), rc, policy.ActionDecide, nil)
	if err != nil {
		return err
	}
	if !d.Allow {
		return denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req struct {
		Input json.RawMessage `json:"input"`
	}
	if err := decodeJSON(body, &req, `body must be {"input": {...}}`); err != nil {
		return err
	}
	var input map[string]json.RawMessage
	if err := json.Unmarshal(req.Input, &input); err != nil || input == nil {
		return errBadRequest("input must be a JSON object (the policy input)")
	}
	// Evaluated as written, not as a policy.Input: a dry run exists to see
	// what the policy does with any input, malformed ones included.
	result, evalErr := s.policy.DecideJSON(r.Context(), req.Input)
	if ex, ok := s.policy.(policy.Explainer); ok && evalErr == nil {
		result.Explanation = ex.ExplainJSON(r.Context(), result, req.Input)
	}
	if err := s.recordOutcome(r.Context(), rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK}); err != nil {
		return err
	}
	resp := api.DecisionResult{Decision: result}
	if evalErr != nil {
		resp.EvaluationError = evalErr.Error()
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
