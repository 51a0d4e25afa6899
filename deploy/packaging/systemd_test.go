package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const unitBinary = "/usr/local/bin/liaison"

// buildLiaison builds cmd/liaison into dir (the unit's ExecStart must name
// an executable for systemd-analyze verify).
func buildLiaison(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "liaison")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/liaison")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSystemdUnit checks deploy/systemd/liaison.service with
// `systemd-analyze verify` (any warning fails: an unknown or misspelt key
// is only a warning to systemd, and would silently drop a hardening
// setting), and reports `systemd-analyze security --offline` exposure,
// which must stay "OK" (below 2.0).
func TestSystemdUnit(t *testing.T) {
	analyze := tool(t, "LIAISON_TEST_SYSTEMD_ANALYZE", "systemd-analyze")
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "systemd", "liaison.service"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=liaison", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"\nCapabilityBoundingSet=\n", "PrivateTmp=yes", "ExecStart=" + unitBinary + " serve --config /etc/liaison/liaison.yaml --data-dir /var/lib/liaison"} {
		if !strings.Contains(text, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	dir := t.TempDir()
	bin := buildLiaison(t, dir)
	// The ExecStart arguments are flags serve has.
	if out, err := exec.Command(bin, "serve", "--config", "/etc/liaison/liaison.yaml", "--data-dir", "/var/lib/liaison", "--help").CombinedOutput(); err != nil {
		t.Errorf("liaison serve does not take the unit's flags: %v\n%s", err, out)
	}

	verify := func(text string) (string, error) {
		path := filepath.Join(t.TempDir(), "liaison.service")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, unitBinary, bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--man=no", path)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := verify(text); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check can fail: a misspelt hardening key is reported.
	if out, _ := verify(strings.Replace(text, "NoNewPrivileges=yes", "NoNewPrivilege=yes", 1)); !strings.Contains(out, "NoNewPrivilege") {
		t.Errorf("a misspelt key passed verify: %q", out)
	}

	path := filepath.Join(dir, "liaison.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, unitBinary, bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for liaison.service: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %s %s", m[1], m[2])
	if level >= 2.0 {
		t.Errorf("exposure %.1f %s, want below 2.0 (OK)", level, m[2])
	}
}
