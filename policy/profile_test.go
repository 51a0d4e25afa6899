package policy_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/profiler"

	"github.com/liaison-project/liaison/policy"
)

var decideProfile = flag.Int("decide-profile", 0, "profile the decision query's Rego expressions over this many mixed inputs and print the costliest (issue 15)")

// TestDecideProfile prints where a decision's Rego evaluation goes, by
// expression, over the mixed inputs of BenchmarkDecideMixed: OPA's own
// profiler (the one `opa eval --profile` uses) attached to the reference
// evaluation. It measures nothing unless asked:
//
//	go test ./policy -run TestDecideProfile -decide-profile 2000 -v
func TestDecideProfile(t *testing.T) {
	if *decideProfile == 0 {
		t.Skip("set -decide-profile N to profile N mixed inputs")
	}
	e := engine(t)
	ctx := context.Background()
	prof := profiler.New()
	inputs := mixedInputs(t, *decideProfile)
	for _, p := range inputs {
		if err := policy.EvalTraced(ctx, e, p, prof); err != nil {
			t.Fatal(err)
		}
	}
	stats := prof.ReportTopNResults(-1, []string{"total_time_ns", "num_eval", "file", "line"})
	var total int64
	evals := 0
	byFile := map[string]int64{}
	for _, s := range stats {
		total += s.ExprTimeNs
		evals += s.NumEval
		byFile[s.Location.File] += s.ExprTimeNs
	}
	n := len(inputs)
	fmt.Printf("decide-profile: %d inputs, %d expression evaluations per decision, %.0f µs of expression time per decision\n",
		n, evals/n, float64(total)/float64(n)/1e3)
	for f, ns := range byFile {
		fmt.Printf("  %-45s %5.1f%%\n", f, 100*float64(ns)/float64(total))
	}
	for i, s := range stats {
		if i == 40 {
			break
		}
		text := strings.Join(strings.Fields(string(s.Location.Text)), " ")
		if len(text) > 90 {
			text = text[:90] + "…"
		}
		fmt.Printf("%5.1f%% %6.1f evals/decision  %s:%d  %s\n", 100*float64(s.ExprTimeNs)/float64(total), float64(s.NumEval)/float64(n), s.Location.File, s.Location.Row, text)
	}
	_ = os.Stdout.Sync()
}
