package gateway_test

import (
	"bytes"
	"encoding/json"
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
	pr := officer(env, "met-police", "aud-met", "auditor").MustDo("POST", "/v1/audit/evidence", map[string]any{"dsa": "dsa-uk-soc"})
	if pr.Status != 409 && pr.Status != 200 {
		t.Fatalf("evidence without a covering checkpoint: %d %s", pr.Status, pr.Body)
	}
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
