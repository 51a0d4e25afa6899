package identity_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/crypto/identity"
)

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"met-police", true},
		{"a", true},
		{"0", true},
		{"nca2", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"-met", false},
		{"Met", false},
		{"met_police", false},
		{"met police", false},
		{"met.police", false},
		{"met/police", false},
		{"met-police\n", false},
		{"é", false},
	} {
		if got := identity.ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
		a, err := identity.ParseAgencyID(tc.id)
		if tc.want != (err == nil) || (err != nil && !errors.Is(err, identity.ErrInvalid)) {
			t.Errorf("ParseAgencyID(%q) = %v", tc.id, err)
		}
		if tc.want && (string(a) != tc.id || !a.Valid() || a.String() != tc.id) {
			t.Errorf("ParseAgencyID(%q) = %q", tc.id, a)
		}
		if !tc.want && identity.AgencyID(tc.id).Valid() {
			t.Errorf("AgencyID(%q).Valid()", tc.id)
		}
		g, err := identity.ParseGatewayID(tc.id)
		if tc.want != (err == nil) || (err != nil && !errors.Is(err, identity.ErrInvalid)) {
			t.Errorf("ParseGatewayID(%q) = %v", tc.id, err)
		}
		if tc.want != g.Valid() || tc.want != identity.GatewayID(tc.id).Valid() {
			t.Errorf("GatewayID(%q).Valid() wrong", tc.id)
		}
	}
}

// TestCopiesOfThePatternAgree: the schemas and the Rego policy cannot
// import Go, so they repeat the rule; each copy must equal Pattern, or a
// name valid in one place would be refused (or, worse, accepted) in
// another.
func TestCopiesOfThePatternAgree(t *testing.T) {
	root := filepath.Join("..", "..")
	// Schemas: every "pattern" over the id alphabet must be the rule.
	for _, file := range []string{"gateway/record/publish.schema.json", "policies/schemas/dsa.schema.json"} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var found []string
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, e := range v {
					if s, ok := e.(string); ok && k == "pattern" && strings.Contains(s, "a-z0-9-") {
						found = append(found, s)
					}
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			}
		}
		walk(doc)
		if len(found) == 0 {
			t.Errorf("%s: no id pattern found", file)
		}
		for _, p := range found {
			if p != identity.Pattern {
				t.Errorf("%s: id pattern %s, want %s", file, p, identity.Pattern)
			}
		}
	}
	// Documents and Rego that quote the pattern in text.
	for _, file := range []string{"policies/liaison/authz.rego", "policies/schemas/agency.schema.json"} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), identity.Pattern) {
			t.Errorf("%s does not carry the id pattern %s", file, identity.Pattern)
		}
	}
}

func TestValidOfficerID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"officer-42", true},
		{"Jane Smith", true},
		{"محمد\u200cرضا", true}, // ZWNJ kept
		{strings.Repeat("x", identity.MaxOfficerIDLen), true},
		{"", false},
		{strings.Repeat("x", identity.MaxOfficerIDLen+1), false},
		{"a\nb", false},
		{"a\u0085b", false}, // NEL
		{"a\u2028b", false}, // line separator
		{"a\u202eb", false}, // bidi override
		{"a\u2066b", false}, // bidi isolate
		{"\xff", false},
	} {
		if got := identity.ValidOfficerID(tc.id); got != tc.want {
			t.Errorf("ValidOfficerID(%q) = %v, want %v", tc.id, got, tc.want)
		}
		if got := identity.OfficerID(tc.id).Valid(); got != tc.want {
			t.Errorf("OfficerID(%q).Valid() = %v, want %v", tc.id, got, tc.want)
		}
	}
}
