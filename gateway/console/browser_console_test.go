package console_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/policies"
)

const (
	hPurpose = "Liaison-Purpose"
	hJust    = "Liaison-Justification"
	// consoleAgency is the agency whose certificate the browser presents:
	// an originator (its records, its consent requests) and a registry
	// administrator agency (data/agencies.json), so every flow can run as
	// one of its dev officers.
	consoleAgency = "met-police"
	// shortJust is a justification the live policy accepts (8 characters
	// or more) and the shadow candidate refuses (40 or more): a read with
	// it is a changed decision in the shadow report.
	shortJust = "OP-NIGHTJAR tasking 42"
)

// consoleFixture is what the specs are told (LIAISON_CONSOLE_FIXTURE).
type consoleFixture struct {
	Agency    string `json:"agency"`
	Record    string `json:"record"`     // met-police's record, read by rocu-nw and refused to hmrc
	DSA       string `json:"dsa"`        // the agreement the records are shared under
	Consent   string `json:"consent"`    // a consent request pending met-police's answer
	Suspend   string `json:"suspend"`    // the agreement the Agreements flow suspends and re-activates
	Entries   int    `json:"entries"`    // entries in the log when the specs start
	PageLimit int    `json:"page_limit"` // the audit page budget (bytes) of the perf spec; 0 elsewhere
}

// shadowCandidate writes a copy of the bundled policies with one rule
// changed — justifications must be 40 characters, not 8 — and its samples
// (which expect 8) emptied, as a security officer changing the rule would.
func shadowCandidate(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "candidate")
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	// CopyFS keeps the embed's read-only modes; make the copies writable.
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			mode := os.FileMode(0o644)
			if d.IsDir() {
				mode = 0o755
			}
			_ = os.Chmod(p, mode)
		}
		return nil
	})
	settings := filepath.Join(dir, "data", "settings.json")
	raw, err := os.ReadFile(settings)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(raw), `"min_justification_length": 8`, `"min_justification_length": 40`, 1)
	if changed == string(raw) {
		t.Fatal("settings.json no longer has min_justification_length 8: update the shadow candidate")
	}
	if err := os.WriteFile(settings, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "samples.json"), []byte(`{"samples": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startConsoleGateway starts a gateway with the console (its dev identity
// provider is on in gatewaytest), a checkpoint after every entry (so that
// every entry's proof verifies at once), and a shadow candidate with its
// inputs recorded.
func startConsoleGateway(t *testing.T, configure func(*config.Config)) *gatewaytest.Env {
	t.Helper()
	cand := shadowCandidate(t)
	shadowDir := t.TempDir()
	return gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Audit.CheckpointEvery = 1
		c.Policy.ShadowDir = cand
		c.Policy.ShadowReport = filepath.Join(shadowDir, "shadow.jsonl")
		c.Policy.ShadowInputs = filepath.Join(shadowDir, "inputs.jsonl")
		if configure != nil {
			configure(c)
		}
	}})
}

func recordBody(recipients ...string) map[string]any {
	return map[string]any{
		"meta": map[string]any{
			"classification":        map[string]any{"tier": "OFFICIAL"},
			"tlp":                   "AMBER",
			"grading":               map[string]any{"source": "1", "intelligence": "B"},
			"handling":              map[string]any{"code": "P"},
			"allowed_purposes":      []any{"investigation", "prevention"},
			"data_subject_category": "suspect",
			"content_basis":         "fact",
			"dsa_ids":               []any{"dsa-uk-soc"},
			"recipients":            recipients,
			"protected_fields":      []any{"source_details"},
			"review_due":            time.Now().AddDate(1, 0, 0).UTC().Format("2006-01-02"),
		},
		"content": map[string]any{"summary": "Subject A stages consignments in Salford", "source_details": "handler notes: CHIS-7781"},
	}
}

func publish(t *testing.T, c *gatewaytest.Client, body any) string {
	t.Helper()
	r := c.MustDo("POST", "/v1/records", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	return gatewaytest.Decode[api.Published](t, r).ID
}

// seedConsole makes what the flows look at, through the API as the
// agencies would: a record of met-police read by rocu-nw (a disclosure,
// and with shortJust a changed decision in the shadow report), refused to
// hmrc (a denial), and a consent request of rocu-nw's to share a second
// record with the NCA, pending met-police's answer.
func seedConsole(t *testing.T, e *gatewaytest.Env) consoleFixture {
	t.Helper()
	met := e.Client("met-police")
	rocu := e.Client("rocu-nw").With(hPurpose, "investigation", hJust, shortJust)
	hmrc := e.Client("hmrc").With(hPurpose, "investigation", hJust, shortJust)
	rec := publish(t, met, recordBody("rocu-nw"))
	if r := rocu.MustDo("GET", "/v1/records/"+rec, nil); r.Status != http.StatusOK {
		t.Fatalf("rocu-nw read: %d %s", r.Status, r.Body)
	}
	if r := hmrc.MustDo("GET", "/v1/records/"+rec, nil); r.Status < 400 {
		t.Fatalf("hmrc read was not refused: %d %s", r.Status, r.Body)
	}
	rec2 := publish(t, met, recordBody("rocu-nw"))
	r := rocu.MustDo("POST", "/v1/records/"+rec2+"/shares", map[string]any{"recipients": []string{"nca"}, "note": "NCA leads on the OCG"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("share needing consent: %d %s", r.Status, r.Body)
	}
	filed := gatewaytest.Decode[api.ConsentFiled](t, r)
	return consoleFixture{Agency: consoleAgency, Record: rec, DSA: "dsa-uk-soc", Consent: filed.ConsentID,
		Suspend: "dsa-legacy-2023", Entries: len(e.Audit())}
}

// auditorClient is met-police's auditor over the API, as Go checks what
// the browser did.
func auditorClient(e *gatewaytest.Env) *gatewaytest.Client {
	tok := e.OfficerToken(consoleAgency, jose.Officer{ID: "go-auditor", Clearance: "SC", Vetting: "NPPV3",
		Nationality: "GBR", Roles: []string{"auditor"}}, time.Hour)
	return e.Client(consoleAgency).WithToken(tok).With(hPurpose, "audit", hJust, "browser test cross-check")
}

// TestBrowserConsole runs every flow spec (e2e/*.test.mjs but the mTLS
// one) against one gateway, then checks in Go what the browser left: the
// evidence pack it downloaded verifies offline with audit.CheckPack,
// pinned to the audit keys Go fetched itself.
func TestBrowserConsole(t *testing.T) {
	bt := needBrowser(t)
	e := startConsoleGateway(t, nil)
	fix := seedConsole(t, e)
	out := t.TempDir()
	specs, err := filepath.Glob(filepath.Join(bt.e2e, "*.test.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, s := range specs {
		if b := filepath.Base(s); b != "mtls.test.mjs" {
			files = append(files, b)
		}
	}
	if only := os.Getenv("LIAISON_CONSOLE_SPECS"); only != "" {
		files = strings.Fields(only) // run some: LIAISON_CONSOLE_SPECS="audit.test.mjs"
	}
	var extra []string
	if d := os.Getenv(envScreenshots); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, envScreenshots+"="+abs)
	}
	runSpecs(t, bt, specRun{env: e, agency: consoleAgency, fixture: fix, out: out, extra: extra}, files...)

	// The evidence pack the DPO downloaded in evidence.test.mjs.
	packFile := filepath.Join(out, "evidence-"+fix.Record+".json")
	raw, err := os.ReadFile(packFile)
	if errors.Is(err, os.ErrNotExist) && !contains(files, "evidence.test.mjs") {
		return
	}
	if err != nil {
		t.Fatalf("the downloaded evidence pack: %v", err)
	}
	var pack audit.EvidencePack
	if err := json.Unmarshal(raw, &pack); err != nil {
		t.Fatalf("the downloaded evidence pack is not a pack: %v", err)
	}
	if len(pack.Entries) == 0 {
		t.Fatal("the downloaded evidence pack has no entries")
	}
	// The audit keys to pin, fetched by Go itself over the API (a proof of
	// one of the pack's entries carries the gateway's audit key set).
	pr := auditorClient(e).MustDo("GET", fmt.Sprintf("/v1/audit/proof?seq=%d", pack.Entries[0].Seq), nil)
	if pr.Status != http.StatusOK {
		t.Fatalf("proof for the pinned keys: %d %s", pr.Status, pr.Body)
	}
	var proof api.AuditProof
	if err := json.Unmarshal(pr.Body, &proof); err != nil {
		t.Fatal(err)
	}
	res, err := audit.CheckPack(&pack, proof.JWKS)
	if err != nil {
		t.Fatalf("audit.CheckPack of the downloaded pack: %v", err)
	}
	if !res.Signed {
		t.Fatal("the downloaded pack carries no exporter signature")
	}
	found := false
	for _, ev := range res.Entries {
		for _, id := range ev.RecordIDs {
			found = found || id == fix.Record
		}
	}
	if !found || len(res.Entries) == 0 {
		t.Fatalf("the pack's %d verified entries do not name record %s", len(res.Entries), fix.Record)
	}
	t.Logf("evidence pack %s: %d entries verified offline, signed", filepath.Base(packFile), len(res.Entries))
	// And a changed byte breaks it: CheckPack is not a yes-machine.
	pack.Entries[0].Leaf = strings.Replace(pack.Entries[0].Leaf, fix.Record, fix.Record[:len(fix.Record)-1]+"X", 1)
	if _, err := audit.CheckPack(&pack, proof.JWKS); err == nil {
		t.Fatal("CheckPack accepted a pack with a changed entry")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
