package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// SyncSuiteRuns is how many Rego suite runs e's loads and reloads waited
// for (tests only).
func SyncSuiteRuns(e *Engine) int64 { return e.syncSuiteRuns.Load() }

// WaitSuite waits for e's background Rego suite run, if any (tests only).
func WaitSuite(e *Engine) { e.suite.wait() }

// ForgetPassedSuites empties the process-wide cache of contents whose Rego
// suite passed, so that a test which needs a suite run gets one even when
// an earlier run in the same process (go test -count=N) passed the same
// files (tests only).
func ForgetPassedSuites() {
	passedTests.mu.Lock()
	defer passedTests.mu.Unlock()
	passedTests.m, passedTests.order = map[string]int{}, nil
}

// Poll does what one tick of e's watcher does: reload if the source
// changed since the content last tried (tests only), so that a test can
// make a change of several files and then look, deterministically.
func Poll(e *Engine) { _ = e.reload(context.Background(), "watch", true) }

// DecideReference decides p on e's policy in force by the reference
// evaluation (Options.Reference), whatever e's own options, so that one
// engine compares its path with the reference in the same run (tests and
// benchmarks only).
func DecideReference(ctx context.Context, e *Engine, p Prepared) (Decision, error) {
	if p.v == nil {
		return e.decideValueBy(ctx, nil, fmt.Errorf("%w: no input", ErrEvaluation), true)
	}
	return e.decideValueBy(ctx, p.v, nil, true)
}

// EvalTraced evaluates the decision query for p on e's policy in force as
// the reference does, with tracer attached (the profile of
// TestDecideProfile; tests only).
func EvalTraced(ctx context.Context, e *Engine, p Prepared, tracer topdown.QueryTracer) error {
	st := e.cur.Load()
	_, err := st.pq.Eval(ctx, rego.EvalParsedInput(p.v), rego.EvalQueryTracer(tracer))
	return err
}

// DecisionCacheKey is the decision cache's key of p on e's policy in force;
// ok is false when that policy has no cache or p is not an object (tests
// only).
func DecisionCacheKey(e *Engine, p Prepared) (key [32]byte, ok bool) {
	st := e.cur.Load()
	if st.cache == nil || p.v == nil {
		return key, false
	}
	return st.cache.key(p.v)
}

// DecisionCacheStats reports the hits and misses of the decision cache of
// e's policy in force, and whether it has one (tests and benchmarks only).
func DecisionCacheStats(e *Engine) (hits, misses int64, on bool) {
	st := e.cur.Load()
	if st.cache == nil {
		return 0, 0, false
	}
	return st.cache.hits.Load(), st.cache.misses.Load(), true
}

// ResetDecisionCache empties the decision cache of e's policy in force
// and its counters, so that a benchmark measures a cold cache (tests and
// benchmarks only).
func ResetDecisionCache(e *Engine) {
	if st := e.cur.Load(); st.cache != nil {
		st.cache.lru.Purge()
		st.cache.hits.Store(0)
		st.cache.misses.Store(0)
	}
}
