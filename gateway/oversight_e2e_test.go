package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/policies"
	"github.com/liaison-project/liaison/policy/shadow"
)

// The oversight endpoints (gateway/httpapi/oversight.go): proofs,
// statistics and evidence packs for auditors, the policy in force, its
// reload history and the shadow report for policy administrators.

func officer(env *gatewaytest.Env, agency, id string, roles ...string) *gatewaytest.Client {
	return env.Client(agency).WithToken(env.OfficerToken(agency, jose.Officer{ID: id, Clearance: "SC", Roles: roles}, time.Hour))
}

// fastCheckpoints signs a checkpoint soon after each entry, so that a
// test can prove what it just did.
func fastCheckpoints(c *config.Config) { c.Audit.CheckpointInterval = 50 * time.Millisecond }

// seqOf is the seq of the last entry of the log matching pred.
func seqOf(t *testing.T, env *gatewaytest.Env, pred func(*audit.Event) bool) uint64 {
	t.Helper()
	evs := env.Audit()
	for i := len(evs) - 1; i >= 0; i-- {
		if pred(&evs[i]) {
			return evs[i].Seq
		}
	}
	t.Fatal("no such audit entry")
	return 0
}

// proofOf polls GET /v1/audit/proof until a checkpoint covers seq.
func proofOf(t *testing.T, c *gatewaytest.Client, seq uint64) *gatewaytest.Response {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := c.MustDo("GET", "/v1/audit/proof?seq="+strconv.FormatUint(seq, 10), nil)
		if r.Status != http.StatusConflict {
			return r
		}
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("409 without Retry-After: %s", r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry %d never covered by a checkpoint: %s", seq, r.Body)
		}
	}
}

// TestAuditProofAPI: an auditor gets the inclusion proof of an entry in its
// scope, and the proof checks offline against the gateway's audit key; an
// entry outside the scope is the same 404 as an entry that does not exist;
// an analyst is refused; the consultation is audited.
func TestAuditProofAPI(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: fastCheckpoints})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "Operation KINGFISHER lead 42")
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	read := seqOf(t, env, func(ev *audit.Event) bool { return ev.Action == "record.read" && ev.Agency == "rocu-nw" })

	auditor := officer(env, "rocu-nw", "aud-rocu", "auditor")
	r := proofOf(t, auditor, read)
	if r.Status != 200 {
		t.Fatalf("proof: %d %s", r.Status, r.Body)
	}
	var p api.AuditProof
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	// Checked with the key set the gateway publishes beside its log, not
	// with the one the proof carries.
	keys, err := os.ReadFile(filepath.Join(audit.LogDir(env.Cfg.Audit.Path), "audit-keys.jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, cp, err := audit.CheckProof(&p, keys)
	if err != nil {
		t.Fatalf("the proof does not check: %v", err)
	}
	if ev.Seq != read || ev.Action != "record.read" || ev.Agency != "rocu-nw" || cp.TreeSize < read || cp.Gateway != env.Cfg.GatewayID {
		t.Fatalf("proved %+v against %+v", ev, cp)
	}
	// A later entry is proven against a later checkpoint: the prover the
	// gateway keeps is rebuilt when a new checkpoint is signed.
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	read2 := seqOf(t, env, func(ev *audit.Event) bool { return ev.Action == "record.read" && ev.Agency == "rocu-nw" })
	r2 := proofOf(t, auditor, read2)
	var p2 api.AuditProof
	if err := json.Unmarshal(r2.Body, &p2); r2.Status != 200 || err != nil {
		t.Fatalf("second proof: %d %s", r2.Status, r2.Body)
	}
	if ev2, cp2, err := audit.CheckProof(&p2, keys); err != nil || ev2.Seq != read2 || cp2.TreeSize <= cp.TreeSize {
		t.Fatalf("second proof: %v, entry %+v, checkpoint %+v after %+v", err, ev2, cp2, cp)
	}
	// Tampering with the leaf fails the check.
	bad := p
	bad.Leaf = strings.Replace(p.Leaf, `"rocu-nw"`, `"nca"`, 1)
	if _, _, err := audit.CheckProof(&bad, nil); err == nil {
		t.Fatal("a tampered proof checked")
	}

	// Outside the scope: border-force's auditor, party to no agreement of
	// the record, asks for the read's proof: the answer is the unknown
	// seq's, byte for byte but the request id.
	bf := officer(env, "border-force", "aud-bf", "auditor")
	out := bf.MustDo("GET", "/v1/audit/proof?seq="+strconv.FormatUint(read, 10), nil)
	unknown := bf.MustDo("GET", "/v1/audit/proof?seq=999999", nil)
	if out.Status != 404 || unknown.Status != 404 {
		t.Fatalf("out of scope %d, unknown %d: %s", out.Status, unknown.Status, out.Body)
	}
	po, pu := out.Problem(t), unknown.Problem(t)
	if po.Type != pu.Type || po.Detail != pu.Detail || po.Title != pu.Title {
		t.Fatalf("out-of-scope 404 %+v differs from unknown 404 %+v", po, pu)
	}
	if bytes.Contains(out.Body, []byte(id)) {
		t.Fatal("the 404 names the record")
	}

	// An analyst is refused with the policy's reason.
	an := officer(env, "rocu-nw", "an-1", "analyst")
	wantReason(t, an.MustDo("GET", "/v1/audit/proof?seq=1", nil), 403, "auditor_required")

	// The consultation is audited, as GET /v1/audit is.
	got := seqOf(t, env, func(ev *audit.Event) bool {
		return ev.Route == "/v1/audit/proof" && ev.Officer == "aud-rocu" && ev.Operation == audit.OpConsultation && ev.Status == 200
	})
	if got <= read {
		t.Fatalf("consultation entry %d", got)
	}
}

// TestAuditProofNotYetSigned: an entry no checkpoint covers yet is a 409
// not-yet-signed with Retry-After, not a 404 and not a proof.
func TestAuditProofNotYetSigned(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Audit.CheckpointInterval = time.Hour
		c.Audit.CheckpointEvery = 1_000_000
	}})
	met := env.Client("met-police")
	publish(t, met, recordBody())
	seq := seqOf(t, env, func(ev *audit.Event) bool { return ev.Action == "record.publish" })
	r := officer(env, "met-police", "aud-met", "auditor").MustDo("GET", "/v1/audit/proof?seq="+strconv.FormatUint(seq, 10), nil)
	if r.Status != 409 || r.Header.Get("Retry-After") == "" || !strings.HasSuffix(r.Problem(t).Type, "not-yet-signed") {
		t.Fatalf("unsigned entry: %d %v %s", r.Status, r.Header, r.Body)
	}
	// An evidence pack then proves nothing of it: 409 when the log has no
	// checkpoint at all, else the entry is named as left out.
	pr := officer(env, "met-police", "aud-met", "auditor").MustDo("POST", "/v1/audit/evidence", map[string]any{"dsa": "dsa-uk-soc"})
	switch pr.Status {
	case 409:
	case 200:
		var p audit.EvidencePack
		if err := json.Unmarshal(pr.Body, &p); err != nil || len(p.Entries) != 0 || len(p.Uncovered) != 1 || p.Uncovered[0].FirstSeq > seq || p.Uncovered[0].LastSeq < seq {
			t.Fatalf("pack without a covering checkpoint: %v %s", err, pr.Body)
		}
	default:
		t.Fatalf("evidence without a covering checkpoint: %d %s", pr.Status, pr.Body)
	}
	t.Logf("evidence without a covering checkpoint: %d", pr.Status)
}

// TestAuditEvidenceAPI: the evidence pack checks offline (gateway's
// signature, checkpoint, every inclusion proof) and holds only entries in
// the caller's scope: an unrelated agency's auditor gets none of the
// record's entries, though the log holds several.
func TestAuditEvidenceAPI(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: fastCheckpoints})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "Operation KINGFISHER lead 42")
	for range 2 {
		if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
	}
	// border-force's refused read: under dsa-uk-soc, so in rocu-nw's scope too.
	if r := officer(env, "border-force", "an-bf", "analyst").With(hPurpose, "investigation", hJust, "Operation KINGFISHER lead 42").MustDo("GET", "/v1/records/"+id, nil); r.Status != 404 {
		t.Fatalf("border-force read: %d", r.Status)
	}
	last := seqOf(t, env, func(*audit.Event) bool { return true })
	aud := officer(env, "rocu-nw", "aud-rocu", "auditor")
	proofOf(t, aud, seqOf(t, env, func(ev *audit.Event) bool { return ev.Agency == "rocu-nw" && ev.Action == "record.read" }))

	pack := func(c *gatewaytest.Client, req any) *audit.EvidencePack {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r := c.MustDo("POST", "/v1/audit/evidence", req)
			if r.Status != 200 {
				t.Fatalf("evidence: %d %s", r.Status, r.Body)
			}
			var p audit.EvidencePack
			if err := json.Unmarshal(r.Body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Unproven == 0 || time.Now().After(deadline) {
				return &p
			}
		}
	}
	p := pack(aud, api.EvidenceRequest{Record: id})
	res, err := audit.CheckPack(p, nil)
	if err != nil || !res.Signed {
		t.Fatalf("pack does not check: %v (signed %v)", err, res != nil && res.Signed)
	}
	scope := audit.Scope{Agency: "rocu-nw", DSAs: []string{"dsa-uk-soc"}}
	reads := 0
	for i := range res.Entries {
		ev := &res.Entries[i]
		if !scope.Sees(ev) || !slices.Contains(ev.RecordIDs, id) {
			t.Fatalf("pack holds an entry outside the caller's scope or query: %+v", ev)
		}
		if ev.Action == "record.read" && ev.Agency == "rocu-nw" {
			reads++
		}
	}
	if reads != 2 {
		t.Fatalf("pack holds %d of rocu-nw's 2 reads", reads)
	}
	// The pack's signature is the gateway's record-signing key's.
	if len(p.SignerJWKS) == 0 || p.Signature == "" {
		t.Fatal("unsigned pack")
	}
	// Tampering with an entry breaks the pack.
	tampered := *p
	tampered.Entries = slices.Clone(p.Entries)
	tampered.Entries[0].Leaf = strings.Replace(tampered.Entries[0].Leaf, "rocu-nw", "nca-xxx", 1)
	if _, err := audit.CheckPack(&tampered, nil); err == nil {
		t.Fatal("a tampered pack checked")
	}

	// border-force's auditor: the log holds the record's entries, the pack none.
	var about int
	for _, ev := range env.Audit() {
		if ev.Seq <= last && slices.Contains(ev.RecordIDs, id) {
			about++
		}
	}
	if about < 4 {
		t.Fatalf("the log holds only %d entries about the record", about)
	}
	bf := officer(env, "border-force", "aud-bf", "auditor")
	for _, req := range []api.EvidenceRequest{{Record: id}, {DSA: "dsa-uk-soc"}} {
		bp := pack(bf, req)
		if _, err := audit.CheckPack(bp, nil); err != nil {
			t.Fatal(err)
		}
		for _, e := range bp.Entries {
			var ev audit.Event
			_ = json.Unmarshal([]byte(e.Leaf), &ev)
			if ev.Agency != "border-force" {
				t.Fatalf("border-force's pack for %+v holds %+v", req, ev)
			}
		}
		// Its own refused read is in its scope; nothing else about the record is.
		if len(bp.Entries) > 1 {
			t.Fatalf("border-force's pack for %+v holds %d entries", req, len(bp.Entries))
		}
	}

	// Bad bodies are 400s naming the problem.
	for name, body := range map[string]string{
		"both":          `{"record":"` + id + `","dsa":"dsa-uk-soc"}`,
		"neither":       `{}`,
		"unknown field": `{"record":"` + id + `","scope":"all"}`,
		"not json":      `{"record":`,
		"reversed time": `{"dsa":"dsa-uk-soc","from":"2026-02-01T00:00:00Z","to":"2026-01-01T00:00:00Z"}`,
	} {
		r := aud.MustDo("POST", "/v1/audit/evidence", []byte(body))
		if r.Status != 400 {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	// An analyst is refused.
	wantReason(t, officer(env, "rocu-nw", "an-1", "analyst").MustDo("POST", "/v1/audit/evidence", api.EvidenceRequest{Record: id}), 403, "auditor_required")
}

// TestAuditStatsAPI: the counts match a known sequence of requests: two
// disclosures to rocu-nw and one refused read by nca, under dsa-uk-soc,
// as the originator's auditor sees them.
func TestAuditStatsAPI(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "Operation KINGFISHER lead 42")
	for range 2 {
		if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
	}
	nca := officer(env, "nca", "an-nca", "analyst").With(hPurpose, "investigation", hJust, "Operation KINGFISHER lead 42")
	if r := nca.MustDo("GET", "/v1/records/"+id, nil); r.Status != 404 {
		t.Fatalf("nca read: %d %s", r.Status, r.Body)
	}
	var day string
	for _, ev := range env.Audit() {
		if ev.Agency == "nca" {
			day = ev.Time.UTC().Format(time.DateOnly)
		}
	}
	aud := officer(env, "met-police", "aud-met", "auditor")
	r := aud.MustDo("GET", "/v1/audit/stats", nil)
	if r.Status != 200 {
		t.Fatalf("stats: %d %s", r.Status, r.Body)
	}
	st := gatewaytest.Decode[api.AuditStats](t, r)
	if st.To.Sub(st.From) != 30*24*time.Hour {
		t.Fatalf("default window %v..%v", st.From, st.To)
	}
	var soc *api.DSADayCount
	for i := range st.PerDSADay {
		if st.PerDSADay[i].DSA == "dsa-uk-soc" && st.PerDSADay[i].Day == day {
			soc = &st.PerDSADay[i]
		}
	}
	if soc == nil || soc.Disclosures != 2 || soc.Denials != 1 {
		t.Fatalf("dsa-uk-soc on %s: %+v (all %+v)", day, soc, st.PerDSADay)
	}
	if len(st.DenialsByReason) != 1 || st.DenialsByReason[0].Code != "not_recipient" || st.DenialsByReason[0].Count != 1 || st.DenialsByReason[0].Message == "" {
		t.Fatalf("denials by reason: %+v", st.DenialsByReason)
	}
	want := []api.AgencyCount{{Agency: "rocu-nw", Count: 2}, {Agency: "met-police", Count: 1}, {Agency: "nca", Count: 1}}
	if !slices.Equal(st.TopAgencies, want) {
		t.Fatalf("top agencies %+v, want %+v", st.TopAgencies, want)
	}
	if st.OverdueReviews != 0 || st.OverdueRequests != 0 {
		t.Fatalf("overdue: %d reviews, %d requests", st.OverdueReviews, st.OverdueRequests)
	}

	// Narrowed: another agreement, or a window after the requests, counts nothing.
	for _, q := range []string{"?dsa=dsa-selec-ops", "?from=" + time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly) + "&to=" + time.Now().UTC().AddDate(0, 0, 3).Format(time.DateOnly)} {
		st := gatewaytest.Decode[api.AuditStats](t, aud.MustDo("GET", "/v1/audit/stats"+q, nil))
		if len(st.PerDSADay) != 0 || len(st.TopAgencies) != 0 || st.Entries != 0 {
			t.Fatalf("%s: %+v", q, st)
		}
	}
	// border-force's auditor: none of it is in its scope.
	bst := gatewaytest.Decode[api.AuditStats](t, officer(env, "border-force", "aud-bf", "auditor").MustDo("GET", "/v1/audit/stats", nil))
	for _, a := range bst.TopAgencies {
		if a.Agency != "border-force" {
			t.Fatalf("border-force's stats count %+v", bst.TopAgencies)
		}
	}
	if len(bst.DenialsByReason) != 0 {
		t.Fatalf("border-force's stats count denials %+v", bst.DenialsByReason)
	}

	for _, q := range []string{"?from=yesterday", "?from=2026-13-01", "?to=2026-01-01&from=2026-02-01", "?from=2020-01-01&to=2026-01-01", "?limit=3", "?dsa=a&dsa=b", "?dsa=%zz"} {
		if r := aud.MustDo("GET", "/v1/audit/stats"+q, nil); r.Status != 400 {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}
	wantReason(t, officer(env, "met-police", "an-1", "analyst").MustDo("GET", "/v1/audit/stats", nil), 403, "auditor_required")
}

// copyPolicies copies the bundled policies into a directory a test may edit.
func copyPolicies(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPolicyInspectAPI: a policy administrator reads the policy in force
// and the reload history, which shows a rejected change (with file:line)
// and an accepted one; analysts and auditors are refused; without a
// candidate the shadow report is 404 shadow-off.
func TestPolicyInspectAPI(t *testing.T) {
	dir := copyPolicies(t)
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Policy.Dir = dir
		c.Policy.ReloadInterval = 50 * time.Millisecond
	}})
	so := officer(env, "nca", "so-1", "security_officer")
	status := func() *api.PolicyStatus {
		t.Helper()
		r := so.MustDo("GET", "/v1/policy", nil)
		if r.Status != 200 {
			t.Fatalf("policy: %d %s", r.Status, r.Body)
		}
		return gatewaytest.Decode[api.PolicyStatus](t, r)
	}
	before := status()
	if before.Source != dir || before.LoadedAt.IsZero() || before.Shadow != nil {
		t.Fatalf("policy status %+v", before)
	}
	reloads := func(until func([]api.PolicyReload) bool) []api.PolicyReload {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r := so.MustDo("GET", "/v1/policy/reloads", nil)
			if r.Status != 200 {
				t.Fatalf("reloads: %d %s", r.Status, r.Body)
			}
			items := gatewaytest.Decode[api.PolicyReloads](t, r).Items
			if until(items) {
				return items
			}
			if time.Now().After(deadline) {
				t.Fatalf("reload history never showed it: %+v", items)
			}
		}
	}
	dsas := filepath.Join(dir, "data", "dsas.json")
	good, err := os.ReadFile(dsas)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dsas, []byte("{\n  not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	items := reloads(func(it []api.PolicyReload) bool { return len(it) > 0 && !it[0].Applied })
	rej := items[0]
	located := false
	for _, rs := range rej.Reasons {
		located = located || (rs.Code == "policy_problem" && strings.Contains(rs.Message, "dsas.json:2"))
	}
	if !located || rej.OldRevision != before.Revision || rej.Kind != "policy" || rej.Trigger == "" {
		t.Fatalf("rejected reload %+v", rej)
	}
	if err := os.WriteFile(dsas, append(good, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	items = reloads(func(it []api.PolicyReload) bool { return len(it) > 0 && it[0].Applied && it[0].Kind != "suite" })
	acc := items[0]
	if acc.OldRevision != before.Revision || acc.NewRevision == before.Revision || acc.Seq <= rej.Seq {
		t.Fatalf("accepted reload %+v after %+v", acc, rej)
	}
	if i := slices.IndexFunc(items, func(rl api.PolicyReload) bool { return rl.Seq == rej.Seq }); i < 1 {
		t.Fatalf("the rejected reload is not after the accepted one (newest first): %+v", items)
	}
	after := status()
	if after.Revision != acc.NewRevision || !after.LoadedAt.After(before.LoadedAt) {
		t.Fatalf("policy after the reload %+v, before %+v", after, before)
	}

	for _, c := range []*gatewaytest.Client{officer(env, "nca", "an-1", "analyst"), officer(env, "nca", "aud-1", "auditor", "dpo")} {
		for _, p := range []string{"/v1/policy", "/v1/policy/reloads", "/v1/policy/shadow"} {
			wantReason(t, c.MustDo("GET", p, nil), 403, "policy_admin_required")
		}
	}
	r := so.MustDo("GET", "/v1/policy/shadow", nil)
	if r.Status != 404 || !strings.HasSuffix(r.Problem(t).Type, "/shadow-off") {
		t.Fatalf("shadow without a candidate: %d %s", r.Status, r.Body)
	}
	if r := so.MustDo("GET", "/v1/policy?x=1", nil); r.Status != 400 {
		t.Fatalf("unknown parameter: %d", r.Status)
	}
	// Every consultation is audited.
	n := 0
	for _, ev := range env.Audit() {
		if strings.HasPrefix(ev.Route, "/v1/policy") && ev.Officer == "so-1" && ev.Operation == audit.OpConsultation {
			n++
		}
	}
	if n < 4 {
		t.Fatalf("%d audited consultations of the policy endpoints", n)
	}
}

// TestPolicyShadowAPI: with a candidate that requires 40-character
// justifications, a read the live policy allows is reported as a changed
// decision, with its recorded input under its digest.
func TestPolicyShadowAPI(t *testing.T) {
	cand := copyPolicies(t)
	settings := filepath.Join(cand, "data", "settings.json")
	raw, _ := os.ReadFile(settings)
	_ = os.Remove(settings)
	if err := os.WriteFile(settings, []byte(strings.Replace(string(raw), `"min_justification_length": 8`, `"min_justification_length": 40`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(cand, "samples.json")
	_ = os.Remove(samples)
	if err := os.WriteFile(samples, []byte(`{"samples": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Policy.ShadowDir = cand
		c.Policy.ShadowReport = filepath.Join(out, "shadow.jsonl")
		c.Policy.ShadowInputs = filepath.Join(out, "inputs.jsonl")
	}})
	id := publish(t, env.Client("met-police"), recordBody())
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "Operation KINGFISHER lead 42")
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	so := officer(env, "nca", "so-1", "security_officer")
	var rep *api.ShadowReport
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := so.MustDo("GET", "/v1/policy/shadow", nil)
		if r.Status != 200 {
			t.Fatalf("shadow: %d %s", r.Status, r.Body)
		}
		rep = gatewaytest.Decode[api.ShadowReport](t, r)
		if slices.ContainsFunc(rep.Report.Changes, func(c shadow.Change) bool { return c.Action == "record.read" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no changed read in the shadow report: %+v", rep)
		}
	}
	i := slices.IndexFunc(rep.Report.Changes, func(c shadow.Change) bool { return c.Action == "record.read" })
	c := rep.Report.Changes[i]
	if c.Transition() != "allow→deny" || !slices.Contains(c.CodesAdded, "justification_required") || c.RecordID != id || c.Agency != "rocu-nw" {
		t.Fatalf("change %+v", c)
	}
	if rep.Report.CandidateRevision == "" || rep.Report.CandidateRevision == rep.Report.LiveRevision || rep.Report.Changed < 1 || rep.Report.Inputs < rep.Report.Changed {
		t.Fatalf("report %+v", rep.Report)
	}
	ai := slices.IndexFunc(rep.Report.ByAction, func(a shadow.ActionChanges) bool { return a.Action == "record.read" })
	if ai < 0 || rep.Report.ByAction[ai].AllowToDeny < 1 || rep.Report.ByAction[ai].Inputs < rep.Report.ByAction[ai].Changed {
		t.Fatalf("by action %+v", rep.Report.ByAction)
	}
	in, ok := rep.Inputs[c.InputDigest]
	if !ok {
		t.Fatalf("no recorded input for %s: %v", c.InputDigest, rep.Inputs)
	}
	var input struct {
		Action  string `json:"action"`
		Request struct {
			Justification string `json:"justification"`
		} `json:"request"`
	}
	if err := json.Unmarshal(in, &input); err != nil || input.Action != "record.read" || input.Request.Justification != "Operation KINGFISHER lead 42" {
		t.Fatalf("recorded input %s (%v)", in, err)
	}
	st := gatewaytest.Decode[api.PolicyStatus](t, so.MustDo("GET", "/v1/policy", nil))
	if st.Shadow == nil || st.Shadow.CandidateRevision != rep.Report.CandidateRevision || st.Shadow.Since.IsZero() {
		t.Fatalf("policy status in shadow mode %+v", st)
	}
}

// TestOversightRawBadInput: malformed queries and bodies sent as raw HTTP
// are 400 (415 for a body that is not JSON by its type) problem answers
// naming what is wrong; none is answered as a consultation, and the store
// does not change.
func TestOversightRawBadInput(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: fastCheckpoints})
	id := publish(t, env.Client("met-police"), recordBody())
	aud := "Authorization: Bearer " + env.OfficerToken("met-police", jose.Officer{ID: "aud-raw", Clearance: "SC", Roles: []string{"auditor"}}, time.Hour)
	so := "Authorization: Bearer " + env.OfficerToken("met-police", jose.Officer{ID: "so-raw", Clearance: "SC", Roles: []string{"security_officer"}}, time.Hour)
	ct := "Content-Type: application/json"
	before := storeState(t, env)
	type rc struct {
		name, method, target string
		headers              []string
		body                 []byte
		status               int
		detail               string // a word the problem's detail must hold
	}
	var cases []rc
	for _, q := range []struct{ q, detail string }{
		{"", "seq"}, {"seq=", "seq"}, {"seq=abc", "seq"}, {"seq=0", "seq"}, {"seq=-1", "seq"}, {"seq=%2B1", "seq"},
		{"seq=18446744073709551616", "seq"}, {"seq=1&seq=2", "seq"}, {"seq=1;x=2", "query"}, {"seq=%zz", "query"},
		{"seq=1&foo=bar", "foo"}, {"SEQ=1", "SEQ"},
	} {
		cases = append(cases, rc{"proof " + q.q, "GET", "/v1/audit/proof?" + q.q, []string{aud}, nil, 400, q.detail})
	}
	for _, q := range []struct{ q, detail string }{
		{"from=yesterday", "from"}, {"to=2026-02-30", "to"}, {"from=2026-02-01&to=2026-01-01", "before"},
		{"from=2000-01-01", "366"}, {"dsa=x&dsa=y", "dsa"}, {"after=3", "after"}, {"dsa=%00", "dsa"},
	} {
		cases = append(cases, rc{"stats " + q.q, "GET", "/v1/audit/stats?" + q.q, []string{aud}, nil, 400, q.detail})
	}
	for name, b := range map[string]struct {
		body, detail string
	}{
		"unknown field":    {`{"record":"` + id + `","all":true}`, "all"},
		"both":             {`{"record":"` + id + `","dsa":"dsa-uk-soc"}`, "exactly one"},
		"neither":          {`{}`, "exactly one"},
		"trailing data":    {`{"dsa":"dsa-uk-soc"}{}`, "body"},
		"duplicate member": {`{"dsa":"dsa-uk-soc","dsa":"x"}`, "twice"},
		"invalid utf-8":    {"{\"dsa\":\"\xff\xfe\"}", "Unicode"},
		"bad time":         {`{"dsa":"dsa-uk-soc","from":"yesterday"}`, "body"},
		"not an object":    {`[]`, "body"},
		"control char":     {"{\"record\":\"rec\\u0000x\"}", "record"},
	} {
		cases = append(cases, rc{"evidence " + name, "POST", "/v1/audit/evidence", []string{aud, ct}, []byte(b.body), 400, b.detail})
	}
	cases = append(cases,
		rc{"evidence text/plain", "POST", "/v1/audit/evidence", []string{aud, "Content-Type: text/plain"}, []byte(`{"dsa":"dsa-uk-soc"}`), 415, "application/json"},
		rc{"policy param", "GET", "/v1/policy?x=1", []string{so}, nil, 400, "x"},
		rc{"reloads param", "GET", "/v1/policy/reloads?limit=1", []string{so}, nil, 400, "limit"},
		rc{"shadow param", "GET", "/v1/policy/shadow?all", []string{so}, nil, 400, "all"},
	)
	for _, c := range cases {
		r, err := env.Raw("met-police", env.RawRequest(c.method, c.target, c.headers, c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Status != c.status || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %s %s", c.name, r.Status, r.Header.Get("Content-Type"), r.Body)
			continue
		}
		var p api.Problem
		if err := json.Unmarshal(r.Body, &p); err != nil || !strings.Contains(p.Detail+fmt.Sprint(p.Errors), c.detail) {
			t.Errorf("%s: detail %q does not name %q", c.name, p.Detail, c.detail)
		}
	}
	for _, ev := range env.Audit() {
		if (ev.Officer == "aud-raw" || ev.Officer == "so-raw") && ev.Operation != audit.OpDenial {
			t.Fatalf("a bad request was answered: %+v", ev)
		}
	}
	if after := storeState(t, env); !maps.Equal(before, after) {
		t.Fatal("bad oversight requests changed the store")
	}
}
