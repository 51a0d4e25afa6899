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
