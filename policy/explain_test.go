package policy_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/policy"
)

func TestExplain(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	type want struct {
		outcome string
		results map[string]string // check id → result
		codes   map[string][]string
		facts   []string // substrings, each in some fact
		obligs  []string // substrings, each in some obligation
		request string
	}
	tests := []struct {
		name  string
		edits map[string]any
		want  want
	}{
		{"recipient read allowed", nil, want{
			outcome: "allow",
			results: map[string]string{"input": policy.CheckPass, "dsa": policy.CheckPass, "purpose": policy.CheckPass, "clearance": policy.CheckPass, "handling": policy.CheckPass, "grant": policy.CheckPass, "admin": policy.CheckNotApplicable},
			facts:   []string{"rocu-nw is a named recipient", "granting this request: dsa-uk-soc", "clearance used: SC (officer dc-77's own)"},
			obligs:  []string{"remove these content fields before disclosure: source_details", "show the handling banner: OFFICIAL-SENSITIVE", "log the disclosure under DSA dsa-uk-soc"},
			request: "record.read by rocu-nw (officer dc-77) on record rec_01JD8X3Q of met-police, caller is recipient, purpose investigation",
		}},
		{"A2 and no judicial use deny prosecution", map[string]any{
			"request.purpose":   "prosecution",
			"record.handling":   map[string]any{"code": "C", "action_code": "A2", "sanitisation_code": "S1", "conditions": map[string]any{"no_judicial_use": true}},
			"subject.officer":   map[string]any{"id": "dc-77", "clearance": "SC", "vetting": "MV", "roles": []any{"analyst"}, "nationality": "GBR"},
			"record.recipients": []any{"rocu-nw"},
		}, want{
			outcome: "deny",
			results: map[string]string{"handling": policy.CheckFail, "purpose": policy.CheckPass, "grant": policy.CheckNotApplicable},
			codes:   map[string][]string{"handling": {"action_code_forbids_use", "judicial_use_forbidden"}},
		}},
		{"stranger learns nothing", map[string]any{"subject.agency_id": "nca"}, want{
			outcome: "deny_hidden",
			results: map[string]string{"relationship": policy.CheckFail, "dsa": policy.CheckNotApplicable, "clearance": policy.CheckNotApplicable},
			codes:   map[string][]string{"relationship": {"not_recipient"}},
			facts:   []string{"nca is neither the originator nor a named recipient"},
		}},
		{"originator read skips recipient checks", map[string]any{"subject.agency_id": "met-police"}, want{
			outcome: "allow",
			results: map[string]string{"relationship": policy.CheckPass, "dsa": policy.CheckNotApplicable, "justification": policy.CheckNotApplicable},
			facts:   []string{"met-police is the record's originator"},
		}},
		{"publish checks the agreement", map[string]any{"action": "record.publish", "subject.agency_id": "met-police", "record.dsa_ids": []any{"dsa-legacy-2023"}, "record.recipients": []any{"hmrc"}}, want{
			outcome: "deny",
			results: map[string]string{"dsa": policy.CheckFail, "clearance": policy.CheckNotApplicable},
			codes:   map[string][]string{"dsa": {"dsa_expired"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := input(t, baseRead, tc.edits)
			d, err := e.DecideJSON(ctx, js(t, in))
			if err != nil {
				t.Fatal(err)
			}
			x := e.ExplainJSON(ctx, d, js(t, in))
			if x.Outcome != tc.want.outcome {
				t.Fatalf("outcome %s, want %s (%v)", x.Outcome, tc.want.outcome, d.Codes())
			}
			byID := map[string]policy.CheckResult{}
			for _, c := range x.Checks {
				byID[c.ID] = c
				if c.Result == policy.CheckFail && len(c.Codes) == 0 || c.Result != policy.CheckFail && len(c.Codes) > 0 {
					t.Errorf("check %s: result %s with codes %v", c.ID, c.Result, c.Codes)
				}
				if c.Result != policy.CheckNotApplicable && len(c.Details) == 0 {
					t.Errorf("check %s (%s) has no words", c.ID, c.Result)
				}
			}
			for id, res := range tc.want.results {
				if byID[id].Result != res {
					t.Errorf("check %s: %s %v, want %s", id, byID[id].Result, byID[id].Details, res)
				}
			}
			for id, codes := range tc.want.codes {
				if got := byID[id].Codes; !slices.Equal(got, codes) {
					t.Errorf("check %s codes %v, want %v", id, got, codes)
				}
			}
			// Every reason is shown under some check.
			for _, r := range d.Reasons {
				shown := false
				for _, c := range x.Checks {
					shown = shown || slices.Contains(c.Codes, r.Code)
				}
				if !shown {
					t.Errorf("reason %s is not in the explanation", r.Code)
				}
			}
			containsEach(t, "facts", x.Facts, tc.want.facts)
			containsEach(t, "obligations", x.Obligations, tc.want.obligs)
			if tc.want.request != "" && x.Request != tc.want.request {
				t.Errorf("request %q, want %q", x.Request, tc.want.request)
			}
			text := x.Text()
			if !strings.Contains(text, x.Summary) || !strings.Contains(text, "Checks:") {
				t.Errorf("text rendering lacks the summary or checks:\n%s", text)
			}
		})
	}
}

func containsEach(t *testing.T, what string, got, subs []string) {
	t.Helper()
	for _, s := range subs {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, s) }) {
			t.Errorf("%s %q: none contains %q", what, got, s)
		}
	}
}

func TestExplanationInDecisionJSON(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	in := input(t, baseRead, nil)
	d, _ := e.DecideJSON(ctx, js(t, in))
	plain, _ := json.Marshal(d)
	if strings.Contains(string(plain), "explanation") {
		t.Fatal("a decision carries an explanation without being asked")
	}
	d.Explanation = e.ExplainJSON(ctx, d, js(t, in))
	var back map[string]any
	bs, _ := json.Marshal(d)
	if err := json.Unmarshal(bs, &back); err != nil {
		t.Fatal(err)
	}
	x, _ := back["explanation"].(map[string]any)
	if x["outcome"] != "allow" || len(x["checks"].([]any)) < 10 {
		t.Fatalf("explanation JSON = %v", x)
	}
}

func TestExplainWithoutCatalog(t *testing.T) {
	// A policy without data.explain and without an explain rule still gets
	// its reasons explained, under "Other rules".
	dir := t.TempDir()
	write(t, dir, "liaison/authz.rego", `package liaison.authz

default decision := {"allow": false, "visible": true, "reasons": [{"code": "closed", "message": "this gateway is closed", "public": true}], "obligations": {"redact": [], "banner": "", "attach_grading": false, "conditions": [], "originator_consent_required": false}}
`)
	ctx := context.Background()
	e, err := newEngine(t, ctx, policy.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := e.DecideJSON(ctx, js(t, map[string]any{"action": "record.read"}))
	x := e.ExplainJSON(ctx, d, js(t, map[string]any{"action": "record.read"}))
	if len(x.Checks) != 1 || x.Checks[0].ID != "other" || x.Checks[0].Codes[0] != "closed" || len(x.Facts) != 0 {
		t.Fatalf("explanation = %+v", x)
	}
}
