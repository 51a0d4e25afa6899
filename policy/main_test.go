package policy_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/liaison-project/liaison/policy"
)

// TestMain proves that engines, shadows and watchers own their goroutines:
// once the tests have closed what they built (and the shared engine is
// closed here), none is left running.
func TestMain(m *testing.M) {
	code := m.Run()
	if e, err := sharedEngine(); err == nil {
		_ = e.Close()
	}
	statesEngines.Range(func(_, e any) bool { _ = e.(*policy.Engine).Close(); return true })
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// newEngine is policy.New for a test: the engine is closed when the test
// ends, so that its workers and watcher stop (TestMain checks).
func newEngine(tb testing.TB, ctx context.Context, opts policy.Options) (*policy.Engine, error) {
	tb.Helper()
	e, err := policy.New(ctx, opts)
	if err == nil {
		tb.Cleanup(func() { _ = e.Close() })
	}
	return e, err
}
