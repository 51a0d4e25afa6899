package gateway_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/policy"
)

func TestPolicyReloadIsAudited(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	now := time.Now()
	env.GW.AuditPolicyReload(policy.ReloadEvent{Time: now, Trigger: "watch", Source: "/etc/liaison/policy",
		OldRevision: "sha256:aaaa", NewRevision: "sha256:bbbb", Applied: true})
	env.GW.AuditPolicyReload(policy.ReloadEvent{Time: now, Trigger: "watch", Source: "/etc/liaison/policy",
		OldRevision: "sha256:bbbb", NewRevision: "sha256:cccc", Err: errors.New("boom"),
		Problems: []policy.Problem{{File: "/etc/liaison/policy/data/dsas.json", Line: 6, Col: 17, Kind: "schema", Message: "/dsas/x/status: value must be one of"}}})

	var got []string
	for _, ev := range env.Audit() {
		if ev.Action != "policy.reload" {
			continue
		}
		if ev.Decision == nil || len(ev.Decision.Reasons) == 0 {
			t.Fatalf("reload entry without decision: %+v", ev)
		}
		line := ev.Operation + " " + ev.Decision.Revision + " " + ev.Decision.Reasons[0].Code
		if !ev.Decision.Allow {
			if ev.Status != http.StatusUnprocessableEntity || len(ev.Decision.Reasons) != 2 ||
				ev.Decision.Reasons[1].Message != "/etc/liaison/policy/data/dsas.json:6:17: schema: /dsas/x/status: value must be one of" {
				t.Fatalf("rejected reload entry: %+v", ev)
			}
		}
		got = append(got, line)
	}
	want := "alteration sha256:bbbb policy_reloaded|alteration sha256:cccc policy_reload_rejected"
	if strings.Join(got, "|") != want {
		t.Fatalf("audited reloads %q, want %q", got, want)
	}
}

// TestDataReloadAuditNamesChange: the audit entry of a data-only reload
// names the DSA whose status changed, the old and new status, and the
// digest of the file (issue 9 item 22).
func TestDataReloadAuditNamesChange(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	env.GW.AuditPolicyReload(policy.ReloadEvent{Time: time.Now(), Trigger: "watch", Source: "/etc/liaison/policy",
		OldRevision: "sha256:aaaa", NewRevision: "sha256:bbbb", Applied: true, Kind: policy.ReloadData, Suite: policy.SuitePending,
		Changes: []policy.DataChange{{Kind: "dsa", ID: "dsa-uk-soc", Change: "status", OldStatus: "active", NewStatus: "suspended"}},
		Files:   []policy.FileChange{{Path: "data/dsas.json", OldSHA256: "0123", NewSHA256: "4567"}}})
	env.GW.AuditPolicyReload(policy.ReloadEvent{Time: time.Now(), Trigger: "suite", Source: "/etc/liaison/policy",
		OldRevision: "sha256:bbbb", NewRevision: "sha256:bbbb", Applied: true, Kind: policy.ReloadSuite, Suite: policy.SuiteFailed,
		Err: errors.New("FAIL"), Problems: []policy.Problem{{File: "liaison/authz_test.rego", Line: 9, Kind: "test", Message: "FAIL x"}}})
	var got []string
	for _, ev := range env.Audit() {
		if ev.Action != "policy.reload" && ev.Action != "policy.suite" {
			continue
		}
		for _, r := range ev.Decision.Reasons {
			got = append(got, ev.Action+" "+strings.Join(ev.DSAIDs, ",")+" "+r.Code+": "+r.Message)
		}
	}
	want := []string{
		"policy.reload dsa-uk-soc policy_data_reloaded: policy data sha256:aaaa replaced by sha256:bbbb from /etc/liaison/policy (data only: schemas and samples checked, Rego suite running in the background)",
		"policy.reload dsa-uk-soc policy_data_change: dsa dsa-uk-soc: status active -> suspended",
		"policy.reload dsa-uk-soc policy_file: data/dsas.json sha256:0123 -> sha256:4567",
		"policy.suite  policy_suite_failed: Rego suite fails on sha256:bbbb from /etc/liaison/policy; the data stays in force, the next policy change is refused until the suite passes",
		"policy.suite  policy_problem: liaison/authz_test.rego:9: test: FAIL x",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
