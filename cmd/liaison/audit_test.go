package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/audit"
)

// runAudit runs `liaison audit args...` and returns stdout and the error.
func runAudit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newAuditCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String() + errOut.String(), err
}

// auditLog writes a small real log (two nodes' worth when asked) and the
// pinned public key set.
func auditLog(t *testing.T, gw string, n int) (dir, jwksFile string) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "audit")
	keyFile := filepath.Join(base, "audit-signing.jwk.json")
	l, err := audit.Open(dir, audit.Options{Gateway: gw, SigningKeyFile: keyFile, SegmentMaxEntries: 20, CheckpointEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	for i := range n {
		e := &audit.Event{Time: t0.Add(time.Duration(i) * time.Minute), Gateway: gw, RequestID: fmt.Sprintf("r%d", i),
			Operation: audit.OpDisclosure, Action: "record.read", Status: 200, Agency: "rocu-nw", Officer: "pc-1",
			RecordIDs: []string{fmt.Sprintf("rec-%d", i%5)}, DSAIDs: []string{"dsa-met-rocu"}, Purpose: "investigation", Justification: "OP-NIGHTJAR"}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	s, err := jose.LoadOrCreateSigner(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := s.PublicJWKS()
	jwksFile = filepath.Join(base, "pinned.jwks.json")
	os.WriteFile(jwksFile, jwks, 0o600)
	return dir, jwksFile
}

func TestAuditVerifyCommand(t *testing.T) {
	dir, jwks := auditLog(t, "gw-a", 55)
	out, err := runAudit(t, "verify", "--dir", dir, "--jwks", jwks, "-o", "json", "--no-progress")
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	var res struct {
		OK   bool           `json:"ok"`
		Logs []audit.Report `json:"logs"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.OK || res.Logs[0].Entries != 55 || res.Logs[0].KeySource != "pinned" {
		t.Fatalf("verify output: %v %s", err, out)
	}
	// --strict: every entry is signed (Close signs a last checkpoint).
	if _, err := runAudit(t, "verify", "--dir", dir, "--jwks", jwks, "--strict", "-o", "text"); err != nil {
		t.Fatalf("strict verify: %v", err)
	}

	seg := filepath.Join(dir, "segment-000002.jsonl")
	b, _ := os.ReadFile(seg)
	os.WriteFile(seg, bytes.Replace(b, []byte(`"status":200`), []byte(`"status":404`), 1), 0o600)
	out, err = runAudit(t, "verify", "--dir", dir, "--jwks", jwks, "-o", "text")
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 1 {
		t.Fatalf("a tampered log must exit 1: %v", err)
	}
	if !strings.Contains(out, "FAILED") || !strings.Contains(out, "segment-000002.jsonl line 1 (seq 21)") {
		t.Fatalf("the first bad entry is not named: %s", out)
	}
}

func TestAuditProveCheckProofAndExport(t *testing.T) {
	dir, jwks := auditLog(t, "gw-a", 40)
	proof := filepath.Join(t.TempDir(), "proof.json")
	if out, err := runAudit(t, "prove", "--dir", dir, "--seq", "17", "--jwks", jwks, "--out", proof); err != nil {
		t.Fatalf("prove: %v %s", err, out)
	}
	out, err := runAudit(t, "check-proof", proof, "--jwks", jwks, "-o", "text")
	if err != nil || !strings.Contains(out, "OK: entry 17 of gw-a") {
		t.Fatalf("check-proof: %v %s", err, out)
	}
	b, _ := os.ReadFile(proof)
	os.WriteFile(proof, bytes.Replace(b, []byte(`pc-1`), []byte(`pc-2`), 1), 0o600)
	if _, err := runAudit(t, "check-proof", proof, "--jwks", jwks); err == nil {
		t.Fatal("an altered proof was accepted")
	}

	pack := filepath.Join(t.TempDir(), "pack.json")
	out, err = runAudit(t, "export", "--dir", dir, "--record", "rec-2", "--sign-key", filepath.Join(t.TempDir(), "auditor.jwk"), "--out", pack)
	if err != nil || !strings.Contains(out, "8 entries exported") {
		t.Fatalf("export: %v %s", err, out)
	}
	out, err = runAudit(t, "check-proof", pack, "--jwks", jwks, "-o", "json")
	var res struct {
		OK     bool             `json:"ok"`
		Result audit.PackResult `json:"result"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || !res.OK || !res.Result.Signed || len(res.Result.Entries) != 8 {
		t.Fatalf("check pack: %v %s", err, out)
	}
}

func TestAuditQueryMergesNodes(t *testing.T) {
	a, _ := auditLog(t, "gw-a", 12)
	b, _ := auditLog(t, "gw-b", 12)
	out, err := runAudit(t, "query", "--dir", a, "--dir", b, "--record", "rec-1", "--from", "2026-02-01T09:05:00Z", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 { // rec-1 is entries 2, 7, 12 of each node; from 09:05 leaves 7 and 12
		t.Fatalf("want 4 entries, got %d:\n%s", len(lines), out)
	}
	var first audit.Event
	json.Unmarshal([]byte(lines[0]), &first)
	if first.Seq != 7 || first.Gateway != "gw-a" {
		t.Fatalf("not merged in time order: %s", lines[0])
	}
	out, err = runAudit(t, "query", "--dir", a, "--agency", "rocu-nw", "-o", "text")
	if err != nil || !strings.Contains(out, "12 entries") || !strings.Contains(out, "JUSTIFICATION") {
		t.Fatalf("table: %v\n%s", err, out)
	}
	if _, err := runAudit(t, "query", "--dir", a, "--from", "yesterday"); err == nil {
		t.Fatal("a bad time was accepted")
	}
}

func TestAuditHMACCommand(t *testing.T) {
	key := filepath.Join(t.TempDir(), "hmac.key")
	k, err := audit.LoadOrCreateHMACKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runAudit(t, "hmac", "--key", key, "--value", "OP-NIGHTJAR tasking 42")
	if err != nil || strings.TrimSpace(out) != audit.HMAC(k, "OP-NIGHTJAR tasking 42") {
		t.Fatalf("hmac: %v %q", err, out)
	}
}

func TestAuditVerifyFromTheStore(t *testing.T) {
	base := t.TempDir()
	storeDir := filepath.Join(base, "store")
	cfgFile := filepath.Join(base, "liaison.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`gateway_id: gw-a
tls: {cert: x.pem, key: x.key, client_cas: [ca.pem]}
store: {backend: fs, fs: {dir: %s}}
`, storeDir)), 0o600)
	st, err := fsstore.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "audit")
	keyFile := filepath.Join(base, "audit.jwk")
	l, err := audit.Open(dir, audit.Options{Gateway: "gw-a", SigningKeyFile: keyFile, SegmentMaxEntries: 10, CheckpointEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		if err := l.Append(context.Background(), &audit.Event{Time: time.Now().UTC(), Gateway: "gw-a", RequestID: fmt.Sprint(i), Operation: audit.OpConsultation, Action: "record.list", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	sh := audit.NewShipper(st, l, audit.ShipperOptions{})
	l.Close()
	if _, err := sh.Ship(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, err := runAudit(t, "verify", "--store", "--config", cfgFile, "--data-dir", base, "-o", "json", "--no-progress")
	if err != nil {
		t.Fatalf("verify --store: %v %s", err, out)
	}
	var res struct {
		OK   bool           `json:"ok"`
		Logs []audit.Report `json:"logs"`
	}
	if json.Unmarshal([]byte(out), &res) != nil || !res.OK || len(res.Logs) != 1 || res.Logs[0].Entries != 20 || res.Logs[0].Gateway != "gw-a" {
		t.Fatalf("store report: %s", out)
	}
}
