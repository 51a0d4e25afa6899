package policy

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test rule, or of one named case of a
// table-driven test rule.
type TestResult struct {
	// Name is the rule's full path, with the case name after " / " for a
	// case of a table test: "data.liaison.authz_test.test_read / expired DSA".
	Name  string `json:"name"`
	Pass  bool   `json:"pass"`
	Skip  bool   `json:"skip,omitempty"`
	Error string `json:"error,omitempty"`
	// Location is the test rule's file:line.
	Location string `json:"location,omitempty"`
	// Duration is how long the test rule ran (not set on table cases).
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Cases is, for a table test rule, how many named cases follow it in
	// the results. Such a rule is a heading, not a test of its own: it is
	// not counted (CountTests), so that the total is `opa test`'s.
	Cases int `json:"cases,omitempty"`
}

// CountTests counts results as `opa test` does: every case of a table test
// once and every other test rule once; a table rule itself is not a test
// (it passes exactly when its cases do). Before issue 9 the rule was
// counted too, so that `liaison policy test` reported one test more per
// table rule than `opa test` did on the same files (590 against 539).
func CountTests(results []TestResult) (pass, fail, skip int) {
	for _, r := range results {
		switch {
		case r.Cases > 0:
		case r.Skip:
			skip++
		case r.Pass:
			pass++
		default:
			fail++
		}
	}
	return pass, fail, skip
}

// RunTests runs the Rego unit tests (*_test.rego) of a policy directory (or
// the embedded library if dir is empty) against its data, as `opa test
// liaison data` does. An error means the tests could not run; failing tests
// are results with Pass false.
func RunTests(ctx context.Context, dir string) ([]TestResult, error) {
	b, _, err := dirSource(dir).load()
	if err != nil {
		return nil, err
	}
	return runTests(ctx, b)
}

func runTests(ctx context.Context, b *bundle) ([]TestResult, error) {
	files := maps.Clone(b.modules)
	maps.Copy(files, b.tests)
	mods, err := b.parseModules(files)
	if err != nil {
		return nil, err
	}
	data, _, err := b.mergeData()
	if err != nil {
		return nil, err
	}
	ch, err := tester.NewRunner().
		SetStore(newStore(data)).
		SetModules(mods).
		SetTimeout(time.Minute). // generous: CI machines are slow and shared
		RunTests(ctx, nil)
	if err != nil {
		if problems := astProblems("compile", "", err); len(problems) > 0 && problems[0].Line > 0 {
			return nil, &ProblemsError{Kind: ErrLoad, Problems: problems}
		}
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	var out []TestResult
	for r := range ch {
		name := r.Package + "." + r.Name
		loc := ""
		if r.Location != nil {
			loc = r.Location.String()
		}
		top := TestResult{Name: name, Pass: r.Pass(), Skip: r.Skip, Location: loc, Duration: r.Duration}
		if r.Error != nil {
			top.Error = r.Error.Error()
		}
		at := len(out)
		out = append(out, top)
		for path, sr := range r.SubResults.Iter {
			if len(sr.SubResults) > 0 {
				continue // report leaves only
			}
			out = append(out, TestResult{
				Name:     name + " / " + strings.Join(path, " / "),
				Pass:     !sr.Fail,
				Location: loc,
			})
			out[at].Cases++
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// testsFailed turns failing results into an ErrTest with file:line problems.
func testsFailed(b *bundle, results []TestResult) error {
	var problems []Problem
	for _, r := range results {
		if r.Pass || r.Skip {
			continue
		}
		p := Problem{Kind: "test", Message: "FAIL " + r.Name}
		if r.Error != "" {
			p.Message += ": " + r.Error
		}
		p.File, p.Line, p.Col = splitLocation(r.Location)
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return &ProblemsError{Kind: ErrTest, Problems: problems}
	}
	return nil
}

// splitLocation parses "file:line" or "file:line:col" as OPA prints
// locations.
func splitLocation(loc string) (string, int, int) {
	var nums []int
	rest := loc
	for range 2 {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			break
		}
		n, err := strconv.Atoi(rest[i+1:])
		if err != nil {
			break
		}
		nums = append([]int{n}, nums...)
		rest = rest[:i]
	}
	switch len(nums) {
	case 1:
		return rest, nums[0], 0
	case 2:
		return rest, nums[0], nums[1]
	}
	return loc, 0, 0
}
