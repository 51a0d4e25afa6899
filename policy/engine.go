// Package policy is the policy engine: it loads, tests, signs, evaluates
// and explains Liaison's authorization policy. The policy itself — Rego
// rules, data, schemas, samples — is a library, not code of this package:
// package policies embeds the bundled one, and a deployment may point the
// engine at a directory with the same layout or at a signed bundle
// (package policy/signedbundle). The engine prepares the decision query
// once, checks the policy against its samples before accepting it, and
// answers Decide calls — on the typed Input the gateway builds (the
// contract documented in policies/README.md) — with a structured Decision.
//
// The engine fails closed: an evaluation error, a panic, or a result that is
// not a well-formed decision yields a deny Decision together with a non-nil
// error, so a caller that ignores the error still denies.
//
// Security officers' workflow: RunTests and Check back `liaison policy test`
// and `check`; Explain puts a decision in words; Start watches the policy
// directory (or signed bundle) and swaps in a change atomically, only if it
// compiles, its data matches the schemas, and it passes its samples and its
// Rego tests; Shadow runs a candidate policy beside the live one and
// records every decision that would change; Sign and signed sources make
// bundles that load only with enough trusted signatures.
package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
	"go.uber.org/zap"

	"github.com/liaison-project/liaison/policy/signedbundle"
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
	// ErrTest: the policy loaded but one of its Rego tests failed.
	ErrTest = errors.New("policy: Rego test failed")
	// ErrBundle: a policy bundle is malformed, altered, or not signed by
	// enough trusted keys.
	ErrBundle = signedbundle.ErrUntrusted
)

// Log field names, shared with the gateway's logs.
const (
	fieldRevision    = "policy_revision"
	fieldOldRevision = "policy_old_revision"
	fieldDecisionID  = "decision_id"
	fieldSource      = "policy_source"
	fieldModules     = "policy_modules"
	fieldSamples     = "policy_samples"
	fieldTests       = "policy_tests"
	fieldCandidate   = "policy_candidate_revision"
	fieldTrigger     = "policy_reload_trigger"
	fieldReloadKind  = "policy_reload_kind"
	fieldSuite       = "policy_suite"
)

// Options configure an Engine.
type Options struct {
	// Dir is a policy directory with the layout of package policies
	// (*.rego anywhere, data/*.json, schemas/*.json, optional samples.json).
	// Empty (and no Bundle) means the embedded library.
	Dir string
	// Bundle is a signed policy bundle (see Sign); it excludes Dir. Only a
	// bundle signed by RequiredSignatures distinct keys of TrustedKeys loads.
	Bundle string
	// TrustedKeys is a JWKS file of the security officers' public keys,
	// required with Bundle.
	TrustedKeys string
	// RequiredSignatures is how many distinct trusted keys must have signed
	// a bundle (default 1; production may ask for 2).
	RequiredSignatures int
	// ReloadInterval is how often Start's watcher looks for a changed Dir or
	// Bundle (default 5s; negative disables watching).
	ReloadInterval time.Duration
	// OnReload, if set, is called after every reload attempt, applied or
	// rejected (the gateway audits it). It must not block for long.
	OnReload func(ReloadEvent)
	// Logger receives load, reload and evaluation-failure events; never
	// inputs or record content. Nil means no logging.
	Logger *zap.Logger
	// Reference makes every decision by the reference evaluation: the
	// decision query evaluated by OPA's interpreter as prepared at load,
	// with no shortcut. It is what any faster path (issue 15) must equal,
	// decision for decision; the differential corpus compares the two.
	Reference bool
	// DecisionCacheEntries bounds the decision cache of each loaded policy
	// (cache.go): 0 means DefaultDecisionCacheEntries, a negative number
	// switches the cache off. The cache serves only the reviewed bundled
	// code; any other policy is always evaluated in full.
	DecisionCacheEntries int
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
	tests    int
	// fingerprint identifies the source content that produced this state.
	fingerprint string
	// compiler and store serve the optional queries (explanations).
	compiler *ast.Compiler
	store    storage.Store
	catalog  []checkSpec
	// queries holds extra prepared queries (explanations, the cross-walk)
	// by query text, prepared on first use.
	queries  sync.Map
	manifest *signedbundle.Manifest
	signers  []string
	// cache serves repeated decisions (cache.go); nil when the code is not
	// the reviewed code or the cache is off.
	cache *decisionCache
	// code is the bundle's codeDigest (modules, tests, schemas) and files
	// the digest of each of its files: a reload compares them with the
	// state in force to tell a data-only change and to name what changed.
	code  string
	files map[string]string
	// skippedSamples are the samples not checked because they are about an
	// agreement this data suspends or terminates (see checkSamples).
	skippedSamples []string
}

// Engine evaluates decisions. It is safe for concurrent use.
type Engine struct {
	opts     Options
	src      source
	log      *zap.Logger
	cur      atomic.Pointer[state]
	reloadMu sync.Mutex
	watch    struct {
		once   sync.Once
		cancel context.CancelFunc
		done   chan struct{}
		last   string // fingerprint of the last content tried
	}
	// suite runs the Rego suite in the background after a data-only change
	// (see Start).
	suite suiteRunner
	// syncSuiteRuns counts the Rego suite runs a load or reload waited for;
	// a data-only reload must not add to it (tested).
	syncSuiteRuns atomic.Int64
	// cacheHits and cacheMisses count the decision cache's lookups over
	// the engine's life (every policy state's), for metrics.
	cacheHits, cacheMisses atomic.Int64
	// workers evaluate decisions; Close stops them.
	workers evalPool
	// overlay is laid over the source's data on every load (SetOverlay);
	// guarded by reloadMu.
	overlay *Overlay
}

// New loads, compiles and checks the policy, and returns an engine ready to
// decide. It fails if the policy does not compile, if its data does not
// match the schemas, if it does not reproduce its sample decisions or, for
// a directory or bundle, if its Rego tests fail.
func New(ctx context.Context, opts Options) (*Engine, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	src, err := opts.source()
	if err != nil {
		return nil, err
	}
	e := &Engine{opts: opts, src: src, log: log.Named("policy")}
	e.suite.init()
	e.workers.init(max(4, 2*runtime.GOMAXPROCS(0)))
	st, err := e.load(ctx)
	if err != nil {
		return nil, err
	}
	e.cur.Store(st)
	e.watch.last = st.fingerprint
	e.log.Info("policy loaded",
		zap.String(fieldSource, src.String()),
		zap.String(fieldRevision, st.revision),
		zap.Int(fieldModules, st.modules),
		zap.Int(fieldSamples, st.samples),
		zap.Int(fieldTests, st.tests))
	return e, nil
}

func (o Options) source() (source, error) {
	switch {
	case o.Bundle != "" && o.Dir != "":
		return nil, fmt.Errorf("%w: a policy directory and a bundle are exclusive", ErrLoad)
	case o.Bundle != "":
		return newSignedSource(o.Bundle, o.TrustedKeys, o.RequiredSignatures)
	case o.TrustedKeys != "" || o.RequiredSignatures != 0:
		return nil, fmt.Errorf("%w: trusted keys and required signatures apply to a bundle only", ErrLoad)
	default:
		return dirSource(o.Dir), nil
	}
}

// Reload rebuilds the policy from the same source and swaps it in
// atomically. If the new policy fails to load, to reproduce its samples or
// to pass its Rego tests, the current one stays in force and the error is
// returned. Decisions in flight finish on the policy they started with.
func (e *Engine) Reload(ctx context.Context) error {
	return e.reload(ctx, "manual", false)
}

// reload loads the source; with onlyIfChanged it does nothing when the
// source content is the content last tried (applied or rejected), so that
// a broken change is reported once, not on every poll.
func (e *Engine) reload(ctx context.Context, trigger string, onlyIfChanged bool) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	return e.reloadLocked(ctx, trigger, onlyIfChanged)
}

// reloadLocked is reload with reloadMu held.
func (e *Engine) reloadLocked(ctx context.Context, trigger string, onlyIfChanged bool) error {
	b, fp, err := e.src.load()
	if err == nil && e.overlay != nil {
		// The overlay is part of what was tried: the same files with
		// another overlay are another candidate.
		fp += "+" + e.overlay.digest()
		err = e.overlay.apply(b)
	}
	if onlyIfChanged && fp != "" && fp == e.watch.last {
		return nil
	}
	if fp != "" {
		e.watch.last = fp
	}
	old := e.cur.Load()
	ev := ReloadEvent{Time: time.Now().UTC(), Trigger: trigger, Source: e.src.String(), OldRevision: old.revision}
	var st *state
	if err == nil {
		ev.NewRevision = b.revision()
		ev.Kind = ReloadPolicy
		// A data-only change: the modules the suite passed on are reused.
		// The registry overlay changes only data, also over the embedded
		// policy (whose suite ran when the binary was built).
		if old.code != "" && b.codeDigest() == old.code && (b.origin != "" || trigger == "registry") {
			ev.Kind = ReloadData
			st, err = e.checkData(ctx, b, fp, old)
		} else {
			// The suite must pass on this content; a background run on
			// older content has nothing more to say.
			e.suite.cancel()
			st, err = e.check(ctx, b, fp)
		}
		ev.Files = diffFiles(old.files, b.fileDigests())
	}
	if err != nil {
		ev.Err, ev.Problems = err, ProblemsOf(err)
		fields := []zap.Field{zap.String(fieldSource, ev.Source), zap.String(fieldRevision, old.revision),
			zap.String(fieldCandidate, ev.NewRevision), zap.String(fieldTrigger, trigger)}
		for i, p := range ev.Problems {
			if i == maxLoggedProblems {
				fields = append(fields, zap.Int("policy_more_problems", len(ev.Problems)-i))
				break
			}
			fields = append(fields, zap.String(fmt.Sprintf("problem_%d", i+1), p.String()))
		}
		e.log.Error("policy reload rejected; keeping the current policy", fields...)
		e.notify(ev)
		return err
	}
	e.cur.Store(st)
	ev.Applied = true
	ev.NewRevision = st.revision
	ev.Changes = diffRegistry(old.reg, st.reg)
	ev.SkippedSamples = st.skippedSamples
	ev.Suite = SuitePassed
	if ev.Kind == ReloadData && b.origin != "" && len(b.tests) > 0 {
		if _, ok := passedTests.get(b.digest()); !ok {
			ev.Suite = SuitePending
		}
	}
	e.log.Info("policy reloaded",
		zap.String(fieldSource, ev.Source),
		zap.String(fieldOldRevision, old.revision),
		zap.String(fieldRevision, st.revision),
		zap.String(fieldTrigger, trigger),
		zap.String(fieldReloadKind, ev.Kind),
		zap.String(fieldSuite, ev.Suite),
		zap.Strings("policy_skipped_samples", ev.SkippedSamples),
		zap.Int(fieldSamples, st.samples),
		zap.Int(fieldTests, st.tests))
	e.notify(ev)
	if ev.Suite == SuitePending {
		e.suite.start(e, b, st.revision)
	}
	return nil
}

const maxLoggedProblems = 20

func (e *Engine) notify(ev ReloadEvent) {
	if e.opts.OnReload == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("policy reload callback panicked")
		}
	}()
	e.opts.OnReload(ev)
}

func (e *Engine) load(ctx context.Context) (*state, error) {
	b, fp, err := e.src.load()
	if err != nil {
		return nil, err
	}
	return e.check(ctx, b, fp)
}

// check builds a bundle and runs its samples and, unless it is the
// embedded library (tested when the binary is built), its Rego tests.
func (e *Engine) check(ctx context.Context, b *bundle, fp string) (*state, error) {
	st, err := build(ctx, b)
	if err != nil {
		return nil, err
	}
	st.modules = len(b.modules)
	st.fingerprint = fp
	st.manifest, st.signers = b.manifest, b.signers
	st.code, st.files = b.codeDigest(), b.fileDigests()
	st.cache = newDecisionCache(ctx, st, moduleDigest(b.modules), e.opts.DecisionCacheEntries)
	n, err := st.checkSamples(ctx, b)
	if err != nil {
		return nil, err
	}
	st.samples = n
	if b.origin != "" && len(b.tests) > 0 {
		digest := b.digest()
		if n, ok := passedTests.get(digest); ok {
			st.tests = n
			return st, nil
		}
		e.syncSuiteRuns.Add(1)
		results, err := runTests(ctx, b)
		if err != nil {
			return nil, err
		}
		if err := testsFailed(b, results); err != nil {
			return nil, err
		}
		pass, _, _ := CountTests(results)
		st.tests = pass
		passedTests.put(digest, pass)
	}
	return st, nil
}

// checkData builds a data-only change on the compiled modules of the
// policy in force (cur): the data is validated against the schemas and
// the sample decisions are reproduced, synchronously, as for any change;
// the Rego suite is left to the background (see Start). The modules, tests
// and schemas are byte for byte those whose suite passed when cur's code
// was accepted.
func (e *Engine) checkData(ctx context.Context, b *bundle, fp string, cur *state) (*state, error) {
	st, err := buildWith(ctx, b, cur.compiler)
	if err != nil {
		return nil, err
	}
	st.modules = len(b.modules)
	st.fingerprint = fp
	st.manifest, st.signers = b.manifest, b.signers
	st.code, st.files = cur.code, b.fileDigests()
	st.cache = newDecisionCache(ctx, st, moduleDigest(b.modules), e.opts.DecisionCacheEntries)
	n, err := st.checkSamples(ctx, b)
	if err != nil {
		return nil, err
	}
	st.samples = n
	st.tests = cur.tests
	return st, nil
}

// passedTests remembers, by digest of every file, the policy contents
// whose Rego tests passed in this process, so that loading the same files
// again (a restart of the engine, a reload that changed nothing, another
// engine on a copy) does not run them again. Tests are deterministic given
// the same files: they see only the modules and data.
var passedTests = &testCache{m: map[string]int{}}

type testCache struct {
	mu    sync.Mutex
	m     map[string]int
	order []string
}

const testCacheSize = 32

func (c *testCache) get(digest string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[digest]
	return n, ok
}

func (c *testCache) put(digest string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[digest]; ok {
		return
	}
	if len(c.order) == testCacheSize {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[digest] = n
	c.order = append(c.order, digest)
}

// Revision identifies the policy currently in force.
func (e *Engine) Revision() string { return e.cur.Load().revision }

// Decide evaluates the policy for the gateway's typed input. On any
// failure it returns a deny Decision (with an ID, for the audit log) and a
// non-nil error wrapping ErrEvaluation or ErrMalformedDecision.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	v, err := in.value()
	if err != nil {
		// Not reachable with Input's field types; fail closed all the same.
		err = fmt.Errorf("%w: input is not JSON-compatible", ErrEvaluation)
	}
	return e.decideValue(ctx, v, err)
}

// DecideJSON evaluates the policy for an input written as JSON, exactly
// as written (see jsonValue for who needs that: a dry run, `liaison policy
// eval`, replayed and sample inputs). Input that is not a JSON document is
// denied with an error wrapping ErrEvaluation, like any evaluation failure.
func (e *Engine) DecideJSON(ctx context.Context, raw []byte) (Decision, error) {
	v, err := jsonValue(raw)
	return e.decideValue(ctx, v, err)
}

// decideValue decides an input already converted; convErr is the
// conversion's failure, which denies.
func (e *Engine) decideValue(ctx context.Context, v ast.Value, convErr error) (Decision, error) {
	return e.decideValueBy(ctx, v, convErr, e.opts.Reference)
}

// decideValueBy is decideValue by the reference evaluation (reference) or
// by the engine's own path.
func (e *Engine) decideValueBy(ctx context.Context, v ast.Value, convErr error, reference bool) (Decision, error) {
	st := e.cur.Load()
	var d Decision
	err := convErr
	switch {
	case err != nil:
		d = deny(newID(), st.revision)
	case reference || st.cache == nil || ctx.Err() != nil:
		d, err = e.workers.decide(ctx, st, v, reference)
	default:
		key, ok := st.cache.key(v)
		if ok {
			if hit, found := st.cache.get(key); found {
				st.cache.hits.Add(1)
				e.cacheHits.Add(1)
				return hit, nil
			}
		}
		d, err = e.workers.decide(ctx, st, v, false)
		if ok && err == nil {
			st.cache.misses.Add(1)
			e.cacheMisses.Add(1)
			st.cache.put(key, d)
		}
	}
	if err != nil {
		e.log.Error("policy evaluation failed; denying",
			zap.String(fieldDecisionID, d.ID), zap.String(fieldRevision, d.Revision), zap.Error(err))
	}
	return d, err
}

// decide is the engine's decision path. Every shortcut of issue 15 (a
// restructured evaluation, a decision cache) belongs here, and must return
// exactly what decideReference returns: the differential corpus
// (policy/diff_test.go, make decide-diff) proves it. No shortcut is in
// place yet, so the engine decides by the reference.
func (s *state) decide(ctx context.Context, v ast.Value) (Decision, error) {
	return s.decideReference(ctx, v)
}

// decideBy is decide, or decideReference when reference is set.
func (s *state) decideBy(ctx context.Context, v ast.Value, reference bool) (Decision, error) {
	if reference {
		return s.decideReference(ctx, v)
	}
	return s.decide(ctx, v)
}

// decideReference is the reference evaluation: the decision query as
// prepared at load, evaluated by OPA's interpreter on the whole input.
func (s *state) decideReference(ctx context.Context, v ast.Value) (d Decision, err error) {
	id := newID()
	defer func() {
		if r := recover(); r != nil {
			// The panic value may carry input; report only that it happened.
			d, err = deny(id, s.revision), fmt.Errorf("%w: panic during evaluation", ErrEvaluation)
		}
	}()
	rs, err := s.pq.Eval(ctx, rego.EvalParsedInput(v), rego.EvalGenerateJSON(keepAST))
	if err != nil {
		return deny(id, s.revision), evalError(ctx, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return deny(id, s.revision), fmt.Errorf("%w: %s is undefined", ErrMalformedDecision, Query)
	}
	result, ok := rs[0].Expressions[0].Value.(ast.Value)
	if !ok {
		return deny(id, s.revision), fmt.Errorf("%w: unexpected result type", ErrMalformedDecision)
	}
	d = Decision{ID: id, Revision: s.revision}
	if err := parseDecision(result, &d); err != nil {
		return deny(id, s.revision), err
	}
	return d, nil
}

// keepAST hands the result over as OPA's AST value: parseDecision reads it
// directly, instead of OPA converting the whole decision to Go maps first.
func keepAST(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil }

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

// evalPool runs an engine's decisions on long-lived goroutines. Why: OPA's
// evaluator recurses deeply, growing a goroutine's stack to hundreds of
// kilobytes during a decision, and a server runs each request on a fresh
// goroutine (net/http does), so the runtime grew and copied the stack
// several times per decision: +40–50% of the decision's cost
// (BenchmarkDecideFreshGoroutine). A worker keeps its grown stack.
// Decisions are CPU-bound, so a few workers per core lose no parallelism;
// the hand-off costs a couple of microseconds.
//
// The pool belongs to its Engine: the workers start with the first
// decision (an engine built only to check or sign a policy never starts
// them) and Close stops them. After Close a decision runs on the caller's
// goroutine, so a closed engine still decides, as before.
type evalPool struct {
	n     int
	jobs  chan evalJob
	start sync.Once
	wg    sync.WaitGroup
	// mu orders sends against stop: decide sends under the read lock,
	// stop closes the queue under the write lock.
	mu     sync.RWMutex
	closed bool
}

type evalJob struct {
	ctx       context.Context
	st        *state
	v         ast.Value
	reference bool
	done      chan evalResult
}

type evalResult struct {
	d   Decision
	err error
}

func (p *evalPool) init(n int) { p.n, p.jobs = n, make(chan evalJob) }

func (p *evalPool) decide(ctx context.Context, st *state, v ast.Value, reference bool) (Decision, error) {
	// A request already abandoned is not evaluated: deny, as any evaluation
	// failure does (OPA itself may finish a short evaluation before it
	// notices the cancellation).
	if err := ctx.Err(); err != nil {
		return deny(newID(), st.revision), fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return st.decideBy(ctx, v, reference)
	}
	p.start.Do(func() {
		p.wg.Add(p.n)
		for range p.n {
			go func() {
				defer p.wg.Done()
				for j := range p.jobs {
					d, err := j.st.decideBy(j.ctx, j.v, j.reference) // recovers its own panics
					j.done <- evalResult{d, err}
				}
			}()
		}
	})
	done := make(chan evalResult, 1)
	select {
	case p.jobs <- evalJob{ctx: ctx, st: st, v: v, reference: reference, done: done}:
		p.mu.RUnlock()
	case <-ctx.Done():
		p.mu.RUnlock()
		return deny(newID(), st.revision), fmt.Errorf("%w: %w", ErrEvaluation, ctx.Err())
	}
	r := <-done
	return r.d, r.err
}

// stop ends the workers once the decisions they hold are answered.
func (p *evalPool) stop() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.start.Do(func() {}) // never start after stop
		close(p.jobs)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
