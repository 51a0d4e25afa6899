package policy

import (
	"bytes"
	"context"
	"errors"
	"maps"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
)

// CheckReport is the outcome of Check: what was examined and every problem
// found, each located in a file.
type CheckReport struct {
	Source    string    `json:"source"`
	Revision  string    `json:"revision,omitempty"`
	Modules   int       `json:"modules"`
	TestFiles int       `json:"test_files"`
	DataFiles int       `json:"data_files"`
	Samples   int       `json:"samples"`
	Problems  []Problem `json:"problems"`
}

// OK reports whether the policy passed every check.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// Check lints and compiles a policy source without loading it: `opa fmt`
// formatting, parsing, strict compilation of the modules and their tests
// (unused variables and imports, shadowed names, deprecated built-ins, as
// `opa check --strict`), the entrypoint, the data against its JSON Schemas,
// and, if all that passed, the invariants and sample decisions. It keeps
// going after a problem so that one run lists them all. The error is
// non-nil only when the source cannot be read at all (or, for a bundle, is
// not trusted).
func Check(ctx context.Context, opts Options) (*CheckReport, error) {
	src, err := opts.source()
	if err != nil {
		return nil, err
	}
	b, _, err := src.load()
	if err != nil {
		var pe *ProblemsError
		if errors.As(err, &pe) {
			return &CheckReport{Source: src.String(), Problems: pe.Problems}, nil
		}
		return nil, err
	}
	r := &CheckReport{Source: src.String(), Revision: b.revision(), Modules: len(b.modules), TestFiles: len(b.tests), DataFiles: len(b.data)}
	add := func(err error) {
		if err != nil {
			r.Problems = append(r.Problems, ProblemsOf(err)...)
		}
	}

	all := maps.Clone(b.modules)
	maps.Copy(all, b.tests)
	for _, p := range sortedKeys(all) {
		if prob, ok := formatProblem(b.display(p), all[p]); ok {
			r.Problems = append(r.Problems, prob)
		}
	}
	mods, err := b.parseModules(all)
	add(err)
	if err == nil {
		compiler := ast.NewCompiler().WithStrict(true).WithEnablePrintStatements(false)
		if compiler.Compile(mods); compiler.Failed() {
			r.Problems = append(r.Problems, astProblems("compile", "", compiler.Errors)...)
		} else if len(compiler.GetRulesExact(ast.MustParseRef(Query))) == 0 {
			r.Problems = append(r.Problems, Problem{Kind: "compile", Message: "the policy does not define " + Query})
		}
	}
	data, owner, err := b.mergeData()
	add(err)
	if err == nil {
		add(b.validateData(data, owner))
	}
	if len(r.Problems) == 0 {
		st, err := build(ctx, b)
		add(err)
		if err == nil {
			n, err := st.checkSamples(ctx, b)
			add(err)
			r.Samples = n
		}
	}
	sortProblems(r.Problems)
	return r, nil
}

// formatProblem reports a module that `opa fmt` would change, at the first
// line that differs.
func formatProblem(file string, src []byte) (Problem, bool) {
	formatted, err := format.SourceWithOpts(file, src, format.Opts{RegoVersion: ast.RegoV1})
	if err != nil || bytes.Equal(formatted, src) {
		return Problem{}, false // a parse error is reported by the parser
	}
	line := 1
	a, c := bytes.Split(src, []byte("\n")), bytes.Split(formatted, []byte("\n"))
	for line <= len(a) && line <= len(c) && bytes.Equal(a[line-1], c[line-1]) {
		line++
	}
	return Problem{File: file, Line: line, Kind: "format", Message: "not formatted as `opa fmt` would (run opa fmt -w on the file)"}, true
}
