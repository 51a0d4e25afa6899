package gateway

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/httpapi"
	"github.com/liaison-project/liaison/policy"
	"github.com/liaison-project/liaison/policy/shadow"
)

// The shadow stands in for the engine in the server.
var _ httpapi.PolicyEngine = (*shadow.Shadow)(nil)

// Reason codes of the audit entry for a policy reload.
const (
	codePolicyReloaded = "policy_reloaded"
	codePolicyRejected = "policy_reload_rejected"
	codePolicyProblem  = "policy_problem"
	// A data-only reload (agreements, registry, settings): applied after
	// the schemas and samples, the Rego suite running in the background.
	codePolicyDataReloaded = "policy_data_reloaded"
	// What a reload changed: a DSA or agency, and each file with its digest.
	codePolicyDataChange = "policy_data_change"
	codePolicyFile       = "policy_file"
	codePolicySkipped    = "policy_sample_skipped"
	// The background Rego suite's verdict on the data in force.
	codePolicySuitePassed = "policy_suite_passed"
	codePolicySuiteFailed = "policy_suite_failed"
	// maxAuditedProblems bounds the entry; the process log has them all.
	maxAuditedProblems = 20
)

// AuditPolicyReload records a reload attempt of the policy in the audit log
// (policy.Options.OnReload). A policy change alters who may see what, so it
// is evidence like a disclosure: the entry names the revision before and
// after and, for a rejected change, where it was broken (file:line). The
// policy engine has already logged it. The audit log is opened before the
// policy engine (build), so every reload, the first included, has one.
func (g *Gateway) AuditPolicyReload(ev policy.ReloadEvent) {
	if g.policyMetrics != nil {
		g.policyMetrics.observe(ev)
	}
	action := "policy.reload"
	d := &audit.Decision{Revision: ev.NewRevision, Allow: ev.Applied}
	entry := &audit.Event{Operation: audit.OpAlteration, Status: http.StatusOK, Decision: d}
	switch {
	case ev.Kind == policy.ReloadSuite:
		action = "policy.suite"
		if ev.Suite == policy.SuitePassed {
			d.Reasons = []audit.Reason{{Code: codePolicySuitePassed, Message: "Rego suite passed on " + ev.NewRevision + " from " + ev.Source}}
		} else {
			entry.Status = http.StatusUnprocessableEntity
			d.Allow = false
			d.Reasons = []audit.Reason{{Code: codePolicySuiteFailed, Message: "Rego suite fails on " + ev.NewRevision +
				" from " + ev.Source + "; the data stays in force, the next policy change is refused until the suite passes"}}
			d.Reasons = appendProblems(d.Reasons, ev.Problems)
		}
	case ev.Applied:
		code, what := codePolicyReloaded, "policy "
		if ev.Kind == policy.ReloadData {
			code, what = codePolicyDataReloaded, "policy data "
		}
		d.Reasons = []audit.Reason{{Code: code,
			Message: what + ev.OldRevision + " replaced by " + ev.NewRevision + " from " + ev.Source + suiteNote(ev.Suite)}}
		d.Reasons = append(d.Reasons, changeReasons(ev)...)
		// The agreements changed, so that `GET /v1/audit?dsa=` finds the
		// entry (and the parties' auditors see it).
		for _, c := range ev.Changes {
			if c.Kind == "dsa" {
				entry.DSAIDs = append(entry.DSAIDs, c.ID)
			}
		}
	default:
		entry.Status = http.StatusUnprocessableEntity
		d.Reasons = []audit.Reason{{Code: codePolicyRejected,
			Message: "change to " + orUnknown(ev.NewRevision) + " from " + ev.Source + " rejected; " + ev.OldRevision + " stays in force"}}
		d.Reasons = appendProblems(d.Reasons, ev.Problems)
		if ev.Err != nil {
			entry.Error = "policy: reload rejected"
		}
	}
	if err := g.auditSystem(action, "policy:"+ev.Trigger, entry); err != nil {
		g.log.Error("audit write failed for a policy reload",
			zap.String("policy_revision", ev.NewRevision), zap.Bool("applied", ev.Applied), zap.Error(err))
	}
}

func appendProblems(rs []audit.Reason, problems []policy.Problem) []audit.Reason {
	for i, p := range problems {
		if i == maxAuditedProblems {
			break
		}
		rs = append(rs, audit.Reason{Code: codePolicyProblem, Message: p.String()})
	}
	return rs
}

func suiteNote(suite string) string {
	if suite == policy.SuitePending {
		return " (data only: schemas and samples checked, Rego suite running in the background)"
	}
	return ""
}

// changeReasons names what an applied reload changed, so that the entry
// alone answers "which reload suspended this DSA, and with what file":
// "dsa dsa-uk-soc: status active -> suspended", "data/dsas.json sha256:a -> sha256:b".
func changeReasons(ev policy.ReloadEvent) []audit.Reason {
	var out []audit.Reason
	for _, c := range ev.Changes {
		msg := c.Kind + " " + c.ID + ": " + c.Change
		if c.Kind == "dsa" && c.OldStatus != c.NewStatus {
			msg += " " + orNone(c.OldStatus) + " -> " + orNone(c.NewStatus)
		}
		out = append(out, audit.Reason{Code: codePolicyDataChange, Message: msg})
	}
	for _, f := range ev.Files {
		out = append(out, audit.Reason{Code: codePolicyFile, Message: f.Path + " " + digestOrNone(f.OldSHA256) + " -> " + digestOrNone(f.NewSHA256)})
	}
	for _, s := range ev.SkippedSamples {
		out = append(out, audit.Reason{Code: codePolicySkipped, Message: "sample not checked: " + s})
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func digestOrNone(d string) string {
	if d == "" {
		return "(none)"
	}
	return "sha256:" + d
}

func orUnknown(rev string) string {
	if rev == "" {
		return "(unreadable)"
	}
	return rev
}

// shadowPolicy wraps the live engine in a shadow.Shadow that evaluates the
// candidate policy in candidateDir beside it and appends every decision it
// would change to reportPath (JSON lines, mode 0600: ids and codes, no
// request text). The candidate directory is watched like the live one, so
// a security officer iterates on it while traffic flows. The returned
// engine answers exactly as the live one does.
func (g *Gateway) shadowPolicy(ctx context.Context, candidateDir, reportPath string, interval time.Duration, log *zap.Logger) (httpapi.PolicyEngine, error) {
	candidate, err := policy.New(ctx, policy.Options{Dir: candidateDir, ReloadInterval: interval, Logger: log.Named("candidate")})
	if err != nil {
		return nil, fmt.Errorf("policy shadow candidate: %w", err)
	}
	report, err := os.OpenFile(reportPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("policy shadow report: %w", err)
	}
	opts := shadow.Options{Report: report, Logger: log}
	var inputs *os.File
	if p := g.cfg.Policy.ShadowInputs; p != "" {
		// Inputs hold record metadata and justifications: 0600, like the audit log.
		if inputs, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
			_ = report.Close()
			return nil, fmt.Errorf("policy shadow inputs: %w", err)
		}
		opts.Inputs = inputs
	}
	sh := shadow.New(g.policy, candidate, opts)
	g.starts = append(g.starts, candidate.Start)
	// Closers run last-in first-out: the shadow drains into the report
	// (and the inputs file) before they are closed.
	g.closers = append(g.closers, report.Close)
	if inputs != nil {
		g.closers = append(g.closers, inputs.Close)
	}
	g.closers = append(g.closers, candidate.Close, sh.Close)
	log.Info("policy shadow mode: a candidate runs beside the live policy",
		zap.String("policy_revision", g.policy.Revision()), zap.String("policy_candidate_revision", candidate.Revision()),
		zap.String("policy_shadow_report", reportPath))
	return sh, nil
}

// auditSystem appends an entry for something the gateway did on its own
// (a policy reload, a suite run): no caller, so the entry has the
// gateway's id, the time, a request id of its own, the action and, as
// route, the trigger. (Request entries are assembled in httpapi/audit.go,
// key-custody entries in custody.go.) Not cancelled with anything: an
// entry for something that happened must be written.
func (g *Gateway) auditSystem(action, route string, ev *audit.Event) error {
	now := time.Now
	if g.opts.now != nil {
		now = g.opts.now
	}
	ev.Time, ev.Gateway, ev.RequestID, ev.Action, ev.Route = now().UTC(), g.cfg.GatewayID, audit.NewRequestID(), action, route
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return g.audit.Append(ctx, ev)
}
