package gateway_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

func auditItems(t *testing.T, r *gatewaytest.Response) []audit.Event {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("audit query: %d %s", r.Status, r.Body)
	}
	var p api.AuditPage
	if err := api.Decode(r.Body, &p); err != nil {
		t.Fatalf("audit page: %v: %s", err, r.Body)
	}
	return p.Items
}

// TestAuditAPIScopedToCaller: an auditor sees only the audit entries that
// concern its agency (as the acting agency, originator or recipient) or an
// agreement it is party to. An unrelated agency's DPO asking about a record
// finds nothing, exactly as for a record that does not exist, and an
// unfiltered query returns none of the record's entries (issue 9 item 2).
func TestAuditAPIScopedToCaller(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "Operation KINGFISHER lead 42")
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	dpo := func(agency string) *gatewaytest.Client {
		return env.Client(agency).WithToken(env.OfficerToken(agency, jose.Officer{ID: "dpo-" + agency, Clearance: "SC", Roles: []string{"dpo"}}, time.Hour))
	}

	// border-force is neither originator nor recipient, and party to no
	// agreement the record is shared under.
	bf := dpo("border-force")
	if items := auditItems(t, bf.MustDo("GET", "/v1/audit?record="+id, nil)); len(items) != 0 {
		t.Fatalf("an unrelated agency's DPO got %d entries about the record: %+v", len(items), items)
	}
	missing := auditItems(t, bf.MustDo("GET", "/v1/audit?record=rec_does_not_exist", nil))
	if len(missing) != 0 {
		t.Fatalf("entries for a record that does not exist: %+v", missing)
	}
	r := bf.MustDo("GET", "/v1/audit", nil)
	all := auditItems(t, r)
	if len(all) == 0 {
		t.Fatal("border-force's DPO sees not even its own queries")
	}
	for _, ev := range all {
		if ev.Agency != "border-force" || slices.Contains(ev.RecordIDs, id) {
			t.Fatalf("border-force's DPO got a foreign entry: %+v", ev)
		}
	}
	for _, leak := range []string{id, "met-police", "rocu-nw", "Operation KINGFISHER", "dpo-met"} {
		if bytes.Contains(r.Body, []byte(leak)) {
			t.Fatalf("border-force's audit page names %q: %s", leak, r.Body)
		}
	}
	// A filter naming another agency does not widen the scope.
	if items := auditItems(t, bf.MustDo("GET", "/v1/audit?agency=met-police", nil)); len(items) != 0 {
		t.Fatalf("agency=met-police gave border-force %d entries", len(items))
	}

	// The recipient's DPO sees the record's entries that concern it.
	items := auditItems(t, dpo("rocu-nw").MustDo("GET", "/v1/audit?record="+id, nil))
	if len(items) == 0 {
		t.Fatal("the recipient's DPO sees nothing about a record disclosed to it")
	}
	for _, ev := range items {
		if ev.Agency != "rocu-nw" && ev.Originator != "rocu-nw" && !slices.Contains(ev.Recipients, "rocu-nw") && !slices.Contains(ev.DSAIDs, "dsa-uk-soc") {
			t.Fatalf("rocu-nw's DPO got an entry outside its scope: %+v", ev)
		}
	}
	// The originator's DPO sees the recipient's read of its record.
	read := false
	metItems := auditItems(t, dpo("met-police").MustDo("GET", "/v1/audit?record="+id, nil))
	for _, ev := range metItems {
		read = read || ev.Agency == "rocu-nw" && ev.Action == "record.read"
	}
	if !read {
		t.Fatalf("the originator's DPO does not see the recipient's read: %+v", metItems)
	}
	// A non-auditor officer is still refused.
	analyst := env.OfficerToken("border-force", jose.Officer{ID: "an-1", Clearance: "SC", Roles: []string{"analyst"}}, time.Hour)
	wantReason(t, env.Client("border-force").WithToken(analyst).MustDo("GET", "/v1/audit", nil), 403, "auditor_required")
}
