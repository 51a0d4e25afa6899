package policy_test

import (
	"context"
	"slices"
	"testing"
)

// TestAuditScopeDecision: an allowed audit query carries the caller's
// scope (its agency and the DSAs it is party to); a denied one none
// (issue 9 item 2).
func TestAuditScopeDecision(t *testing.T) {
	e := engine(t)
	in := func(agency string, roles ...any) map[string]any {
		return map[string]any{"action": "audit.query", "time": "2026-11-21T10:00:00Z",
			"subject": map[string]any{"agency_id": agency, "officer": map[string]any{"id": "o-1", "clearance": "SC", "roles": roles}},
			"request": map[string]any{"purpose": "", "justification": "", "case": ""}}
	}
	d, err := e.DecideJSON(context.Background(), js(t, in("hmrc", "dpo")))
	if err != nil || !d.Allow || d.AuditScope == nil {
		t.Fatalf("DPO: %+v %v", d, err)
	}
	if s := d.AuditScope; s.Federation || s.Agency != "hmrc" || !slices.Equal(s.DSAs, []string{"dsa-legacy-2023", "dsa-selec-ops", "dsa-uk-soc"}) {
		t.Fatalf("scope %+v", s)
	}
	// The demo registry allows no agency federation auditors.
	d, err = e.DecideJSON(context.Background(), js(t, in("nca", "federation_auditor")))
	if err != nil || d.Allow || d.AuditScope != nil {
		t.Fatalf("federation_auditor at nca: %+v %v", d, err)
	}
}
