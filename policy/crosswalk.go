package policy

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/open-policy-agent/opa/v1/rego"
)

// ErrCrosswalk: a legacy grade is malformed, or the policy has no
// cross-walk for it.
var ErrCrosswalk = errors.New("policy: no cross-walk")

// crosswalkQuery reads a legacy 5x5x5 grade through the policy's cross-walk
// table (data.crosswalk.legacy_5x5x5, policies/data/crosswalk.json).
const crosswalkQuery = "x := data.liaison.schemes.legacy5x5x5.crosswalk(input.legacy)"

var legacyPattern = regexp.MustCompile(`^[A-E][1-5][1-5]$`)

// Crosswalk is a legacy 5x5x5 grade read as 3x5x2: what an importer
// records on a legacy record, keeping the original in
// grading.legacy_5x5x5. The policy applies the same handling at decision
// time in addition to the record's own, so an import cannot widen access.
type Crosswalk struct {
	Legacy string `json:"legacy_5x5x5"`
	// Grading is {"source", "intelligence", "legacy_5x5x5"}.
	Grading map[string]any `json:"grading"`
	// Handling is the 3x5x2 handling block (code, action and sanitisation
	// codes, conditions).
	Handling map[string]any `json:"handling"`
	// Conditions are legacy obligations 3x5x2 has no field for
	// (record_authorisation, special_conditions, refer_to_originator); the
	// policy adds them to every disclosure's conditions.
	Conditions []string `json:"conditions"`
}

// Crosswalk reads a legacy 5x5x5 grade ("B24": source B, intelligence 2,
// handling 4) through the cross-walk of the policy in force.
func (e *Engine) Crosswalk(ctx context.Context, legacy string) (Crosswalk, error) {
	if !legacyPattern.MatchString(legacy) {
		return Crosswalk{}, fmt.Errorf("%w: %q is not a 5x5x5 grade (source A-E, intelligence 1-5, handling 1-5, e.g. B24)", ErrCrosswalk, legacy)
	}
	pq, err := e.cur.Load().query(ctx, crosswalkQuery)
	if err != nil {
		return Crosswalk{}, fmt.Errorf("%w: %w", ErrCrosswalk, err)
	}
	rs, err := pq.Eval(ctx, rego.EvalInput(map[string]any{"legacy": legacy}))
	if err != nil {
		return Crosswalk{}, evalError(ctx, err)
	}
	if len(rs) != 1 {
		return Crosswalk{}, fmt.Errorf("%w: the policy's cross-walk does not cover %s", ErrCrosswalk, legacy)
	}
	obj, _ := rs[0].Bindings["x"].(map[string]any)
	cw := Crosswalk{Legacy: legacy, Grading: asMap(obj["grading"]), Handling: asMap(obj["handling"]), Conditions: []string{}}
	for _, c := range asSlice(obj["conditions"]) {
		if s, ok := c.(string); ok {
			cw.Conditions = append(cw.Conditions, s)
		}
	}
	if cw.Grading == nil || cw.Handling == nil {
		return Crosswalk{}, fmt.Errorf("%w: the policy's cross-walk for %s is incomplete", ErrCrosswalk, legacy)
	}
	return cw, nil
}

// query prepares an extra query against this policy once, on first use.
// A query calling a function the policy does not define fails to prepare.
func (s *state) query(ctx context.Context, q string) (*rego.PreparedEvalQuery, error) {
	if pq, ok := s.queries.Load(q); ok {
		return pq.(*rego.PreparedEvalQuery), nil
	}
	pq, err := rego.New(rego.Query(q), rego.Compiler(s.compiler), rego.Store(s.store)).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	actual, _ := s.queries.LoadOrStore(q, &pq)
	return actual.(*rego.PreparedEvalQuery), nil
}
