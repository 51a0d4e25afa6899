package policy_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/liaison-project/liaison/policy"
)

func TestCrosswalk(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	tests := []struct {
		legacy, source, intel, code, action string
		conditions                          []string
		check                               func(h map[string]any) bool
	}{
		{"A11", "1", "A", "P", "", []string{}, nil},
		{"B22", "1", "A", "C", "A3", []string{"record_authorisation"}, func(h map[string]any) bool {
			types, _ := h["conditions"].(map[string]any)["allowed_recipient_types"].([]any)
			return slices.Contains(types, any("uk_non_prosecuting")) && !slices.Contains(types, any("non_eea_le"))
		}},
		{"C33", "2", "B", "C", "A3", []string{"special_conditions"}, func(h map[string]any) bool {
			types, _ := h["conditions"].(map[string]any)["allowed_recipient_types"].([]any)
			return slices.Contains(types, any("non_eea_le"))
		}},
		{"D44", "3", "D", "C", "A1", []string{}, func(h map[string]any) bool {
			return h["conditions"].(map[string]any)["originating_agency_only"] == true
		}},
		{"E55", "2", "E", "C", "A1", []string{"refer_to_originator"}, func(h map[string]any) bool {
			c := h["conditions"].(map[string]any)
			return c["no_onward_dissemination"] == true && c["free_text"] != ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.legacy, func(t *testing.T) {
			cw, err := e.Crosswalk(ctx, tc.legacy)
			if err != nil {
				t.Fatal(err)
			}
			if cw.Grading["source"] != tc.source || cw.Grading["intelligence"] != tc.intel || cw.Grading["legacy_5x5x5"] != tc.legacy {
				t.Errorf("grading = %v", cw.Grading)
			}
			if cw.Handling["code"] != tc.code || tc.action != "" && cw.Handling["action_code"] != tc.action || cw.Legacy != tc.legacy {
				t.Errorf("handling = %v", cw.Handling)
			}
			if !slices.Equal(cw.Conditions, tc.conditions) {
				t.Errorf("conditions = %v, want %v", cw.Conditions, tc.conditions)
			}
			if tc.check != nil && !tc.check(cw.Handling) {
				t.Errorf("handling conditions = %v", cw.Handling["conditions"])
			}
		})
	}
	for _, bad := range []string{"", "F11", "A61", "a11", "A1", "A111"} {
		if _, err := e.Crosswalk(ctx, bad); !errors.Is(err, policy.ErrCrosswalk) {
			t.Errorf("Crosswalk(%q) = %v, want ErrCrosswalk", bad, err)
		}
	}
}

func TestCrosswalkIsData(t *testing.T) {
	// An agency changes the cross-walk without touching Rego or Go.
	dir := copyBundle(t)
	edit(t, dir, "data/crosswalk.json", `"4": "D"`, `"4": "C"`)
	e, err := newEngine(t, context.Background(), policy.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cw, err := e.Crosswalk(context.Background(), "B41")
	if err != nil || cw.Grading["intelligence"] != "C" {
		t.Fatalf("Crosswalk = %+v, %v", cw, err)
	}
}
