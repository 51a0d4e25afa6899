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
