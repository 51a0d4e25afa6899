package gateway

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/policies"
	"github.com/liaison-project/liaison/policy"
	"github.com/liaison-project/liaison/policy/shadow"
)

func TestShadowPolicyWiring(t *testing.T) {
	ctx := context.Background()
	live, err := policy.New(ctx, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Close() }) // its decision workers
	// The candidate requires 40-character justifications; its samples (which
	// expect 8) are replaced, as an officer changing the rule would.
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(dir, "data", "settings.json")
	raw, _ := os.ReadFile(settings)
	_ = os.Remove(settings)
	if err := os.WriteFile(settings, []byte(strings.Replace(string(raw), `"min_justification_length": 8`, `"min_justification_length": 40`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(dir, "samples.json")
	_ = os.Remove(samples)
	if err := os.WriteFile(samples, []byte(`{"samples": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "shadow.jsonl")
	g := &Gateway{policy: live}
	pe, err := g.shadowPolicy(ctx, dir, report, -1, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]any{
		"action": "record.read", "time": "2026-11-21T10:00:00Z",
		"subject": map[string]any{"agency_id": "rocu-nw", "officer": map[string]any{"id": "dc-77", "clearance": "SC", "vetting": "MV", "roles": []any{}, "nationality": "GBR"}},
		"request": map[string]any{"purpose": "investigation", "justification": "lead 42 today"},
		"record": map[string]any{"record_id": "rec_1", "originator": map[string]any{"org_id": "met-police"}, "classification": map[string]any{"tier": "OFFICIAL"},
			"tlp": "GREEN", "grading": map[string]any{"source": "1", "intelligence": "B"}, "handling": map[string]any{"code": "P"},
			"allowed_purposes": []any{"investigation"}, "dsa_ids": []any{"dsa-uk-soc"}, "recipients": []any{"rocu-nw"}},
	}
	raw, err = json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	d, err := pe.DecideJSON(ctx, raw)
	if err != nil || !d.Allow || pe.Revision() != live.Revision() {
		t.Fatalf("the shadow did not answer as the live policy: %+v, %v", d, err)
	}
	for i := len(g.closers) - 1; i >= 0; i-- { // as Gateway.Close does
		if err := g.closers[i](); err != nil {
			t.Fatal(err)
		}
	}
	lines, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var c shadow.Change
	if err := json.Unmarshal(lines, &c); err != nil || c.Transition() != "allow→deny" || c.CodesAdded[0] != "justification_required" {
		t.Fatalf("report = %s (%v)", lines, err)
	}
	if st, _ := os.Stat(report); st.Mode().Perm() != 0o600 {
		t.Fatalf("report mode %v", st.Mode())
	}
}
