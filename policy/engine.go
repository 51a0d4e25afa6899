// Package policy evaluates Liaison's authorization policy: an embedded OPA
// engine that loads the Rego library and data of package policies (or a
// directory with the same layout), prepares the decision query once, checks
// the policy against sample decisions before accepting it, and answers
// Decide calls with a structured Decision.
//
// The engine fails closed: an evaluation error, a panic, or a result that is
// not a well-formed decision yields a deny Decision together with a non-nil
// error, so a caller that ignores the error still denies. Reload swaps in a
// new policy atomically, and only if it compiles and passes its samples.
package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"go.uber.org/zap"
)

var (
	// ErrLoad: the policy source could not be read, parsed, compiled or
	// prepared, or its data is malformed.
	ErrLoad = errors.New("policy: load failed")
	// ErrSample: the policy loaded but did not reproduce a sample decision.
	ErrSample = errors.New("policy: sample decision mismatch")
	// ErrEvaluation: evaluation failed (error, panic, cancellation).
	ErrEvaluation = errors.New("policy: evaluation failed")
	// ErrMalformedDecision: the policy returned something other than a
	// well-formed decision (including no decision at all).
	ErrMalformedDecision = errors.New("policy: malformed decision")
)

// Actions the policy decides on (input.action).
const (
	ActionPublish = "record.publish"
	ActionRead    = "record.read"
	ActionList    = "record.list"
	ActionRecall  = "record.recall"
	ActionDecide  = "policy.decide" // the /v1/decisions dry-run
)

// Log field names, shared with the gateway's logs.
const (
	fieldRevision    = "policy_revision"
	fieldOldRevision = "policy_old_revision"
	fieldDecisionID  = "decision_id"
	fieldSource      = "policy_source"
	fieldModules     = "policy_modules"
	fieldSamples     = "policy_samples"
)

// Options configure an Engine.
type Options struct {
	// Dir is a policy directory with the layout of package policies
	// (*.rego anywhere, data/*.json, optional samples.json). Empty means the
	// embedded bundle.
	Dir string
	// Logger receives load, reload and evaluation-failure events; never
	// inputs or record content. Nil means no logging.
	Logger *zap.Logger
	// Observer, if set, is called after every Decide with the evaluation
	// time, the outcome and the error (for latency metrics).
	Observer func(d time.Duration, allowed bool, err error)
}

// Agency is a federation member as the policy data describes it.
type Agency struct {
	ID                   string `json:"-"`
	Name                 string `json:"name"`
	OrgType              string `json:"org_type"`
	Country              string `json:"country"`
	IsCompetentAuthority bool   `json:"is_competent_authority"`
	SystemClearance      string `json:"system_clearance"`
	RequireOfficerToken  bool   `json:"require_officer_token"`
	SELECStatus          string `json:"selec_status,omitempty"`
	TLPOrg               string `json:"tlp_org,omitempty"`
}

// state is one loaded policy; it is immutable once published.
type state struct {
	pq       rego.PreparedEvalQuery
	revision string
	reg      *registry
	modules  int
	samples  int
}

// Engine evaluates decisions. It is safe for concurrent use.
type Engine struct {
	opts     Options
	log      *zap.Logger
	cur      atomic.Pointer[state]
	reloadMu sync.Mutex
}

// New loads, compiles and checks the policy, and returns an engine ready to
// decide. It fails if the policy does not compile or does not reproduce its
// sample decisions.
func New(ctx context.Context, opts Options) (*Engine, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	e := &Engine{opts: opts, log: log.Named("policy")}
	st, err := e.load(ctx)
	if err != nil {
		return nil, err
	}
	e.cur.Store(st)
	e.log.Info("policy loaded",
		zap.String(fieldSource, e.sourceName()),
		zap.String(fieldRevision, st.revision),
		zap.Int(fieldModules, st.modules),
		zap.Int(fieldSamples, st.samples))
	return e, nil
}

// Reload rebuilds the policy from the same source and swaps it in
// atomically. If the new policy fails to load or to reproduce its samples,
// the current one stays in force and the error is returned.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	st, err := e.load(ctx)
	if err != nil {
		e.log.Error("policy reload rejected; keeping the current policy",
			zap.String(fieldRevision, e.cur.Load().revision), zap.Error(err))
		return err
	}
	old := e.cur.Swap(st)
	e.log.Info("policy reloaded",
		zap.String(fieldOldRevision, old.revision),
		zap.String(fieldRevision, st.revision))
	return nil
}

func (e *Engine) sourceName() string {
	if e.opts.Dir == "" {
		return "embedded"
	}
	return e.opts.Dir
}

func (e *Engine) load(ctx context.Context) (*state, error) {
	b, err := readBundle(sourceFS(e.opts.Dir))
	if err != nil {
		return nil, err
	}
	st, err := build(ctx, b)
	if err != nil {
		return nil, err
	}
	st.modules = len(b.modules)
	n, err := st.checkSamples(ctx, b.samples)
	if err != nil {
		return nil, err
	}
	st.samples = n
	return st, nil
}

// Revision identifies the policy currently in force.
func (e *Engine) Revision() string { return e.cur.Load().revision }

// Decide evaluates the policy for input (a JSON-compatible value shaped as
// described in policies/README.md). On any failure it returns a deny
// Decision (with an ID, for the audit log) and a non-nil error wrapping
// ErrEvaluation or ErrMalformedDecision.
func (e *Engine) Decide(ctx context.Context, input any) (Decision, error) {
	start := time.Now()
	st := e.cur.Load()
	d, err := st.decide(ctx, input)
	if err != nil {
		e.log.Error("policy evaluation failed; denying",
			zap.String(fieldDecisionID, d.ID), zap.String(fieldRevision, d.Revision), zap.Error(err))
	}
	if e.opts.Observer != nil {
		e.opts.Observer(time.Since(start), d.Allow, err)
	}
	return d, err
}

func (s *state) decide(ctx context.Context, input any) (d Decision, err error) {
	id := newID()
	defer func() {
		if r := recover(); r != nil {
			// The panic value may carry input; report only that it happened.
			d, err = deny(id, s.revision), fmt.Errorf("%w: panic during evaluation", ErrEvaluation)
		}
	}()
	// Convert here rather than in OPA so that a conversion failure is
	// reported as such, without the value.
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		return deny(id, s.revision), fmt.Errorf("%w: input of type %T is not JSON-compatible", ErrEvaluation, input)
	}
	rs, err := s.pq.Eval(ctx, rego.EvalParsedInput(v))
	if err != nil {
		return deny(id, s.revision), evalError(ctx, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return deny(id, s.revision), fmt.Errorf("%w: %s is undefined", ErrMalformedDecision, Query)
	}
	d = Decision{ID: id, Revision: s.revision}
	if err := parseDecision(rs[0].Expressions[0].Value, &d); err != nil {
		return deny(id, s.revision), err
	}
	return d, nil
}

// evalError keeps what identifies the failure (OPA error code and policy
// location, context cancellation) and drops OPA's message, which may quote
// input values.
func evalError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w: %w", ErrEvaluation, ctxErr)
	}
	var te *topdown.Error
	if errors.As(err, &te) {
		if te.Location != nil {
			return fmt.Errorf("%w: %s at %s", ErrEvaluation, te.Code, te.Location)
		}
		return fmt.Errorf("%w: %s", ErrEvaluation, te.Code)
	}
	return fmt.Errorf("%w: %T", ErrEvaluation, err)
}

// Agency returns the registry entry of an agency.
func (e *Engine) Agency(id string) (Agency, bool) {
	a, ok := e.cur.Load().reg.agencies[id]
	return a, ok
}

// Agencies returns the ids of all agencies in the registry, sorted.
func (e *Engine) Agencies() []string {
	return append([]string(nil), e.cur.Load().reg.agencyIDs...)
}

// AgencyAttributes returns every attribute of an agency in the data,
// including ones Agency has no field for. The map is a fresh copy.
func (e *Engine) AgencyAttributes(id string) (map[string]any, bool) {
	raw, ok := e.cur.Load().reg.agencyRaw[id]
	if !ok {
		return nil, false
	}
	return decodeObject(raw), true
}

// DSA returns a data sharing agreement as the policy data holds it. The map
// is a fresh copy.
func (e *Engine) DSA(id string) (map[string]any, bool) {
	raw, ok := e.cur.Load().reg.dsas[id]
	if !ok {
		return nil, false
	}
	return decodeObject(raw), true
}

// DSAs returns the ids of all agreements, sorted.
func (e *Engine) DSAs() []string { return sortedKeys(e.cur.Load().reg.dsas) }

// Settings returns data.settings (for example policy_admin_roles and
// auditor_roles). The map is a fresh copy.
func (e *Engine) Settings() map[string]any { return decodeObject(e.cur.Load().reg.settings) }

// decodeObject decodes JSON the engine itself encoded from an object.
func decodeObject(raw json.RawMessage) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return map[string]any{}
	}
	return m
}
