package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/policies"
)

// runPolicy runs `liaison policy <args>` and returns its standard output,
// standard error and exit code (0, or an exitError's code; -1 for another
// error).
func runPolicy(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := newPolicyCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetArgs(args)
	err := cmd.Execute()
	code := 0
	var ex exitError
	switch {
	case errors.As(err, &ex):
		code = ex.code
	case err != nil:
		errOut.WriteString(err.Error())
		code = -1
	}
	return out.String(), errOut.String(), code
}

// policyCopy copies the embedded policy library into a temporary directory.
func policyCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writePolicyFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(p) // copied from an embed.FS: read-only
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceInFile(t *testing.T, dir, name, old, new string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", name, old)
	}
	writePolicyFile(t, dir, name, strings.Replace(string(b), old, new, 1))
}

func TestPolicyTestCommand(t *testing.T) {
	t.Run("embedded policy passes", func(t *testing.T) {
		out, _, code := runPolicy(t, "test")
		if code != 0 || !strings.HasPrefix(out, "PASS: ") {
			t.Fatalf("exit %d, output:\n%s", code, out)
		}
	})
	t.Run("failing test gives file:line and exit 1", func(t *testing.T) {
		dir := policyCopy(t)
		writePolicyFile(t, dir, "liaison/zz_test.rego", "package liaison.zz_test\n\nimport data.liaison.authz\n\ntest_wrong if authz.decision.allow with input as {}\n")
		out, _, code := runPolicy(t, "test", dir)
		loc := filepath.Join(dir, "liaison", "zz_test.rego") + ":5"
		if code != 1 || !strings.Contains(out, "FAIL data.liaison.zz_test.test_wrong") || !strings.Contains(out, loc) || !strings.Contains(out, "FAIL: ") {
			t.Fatalf("exit %d, output:\n%s", code, out)
		}
	})
	t.Run("json and --run filter", func(t *testing.T) {
		out, _, code := runPolicy(t, "test", "-o", "json", "--run", `tlp_test`)
		var r struct {
			Pass, Fail int
			Results    []struct{ Name string }
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || r.Pass == 0 || r.Fail != 0 {
			t.Fatalf("exit %d, err %v, output:\n%s", code, err, out)
		}
		for _, res := range r.Results {
			if !strings.Contains(res.Name, "tlp_test") {
				t.Fatalf("--run let %s through", res.Name)
			}
		}
	})
	t.Run("unparsable test file is reported, exit 2", func(t *testing.T) {
		dir := policyCopy(t)
		writePolicyFile(t, dir, "liaison/zz_test.rego", "package liaison.zz_test\n\ntest_x if {\n")
		_, errOut, code := runPolicy(t, "test", dir)
		if code != 2 || !strings.Contains(errOut, "zz_test.rego:") {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
	})
}

func TestPolicyCheckCommand(t *testing.T) {
	out, _, code := runPolicy(t, "check")
	if code != 0 || !strings.HasPrefix(out, "OK embedded: revision sha256:") {
		t.Fatalf("embedded: exit %d, output:\n%s", code, out)
	}
	dir := policyCopy(t)
	replaceInFile(t, dir, "data/dsas.json", `"max_tlp": "RED"`, `"max_tlp": "PURPLE"`)
	out, _, code = runPolicy(t, "check", dir)
	want := filepath.Join(dir, "data", "dsas.json") + ":22:18: schema: /dsas/dsa-uk-soc/max_tlp: value must be one of"
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, output:\n%s\nwant a line with %s", code, out, want)
	}
	out, _, _ = runPolicy(t, "check", dir, "-o", "json")
	var r struct {
		Problems []struct {
			File, Kind string
			Line       int
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Problems) != 1 || r.Problems[0].Line != 22 {
		t.Fatalf("json: %v\n%s", err, out)
	}
}

func TestPolicyEvalCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.json")
	body := `{"input": {"action": "record.read", "time": "2026-11-21T10:00:00Z",
	  "subject": {"agency_id": "rocu-nw", "officer": {"id": "dc-77", "clearance": "SC", "roles": [], "nationality": "GBR"}},
	  "request": {"purpose": "prosecution", "justification": "Operation KINGFISHER lead 42"},
	  "record": {"record_id": "rec_1", "originator": {"org_id": "met-police"}, "classification": {"tier": "OFFICIAL"},
	    "tlp": "GREEN", "grading": {"source": "1", "intelligence": "B"},
	    "handling": {"code": "C", "action_code": "A2", "sanitisation_code": "S1", "conditions": {}},
	    "allowed_purposes": ["investigation", "prosecution"], "dsa_ids": ["dsa-uk-soc"], "recipients": ["rocu-nw"]}}}`
	if err := os.WriteFile(in, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runPolicy(t, "eval", "--input", in)
	for _, want := range []string{
		"DENY: the caller gets 403",
		"record.read by rocu-nw (officer dc-77) on record rec_1 of met-police, caller is recipient, purpose prosecution",
		"FAIL  Handling codes and conditions",
		"action code A2 forbids use for purpose prosecution [action_code_forbids_use]",
		"PASS  Purpose limitation",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != 0 || t.Failed() {
		t.Fatalf("exit %d, stderr %s, output:\n%s", code, errOut, out)
	}

	out, _, code = runPolicy(t, "eval", "--input", in, "-o", "json")
	var resp struct {
		Decision struct {
			Allow       bool
			Reasons     []struct{ Code string }
			Explanation struct {
				Outcome string
				Checks  []struct{ ID, Result string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || code != 0 {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}
	if resp.Decision.Allow || resp.Decision.Explanation.Outcome != "deny" || len(resp.Decision.Explanation.Checks) < 10 {
		t.Fatalf("decision = %+v", resp.Decision)
	}
}

func TestPolicyCrosswalkCommand(t *testing.T) {
	out, _, code := runPolicy(t, "crosswalk", "--legacy", "b24")
	want := `legacy 5x5x5 B24
  grading:  {"intelligence":"A","legacy_5x5x5":"B24","source":"1"}
  handling: {"action_code":"A1","code":"C","conditions":{"originating_agency_only":true},"sanitisation_code":"S2"}
`
	if code != 0 || out != want {
		t.Fatalf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}
	out, _, code = runPolicy(t, "crosswalk", "--legacy", "C33", "-o", "json")
	var cw struct {
		Grading    map[string]string
		Conditions []string
	}
	if err := json.Unmarshal([]byte(out), &cw); err != nil || code != 0 || cw.Grading["source"] != "2" || len(cw.Conditions) != 1 || cw.Conditions[0] != "special_conditions" {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}
	if _, errOut, code := runPolicy(t, "crosswalk", "--legacy", "Z99"); code == 0 || !strings.Contains(errOut, "not a 5x5x5 grade") {
		t.Fatalf("bad grade: exit %d, %s", code, errOut)
	}
}

func TestPolicyReplayCommand(t *testing.T) {
	cand := policyCopy(t)
	// The candidate raises the justification minimum and drops prosecution
	// from dsa-uk-soc; its samples describe the old federation, so replace them.
	replaceInFile(t, cand, "data/settings.json", `"min_justification_length": 8`, `"min_justification_length": 30`)
	replaceInFile(t, cand, "data/dsas.json", `"purposes": ["prevention", "investigation", "detection", "prosecution"]`, `"purposes": ["prevention", "investigation", "detection"]`)
	writePolicyFile(t, cand, "samples.json", `{"samples": []}`)

	read := func(purpose, justification string) string {
		return `{"action": "record.read", "time": "2026-11-21T10:00:00Z",
		  "subject": {"agency_id": "rocu-nw", "officer": {"id": "dc-77", "clearance": "SC", "roles": [], "nationality": "GBR"}},
		  "request": {"purpose": "` + purpose + `", "justification": "` + justification + `"},
		  "record": {"record_id": "rec_1", "originator": {"org_id": "met-police"}, "classification": {"tier": "OFFICIAL"},
		    "tlp": "GREEN", "grading": {"source": "1", "intelligence": "B"}, "handling": {"code": "P"},
		    "allowed_purposes": ["investigation", "prosecution"], "dsa_ids": ["dsa-uk-soc"], "recipients": ["rocu-nw"]}}`
	}
	compact := func(s string) string {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(s)); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	lines := []string{
		compact(read("investigation", "a justification long enough for the candidate")),                    // same
		compact(read("investigation", "lead 42 today")),                                                    // allow→deny: justification
		`{"input": ` + compact(read("prosecution", "a justification long enough for the candidate")) + `}`, // allow→deny: purpose
		``,
		`not json`,
		compact(read("", "lead 42 today")), // deny→deny, purpose_required stays, justification added
	}
	dir := t.TempDir()
	inputs := filepath.Join(dir, "decisions.jsonl")
	if err := os.WriteFile(inputs, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "changes.jsonl")
	out, errOut, code := runPolicy(t, "replay", "--candidate", cand, "--inputs", inputs, "--report", report, "--fail-on-change")
	if code != 3 {
		t.Fatalf("exit %d; stderr %s\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"Replayed 4 inputs",
		"3 decision(s) would change (75.0%).",
		"1 input line(s) skipped as malformed.",
		"line 2: record.read by rocu-nw on rec_1: allow→deny [allow, reasons, obligations, dsa_id] +justification_required",
		"line 3: record.read by rocu-nw on rec_1: allow→deny [allow, reasons, obligations, dsa_id] +purpose_not_permitted",
		"line 6: record.read by rocu-nw on rec_1: deny→deny [reasons] +justification_required",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(errOut, "decisions.jsonl:5: input: not JSON") {
		t.Errorf("stderr lacks the malformed line: %s", errOut)
	}
	if t.Failed() {
		t.Fatalf("output:\n%s", out)
	}
	written, _ := os.ReadFile(report)
	if n := strings.Count(string(written), "\n"); n != 3 {
		t.Fatalf("report has %d lines, want 3", n)
	}

	out, _, code = runPolicy(t, "replay", "--candidate", cand, "--inputs", inputs, "-o", "json")
	var r struct {
		Inputs, Changed int
		ByAction        []struct {
			Action      string
			AllowToDeny int `json:"allow_to_deny"`
			Other       int
		} `json:"by_action"`
		ByCode []struct {
			Code           string
			Added, Removed int
		} `json:"by_code"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}
	if r.Inputs != 4 || r.Changed != 3 || len(r.ByAction) != 1 || r.ByAction[0].AllowToDeny != 2 || r.ByAction[0].Other != 1 {
		t.Fatalf("summary = %+v", r)
	}
	if len(r.ByCode) != 2 || r.ByCode[0].Code != "justification_required" || r.ByCode[0].Added != 2 {
		t.Fatalf("by code = %+v", r.ByCode)
	}
}

func TestPolicySignVerifyCommands(t *testing.T) {
	dir := t.TempDir()
	k1, p1 := filepath.Join(dir, "alice.jwk.json"), filepath.Join(dir, "alice.jwks.json")
	k2, p2 := filepath.Join(dir, "bob.jwk.json"), filepath.Join(dir, "bob.jwks.json")
	for _, k := range [][2]string{{k1, p1}, {k2, p2}} {
		if out, errOut, code := runPolicy(t, "keygen", "--out", k[0], "--public", k[1]); code != 0 || !strings.HasPrefix(out, "key ") {
			t.Fatalf("keygen: exit %d %s %s", code, out, errOut)
		}
	}
	if st, _ := os.Stat(k1); st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v", st.Mode())
	}
	if _, _, code := runPolicy(t, "keygen", "--out", k1, "--public", p1); code == 0 {
		t.Fatal("keygen overwrote a key")
	}
	// Trust both officers.
	var a, b struct{ Keys []json.RawMessage }
	ra, _ := os.ReadFile(p1)
	rb, _ := os.ReadFile(p2)
	_ = json.Unmarshal(ra, &a)
	_ = json.Unmarshal(rb, &b)
	trusted := filepath.Join(dir, "officers.jwks.json")
	both, _ := json.Marshal(map[string]any{"keys": append(a.Keys, b.Keys...)})
	if err := os.WriteFile(trusted, both, 0o644); err != nil {
		t.Fatal(err)
	}

	src := policyCopy(t)
	bundle := filepath.Join(dir, "policy.tar.gz")
	out, errOut, code := runPolicy(t, "sign", "--dir", src, "--key", k1, "--out", bundle)
	if code != 0 || !strings.Contains(out, "signed "+bundle+": revision sha256:") {
		t.Fatalf("sign: exit %d %s %s", code, out, errOut)
	}
	if _, errOut, code := runPolicy(t, "verify", "--bundle", bundle, "--trusted-keys", trusted, "--required-signatures", "2"); code != 1 || !strings.Contains(errOut, "signed by 1 trusted key(s), 2 required") {
		t.Fatalf("verify with one signature: exit %d %s", code, errOut)
	}
	if out, errOut, code := runPolicy(t, "sign", "--bundle", bundle, "--key", k2); code != 0 || !strings.Contains(out, "files, signatures by ") || strings.Count(out[strings.Index(out, "signatures by"):], ", ") != 1 {
		t.Fatalf("co-sign: exit %d %s %s", code, out, errOut)
	}
	out, errOut, code = runPolicy(t, "verify", "--bundle", bundle, "--trusted-keys", trusted, "--required-signatures", "2")
	if code != 0 || !strings.HasPrefix(out, "OK "+bundle) {
		t.Fatalf("verify: exit %d %s %s", code, out, errOut)
	}
	// The bundle is a policy source for the other commands too.
	out, _, code = runPolicy(t, "check", "--bundle", bundle, "--trusted-keys", trusted, "--required-signatures", "2")
	if code != 0 || !strings.HasPrefix(out, "OK "+bundle) {
		t.Fatalf("check --bundle: exit %d %s", code, out)
	}
	// A policy that does not load is not signed.
	replaceInFile(t, src, "data/dsas.json", `"max_tlp": "RED"`, `"max_tlp": "PURPLE"`)
	if _, errOut, code := runPolicy(t, "sign", "--dir", src, "--key", k1, "--out", filepath.Join(dir, "bad.tar.gz")); code != 1 || !strings.Contains(errOut, "dsas.json:22:18: schema") {
		t.Fatalf("signing a broken policy: exit %d %s", code, errOut)
	}
}
