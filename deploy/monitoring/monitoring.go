// Package monitoring holds Liaison's Prometheus alert rules and Grafana
// dashboard (the YAML and JSON files beside this one) and the tests that
// check them: `promtool check rules` and `promtool test rules` with the
// promtool that deploy/devstack/devstack.sh installs, the dashboard's
// structure, and its queries (parsed by the same promtool). That every metric they name is one a gateway exports is
// checked against a real gateway's /metrics in gateway/observe_test.go.
package monitoring

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"

	"gopkg.in/yaml.v3"
)

// Files, relative to this directory.
const (
	RulesFile     = "liaison.rules.yml"
	RulesTestFile = "liaison.rules.test.yml"
	DashboardFile = "liaison-dashboard.json"
)

// Rules is the part of a Prometheus rules file the checks read.
type Rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is one dashboard panel (rows have no targets).
type Panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// LoadRules reads a rules file.
func LoadRules(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Rules
	if err := yaml.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// LoadDashboard reads a dashboard file.
func LoadDashboard(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Exprs are every PromQL expression of the rules and the dashboard.
func Exprs(r *Rules, d *Dashboard) []string {
	var out []string
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			out = append(out, rule.Expr)
		}
	}
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, t.Expr)
		}
	}
	return out
}

// metricName matches Liaison's metric names in PromQL. Liaison's names all
// start with liaison_, and no label or function does.
var metricName = regexp.MustCompile(`\bliaison_[a-z0-9_]+`)

// MetricNames are the liaison_ metric names the expressions use, sorted.
func MetricNames(exprs []string) []string {
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
