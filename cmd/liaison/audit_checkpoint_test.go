package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/liaison-project/liaison/gateway/audit"
)

// `liaison audit checkpoint` prints the latest checkpoint as a signed note
// that the x/mod note package verifies with the key `--vkey` prints; verify
// reports the note; and a note altered on disk is refused.
func TestAuditCheckpointCommandPrintsAVerifiableNote(t *testing.T) {
	dir, jwks := auditLog(t, "gw-a", 25)
	msg, err := runAudit(t, "checkpoint", "--dir", dir, "--jwks", jwks)
	if err != nil {
		t.Fatalf("checkpoint: %v %s", err, msg)
	}
	vk, err := runAudit(t, "checkpoint", "--dir", dir, "--jwks", jwks, "--vkey")
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(vk))
	if err != nil {
		t.Fatalf("--vkey printed no verifier key: %q: %v", vk, err)
	}
	n, err := note.Open([]byte(msg), note.VerifierList(v))
	if err != nil || !strings.HasPrefix(n.Text, "liaison.audit/gw-a\n25\n") {
		t.Fatalf("printed note: %q %v", msg, err)
	}
	js, err := runAudit(t, "checkpoint", "--dir", dir, "--jwks", jwks, "-o", "json")
	var out checkpointOutput
	if err != nil || json.Unmarshal([]byte(js), &out) != nil || out.Note != msg || out.States.TreeSize != 25 || len(out.VKeys) != 1 {
		t.Fatalf("json: %s %v", js, err)
	}
	if text, err := runAudit(t, "verify", "--dir", dir, "--jwks", jwks, "-o", "text"); err != nil || !strings.Contains(text, "checkpoint note (C2SP signed note) verified at tree size 25") {
		t.Fatalf("verify does not report the note: %s %v", text, err)
	}
	// The exported evidence pack carries the note, and check-proof checks it.
	pack := filepath.Join(t.TempDir(), "pack.json")
	if out, err := runAudit(t, "export", "--dir", dir, "--jwks", jwks, "--record", "rec-2", "--no-seal", "--out", pack); err != nil {
		t.Fatalf("export: %v %s", err, out)
	}
	if out, err := runAudit(t, "check-proof", pack, "--jwks", jwks, "-o", "text"); err != nil ||
		!strings.Contains(out, "checkpoint note (C2SP signed note) of liaison.audit/gw-a verified at tree size 25") {
		t.Fatalf("check-proof of the pack: %v %s", err, out)
	}
	path := filepath.Join(audit.LogDir(dir), "checkpoint.note")
	os.WriteFile(path, []byte(strings.Replace(msg, "\n25\n", "\n24\n", 1)), 0o600)
	if _, err := runAudit(t, "checkpoint", "--dir", dir, "--jwks", jwks); err == nil {
		t.Fatal("an altered note was printed")
	}
	if _, err := runAudit(t, "verify", "--dir", dir, "--jwks", jwks, "-o", "text"); err == nil {
		t.Fatal("verify passes a log whose note was altered")
	}
}
