package policies_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/liaison-project/liaison/policies"
)

// TestRego runs the Rego unit tests exactly as `opa test liaison data` does
// from this directory (same loader, same data placement), so `go test
// ./policies/...` fails whenever a Rego test fails.
func TestRego(t *testing.T) {
	mods, store, err := tester.Load([]string{"liaison", "data"}, nil)
	if err != nil {
		t.Fatalf("loading policies: %v", err)
	}
	ch, err := tester.NewRunner().
		SetStore(store).
		SetModules(mods).
		SetTimeout(time.Minute).
		RunTests(context.Background(), nil)
	if err != nil {
		t.Fatalf("running Rego tests: %v", err)
	}
	rules, cases := 0, 0
	for r := range ch {
		rules++
		name := r.Package + "." + r.Name
		t.Run(name, func(t *testing.T) {
			if r.Error != nil {
				t.Fatalf("error: %v", r.Error)
			}
			for path, sr := range r.SubResults.Iter {
				cases++
				if sr.Fail {
					t.Errorf("case %v: FAIL", path)
				}
			}
			if !r.Pass() {
				t.Errorf("FAIL at %v", r.FailedAt)
			}
		})
	}
	t.Logf("%d Rego test rules, %d table cases", rules, cases)
	// Guard against a loader change that silently finds no tests.
	if rules < 30 || cases < 150 {
		t.Fatalf("ran %d test rules with %d table cases; expected at least 30 and 150", rules, cases)
	}
}

func TestFSLayout(t *testing.T) {
	fsys := policies.FS()
	for _, p := range []string{
		"liaison/authz.rego",
		"liaison/authz_test.rego",
		"liaison/schemes/gsc.rego",
		"liaison/schemes/tlp.rego",
		"liaison/schemes/grading3x5x2.rego",
		"liaison/schemes/dsa.rego",
		"liaison/schemes/europol.rego",
		"liaison/schemes/legacy5x5x5.rego",
		"liaison/schemes/vetting.rego",
		"liaison/schemes/selec.rego",
		"liaison/test_fixtures_test.rego",
		"data/agencies.json",
		"data/crosswalk.json",
		"data/explain.json",
		"schemas/dsa.schema.json",
		"schemas/agency.schema.json",
		"data/dsas.json",
		"data/schemes.json",
		"data/settings.json",
		"samples.json",
	} {
		t.Run(p, func(t *testing.T) {
			if _, err := fs.Stat(fsys, p); err != nil {
				t.Fatalf("embedded FS lacks %s: %v", p, err)
			}
		})
	}
	if _, err := fs.Stat(fsys, "embed.go"); err == nil {
		t.Error("embedded FS should hold only policy files, not Go sources")
	}
}

// emittedCodes returns every reason code the Rego (tests excluded) emits.
func emittedCodes(t *testing.T) map[string]bool {
	t.Helper()
	emitted := map[string]bool{}
	emit := regexp.MustCompile(`(?:reason|private_reason)\("([a-z_0-9]+)"|"code": "([a-z_0-9]+)"`)
	err := fs.WalkDir(policies.FS(), "liaison", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		src, err := fs.ReadFile(policies.FS(), p)
		if err != nil {
			return err
		}
		for _, m := range emit.FindAllStringSubmatch(string(src), -1) {
			emitted[m[1]+m[2]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emitted) < 30 {
		t.Fatalf("found only %d reason codes; the pattern no longer matches the Rego", len(emitted))
	}
	return emitted
}

// TestReasonCodesDocumented keeps the reason-code table in README.md in step
// with the codes the Rego emits.
func TestReasonCodesDocumented(t *testing.T) {
	emitted := emittedCodes(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	var missing, stale []string
	for c := range emitted {
		if !documented[c] {
			missing = append(missing, c)
		}
	}
	for c := range documented {
		if !emitted[c] {
			stale = append(stale, c)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	if len(missing) > 0 || len(stale) > 0 {
		t.Fatalf("README reason table: undocumented codes %v, documented but never emitted %v", missing, stale)
	}
}

// TestExplainCatalogCoversCodes: every code the Rego emits belongs to a
// check of data/explain.json, so that explanations file each reason under
// the rule it comes from, and the catalog names no code that does not exist.
func TestExplainCatalogCoversCodes(t *testing.T) {
	emitted := emittedCodes(t)
	raw, err := fs.ReadFile(policies.FS(), "data/explain.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Explain struct {
			Checks []struct {
				ID    string   `json:"id"`
				Codes []string `json:"codes"`
			} `json:"checks"`
		} `json:"explain"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	for _, c := range doc.Explain.Checks {
		for _, code := range c.Codes {
			if prev, dup := owner[code]; dup {
				t.Errorf("code %s is listed by checks %s and %s", code, prev, c.ID)
			}
			owner[code] = c.ID
			if !emitted[code] {
				t.Errorf("check %s lists %s, which the Rego never emits", c.ID, code)
			}
		}
	}
	for code := range emitted {
		if _, ok := owner[code]; !ok {
			t.Errorf("code %s is in no check of data/explain.json", code)
		}
	}
}

// TestRegoFormatted enforces `opa fmt` style, so diffs stay reviewable.
func TestRegoFormatted(t *testing.T) {
	err := fs.WalkDir(policies.FS(), "liaison", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		t.Run(p, func(t *testing.T) {
			src, err := fs.ReadFile(policies.FS(), p)
			if err != nil {
				t.Fatal(err)
			}
			formatted, err := format.Source(p, src)
			if err != nil {
				t.Fatal(err)
			}
			if string(formatted) != string(src) {
				t.Errorf("%s is not formatted; run opa fmt -w policies/liaison", p)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
