package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestDevTokenAudience: a profile written by one gateway (audience gw-dev)
// used against a gateway with another officers.audience — the walkthrough
// against deploy/liaison.example.yaml. Without --audience the token is
// refused; with it the same read succeeds.
func TestDevTokenAudience(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) { c.Officers.Audience = "gw-example" }})
	dir := t.TempDir()
	met := profileFor(t, env, dir, "met-police")
	rocu := profileFor(t, env, dir, "rocu-nw")
	// The profile names another audience than the gateway expects.
	setProfileAudience(t, rocu, "gw-dev")

	out, err := runCLI(t, "records", "put", "--profile", met, "--file", filepath.Join("..", "..", "deploy", "examples", "record.json"), "-o", "json")
	var put api.Published
	if err != nil || api.Decode([]byte(out), &put) != nil {
		t.Fatalf("put: %v %s", err, out)
	}
	get := func(tok string) (string, error) {
		return runCLI(t, "records", "get", "--profile", rocu, "--token", strings.TrimSpace(tok),
			"--purpose", "investigation", "--justification", "OP-NIGHTJAR tasking", put.ID, "-o", "json")
	}
	tok, err := runCLI(t, "dev", "token", "--profile", rocu, "--officer", "ds-101", "--clearance", "SC")
	if err != nil || audOf(t, tok) != "gw-dev" {
		t.Fatalf("dev token: %v aud=%q", err, audOf(t, tok))
	}
	if out, err := get(tok); err == nil || !strings.Contains(out, `"status":401`) {
		t.Fatalf("a token for another audience must be refused: %v %s", err, out)
	}
	tok, err = runCLI(t, "dev", "token", "--profile", rocu, "--officer", "ds-101", "--clearance", "SC", "--audience", "gw-example")
	if err != nil || audOf(t, tok) != "gw-example" {
		t.Fatalf("dev token --audience: %v aud=%q", err, audOf(t, tok))
	}
	if out, err := get(tok); err != nil || !strings.Contains(out, "Salford") {
		t.Fatalf("get with --audience: %v %s", err, out)
	}
}

func setProfileAudience(t *testing.T, path, aud string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p profile
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	p.Audience = aud
	b, _ = yaml.Marshal(p)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// audOf reads the aud claim of a compact JWT (no verification: the
// gateway verifies; the test only checks what was asked for).
func audOf(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Aud any `json:"aud"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	switch a := c.Aud.(type) {
	case string:
		return a
	case []any:
		if len(a) == 1 {
			s, _ := a[0].(string)
			return s
		}
	}
	return ""
}

// TestProfileDir: every client command finds a named profile through
// --profile-dir, $LIAISON_PROFILE_DIR, or the deprecated --data-dir (which
// always meant <data-dir>/profiles); a flag wins over the environment.
func TestProfileDir(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	data := t.TempDir() // as if `liaison dev --data-dir data` ran
	pdir := filepath.Join(data, "profiles")
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		t.Fatal(err)
	}
	profileFor(t, env, pdir, "met-police")
	empty := t.TempDir()

	list := func(extra ...string) (string, error) {
		return runCLI(t, append([]string{"records", "list", "--profile", "met-police", "-o", "json"}, extra...)...)
	}
	if out, err := list("--profile-dir", pdir); err != nil || !strings.Contains(out, `"items"`) {
		t.Fatalf("--profile-dir: %v %s", err, out)
	}
	if _, err := list("--data-dir", data); err != nil {
		t.Fatalf("deprecated --data-dir: %v", err)
	}
	// Without any: the default .liaison-dev/profiles (absent here) fails
	// and says where to look.
	if _, err := list(); err == nil || !strings.Contains(err.Error(), "LIAISON_PROFILE_DIR") {
		t.Fatalf("missing profile must name LIAISON_PROFILE_DIR: %v", err)
	}
	t.Setenv("LIAISON_PROFILE_DIR", pdir)
	if _, err := list(); err != nil {
		t.Fatalf("$LIAISON_PROFILE_DIR: %v", err)
	}
	if _, err := runCLI(t, "consents", "list", "--profile", "met-police", "-o", "json"); err != nil {
		t.Fatalf("consents with $LIAISON_PROFILE_DIR: %v", err)
	}
	if tok, err := runCLI(t, "dev", "token", "--profile", "met-police", "--officer", "so-1"); err != nil || audOf(t, tok) != env.Cfg.Officers.Audience {
		t.Fatalf("dev token with $LIAISON_PROFILE_DIR: %v", err)
	}
	// The flag beats the environment.
	if _, err := list("--profile-dir", empty); err == nil {
		t.Fatal("--profile-dir of an empty directory must fail even with $LIAISON_PROFILE_DIR set")
	}
	t.Setenv("LIAISON_PROFILE", "met-police")
	if _, err := runCLI(t, "records", "list", "-o", "json"); err != nil {
		t.Fatalf("$LIAISON_PROFILE: %v", err)
	}
}
