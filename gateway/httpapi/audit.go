package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/tracing"
	"github.com/liaison-project/liaison/policy"
)

// Audit assembly, in one place.
//
// Every request leaves exactly one outcome entry (and, when an action the
// entry announced then fails, a correction). The request-level fields —
// request id, time, gateway, route, method, action, the caller's agency,
// officer and certificate, purpose, justification and case — are set on
// the request context before the handler runs (requestContext, endpoint,
// authenticate, readContextHeaders); what the request concerns — record
// ids, originator and controller, handling codes, DSAs, recipients — is
// set by the one record loader (loadRecord, reqCtx.setRecord) and the
// policy decision (decide). Handlers then record their outcome with one
// call:
//
//   - recordOutcome: the entry, durable before the answer goes out; a
//     failure is the 503 the handler returns (never an unaudited answer);
//   - auditThen: the entry first, then the change it announces; a change
//     that fails is corrected in the log (correct) and answered 503;
//   - a handler that returns an error gets its denial entry from fail.
//
// writeAudit is the only place that copies the request context into an
// entry and appends it.

// recordOutcome writes the request's outcome entry ev. Its error is the
// problem to return: the caller must not act on or answer a request whose
// entry is not durable.
func (s *Server) recordOutcome(ctx context.Context, rc *reqCtx, ev *audit.Event) error {
	if err := s.writeAudit(ctx, rc, ev); err != nil {
		return s.recordOutcomeFailed(err)
	}
	return nil
}

// recordOutcomeFailed is the problem for an outcome entry that could not be
// written (publish writes its entry beside the record PUT, not through
// recordOutcome).
func (s *Server) recordOutcomeFailed(err error) error {
	return backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
}

// auditThen writes ev, then runs change, the action ev announces. A change
// that fails after its entry is durable is corrected in the log (best
// effort) and answered with the backend's problem.
func (s *Server) auditThen(ctx context.Context, rc *reqCtx, ev *audit.Event, change func() error) error {
	if err := s.recordOutcome(ctx, rc, ev); err != nil {
		return err
	}
	if err := change(); err != nil {
		s.correct(ctx, rc, ev, err)
		return backendProblem(err)
	}
	return nil
}

// correct appends an entry saying that the action an earlier entry
// recorded did not complete. Best effort: the original entry is already
// durable and the caller is told the request failed.
func (s *Server) correct(ctx context.Context, rc *reqCtx, orig *audit.Event, cause error) {
	status := http.StatusServiceUnavailable
	if isConflict(cause) {
		// Lost to a concurrent change: the request is decided again and
		// its next attempt has an entry of its own (retryConflicts).
		status = http.StatusConflict
	}
	ev := &audit.Event{Operation: orig.Operation, Status: status, Corrects: orig.Seq, Error: "not completed: " + cause.Error()}
	if err := s.writeAudit(ctx, rc, ev); err != nil {
		s.log.Error("audit correction failed", zap.String(fRequestID, rc.id), zap.Error(err))
	}
}

// writeAudit fills the request's common fields into ev and appends it
// durably. It is not cancelled with the client: an entry for something
// that happened must be written even if the caller has gone.
func (s *Server) writeAudit(ctx context.Context, rc *reqCtx, ev *audit.Event) error {
	ev.Time = s.now().UTC()
	ev.Gateway = s.cfg.GatewayID
	ev.RequestID = rc.id
	ev.Action = rc.action
	ev.Method = rc.method
	ev.Route = rc.route
	ev.Agency = rc.agency
	if rc.officer != nil {
		ev.Officer = rc.officer.ID
	}
	ev.CertFingerprint = rc.certFP
	ev.RecordIDs = rc.recordIDs
	ev.InfoRequestID = rc.infoRequestID
	ev.Originator = rc.originator
	ev.ControllerID = rc.controller
	if ev.Handling == nil {
		ev.Handling = rc.handling
	}
	if ev.Recipients == nil {
		ev.Recipients = rc.recipients
	}
	ev.DSAIDs = rc.dsaIDs
	if ev.Registry == nil && rc.registry != nil {
		r := *rc.registry
		ev.Registry = &r
	}
	ev.Purpose = rc.purpose
	ev.Justification = rc.justification
	ev.Case = rc.caseRef
	if d := rc.decision; d != nil && ev.Decision == nil {
		ev.Decision = auditDecision(d)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rc.audited = true
	start := time.Now()
	actx, span := tracing.Tracer().Start(actx, "audit.append")
	err := s.audit.Append(actx, ev)
	s.metrics.auditLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.auditFailures.Inc()
		tracing.End(span, "failed")
	} else {
		tracing.End(span, "")
	}
	return err
}

func auditDecision(d *policy.Decision) *audit.Decision {
	ad := &audit.Decision{ID: d.ID, Revision: d.Revision, Allow: d.Allow}
	for _, r := range d.Reasons {
		ad.Reasons = append(ad.Reasons, audit.Reason{Code: r.Code, Message: r.Message, Public: r.Public})
	}
	return ad
}

// fail renders err, after making sure the request has its audit entry. If
// the entry cannot be written, the answer becomes 503: the caller must not
// take an unaudited answer as final.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	p := asProblem(err)
	if p.Status == http.StatusRequestEntityTooLarge || isMaxBytes(err) {
		p = problem(http.StatusRequestEntityTooLarge, "too-large", "Request body too large",
			fmt.Sprintf("the limit is %d bytes", s.cfg.Limits.MaxBodyBytes))
	}
	p.RequestID = rc.id
	if !rc.audited {
		op := audit.OpDenial
		ev := &audit.Event{Operation: op, Status: p.Status, Error: errorText(p)}
		if aerr := s.writeAudit(r.Context(), rc, ev); aerr != nil {
			s.log.Error("audit write failed", zap.String(fRequestID, rc.id), zap.Error(aerr))
			p = errUnavailable("the audit log", aerr)
			p.RequestID = rc.id
		}
	}
	if p.Status >= 500 {
		s.log.Error("request failed", zap.String(fRequestID, rc.id), zap.String(fAction, rc.action),
			zap.String(fAgency, rc.agency), zap.Int(fStatus, p.Status), zap.String(fProblem, p.Type), zap.Error(p.cause))
	}
	writeProblem(w, p)
}

// setRecord notes the record a request acts on: its originator (also the
// accountable controller), its DSAs and its handling codes at this moment,
// for every audit entry the request writes from here on.
func (rc *reqCtx) setRecord(m *record.Meta) {
	rc.originator, rc.controller, rc.dsaIDs = m.Originator.OrgID, m.Originator.OrgID, m.DSAIDs
	rc.handling = m.HandlingSnapshot()
}
