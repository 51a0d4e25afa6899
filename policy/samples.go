package policy

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/liaison-project/liaison/policy/jsonpos"
)

// sample is one expected decision from samples.json.
type sample struct {
	Name  string `json:"name"`
	Input any    `json:"input"`
	Want  struct {
		Allow   *bool    `json:"allow"`
		Visible *bool    `json:"visible"`
		Codes   []string `json:"codes"`
	} `json:"want"`
}

type samplesDoc struct {
	Samples []sample `json:"samples"`
}

// invariants hold for any acceptable policy, whatever its data: garbage,
// unknown actions and anonymous dry-runs are denied. They run before the
// policy's own samples.
var invariants = []struct {
	name  string
	input any
}{
	{"no input", nil},
	{"empty object", map[string]any{}},
	{"a string", "record.read"},
	{"an array", []any{map[string]any{"action": string(ActionRead)}}},
	{"unknown action", map[string]any{
		"action":  "record.delete-everything",
		"time":    "2026-11-21T10:00:00Z",
		"subject": map[string]any{"agency_id": "any-agency"},
	}},
	{"read without a record", map[string]any{
		"action":  string(ActionRead),
		"time":    "2026-11-21T10:00:00Z",
		"subject": map[string]any{"agency_id": "any-agency"},
		"request": map[string]any{"purpose": "investigation", "justification": "sample check"},
	}},
	{"dry-run without an officer", map[string]any{
		"action":  string(ActionDecide),
		"time":    "2026-11-21T10:00:00Z",
		"subject": map[string]any{"agency_id": "any-agency"},
	}},
}

// checkSamples evaluates the invariants and the policy's samples and
// returns how many were checked. Every mismatch is reported, located in
// samples.json.
func (s *state) checkSamples(ctx context.Context, b *bundle) (int, error) {
	var problems []Problem
	for _, inv := range invariants {
		d, err := s.decideGeneric(ctx, inv.input)
		switch {
		case err != nil:
			problems = append(problems, Problem{Kind: "sample", Message: fmt.Sprintf("invariant %q: %v", inv.name, err)})
		case d.Allow:
			problems = append(problems, Problem{Kind: "sample", Message: fmt.Sprintf("invariant %q: allowed, want deny", inv.name)})
		}
	}
	n := len(invariants)
	if raw := b.samples; raw != nil {
		file := b.display(samplesFile)
		var doc samplesDoc
		if err := util.UnmarshalJSON(raw, &doc); err != nil {
			p := jsonSyntaxProblem(file, raw, err)
			p.Kind = "sample"
			return 0, &ProblemsError{Kind: ErrLoad, Problems: []Problem{p}}
		}
		for i, smp := range doc.Samples {
			at := func(msg string) Problem {
				line, col := jsonpos.Locate(raw, []string{"samples", strconv.Itoa(i)})
				return Problem{File: file, Line: line, Col: col, Kind: "sample", Message: msg}
			}
			if smp.Name == "" || smp.Want.Allow == nil {
				return 0, &ProblemsError{Kind: ErrLoad, Problems: []Problem{at(fmt.Sprintf("samples[%d] needs a name and want.allow", i))}}
			}
			if id := s.inactiveDSA(smp.Input); id != "" {
				// A sample records a decision under the federation's
				// agreements as they were written; suspending or
				// terminating one of them changes that decision by
				// design (it can only take access away: a DSA that is not
				// active grants nothing). Skipping it, rather than
				// refusing the change, lets a suspension go live.
				s.skippedSamples = append(s.skippedSamples, fmt.Sprintf("%s (DSA %s is %s)", smp.Name, id, dsaStatus(s.reg.dsas[id])))
				continue
			}
			d, err := s.decideGeneric(ctx, smp.Input)
			if err != nil {
				problems = append(problems, at(fmt.Sprintf("sample %q: %v", smp.Name, err)))
				continue
			}
			if mismatch := compare(d, smp); mismatch != "" {
				problems = append(problems, at(fmt.Sprintf("sample %q: %s", smp.Name, mismatch)))
			}
		}
		n += len(doc.Samples) - len(s.skippedSamples)
	}
	if len(problems) > 0 {
		return 0, &ProblemsError{Kind: ErrSample, Problems: problems}
	}
	return n, nil
}

// decideGeneric decides an input decoded from JSON into plain values (a
// sample, an invariant): deliberately not an Input, since samples check
// that malformed inputs are denied.
func (s *state) decideGeneric(ctx context.Context, x any) (Decision, error) {
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return deny(newID(), s.revision), fmt.Errorf("%w: input is not JSON-compatible", ErrEvaluation)
	}
	return s.decide(ctx, v)
}

func compare(d Decision, smp sample) string {
	if d.Allow != *smp.Want.Allow {
		return fmt.Sprintf("allow = %t, want %t (codes %v)", d.Allow, *smp.Want.Allow, d.Codes())
	}
	if smp.Want.Visible != nil && d.Visible != *smp.Want.Visible {
		return fmt.Sprintf("visible = %t, want %t", d.Visible, *smp.Want.Visible)
	}
	if smp.Want.Codes != nil {
		got := uniqueSorted(d.Codes())
		want := uniqueSorted(smp.Want.Codes)
		if !slices.Equal(got, want) {
			return fmt.Sprintf("codes = %v, want %v", got, want)
		}
	}
	return ""
}

func uniqueSorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// inactiveDSA returns a DSA that a sample's record is shared under and
// that this policy's data marks suspended, terminated or draft, or "".
func (s *state) inactiveDSA(input any) string {
	in, _ := input.(map[string]any)
	rec, _ := in["record"].(map[string]any)
	ids, _ := rec["dsa_ids"].([]any)
	// A request for information names its agreement outside the record.
	rfi, _ := in["info_request"].(map[string]any)
	more, _ := rfi["dsa_ids"].([]any)
	ids = append(ids[:len(ids):len(ids)], more...)
	for _, v := range ids {
		id, _ := v.(string)
		raw, ok := s.reg.dsas[id]
		if ok {
			if st := dsaStatus(raw); st != "" && st != "active" {
				return id
			}
		}
	}
	return ""
}
