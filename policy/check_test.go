package policy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/policy"
)

func TestCheckEmbeddedIsClean(t *testing.T) {
	r, err := policy.Check(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("the embedded policy has problems: %v", r.Problems)
	}
	if r.Samples < 10 || r.Modules < 4 || r.TestFiles < 4 || r.Revision != engine(t).Revision() {
		t.Fatalf("report = %+v", r)
	}
}

// edit replaces old with new in a bundle file, failing if old is absent so
// that a drifting fixture cannot make a test pass vacuously.
func edit(t testing.TB, dir, name, old, new string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", name, old)
	}
	write(t, dir, name, strings.Replace(string(b), old, new, 1))
}

func TestCheckLocatesProblems(t *testing.T) {
	type want struct {
		file string // suffix
		line int    // 0: any line > 0; -1: no line
		kind string
		msg  string
	}
	tests := []struct {
		name string
		edit func(t *testing.T, dir string)
		want []want
	}{
		{"DSA fields against the schema", func(t *testing.T, dir string) {
			edit(t, dir, "data/dsas.json", `"max_tlp": "AMBER",`, `"max_tlp": "PURPLE",`)
			edit(t, dir, "data/dsas.json", `"expiry_date": "2025-03-31"`, `"expiry_date": "2025-02-30"`)
		}, []want{
			{"data/dsas.json", 0, "schema", "/dsas/dsa-legacy-2023/expiry_date: '2025-02-30' is not valid date"},
			{"data/dsas.json", 0, "schema", "/dsas/dsa-selec-ops/max_tlp: value must be one of"},
		}},
		{"DSA missing a required field and with an unknown one", func(t *testing.T, dir string) {
			edit(t, dir, "data/dsas.json", `"status": "active",`, `"stauts": "active",`)
		}, []want{{"data/dsas.json", 0, "schema", "/dsas/dsa-uk-soc: "}}},
		{"rules a schema cannot express", func(t *testing.T, dir string) {
			edit(t, dir, "data/dsas.json", `"dsa_id": "dsa-selec-ops"`, `"dsa_id": "dsa-other"`)
			edit(t, dir, "data/dsas.json", `{"party": "selec", "regime": "SELEC_CONV"}`, `{"party": "nca", "regime": "SELEC_CONV"}`)
		}, []want{
			{"data/dsas.json", 0, "schema", "/dsas/dsa-selec-ops/dsa_id: must match its key"},
			{"data/dsas.json", 0, "schema", "/dsas/dsa-selec-ops/lawful_basis/1/party: nca is not a party"},
		}},
		{"agency against the schema", func(t *testing.T, dir string) {
			edit(t, dir, "data/agencies.json", `"country": "ROU"`, `"country": "Romania"`)
		}, []want{{"data/agencies.json", 0, "schema", "/agencies/selec/country"}}},
		{"malformed data JSON", func(t *testing.T, dir string) {
			edit(t, dir, "data/settings.json", `"min_justification_length": 8,`, `"min_justification_length": 8,,`)
		}, []want{{"data/settings.json", 6, "data", "malformed JSON"}}},
		{"strict compile: unused variable", func(t *testing.T, dir string) {
			edit(t, dir, "liaison/schemes/tlp.rego", `red(l) if l == "RED"`, "red(l) if {\n\tunused := 1\n\tl == \"RED\"\n}")
		}, []want{{"liaison/schemes/tlp.rego", 0, "compile", "assigned var unused unused"}}},
		{"parse error", func(t *testing.T, dir string) {
			edit(t, dir, "liaison/schemes/tlp.rego", `red(l) if l == "RED"`, `red(l) if l == `)
		}, []want{{"liaison/schemes/tlp.rego", 0, "parse", ""}}},
		{"formatting", func(t *testing.T, dir string) {
			edit(t, dir, "liaison/schemes/tlp.rego", `red(l) if l == "RED"`, `red(l) if   l == "RED"`)
		}, []want{{"liaison/schemes/tlp.rego", 0, "format", "opa fmt"}}},
		{"sample not reproduced", func(t *testing.T, dir string) {
			edit(t, dir, "data/settings.json", `"policy_admin_roles": ["security_officer"]`, `"policy_admin_roles": ["nobody"]`)
		}, []want{{"samples.json", 0, "sample", "security officer may dry-run"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyBundle(t)
			tc.edit(t, dir)
			r, err := policy.Check(context.Background(), policy.Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				t.Fatal("Check found no problem")
			}
			for _, w := range tc.want {
				found := false
				for _, p := range r.Problems {
					if strings.HasSuffix(p.File, filepath.FromSlash(w.file)) && p.Kind == w.kind && strings.Contains(p.Message, w.msg) &&
						(w.line == 0 && p.Line > 0 || w.line == p.Line) && strings.HasPrefix(p.File, dir) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem like %+v in:\n%v", w, r.Problems)
				}
			}
		})
	}
}

func TestLoadErrorsCarryLocations(t *testing.T) {
	dir := copyBundle(t)
	edit(t, dir, "data/dsas.json", `"status": "active",`, `"status": "paused",`)
	_, err := newEngine(t, context.Background(), policy.Options{Dir: dir})
	var pe *policy.ProblemsError
	if !errors.Is(err, policy.ErrLoad) || !errors.As(err, &pe) {
		t.Fatalf("New = %v; want a located ErrLoad", err)
	}
	p := pe.Problems[0]
	if !strings.HasSuffix(p.File, filepath.Join("data", "dsas.json")) || p.Line != 6 || !strings.Contains(p.String(), "dsas.json:6:") {
		t.Fatalf("problem = %+v (%s); want data/dsas.json line 6", p, p)
	}
}

func TestRegoTestFailureBlocksLoad(t *testing.T) {
	dir := copyBundle(t)
	write(t, dir, "liaison/zz_test.rego", "package liaison.zz_test\n\nimport data.liaison.authz\n\ntest_wrong if authz.decision.allow with input as {}\n")
	_, err := newEngine(t, context.Background(), policy.Options{Dir: dir})
	var pe *policy.ProblemsError
	if !errors.Is(err, policy.ErrTest) || !errors.As(err, &pe) {
		t.Fatalf("New = %v; want ErrTest", err)
	}
	if p := pe.Problems[0]; !strings.HasSuffix(p.File, filepath.Join("liaison", "zz_test.rego")) || p.Line != 5 || !strings.Contains(p.Message, "test_wrong") {
		t.Fatalf("problem = %+v; want zz_test.rego:5 test_wrong", p)
	}
}
