package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// runCLI runs the real command tree with args and returns what it printed
// on stdout (commands write there directly or through cobra).
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	root := newRoot()
	root.SetOut(w)
	root.SetArgs(args)
	runErr := root.Execute()
	w.Close()
	os.Stdout = old
	out, _ := io.ReadAll(r)
	return string(out), runErr
}

// profileFor writes a CLI profile for agency of env into dir.
func profileFor(t *testing.T, env *gatewaytest.Env, dir, agency string) string {
	t.Helper()
	p := profile{Endpoint: env.URL, Agency: agency, Cert: env.Fed.AgencyCertFile(agency), Key: env.Fed.AgencyKeyFile(agency),
		CA: env.Fed.CAFile, OfficerKey: env.Fed.OfficerKeyFile(agency), Audience: env.Cfg.Officers.Audience}
	b, _ := yaml.Marshal(p)
	path := filepath.Join(dir, agency+".yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRecordsCLI(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	dir := t.TempDir()
	met, rocu, hmrc := profileFor(t, env, dir, "met-police"), profileFor(t, env, dir, "rocu-nw"), profileFor(t, env, dir, "hmrc")
	example := filepath.Join("..", "..", "deploy", "examples", "record.json")

	out, err := runCLI(t, "records", "put", "--profile", met, "--file", example, "-o", "json")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	var put struct{ ID string }
	if err := json.Unmarshal([]byte(out), &put); err != nil || !strings.HasPrefix(put.ID, "rec_") {
		t.Fatalf("put output %q: %v", out, err)
	}

	token, err := runCLI(t, "dev", "token", "--profile", rocu, "--officer", "ds-101", "--clearance", "SC")
	if err != nil || strings.Count(strings.TrimSpace(token), ".") != 2 {
		t.Fatalf("dev token: %q %v", token, err)
	}
	out, err = runCLI(t, "records", "get", "--profile", rocu, "--token", strings.TrimSpace(token),
		"--purpose", "investigation", "--justification", "OP-NIGHTJAR tasking", put.ID, "-o", "json")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !strings.Contains(out, "Salford") || strings.Contains(out, "Handler notes") {
		t.Fatalf("get output lacks content or leaks the protected field: %s", out)
	}

	// A refusal exits non-zero and prints the problem for machines.
	out, err = runCLI(t, "records", "get", "--profile", hmrc, "--purpose", "investigation", "--justification", "a check", put.ID, "-o", "json")
	if _, ok := err.(exitError); !ok || !strings.Contains(out, `"status":404`) {
		t.Fatalf("hmrc get: err=%v out=%s", err, out)
	}

	out, err = runCLI(t, "records", "share", "--profile", rocu, put.ID, "--to", "nca", "--note", "NCA leads", "-o", "json")
	var share struct {
		ConsentID string `json:"consent_id"`
	}
	if err != nil || json.Unmarshal([]byte(out), &share) != nil || !strings.HasPrefix(share.ConsentID, "con_") {
		t.Fatalf("share: %v %s", err, out)
	}
	if out, err = runCLI(t, "consents", "list", "--profile", met, "-o", "json"); err != nil || !strings.Contains(out, share.ConsentID) {
		t.Fatalf("consents list: %v %s", err, out)
	}
	if out, err = runCLI(t, "consents", "approve", "--profile", met, share.ConsentID, "-o", "json"); err != nil || !strings.Contains(out, `"approved"`) {
		t.Fatalf("consents approve: %v %s", err, out)
	}

	out, err = runCLI(t, "records", "list", "--profile", rocu, "-o", "json")
	if err != nil || !strings.Contains(out, put.ID) {
		t.Fatalf("list: %v %s", err, out)
	}
	if _, err := runCLI(t, "records", "recall", "--profile", met, put.ID, "-o", "json"); err != nil {
		t.Fatalf("recall: %v", err)
	}
	out, err = runCLI(t, "records", "get", "--profile", met, put.ID, "-o", "json")
	if err == nil || !strings.Contains(out, `"status":410`) {
		t.Fatalf("get after recall: %v %s", err, out)
	}
	if _, err := runCLI(t, "records", "put", "--profile", filepath.Join(dir, "nobody.yaml"), "--file", example); err == nil ||
		!strings.Contains(err.Error(), "liaison dev") {
		t.Fatalf("missing profile must say how to make one: %v", err)
	}
}

// writeConfig writes cfg as a liaison.yaml for commands that take --config.
func writeConfig(t *testing.T, cfg config.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "liaison.yaml")
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeysCLI(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := profileFor(t, env, t.TempDir(), "met-police")
	if _, err := runCLI(t, "records", "put", "--profile", met, "--file", filepath.Join("..", "..", "deploy", "examples", "record.json"), "-o", "json"); err != nil {
		t.Fatal(err)
	}
	// The local keyring is locked while a gateway holds it: stop it, as the docs say.
	env.Stop()
	cfgPath := writeConfig(t, env.Cfg)
	out, err := runCLI(t, "keys", "rotate", "--config", cfgPath, "--agency", "met-police", "-o", "json")
	if err != nil || !strings.Contains(out, `"latest_version": 2`) {
		t.Fatalf("rotate: %v %s", err, out)
	}
	out, err = runCLI(t, "keys", "rewrap", "--config", cfgPath, "-o", "json")
	if err != nil || !strings.Contains(out, `"rewrapped": 1`) {
		t.Fatalf("rewrap: %v %s", err, out)
	}
	if _, err := runCLI(t, "keys", "shred", "--config", cfgPath, "--agency", "met-police", "--min-version", "2"); err == nil {
		t.Fatal("shred without --yes must refuse")
	}
	if _, err := runCLI(t, "keys", "destroy", "--config", cfgPath, "--agency", "met-police"); err == nil {
		t.Fatal("destroy without --yes must refuse")
	}
	if _, err := runCLI(t, "keys", "destroy", "--config", cfgPath, "--agency", "met-police", "--dsa", "dsa-uk-soc", "--yes"); err == nil ||
		!strings.Contains(err.Error(), "no {dsa}") {
		t.Fatalf("--dsa with per-agency keys must be refused, saying why: %v", err)
	}
	out, err = runCLI(t, "keys", "destroy", "--config", cfgPath, "--agency", "hmrc", "--yes", "-o", "json")
	if err == nil {
		t.Fatalf("destroying a key that was never created must fail: %s", out)
	}
	out, err = runCLI(t, "keys", "destroy", "--config", cfgPath, "--agency", "met-police", "--yes", "-o", "json")
	if err != nil || !strings.Contains(out, `"destroyed": true`) {
		t.Fatalf("destroy: %v %s", err, out)
	}
	if out, err := runCLI(t, "keys", "info", "--config", cfgPath, "--agency", "met-police", "-o", "json"); err == nil {
		t.Fatalf("info after destroy must fail: %s", out)
	}
}

// TestKeyCustodyIsAudited: rotate, rewrap, shred and destroy each leave an
// audit entry naming the custodian, the reason, the key, the scope and the
// records affected, and a custody operation whose entry cannot be written
// does nothing (issue 9, item 5: they left no entry at all).
func TestKeyCustodyIsAudited(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := profileFor(t, env, t.TempDir(), "met-police")
	for range 2 {
		if _, err := runCLI(t, "records", "put", "--profile", met, "--file", filepath.Join("..", "..", "deploy", "examples", "record.json"), "-o", "json"); err != nil {
			t.Fatal(err)
		}
	}
	// The local keyring is single-writer: stop the gateway. (With Vault the
	// custody commands run beside a running gateway: TestRotateRewrapShred.)
	env.Stop()
	cfgPath := writeConfig(t, env.Cfg)
	// An audit log that cannot be opened: the destruction must not happen.
	broken := env.Cfg
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	broken.Audit.Path = filepath.Join(blocker, "audit")
	brokenPath := writeConfig(t, broken)
	if out, err := runCLI(t, "keys", "destroy", "--config", brokenPath, "--agency", "met-police", "--yes", "-o", "json"); err == nil ||
		!strings.Contains(err.Error(), "custody audit log") {
		t.Fatalf("destroy without an audit log must fail, saying why: %v %s", err, out)
	}
	if _, err := runCLI(t, "keys", "info", "--config", cfgPath, "--agency", "met-police", "-o", "json"); err != nil {
		t.Fatalf("the key was destroyed although its destruction could not be audited: %v", err)
	}

	custody := []string{"--custodian", "kc-007", "--reason", "CHG-1234 annual rotation"}
	steps := [][]string{
		{"keys", "rotate", "--agency", "met-police"},
		{"keys", "rewrap"},
		{"keys", "rotate", "--agency", "met-police"},
		{"keys", "shred", "--agency", "met-police", "--min-version", "3", "--yes"},
		{"keys", "destroy", "--agency", "met-police", "--yes"},
	}
	for _, s := range steps {
		args := append(append(append([]string{}, s...), "--config", cfgPath, "-o", "json"), custody...)
		if out, err := runCLI(t, args...); err != nil {
			t.Fatalf("%v: %v %s", s, err, out)
		}
	}
	custodyLog := gateway.CustodyLogPath(env.Cfg)
	evs, err := audit.ReadFile(custodyLog)
	if err != nil {
		t.Fatal(err)
	}
	var got []audit.Event
	for _, e := range evs {
		if strings.HasPrefix(e.Action, "keys.") {
			got = append(got, e)
		}
	}
	want := []struct {
		action, op string
		affected   int
	}{
		{"keys.rotate", audit.OpAlteration, 0},
		{"keys.rewrap", audit.OpAlteration, 0}, // the start of the run
		{"keys.rewrap", audit.OpAlteration, 2}, // what it did
		{"keys.rotate", audit.OpAlteration, 0},
		{"keys.shred", audit.OpErasure, 2}, // both records are under version 2
		{"keys.destroy", audit.OpErasure, 2},
	}
	if len(got) != len(want) {
		t.Fatalf("%d custody entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.Action != w.action || e.Operation != w.op || e.Custody == nil || e.Custody.RecordsAffected != w.affected {
			t.Fatalf("entry %d: %s %s %+v, want %s %s affected %d", i, e.Action, e.Operation, e.Custody, w.action, w.op, w.affected)
		}
		if e.Officer != "kc-007" || e.Justification != "CHG-1234 annual rotation" || e.Status != 200 || e.Corrects != 0 {
			t.Fatalf("entry %d lacks the custodian, reason or outcome: %+v", i, e)
		}
		if w.action != "keys.rewrap" && (e.Originator != "met-police" || e.Custody.Key == "" || e.Custody.Scope != "agency met-police") {
			t.Fatalf("entry %d lacks the key or scope: %+v %+v", i, e, e.Custody)
		}
	}
	if got[4].Custody.MinDecryptionVersion != 3 {
		t.Fatalf("shred entry: %+v", got[4].Custody)
	}
	if _, err := audit.VerifyFile(custodyLog); err != nil {
		t.Fatalf("the custody log does not verify: %v", err)
	}
	if out, err := runCLI(t, "keys", "rotate", "--config", cfgPath, "--agency", "met-police", "--custodian", "kc\u202e1"); err == nil {
		t.Fatalf("a custodian id with a bidi override must be refused: %s", out)
	}
}
