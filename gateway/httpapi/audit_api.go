package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policy"
)

// GET /v1/audit — entries of this gateway node's log for callers the
// policy grants audit.query (officers with an auditor role). Entries hold
// who did what to which record under which agreement, never record content.
// The policy's decision carries the caller's scope (audit_scope): an
// agency's auditor sees only entries concerning its agency or agreements it
// is party to, a federation auditor everything. The scope is part of the
// query and checked again on every entry returned, so no entry outside it
// ever leaves; a query about a record outside it finds nothing, exactly as
// for a record that does not exist (the 404-not-403 rule of reads).
//
// Query parameters: record, agency, recipient, officer, dsa, operation,
// action, request_id, outcome (allowed, denied, failed), from, to (RFC 3339), after (a seq: the next page),
// limit (1..limits.max_list_limit).
func (s *Server) auditQuery(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	d, err := s.decide(r.Context(), rc, policy.ActionAuditQuery, nil)
	if err != nil {
		return err
	}
	if !d.Allow {
		// Auditing is no secret: say why, as for the policy dry run.
		return denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
	}
	q, err := strictQuery(r, auditQueryParams...)
	if err != nil {
		return err
	}
	f, limit, err := parseAuditQuery(q, s.cfg.Limits.MaxListLimit)
	if err != nil {
		return err
	}
	scope := auditScope(d, rc.agency)
	f.Scope = scope
	if f.Officer != "" && len(s.cfg.Audit.HMACFields) > 0 {
		if f.HMACKey, err = audit.LoadHMACKey(s.cfg.Audit.HMACKey); err != nil {
			return errInternal(err)
		}
	}
	evs, err := audit.Query([]string{s.cfg.Audit.Path}, f, limit)
	if err != nil {
		return backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	// Reading the audit log is itself a consultation, logged before the answer.
	if err := s.recordOutcome(r.Context(), rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK}); err != nil {
		return err
	}
	next := ""
	if len(evs) == limit {
		next = strconv.FormatUint(evs[len(evs)-1].Seq, 10)
	}
	// Filter the results too, not only the query: whatever the query
	// code does, an entry outside the scope is never returned.
	shown := make([]audit.Event, 0, len(evs))
	for i := range evs {
		if scope.Sees(&evs[i]) {
			shown = append(shown, evs[i])
		}
	}
	evs = shown
	writeJSON(w, http.StatusOK, api.AuditPage{Gateway: s.cfg.GatewayID, Items: evs, NextAfter: next})
	return nil
}

// auditScope is the scope of an allowed audit query: the policy's, or,
// from a policy that grants the query without saying (one written before
// audit scopes), the caller's own agency only: fail closed to the
// narrowest scope, never to the whole log.
func auditScope(d *policy.Decision, agency string) *audit.Scope {
	ps := d.AuditScope
	if ps == nil {
		return &audit.Scope{Agency: agency}
	}
	if ps.Federation {
		return &audit.Scope{All: true}
	}
	return &audit.Scope{Agency: ps.Agency, DSAs: ps.DSAs}
}

// parseAuditQuery turns query parameters into a filter. Unknown parameters
// are an error, so that a misspelt filter never silently widens a query.
// auditQueryParams are the parameters GET /v1/audit takes.
var auditQueryParams = []string{"record", "agency", "recipient", "officer", "dsa", "operation", "action", "request_id", "outcome", "from", "to", "after", "limit"}

func parseAuditQuery(q url.Values, maxLimit int) (audit.Filter, int, error) {
	var f audit.Filter
	limit := maxLimit
	for k, vs := range q {
		if len(vs) != 1 {
			return f, 0, errBadRequest("query parameter " + k + " must be given once")
		}
		v := vs[0]
		if len(v) > 256 || !record.Printable(v) {
			return f, 0, errBadRequest("query parameter " + k + " must be printable text of at most 256 bytes")
		}
		var err error
		switch k {
		case "record":
			f.RecordID = v
		case "agency":
			f.Agency = v
		case "recipient":
			f.Recipient = v
		case "officer":
			f.Officer = v
		case "dsa":
			f.DSA = v
		case "operation":
			f.Operation = v
		case "action":
			f.Action = v
		case "request_id":
			f.RequestID = v
		case "outcome":
			if v != audit.OutcomeAllowed && v != audit.OutcomeDenied && v != audit.OutcomeFailed {
				return f, 0, errBadRequest("outcome must be allowed, denied or failed")
			}
			f.Outcome = v
		case "from", "to":
			var t time.Time
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				return f, 0, errBadRequest(k + " must be an RFC 3339 time such as 2026-01-31T00:00:00Z")
			}
			if k == "from" {
				f.From = t
			} else {
				f.To = t
			}
		case "after":
			if f.AfterSeq, err = strconv.ParseUint(v, 10, 64); err != nil {
				return f, 0, errBadRequest("after must be the seq of the last entry of the previous page")
			}
		case "limit":
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLimit {
				return f, 0, errBadRequest(fmt.Sprintf("limit must be 1..%d", maxLimit))
			}
		default:
			return f, 0, errBadRequest("unknown query parameter " + k)
		}
	}
	return f, limit, nil
}
