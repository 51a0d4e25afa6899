package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditRecoverCommand: the operator's path for a log whose tail was
// damaged (issue 9 item 9): verify names the damage, recover without --yes
// only says what it would do, with --yes keeps the tail as evidence and
// starts a new segment, and verify then passes and explains the recovery.
func TestAuditRecoverCommand(t *testing.T) {
	dir, jwks := auditLog(t, "gw-a", 30)
	keyFile := filepath.Join(filepath.Dir(dir), "audit-signing.jwk.json")
	// A second writer's damage: entry 25 altered, entries after it intact.
	seg := filepath.Join(dir, "segment-000002.jsonl")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines[4] = bytes.Replace(lines[4], []byte(`"r24"`), []byte(`"zz4"`), 1)
	if err := os.WriteFile(seg, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runAudit(t, "verify", "--dir", dir, "--jwks", jwks, "-o", "text", "--no-progress")
	if err == nil || !strings.Contains(out, "line 5 (seq 25)") {
		t.Fatalf("verify of the damaged log: %v\n%s", err, out)
	}

	out, err = runAudit(t, "recover", "--dir", dir, "--jwks", jwks, "--signing-key", keyFile, "-o", "text")
	if err != nil || !strings.Contains(out, "would recover") || !strings.Contains(out, "keep entries 1..24") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(seg); !bytes.Equal(b, bytes.Join(lines, nil)) {
		t.Fatal("the dry run changed the log")
	}

	out, err = runAudit(t, "recover", "--dir", dir, "--jwks", jwks, "--signing-key", keyFile, "--note", "INC-42", "--yes", "-o", "text")
	if err != nil || !strings.Contains(out, "entries after seq 24 were moved out") {
		t.Fatalf("recover: %v\n%s", err, out)
	}
	// The cut tail, the checkpoints over it and the checkpoint note (the
	// latest checkpoint in C2SP form) that went with them.
	ev, _ := filepath.Glob(filepath.Join(dir, "damaged-*"))
	if len(ev) != 3 || !strings.HasSuffix(ev[0], "-checkpoint.note") {
		t.Fatalf("evidence files: %q", ev)
	}

	out, err = runAudit(t, "verify", "--dir", dir, "--jwks", jwks, "-o", "text", "--no-progress")
	if err != nil || !strings.Contains(out, "OK") || !strings.Contains(out, "RECOVERED:") || !strings.Contains(out, "segment-000003.jsonl") {
		t.Fatalf("verify after recovery: %v\n%s", err, out)
	}
	out, err = runAudit(t, "recover", "--dir", dir, "--jwks", jwks, "--signing-key", keyFile, "--yes", "-o", "text")
	if err != nil || !strings.Contains(out, "nothing to recover") {
		t.Fatalf("second recover: %v\n%s", err, out)
	}
}
