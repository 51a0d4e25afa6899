package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/policy"
)

// editDSA rewrites data/dsas.json with f applied to one agreement.
func editDSA(t *testing.T, dir, id string, f func(d map[string]any)) {
	t.Helper()
	editData(t, dir, "dsas", func(doc map[string]any) { f(doc[id].(map[string]any)) })
}

func editData(t *testing.T, dir, key string, f func(doc map[string]any)) {
	t.Helper()
	file := filepath.Join("data", key+".json")
	raw, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	f(doc[key])
	bs, _ := json.MarshalIndent(doc, "", "  ")
	write(t, dir, filepath.ToSlash(file), string(bs))
}

func TestDataSchemas(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(t *testing.T, dir string)
		field string // expected pointer
		msg   string
	}{
		{"unknown status", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["status"] = "paused" })
		}, "/dsas/dsa-uk-soc/status", "value must be one of 'draft', 'active', 'suspended', 'terminated'"},
		{"misspelt field", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["expiry"] = d["expiry_date"]; delete(d, "expiry_date") })
		}, "/dsas/dsa-uk-soc", "missing property 'expiry_date'"},
		{"extra field refused", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["expiry"] = "2030-01-01" })
		}, "/dsas/dsa-uk-soc", "additional properties 'expiry' not allowed"},
		{"no recipient party", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-legacy-2023", func(d map[string]any) {
				for _, p := range d["parties"].([]any) {
					p.(map[string]any)["role"] = "provider"
				}
			})
		}, "/dsas/dsa-legacy-2023/parties", "needs a party with role provider or both and one with role recipient or both"},
		{"party country not alpha-3", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-selec-ops", func(d map[string]any) { d["parties"].([]any)[2].(map[string]any)["country"] = "RO" })
		}, "/dsas/dsa-selec-ops/parties/2/country", "does not match pattern"},
		{"purpose not a law-enforcement purpose", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["purposes"] = []any{"investigation", "marketing"} })
		}, "/dsas/dsa-uk-soc/purposes/1", "value must be one of"},
		{"invalid date", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["expiry_date"] = "31/12/2028" })
		}, "/dsas/dsa-uk-soc/expiry_date", "is not valid date"},
		{"police vetting level unknown", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["police_vetting"] = "NPPV9" })
		}, "/dsas/dsa-uk-soc/police_vetting", "value must be one of"},
		{"transfer basis must be stated", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { delete(d["onward_sharing"].(map[string]any), "third_country_transfer") })
		}, "/dsas/dsa-uk-soc/onward_sharing", "missing property 'third_country_transfer'"},
		{"dsa_id differs from its key", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["dsa_id"] = "dsa-other" })
		}, "/dsas/dsa-uk-soc/dsa_id", `must match its key "dsa-uk-soc"`},
		{"party listed twice", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["parties"] = append(d["parties"].([]any), d["parties"].([]any)[0]) })
		}, "/dsas/dsa-uk-soc/parties/4/org_id", "party met-police is listed twice"},
		{"lawful basis of a non-party", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-legacy-2023", func(d map[string]any) { d["lawful_basis"].([]any)[1].(map[string]any)["party"] = "nca" })
		}, "/dsas/dsa-legacy-2023/lawful_basis/1/party", "nca is not a party to the agreement"},
		{"review after expiry", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["review_date"] = "2029-01-01" })
		}, "/dsas/dsa-uk-soc/review_date", "2029-01-01 is after expiry_date 2028-12-31"},
		{"redaction path malformed", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["redact_fields"] = []any{"subject.iban", "subject..iban"} })
		}, "/dsas/dsa-uk-soc/redact_fields/1", "does not match pattern"},
		{"request deadline of zero hours", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["request_deadlines"] = map[string]any{"normal": 0} })
		}, "/dsas/dsa-uk-soc/request_deadlines/normal", "minimum: got 0, want 1"},
		{"request deadline of an unknown kind", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["request_deadlines"] = map[string]any{"urgent": 4} })
		}, "/dsas/dsa-uk-soc/request_deadlines", "additional properties 'urgent' not allowed"},
		{"request deadline not whole hours", func(t *testing.T, dir string) {
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["request_deadlines"] = map[string]any{"urgent_direct": 7.5} })
		}, "/dsas/dsa-uk-soc/request_deadlines/urgent_direct", "got number, want integer"},
		{"agency without country", func(t *testing.T, dir string) {
			editData(t, dir, "agencies", func(doc map[string]any) { delete(doc["nca"].(map[string]any), "country") })
		}, "/agencies/nca", "missing property 'country'"},
		{"agency org type unknown", func(t *testing.T, dir string) {
			editData(t, dir, "agencies", func(doc map[string]any) { doc["nca"].(map[string]any)["org_type"] = "spy_agency" })
		}, "/agencies/nca/org_type", "value must be one of"},
		{"agency id malformed", func(t *testing.T, dir string) {
			editData(t, dir, "agencies", func(doc map[string]any) { doc["Met Police"] = doc["met-police"] })
		}, "/agencies/Met Police", "does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyBundle(t)
			tc.edit(t, dir)
			_, err := newEngine(t, context.Background(), policy.Options{Dir: dir})
			var pe *policy.ProblemsError
			if !errors.Is(err, policy.ErrLoad) || !errors.As(err, &pe) {
				t.Fatalf("New = %v; want a located ErrLoad", err)
			}
			want := tc.field + ": "
			i := slices.IndexFunc(pe.Problems, func(p policy.Problem) bool {
				return strings.HasPrefix(p.Message, want) && strings.Contains(p.Message, tc.msg)
			})
			if i < 0 {
				t.Fatalf("no problem %s%s in %v", want, tc.msg, pe.Problems)
			}
			p := pe.Problems[i]
			if p.Kind != "schema" || p.Line <= 1 || !strings.HasPrefix(p.File, dir) || !strings.HasSuffix(p.File, ".json") {
				t.Fatalf("problem not located in its file: %+v", p)
			}
		})
	}
	t.Run("agencies may carry extra attributes", func(t *testing.T) {
		dir := copyBundle(t)
		editData(t, dir, "agencies", func(doc map[string]any) { doc["nca"].(map[string]any)["x_desk"] = "ops" })
		e, err := newEngine(t, context.Background(), policy.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := e.AgencyAttributes("nca"); a["x_desk"] != "ops" {
			t.Fatalf("attributes = %v", a)
		}
	})
}

// TestDSAStatusStopsAccessImmediately: suspending or terminating an agreement
// takes effect on the next decision after the reload; expiry takes effect
// at the end of the expiry day, whatever the reload schedule.
func TestDSAStatusStopsAccessImmediately(t *testing.T) {
	ctx := context.Background()
	for _, status := range []string{"suspended", "terminated", "draft"} {
		t.Run(status, func(t *testing.T) {
			dir := copyBundle(t)
			e, err := newEngine(t, ctx, policy.Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			in := input(t, baseRead, nil)
			if d, _ := e.DecideJSON(ctx, js(t, in)); !d.Allow {
				t.Fatalf("before: %v", d.Codes())
			}
			editDSA(t, dir, "dsa-uk-soc", func(d map[string]any) { d["status"] = status })
			// Samples expect dsa-uk-soc active; a deployment suspending its
			// main agreement updates them too.
			write(t, dir, "samples.json", `{"samples": []}`)
			if err := e.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			d, _ := e.DecideJSON(ctx, js(t, in))
			if d.Allow || !slices.Contains(d.Codes(), "dsa_not_active") {
				t.Fatalf("after %s: allow=%t %v", status, d.Allow, d.Codes())
			}
		})
	}
	t.Run("expired at the end of the expiry day", func(t *testing.T) {
		e := engine(t)
		for _, tc := range []struct {
			time  string
			allow bool
		}{{"2028-12-31T23:59:59Z", true}, {"2029-01-01T00:00:00Z", false}} {
			d, _ := e.DecideJSON(ctx, js(t, input(t, baseRead, map[string]any{"time": tc.time})))
			if d.Allow != tc.allow || !tc.allow && !slices.Contains(d.Codes(), "dsa_expired") {
				t.Errorf("at %s: allow=%t %v", tc.time, d.Allow, d.Codes())
			}
		}
	})
}
