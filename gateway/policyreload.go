package gateway

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/policy"
)

// The shadow stands in for the engine in the server.
var _ PolicyEngine = (*policy.Shadow)(nil)

// Reason codes of the audit entry for a policy reload.
const (
	codePolicyReloaded = "policy_reloaded"
	codePolicyRejected = "policy_reload_rejected"
	codePolicyProblem  = "policy_problem"
	// maxAuditedProblems bounds the entry; the process log has them all.
	maxAuditedProblems = 20
)

// AuditPolicyReload records a reload attempt of the policy in the audit log
// (policy.Options.OnReload). A policy change alters who may see what, so it
// is evidence like a disclosure: the entry names the revision before and
// after and, for a rejected change, where it was broken (file:line). The
// policy engine has already logged it; during Build, before the server
// exists, there is no audit log to write to yet.
func (g *Gateway) AuditPolicyReload(ev policy.ReloadEvent) {
	s := g.Server
	if s == nil {
		return
	}
	rc := &reqCtx{id: newRequestID(), start: time.Now(), action: "policy.reload", route: "policy:" + ev.Trigger}
	d := &audit.Decision{Revision: ev.NewRevision, Allow: ev.Applied}
	entry := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusOK, Decision: d}
	if ev.Applied {
		d.Reasons = []audit.Reason{{Code: codePolicyReloaded,
			Message: "policy " + ev.OldRevision + " replaced by " + ev.NewRevision + " from " + ev.Source}}
	} else {
		entry.Status = http.StatusUnprocessableEntity
		d.Reasons = []audit.Reason{{Code: codePolicyRejected,
			Message: "change to " + orUnknown(ev.NewRevision) + " from " + ev.Source + " rejected; " + ev.OldRevision + " stays in force"}}
		for i, p := range ev.Problems {
			if i == maxAuditedProblems {
				break
			}
			d.Reasons = append(d.Reasons, audit.Reason{Code: codePolicyProblem, Message: p.String()})
		}
		if ev.Err != nil {
			entry.Error = "policy: reload rejected"
		}
	}
	if err := s.writeAudit(context.Background(), rc, entry); err != nil {
		s.log.Error("audit write failed for a policy reload",
			zap.String("policy_revision", ev.NewRevision), zap.Bool("applied", ev.Applied), zap.Error(err))
	}
}

func orUnknown(rev string) string {
	if rev == "" {
		return "(unreadable)"
	}
	return rev
}

// shadowPolicy wraps the live engine in a policy.Shadow that evaluates the
// candidate policy in candidateDir beside it and appends every decision it
// would change to reportPath (JSON lines, mode 0600: ids and codes, no
// request text). The candidate directory is watched like the live one, so
// a security officer iterates on it while traffic flows. The returned
// engine answers exactly as the live one does.
func (g *Gateway) shadowPolicy(ctx context.Context, candidateDir, reportPath string, interval time.Duration, log *zap.Logger) (PolicyEngine, error) {
	candidate, err := policy.New(ctx, policy.Options{Dir: candidateDir, ReloadInterval: interval, Logger: log.Named("candidate")})
	if err != nil {
		return nil, fmt.Errorf("policy shadow candidate: %w", err)
	}
	report, err := os.OpenFile(reportPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("policy shadow report: %w", err)
	}
	sh := policy.NewShadow(g.policy, candidate, policy.ShadowOptions{Report: report, Logger: log})
	g.starts = append(g.starts, candidate.Start)
	// Closers run last-in first-out: the shadow drains into the report
	// before the report is closed.
	g.closers = append(g.closers, report.Close, candidate.Close, sh.Close)
	log.Info("policy shadow mode: a candidate runs beside the live policy",
		zap.String("policy_revision", g.policy.Revision()), zap.String("policy_candidate_revision", candidate.Revision()),
		zap.String("policy_shadow_report", reportPath))
	return sh, nil
}
