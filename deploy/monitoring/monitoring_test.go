package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// promtool is the promtool that devstack.sh installs (LIAISON_TEST_PROMTOOL).
// Missing, the test fails under LIAISON_INTEGRATION=required (`make test`)
// and is skipped otherwise.
func promtool(t *testing.T) string {
	t.Helper()
	p := os.Getenv("LIAISON_TEST_PROMTOOL")
	if p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "promtool not found (LIAISON_TEST_PROMTOOL=" + p + "): run `make test`, or `deploy/devstack/devstack.sh install` and export LIAISON_TEST_PROMTOOL"
	if os.Getenv("LIAISON_INTEGRATION") == "required" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func run(t *testing.T, dir, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPromtoolCheckAndTestRules: the rules are valid (`promtool check
// rules`) and each alert fires on the series that should page and stays
// quiet on healthy ones (`promtool test rules`).
func TestPromtoolCheckAndTestRules(t *testing.T) {
	bin := promtool(t)
	if out, err := run(t, ".", bin, "check", "rules", RulesFile); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	out, err := run(t, ".", bin, "test", "rules", RulesTestFile)
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: no SUCCESS in\n%s", out)
	}
	// The checks can fail: a broken expression and an alert whose test
	// expects the wrong thing are refused.
	dir := t.TempDir()
	bad := "groups:\n- name: x\n  rules:\n  - alert: Broken\n    expr: rate(liaison_ready[5m]\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.yml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, dir, bin, "check", "rules", "bad.yml"); err == nil {
		t.Fatalf("promtool accepted a broken expression:\n%s", out)
	}
	rules, err := os.ReadFile(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, RulesFile), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := `rule_files: [` + RulesFile + `]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'liaison_audit_writable{job="liaison",instance="gw-1:9090"}'
    values: '1x12'
  alert_rule_test:
  - eval_time: 10m
    alertname: LiaisonAuditNotWritable
    exp_alerts:
    - exp_labels: {severity: critical, job: liaison, instance: "gw-1:9090"}
`
	if err := os.WriteFile(filepath.Join(dir, "wrong.test.yml"), []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, dir, bin, "test", "rules", "wrong.test.yml"); err == nil {
		t.Fatalf("promtool passed a test expecting an alert on a writable audit log:\n%s", out)
	}
}

// TestEveryAlertIsTested: each alert has a unit test that fires it and one
// that keeps it quiet, and a runbook.
func TestEveryAlertIsTested(t *testing.T) {
	r, err := LoadRules(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(RulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := string(b)
	n := 0
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			if rule.Alert == "" {
				continue
			}
			n++
			for _, name := range []string{rule.Alert + " fires", rule.Alert + " stays quiet"} {
				if !strings.Contains(tests, "name: "+name+"\n") {
					t.Errorf("no rules test %q", name)
				}
			}
			for _, a := range []string{"summary", "description", "runbook", "runbook_url"} {
				if rule.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", rule.Alert, a)
				}
			}
			if s := rule.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q", rule.Alert, s)
			}
		}
	}
	if n < 10 {
		t.Fatalf("%d alerts", n)
	}
}

// TestDashboard: the dashboard parses, panel ids are unique and every
// non-row panel queries something.
func TestDashboard(t *testing.T) {
	d, err := LoadDashboard(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Fatalf("uid %q title %q", d.UID, d.Title)
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if len(MetricNames([]string{tg.Expr})) == 0 {
				t.Errorf("panel %q: %q names no liaison metric", p.Title, tg.Expr)
			}
		}
	}
}

// TestDashboardExprsParse: every dashboard query is valid PromQL, checked
// by promtool (the parser the rules are checked with) rather than by
// linking Prometheus into the module: each query, its Grafana variables
// replaced by values, becomes a recording rule of a scratch file that
// `promtool check rules` must accept. A broken query is refused, so the
// check can fail.
func TestDashboardExprsParse(t *testing.T) {
	bin := promtool(t)
	d, err := LoadDashboard(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$job", "liaison", "$instance", ".*")
	file := func(exprs []string) string {
		var b strings.Builder
		b.WriteString("groups:\n- name: dashboard\n  rules:\n")
		for i, e := range exprs {
			q, err := json.Marshal(vars.Replace(e)) // a JSON string is a YAML string
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "  - record: dashboard_query_%d\n    expr: %s\n", i, q)
		}
		return b.String()
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("%d dashboard queries", len(exprs))
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"dashboard.yml": file(exprs),
		"broken.yml":    file(append(exprs[:1:1], `sum by (le (rate(liaison_ready[5m]))`)),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run(t, dir, bin, "check", "rules", "dashboard.yml"); err != nil {
		t.Fatalf("dashboard queries: %v\n%s", err, out)
	}
	if out, err := run(t, dir, bin, "check", "rules", "broken.yml"); err == nil {
		t.Fatalf("promtool accepted a broken dashboard query:\n%s", out)
	}
}
