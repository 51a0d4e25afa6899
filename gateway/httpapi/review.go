package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/policy"
)

// MoPI review (docs/review.md). Every record carries a review date
// (review_due, DPA 2018 s.39: periodic review of the need to keep it). Once
// that date has passed the record is overdue until its originator reviews
// it: retain (a new version with a new review date) or dispose (a recall).
//
// The state shown to callers (the handling block, the Liaison-Review
// header, listings) is computed here; what an overdue record means for
// disclosure — a warning banner, or withholding it from recipients — is the
// policy's (policies/liaison/review.rego), which compares the same dates
// from input.time. Both say "overdue" when the review date is before the
// gateway's date (UTC).

// defaultReviewWindowDays is how near its review date a record is "due"
// when the policy's settings do not say (review_due_window_days).
const defaultReviewWindowDays = 30

// maxReviewWindowDays bounds the setting: a window longer than ten years
// would make every record "due".
const maxReviewWindowDays = 3650

// settingsReader is implemented by policy engines that expose their
// settings data (data.settings).
type settingsReader interface {
	Settings() map[string]any
}

// reviewWindowCache is the review window read from one policy revision:
// settings are decoded once per revision, not once per listed record.
type reviewWindowCache struct {
	revision string
	days     int
}

// reviewWindow is the policy's review_due_window_days, or the default when
// the policy does not set a whole number of days from 0 to ten years.
func (s *Server) reviewWindow() int {
	rev := s.policy.Revision()
	if c := s.reviewWin.Load(); c != nil && c.revision == rev {
		return c.days
	}
	days := defaultReviewWindowDays
	if sr, ok := s.policy.(settingsReader); ok {
		if n, ok := wholeDays(sr.Settings()["review_due_window_days"]); ok {
			days = n
		}
	}
	s.reviewWin.Store(&reviewWindowCache{revision: rev, days: days})
	return days
}

func wholeDays(v any) (int, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return 0, false
		}
		f = x
	default:
		return 0, false
	}
	if f < 0 || f > maxReviewWindowDays || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}

// reviewState is a record's review state at now, with the policy's review
// window. The listing handler sets it on every item.
func (s *Server) reviewState(m *record.Meta, now time.Time) api.Review {
	return reviewStateAt(m.ReviewDue, now, s.reviewWindow())
}

// reviewStateAt: overdue once the review date is before now's date (UTC),
// due when it is at most windowDays away, else ok. A record without a valid
// review date (the publish schema requires one) is "ok" with no date, as
// the policy, which cannot compare it either, treats it.
func reviewStateAt(due string, now time.Time, windowDays int) api.Review {
	d, err := time.Parse(time.DateOnly, due)
	if err != nil {
		return api.Review{Due: "", State: api.ReviewOK}
	}
	today := now.UTC().Truncate(24 * time.Hour)
	switch {
	case d.Before(today):
		return api.Review{Due: due, State: api.ReviewOverdue}
	case !d.After(today.AddDate(0, 0, windowDays)):
		return api.Review{Due: due, State: api.ReviewDue}
	default:
		return api.Review{Due: due, State: api.ReviewOK}
	}
}

// reviewHeader is the Liaison-Review header of a read: "overdue;
// due=2026-11-20" (a structured-field item with one parameter).
func reviewHeader(rv api.Review) string {
	if rv.Due == "" {
		return rv.State
	}
	return rv.State + "; due=" + rv.Due
}

// noteOverdueRead counts the reads of overdue records, by operation
// (disclosure to a recipient, consultation by the originator): what the
// gateway sees cheaply, where a count of overdue records would need a scan.
func (s *Server) noteOverdueRead(rv api.Review, operation string) {
	if rv.State == api.ReviewOverdue {
		s.metrics.reviewOverdueReads.WithLabelValues(operation).Inc()
	}
}

// noteWithheld counts a decision that withheld an overdue record.
func (s *Server) noteWithheld(d *policy.Decision) {
	if d == nil || d.Allow {
		return
	}
	for _, r := range d.Reasons {
		if r.Code == "review_overdue" {
			s.metrics.reviewWithheld.Inc()
			return
		}
	}
}

// checkReviewDue refuses, at publish, a review date already past unless
// the publisher says why (meta.import): a record is never created overdue
// by accident. The date is compared with the gateway's date (UTC); the
// schema has already checked that it is a date.
func checkReviewDue(m *record.Meta, now time.Time) error {
	if imp := m.Import; imp != nil {
		if !record.Printable(imp.Reason) || !record.Printable(imp.SourceSystem) {
			return invalidField("/meta/import", "import.reason and import.source_system must be printable text")
		}
		return nil
	}
	if reviewStateAt(m.ReviewDue, now, 0).State == api.ReviewOverdue {
		return invalidField("/meta/review_due", fmt.Sprintf("review_due %s is before today (%s, UTC); a record migrated from another system says why in meta.import {reason, source_system}",
			m.ReviewDue, now.UTC().Format(time.DateOnly)))
	}
	return nil
}

// importAudit is what a publish's collection entry records of an import.
func importAudit(m *record.Meta) *audit.Review {
	if m.Import == nil {
		return nil
	}
	return &audit.Review{Decision: "import", Due: m.ReviewDue, ImportReason: m.Import.Reason, SourceSystem: m.Import.SourceSystem}
}

func invalidField(pointer, detail string) *Problem {
	p := problem(http.StatusBadRequest, "invalid-record", "Invalid record", "the record failed validation; see errors")
	p.Errors = []record.FieldError{{Pointer: pointer, Detail: detail}}
	return p
}

func invalidReview(pointer, detail string) *Problem {
	p := problem(http.StatusBadRequest, "invalid-review", "Invalid review", detail)
	p.Errors = []record.FieldError{{Pointer: pointer, Detail: detail}}
	return p
}

// Review decisions.
const (
	reviewRetain  = "retain"
	reviewDispose = "dispose"
)

// parseReview reads the body of POST /v1/records/{id}/review. Only the
// input's shape is checked here; whether the date is far enough ahead, and
// who may review, is the policy's.
func parseReview(body []byte, now time.Time) (*api.ReviewRequest, error) {
	var req api.ReviewRequest
	if err := decodeJSON(body, &req, `body must be {"decision": "retain"|"dispose", "review_due": "YYYY-MM-DD", "justification": "..."}`); err != nil {
		return nil, err
	}
	switch req.Decision {
	case reviewRetain:
		d, err := time.Parse(time.DateOnly, req.ReviewDue)
		if err != nil {
			return nil, invalidReview("/review_due", "a retain needs review_due, a date YYYY-MM-DD")
		}
		if !d.After(now.UTC().Truncate(24 * time.Hour)) {
			return nil, invalidReview("/review_due", "review_due must be after today ("+now.UTC().Format(time.DateOnly)+", UTC)")
		}
	case reviewDispose:
		if req.ReviewDue != "" {
			return nil, invalidReview("/review_due", "a dispose takes no review_due")
		}
	default:
		return nil, invalidReview("/decision", `decision must be "retain" or "dispose"`)
	}
	if req.Justification == "" || len(req.Justification) > record.MaxJustification || !record.Printable(req.Justification) {
		return nil, invalidReview("/justification", fmt.Sprintf("justification must be printable text of 1 to %d bytes", record.MaxJustification))
	}
	return &req, nil
}

// POST /v1/records/{id}/review
func (s *Server) review(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	id := r.PathValue("id")
	if !record.ValidID(id) {
		return errNotFound()
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := parseReview(body, s.now())
	if err != nil {
		return err
	}
	// The body's justification is the review's: it goes to the policy and
	// to the audit entry. One given in the header too must be the same.
	if rc.justification != "" && rc.justification != req.Justification {
		return invalidReview("/justification", "the Liaison-Justification header and the body's justification differ: give it once")
	}
	rc.justification = req.Justification
	defer s.records.Lock(id)()
	// A change committed meanwhile on another replica makes the commit
	// lose: the review is decided again on the record as it now stands.
	return s.retryConflicts(r.Context(), rc, func() error { return s.reviewOnce(w, r, rc, id, req) })
}

func (s *Server) reviewOnce(w http.ResponseWriter, r *http.Request, rc *reqCtx, id string, req *api.ReviewRequest) error {
	st, err := s.loadRecord(r.Context(), rc, id)
	if err != nil {
		return err
	}
	in := s.input(rc, policy.ActionReview, &st.Meta)
	in.Review = &policy.Review{Decision: req.Decision, ReviewDue: req.ReviewDue}
	d, err := s.decideInput(r.Context(), rc, in)
	if err != nil {
		return err
	}
	if !d.Visible {
		return errNotFound()
	}
	if st.State != recordstore.StateActive {
		return problem(http.StatusGone, "recalled", "Recalled", "the originator recalled this record")
	}
	if !d.Allow {
		return denied(d)
	}
	prev := st.Meta.ReviewDue
	if req.Decision == reviewDispose {
		ev := &audit.Event{Operation: audit.OpErasure, Status: http.StatusOK, Review: &audit.Review{Decision: reviewDispose, PreviousDue: prev}}
		if err := s.recallRecord(r.Context(), rc, st, ev); err != nil {
			return err
		}
		s.metrics.reviews.WithLabelValues(reviewDispose).Inc()
		writeJSON(w, http.StatusOK, api.Reviewed{ID: id, Decision: reviewDispose, PreviousDue: prev,
			State: recordstore.StateRecalled, DecisionID: d.ID})
		return nil
	}
	meta, err := s.retain(r.Context(), rc, st, req.ReviewDue)
	if err != nil {
		return err
	}
	s.metrics.reviews.WithLabelValues(reviewRetain).Inc()
	rv := s.reviewState(meta, s.now())
	writeJSON(w, http.StatusOK, api.Reviewed{ID: id, Decision: reviewRetain, Version: meta.Version, PreviousDue: prev,
		Review: &rv, State: recordstore.StateActive, DecisionID: d.ID})
	return nil
}

// retain sets a new review date as a new version of the record, the way a
// share adds recipients (executeShare): content re-sealed under the new
// metadata, the audit entry (with the old and new date) durable before the
// commit, and the new version sent to every peer gateway hosting a
// recipient, where it replaces the older copy (whose review date would
// otherwise stay past).
func (s *Server) retain(ctx context.Context, rc *reqCtx, st *recordstore.Record, due string) (*record.Meta, error) {
	meta := st.Meta
	meta.ReviewDue = due
	byPeer := s.remote(meta.Recipients)
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
	ev := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusOK,
		Review: &audit.Review{Decision: reviewRetain, PreviousDue: st.Meta.ReviewDue, Due: due}}
	// Committed like a share's new version: the index keeps review dates,
	// which the review filters of listings read.
	if err := s.commitVersion(ctx, rc, ev, p, byPeer, provenance); err != nil {
		return nil, err
	}
	return &p.Record.Meta, nil
}
