// Package api holds the wire types of Liaison's HTTP API: one Go type per
// request and response body of every /v1 endpoint, the admin /readyz and
// /healthz bodies, and the RFC 9457 problem body every error carries.
//
// The gateway writes these types, the liaison CLI and the tests read them,
// and the OpenAPI document will describe them: one definition, so the three
// cannot drift apart. A field renamed here changes the wire format, which is
// why golden files (testdata/*.json) pin every name and every omitempty.
//
// Bodies are decoded with Decode, which fails on anything that is not the
// documented shape (not JSON, data after the value, a field of the wrong
// type, a field the server always sends missing) instead of handing the
// caller zero values. Unknown fields are accepted: a newer gateway may add
// fields without breaking older clients.
package api

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policy"
)

// Response is implemented by every body the gateway answers with. Check
// reports whether a decoded body holds what the gateway always sends, so
// that a malformed answer is an error rather than silent zero values.
type Response interface {
	Check() error
}

// Decode parses body into v and checks it. Errors say which body was
// expected and what is wrong; they never quote the body (it may hold
// record content).
func Decode(body []byte, v Response) error {
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("%s: not JSON (at byte %d)", name(v), se.Offset)
		case errors.As(err, &te):
			return fmt.Errorf("%s: field %q is not a %s", name(v), te.Field, te.Type)
		}
		return fmt.Errorf("%s: %w", name(v), err)
	}
	if err := v.Check(); err != nil {
		return fmt.Errorf("%s: %w", name(v), err)
	}
	return nil
}

// name is how Decode's errors call a body.
func name(v Response) string {
	if n, ok := v.(interface{ bodyName() string }); ok {
		return n.bodyName()
	}
	return fmt.Sprintf("%T", v)
}

// missing is the error of a field the gateway always sends.
func missing(field string) error { return fmt.Errorf("missing %q", field) }

// ---- records ---------------------------------------------------------------

// PublishRequest is the body of POST /v1/records: {"meta": {...},
// "content": {...}}. It is record.PublishRequest, which the gateway parses
// with record.ParsePublish (strict JSON, the publish schema, and no
// server-set metadata field: record_id, version, created and originator
// must be absent, so a client writes this body as JSON, not by marshalling
// a Meta whose server-set fields would be sent empty).
type PublishRequest = record.PublishRequest

// Published is the 201 body of POST /v1/records (also the answer to a
// retried publish that adopted the stored record). The Location header
// names the record.
type Published struct {
	// ID is the new record's id (rec_ + 26 base32 characters).
	ID string `json:"id"`
	// Version is the record's version: 1 for a new record.
	Version int `json:"version"`
	// Digest is the digest of the stored metadata, which the record's
	// integrity check compares on every load.
	Digest string `json:"digest"`
	// DecisionID finds the policy decision that allowed the publish in
	// the audit log.
	DecisionID string `json:"decision_id"`
	// PolicyRevision identifies the policy and data that decided.
	PolicyRevision string `json:"policy_revision"`
}

func (*Published) bodyName() string { return "publish answer" }

// Check implements Response.
func (p *Published) Check() error {
	switch {
	case p.ID == "":
		return missing("id")
	case p.Version < 1:
		return missing("version")
	case p.Digest == "":
		return missing("digest")
	case p.DecisionID == "":
		return missing("decision_id")
	}
	return nil
}

// Record is the 200 body of GET /v1/records/{id}: the record as the caller
// may see it. The same handling travels in the Liaison-Handling,
// Liaison-Decision-Id and Liaison-Policy-Revision headers.
type Record struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	// Meta is the record's metadata, whole (metadata is never redacted).
	Meta record.Meta `json:"meta"`
	// Content is the record's content (a JSON object) after the policy's
	// obligations: for a recipient, the protected fields removed.
	Content json.RawMessage `json:"content"`
	// Handling is what the recipient must show and observe.
	Handling Handling `json:"handling"`
	// DecisionID finds the decision that allowed this read in the audit log.
	DecisionID     string `json:"decision_id"`
	PolicyRevision string `json:"policy_revision"`
}

func (*Record) bodyName() string { return "record" }

// Check implements Response.
func (r *Record) Check() error {
	switch {
	case r.ID == "":
		return missing("id")
	case len(r.Content) == 0 || r.Content[0] != '{':
		return errors.New(`"content" is not a JSON object`)
	case r.DecisionID == "":
		return missing("decision_id")
	}
	return nil
}

// Handling is the "handling" member of a read: the policy's obligations
// as they apply to this disclosure.
type Handling struct {
	// Banner is the handling banner to display with the record.
	Banner string `json:"banner"`
	// Conditions are the handling conditions binding the recipient
	// (always a list, possibly empty).
	Conditions []string `json:"conditions"`
	// OriginatorConsentRequired: any use beyond reading needs the
	// originator's consent (free-text handling instructions).
	OriginatorConsentRequired bool `json:"originator_consent_required"`
	// Redacted lists what was removed from the content: each redaction
	// path that removed a value, and each member withheld in a path's
	// place, sorted (see docs/api.md, Redaction).
	Redacted []string `json:"redacted"`
	// Grading is the 3x5x2 grading, present only when the policy obliges
	// the gateway to attach it (DPA 2018 s.38(6)(b)).
	Grading *record.Grading `json:"grading,omitempty"`
	// Review is the record's MoPI review state (docs/review.md).
	Review Review `json:"review"`
}

// ReviewOK is the Review.State of a record whose review date is further
// ahead than the review window (ReviewDue and ReviewOverdue: filter.go).
const ReviewOK = "ok"

// Review is a record's MoPI review state on the gateway's date (UTC):
// "overdue" once its review date has passed, "due" when the date is within
// the policy's review window (settings.review_due_window_days), else "ok".
type Review struct {
	// Due is the record's review date (YYYY-MM-DD).
	Due string `json:"due"`
	// State is ok, due or overdue.
	State string `json:"state"`
}

// RecordList is the 200 body of GET /v1/records?limit=&cursor=.
type RecordList struct {
	// Items are the records the caller may read (always a list).
	Items []RecordListItem `json:"items"`
	// NextCursor continues the listing (opaque, authenticated, bound to
	// the caller's agency); empty at the end.
	NextCursor string `json:"next_cursor"`
}

func (*RecordList) bodyName() string { return "record list" }

// Check implements Response.
func (l *RecordList) Check() error {
	if l.Items == nil {
		return missing("items")
	}
	for i, it := range l.Items {
		if it.ID == "" {
			return fmt.Errorf("items[%d]: %w", i, missing("id"))
		}
	}
	return nil
}

// RecordListItem is one record of a listing: its metadata, never content.
type RecordListItem struct {
	ID      string      `json:"id"`
	Version int         `json:"version"`
	Meta    record.Meta `json:"meta"`
	// Banner is the handling banner the policy gives this caller.
	Banner string `json:"banner"`
	// Review is the record's MoPI review state.
	Review Review `json:"review"`
}

// Recalled is the 200 body of DELETE /v1/records/{id}.
type Recalled struct {
	ID string `json:"id"`
	// State is "recalled".
	State string `json:"state"`
}

func (*Recalled) bodyName() string { return "recall answer" }

// Check implements Response.
func (r *Recalled) Check() error {
	switch {
	case r.ID == "":
		return missing("id")
	case r.State == "":
		return missing("state")
	}
	return nil
}

// ReviewRequest is the body of POST /v1/records/{id}/review: the
// originator's MoPI review of its record (docs/review.md).
type ReviewRequest struct {
	// Decision is "retain" (keep the record, with a new review date) or
	// "dispose" (recall it, as DELETE /v1/records/{id} does).
	Decision string `json:"decision"`
	// ReviewDue is the next review date (YYYY-MM-DD, after today), for
	// retain only.
	ReviewDue string `json:"review_due,omitempty"`
	// Justification says why: printable text, as long as the policy's
	// minimum; it is the justification of the audit entry.
	Justification string `json:"justification"`
}

// Reviewed is the 200 body of POST /v1/records/{id}/review.
type Reviewed struct {
	ID string `json:"id"`
	// Decision is "retain" or "dispose".
	Decision string `json:"decision"`
	// Version is the record's version after a retain (a new version).
	Version int `json:"version,omitempty"`
	// PreviousDue is the review date before the review.
	PreviousDue string `json:"previous_due"`
	// Review is the record's review state after a retain.
	Review *Review `json:"review,omitempty"`
	// State is "active" after a retain, "recalled" after a dispose.
	State string `json:"state"`
	// DecisionID finds the policy decision in the audit log.
	DecisionID string `json:"decision_id"`
}

func (*Reviewed) bodyName() string { return "review answer" }

// Check implements Response.
func (r *Reviewed) Check() error {
	switch {
	case r.ID == "":
		return missing("id")
	case r.Decision == "":
		return missing("decision")
	case r.State == "":
		return missing("state")
	case r.Decision == "retain" && (r.Version < 1 || r.Review == nil):
		return missing("version and review")
	}
	return nil
}

// ---- federation ------------------------------------------------------------

// Deliveries is the 200 body of GET /v1/records/{id}/deliveries: where the
// record went beyond this gateway and what each gateway answered
// (docs/federation.md).
type Deliveries struct {
	RecordID string     `json:"record_id"`
	Items    []Delivery `json:"items"`
}

func (*Deliveries) bodyName() string { return "delivery status" }

// Check implements Response.
func (d *Deliveries) Check() error {
	switch {
	case d.RecordID == "":
		return missing("record_id")
	case d.Items == nil:
		return missing("items")
	}
	for _, it := range d.Items {
		if it.Gateway == "" || it.Type == "" || it.State == "" {
			return missing("items[].gateway, type and state")
		}
	}
	return nil
}

// Delivery is one message about a record to one gateway, or a downstream
// gateway's recall acknowledgement relayed to this one (Via set).
type Delivery struct {
	Gateway string `json:"gateway"`
	// Type is the message type: "share", "recall", or, for an onward
	// share that needs the originator's consent, "consent-request" and
	// "consent-decision".
	Type string `json:"type"`
	// Agencies are the recipients hosted by that gateway (share).
	Agencies  []string `json:"agencies"`
	MessageID string   `json:"message_id,omitempty"`
	Seq       uint64   `json:"seq,omitempty"`
	// State: pending, delivered, refused, failed, recalled (a share not
	// sent because the record was recalled first) or acknowledged (a
	// recall applied there).
	State string `json:"state"`
	// Reasons are the receiving gateway's public reasons (refused).
	Reasons []policy.Reason `json:"reasons,omitempty"`
	// Receipt is the receiving gateway's signed receipt (compact JWS).
	Receipt string `json:"receipt,omitempty"`
	// Via is the gateway that relayed a downstream acknowledgement;
	// Verified says whether its signature was checked here (the gateway
	// is a peer of this one).
	Via      string `json:"via,omitempty"`
	Verified bool   `json:"verified,omitempty"`
	Error    string `json:"error,omitempty"`
	Queued   string `json:"queued,omitempty"`
	Settled  string `json:"settled,omitempty"`
}

// ---- onward sharing and consent --------------------------------------------

// ShareRequest is the body of POST /v1/records/{id}/shares.
type ShareRequest struct {
	// Recipients are 1 to 16 distinct agency ids to share the record with.
	Recipients []string `json:"recipients"`
	// Note is shown to the originator when its consent is needed:
	// printable text, at most 1024 bytes.
	Note string `json:"note"`
}

// Shared is the 200 body of POST /v1/records/{id}/shares when the share
// was done at once (the policy allowed it): a new version of the record.
type Shared struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	// State is "shared".
	State string `json:"state"`
	// Recipients are all the record's recipients after the share.
	Recipients []string `json:"recipients"`
	// DecisionID finds the decision that allowed the share in the audit log.
	DecisionID string `json:"decision_id"`
}

func (*Shared) bodyName() string { return "share answer" }

// Check implements Response.
func (s *Shared) Check() error {
	switch {
	case s.ID == "":
		return missing("id")
	case s.Version < 1:
		return missing("version")
	case s.Recipients == nil:
		return missing("recipients")
	}
	return nil
}

// ConsentFiled is the 202 body of POST /v1/records/{id}/shares when the
// policy's only objection is the originator's consent. The Location header
// names the consent request.
type ConsentFiled struct {
	// ConsentID names the consent request (con_…; random, never derived
	// from the request).
	ConsentID string `json:"consent_id"`
	// State is "pending".
	State      string   `json:"state"`
	RecordID   string   `json:"record_id"`
	Recipients []string `json:"recipients"`
	// Expires is when the request lapses undecided (RFC 3339).
	Expires string `json:"expires"`
	// DecisionID is the decision taken on this filing (in the audit log).
	DecisionID string `json:"decision_id"`
	// Reasons are the policy's public reasons why consent is required, as
	// recorded when the request was first filed.
	Reasons []policy.Reason `json:"reasons"`
	// PreviousRefusals are the originator's earlier refusals of the same
	// request (same record, requesting agency and recipient set), oldest
	// first: the originator sees that this one is a repeat.
	PreviousRefusals []ConsentRefusal `json:"previous_refusals"`
	// Duplicate is true when the same request was already pending: the
	// answer is that request, and nothing new was filed.
	Duplicate bool `json:"duplicate"`
	// Detail says the same in words.
	Detail string `json:"detail"`
}

func (*ConsentFiled) bodyName() string { return "consent request" }

// Check implements Response.
func (c *ConsentFiled) Check() error {
	switch {
	case c.ConsentID == "":
		return missing("consent_id")
	case c.State == "":
		return missing("state")
	case c.RecordID == "":
		return missing("record_id")
	}
	return nil
}

// ConsentRefusal names one earlier refusal of the same request. (The
// gateway also keeps these in its stored consent requests.)
type ConsentRefusal struct {
	ConsentID string `json:"consent_id"`
	// RefusedAt is when the originator refused (RFC 3339).
	RefusedAt string `json:"refused_at"`
	// RefusedBy is the agency that refused (the originator).
	RefusedBy string `json:"refused_by"`
}

// ConsentList is the 200 body of GET /v1/consents?state=.
type ConsentList struct {
	// Items are the requests the caller must decide or made (always a list).
	Items []ConsentItem `json:"items"`
}

func (*ConsentList) bodyName() string { return "consent list" }

// Check implements Response.
func (l *ConsentList) Check() error {
	if l.Items == nil {
		return missing("items")
	}
	for i, it := range l.Items {
		if it.ConsentID == "" {
			return fmt.Errorf("items[%d]: %w", i, missing("consent_id"))
		}
	}
	return nil
}

// ConsentItem is one entry of GET /v1/consents. Every field is always
// present (empty when it does not apply yet, such as DecidedBy).
type ConsentItem struct {
	ConsentID string `json:"consent_id"`
	RecordID  string `json:"record_id"`
	// State is pending, approved, refused or expired.
	State string `json:"state"`
	// Role is "originator" (the caller decides) or "requester" (the caller asked).
	Role        string   `json:"role"`
	RequestedBy string   `json:"requested_by"`
	Recipients  []string `json:"recipients"`
	// Purpose, Justification: the requester's Liaison-Purpose and
	// Liaison-Justification headers.
	Purpose       string `json:"purpose"`
	Justification string `json:"justification"`
	Note          string `json:"note"`
	// Created, Expires, DecidedAt are RFC 3339 times.
	Created          string           `json:"created"`
	Expires          string           `json:"expires"`
	DecidedBy        string           `json:"decided_by"`
	DecidedAt        string           `json:"decided_at"`
	Reasons          []policy.Reason  `json:"reasons"`
	PreviousRefusals []ConsentRefusal `json:"previous_refusals"`
}

// ConsentDecided is the 200 body of POST /v1/consents/{id}/approve and
// /refuse. Version, Recipients and Receipt are set by an approval only.
type ConsentDecided struct {
	ConsentID string `json:"consent_id"`
	// State is "approved" or "refused".
	State    string `json:"state"`
	RecordID string `json:"record_id"`
	// Version is the record's version after the approved share.
	Version int `json:"version,omitempty"`
	// Recipients are all the record's recipients after the approved share.
	Recipients []string `json:"recipients,omitempty"`
	// Receipt is the originator's signed approval (compact JWS); the
	// record's meta.consents holds its digest.
	Receipt string `json:"receipt,omitempty"`
}

func (*ConsentDecided) bodyName() string { return "consent decision" }

// Check implements Response.
func (c *ConsentDecided) Check() error {
	switch {
	case c.ConsentID == "":
		return missing("consent_id")
	case c.State == "":
		return missing("state")
	case c.RecordID == "":
		return missing("record_id")
	}
	return nil
}

// ---- requests for information ----------------------------------------------

// RequestFile is the body of POST /v1/requests: a request for information
// to the agency that holds a record (docs/requests.md). Exactly one of
// Reference and RecordID names the record.
type RequestFile struct {
	// Reference is a search hit reference (hit_…): the holder resolves it;
	// the requester never learns the record id from it.
	Reference string `json:"reference,omitempty"`
	// RecordID names a record the requester can already see.
	RecordID string `json:"record_id,omitempty"`
	// Purpose, Justification, Case: required, validated like the
	// Liaison-Purpose, Liaison-Justification and Liaison-Case headers.
	Purpose       string `json:"purpose"`
	Justification string `json:"justification"`
	Case          string `json:"case"`
	// Urgency is "urgent" or "normal".
	Urgency string `json:"urgency"`
	// Access is "direct" or "indirect": whether the information is directly
	// accessible to the holder (Directive (EU) 2023/977 art. 5).
	Access string `json:"access"`
	// Kind is "information" (default) or "prum_core_data" (core data after
	// a confirmed Prüm match).
	Kind string `json:"kind,omitempty"`
	// Detail is what the requester asks for, in words: printable text, at
	// most 4096 bytes.
	Detail string `json:"detail,omitempty"`
}

// RequestAnswer is the body of POST /v1/requests/{id}/answer (the holder).
type RequestAnswer struct {
	// Action is "share", "refuse" or "need_detail".
	Action string `json:"action"`
	// Reason is required to refuse.
	Reason string `json:"reason,omitempty"`
	// Question is required to ask for more detail.
	Question string `json:"question,omitempty"`
}

// RequestDetail is the body of POST /v1/requests/{id}/detail (the
// requester's answer to the holder's question).
type RequestDetail struct {
	Text string `json:"text"`
}

// InfoRequest is a request for information as one party sees it: the 201
// body of POST /v1/requests, the 200 body of GET /v1/requests/{id} and of
// every transition.
type InfoRequest struct {
	// ID is req_ + 26 base32 characters, time-ordered.
	ID string `json:"id"`
	// State is open, needs_detail, answered, refused or withdrawn.
	State string `json:"state"`
	// Role is the caller's: "requester" or "holder".
	Role      string `json:"role"`
	Requester string `json:"requester"`
	Holder    string `json:"holder"`
	// DSA is the agreement the request travels under.
	DSA string `json:"dsa"`
	// RecordID is shown to the holder, and to the requester only when the
	// requester named the record id itself (never when it came from a
	// reference).
	RecordID string `json:"record_id,omitempty"`
	// Reference is the hit reference the request was filed with (requester only).
	Reference     string `json:"reference,omitempty"`
	Purpose       string `json:"purpose"`
	Justification string `json:"justification"`
	Case          string `json:"case"`
	Urgency       string `json:"urgency"`
	Access        string `json:"access"`
	Kind          string `json:"kind"`
	Detail        string `json:"detail"`
	// DeadlineHours is the answer deadline the policy set at filing.
	DeadlineHours int `json:"deadline_hours"`
	// Created and Due are RFC 3339 times. While the clock is stopped
	// (needs_detail), Due is when the request would fall due if the
	// clock had not stopped; it moves on by the time the clock stood.
	Created string `json:"created"`
	Due     string `json:"due"`
	// Overdue: the request is open and Due has passed.
	Overdue bool `json:"overdue"`
	// Clock is "running" (open), "stopped" (needs_detail) or "done".
	Clock string `json:"clock"`
	// ConsentID names the consent request a share answer is waiting for.
	ConsentID string `json:"consent_id,omitempty"`
	// Version is the record's version after a share answer (holder only
	// when the record id is hidden from the requester).
	Version int `json:"version,omitempty"`
	// DecisionID is the policy decision of this request (filing, share).
	DecisionID string `json:"decision_id,omitempty"`
	// History lists every transition, oldest first.
	History []RequestEvent `json:"history"`
}

func (*InfoRequest) bodyName() string { return "request for information" }

// Check implements Response.
func (r *InfoRequest) Check() error {
	switch {
	case r.ID == "":
		return missing("id")
	case r.State == "":
		return missing("state")
	case r.Due == "":
		return missing("due")
	case r.History == nil:
		return missing("history")
	}
	return nil
}

// RequestEvent is one transition of a request for information.
type RequestEvent struct {
	// At is when (RFC 3339).
	At string `json:"at"`
	// Action is filed, shared, consent_requested, refused, need_detail,
	// detail or withdrawn.
	Action string `json:"action"`
	// State is the request's state after the transition.
	State string `json:"state"`
	// Agency is who acted.
	Agency string `json:"agency"`
	// Text is the refusal reason, the question or the detail given.
	Text string `json:"text,omitempty"`
	// Due is the due time after the transition (it moves when the clock
	// restarts after a need_detail).
	Due string `json:"due,omitempty"`
}

// InfoRequestList is the 200 body of GET /v1/requests.
type InfoRequestList struct {
	// Items are the requests (always a list), oldest first.
	Items []InfoRequest `json:"items"`
	// NextCursor continues the listing; empty at the end.
	NextCursor string `json:"next_cursor"`
}

func (*InfoRequestList) bodyName() string { return "request list" }

// Check implements Response.
func (l *InfoRequestList) Check() error {
	if l.Items == nil {
		return missing("items")
	}
	for i, it := range l.Items {
		if it.ID == "" {
			return fmt.Errorf("items[%d]: %w", i, missing("id"))
		}
	}
	return nil
}

// ---- policy dry run --------------------------------------------------------

// DecisionRequest is the body of POST /v1/decisions: {"input": {...}}, the
// policy input to evaluate (a JSON object).
type DecisionRequest struct {
	Input json.RawMessage `json:"input"`
}

// DecisionResult is the 200 body of POST /v1/decisions.
type DecisionResult struct {
	// Decision is what the policy decided for the input, with its
	// explanation (all of its reasons: the dry run is for officers with a
	// policy-admin role).
	Decision policy.Decision `json:"decision"`
	// EvaluationError is set when the policy could not be evaluated (the
	// gateway would then deny); Decision is then empty.
	EvaluationError string `json:"evaluation_error,omitempty"`
}

func (*DecisionResult) bodyName() string { return "decision" }

// Check implements Response.
func (d *DecisionResult) Check() error {
	if d.Decision.ID == "" && d.EvaluationError == "" {
		return missing("decision.id")
	}
	return nil
}

// ---- audit log -------------------------------------------------------------

// AuditPage is the 200 body of GET /v1/audit: this node's audit entries
// within the caller's scope (entries never hold record content).
type AuditPage struct {
	// Gateway is the id of the gateway whose log this is.
	Gateway string `json:"gateway"`
	// Items are the entries, oldest first (always a list).
	Items []audit.Event `json:"items"`
	// NextAfter is the seq to pass as after= for the next page; empty when
	// this page was the last.
	NextAfter string `json:"next_after"`
}

func (*AuditPage) bodyName() string { return "audit page" }

// Check implements Response.
func (a *AuditPage) Check() error {
	switch {
	case a.Gateway == "":
		return missing("gateway")
	case a.Items == nil:
		return missing("items")
	}
	return nil
}

// ---- admin listener --------------------------------------------------------

// Health is the 200 body of GET /healthz: the process is up.
type Health struct {
	// Status is "ok".
	Status string `json:"status"`
}

func (*Health) bodyName() string { return "health" }

// Check implements Response.
func (h *Health) Check() error {
	if h.Status == "" {
		return missing("status")
	}
	return nil
}

// Readiness is the body of GET /readyz: 200 when every check passes, 503
// otherwise.
type Readiness struct {
	Ready bool `json:"ready"`
	// Checks maps each dependency (store, audit log, …) to "ok" or why it failed.
	Checks map[string]string `json:"checks"`
	// PolicyRevision identifies the policy and data in force.
	PolicyRevision string `json:"policy_revision"`
}

func (*Readiness) bodyName() string { return "readiness" }

// Check implements Response.
func (r *Readiness) Check() error {
	if r.Checks == nil {
		return missing("checks")
	}
	return nil
}

// ---- errors ----------------------------------------------------------------

// ProblemTypeBase prefixes every problem type: the type of a refusal is
// ProblemTypeBase + a slug such as "not-found" or "recalled".
const ProblemTypeBase = "https://liaison.dev/problems/"

// Problem is the application/problem+json body of every error answer: the
// RFC 9457 members and Liaison's extensions. Texts are safe to show: they
// never carry record content, tokens or the reasons a policy keeps private.
type Problem struct {
	// Type is ProblemTypeBase + a stable slug (the thing to switch on).
	Type string `json:"type"`
	// Title is a short summary of the type.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// RequestID is the request's Liaison-Request-Id: quote it to the
	// gateway's operator.
	RequestID string `json:"request_id,omitempty"`
	// Errors names every invalid field of the request by JSON pointer (400).
	Errors []record.FieldError `json:"errors,omitempty"`
	// Reasons are the public reasons of a policy denial (403).
	Reasons []policy.Reason `json:"reasons,omitempty"`
	// DecisionID lets a security officer find the decision in the audit log.
	DecisionID string `json:"decision_id,omitempty"`
}

func (*Problem) bodyName() string { return "problem" }

// Check implements Response.
func (p *Problem) Check() error {
	switch {
	case p.Status < 400 || p.Status > 599:
		return missing("status")
	case p.Title == "":
		return missing("title")
	}
	return nil
}
