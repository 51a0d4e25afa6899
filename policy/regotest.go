package policy

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test rule, or of one named case of a
// table-driven test rule.
type TestResult struct {
	// Name is the rule's full path, with the case name after " / " for a
	// case of a table test: "data.liaison.authz_test.test_read / expired DSA".
	Name     string `json:"name"`
	Pass     bool   `json:"pass"`
	Skip     bool   `json:"skip,omitempty"`
	Error    string `json:"error,omitempty"`
	Location string `json:"location,omitempty"`
}

// RunTests runs the Rego unit tests (*_test.rego) of a policy source (dir,
// or the embedded bundle if empty) against its data, as `opa test` does.
// An error means the tests could not run; failing tests are results with
// Pass false.
func RunTests(ctx context.Context, dir string) ([]TestResult, error) {
	b, err := readBundle(sourceFS(dir))
	if err != nil {
		return nil, err
	}
	files := maps.Clone(b.modules)
	maps.Copy(files, b.tests)
	mods, err := parseModules(files)
	if err != nil {
		return nil, err
	}
	data, err := mergeData(b.data)
	if err != nil {
		return nil, err
	}
	ch, err := tester.NewRunner().
		SetStore(newStore(data)).
		SetModules(mods).
		SetTimeout(time.Minute). // generous: CI machines are slow and shared
		RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	var out []TestResult
	for r := range ch {
		name := r.Package + "." + r.Name
		loc := ""
		if r.Location != nil {
			loc = r.Location.String()
		}
		top := TestResult{Name: name, Pass: r.Pass(), Skip: r.Skip, Location: loc}
		if r.Error != nil {
			top.Error = r.Error.Error()
		}
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
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
