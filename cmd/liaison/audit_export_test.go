package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/audit"
)

// copyLog copies a log directory's files (not its lock): what a gateway
// killed with -9 leaves, entries after its last checkpoint included.
func copyLog(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "audit")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "writer.lock" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func readPack(t *testing.T, path string) *audit.EvidencePack {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p audit.EvidencePack
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// TestAuditExportCoversEntriesAfterTheLastCheckpoint: entries appended
// after the last signed checkpoint are in the export when the exporter
// can sign (the log's key, no gateway holding the log), and otherwise are
// named — count, sequence range, reason — on stderr and in the pack.
func TestAuditExportCoversEntriesAfterTheLastCheckpoint(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "audit")
	keyFile := filepath.Join(base, "audit-signing.jwk.json")
	// A gateway's log, still open: 15 entries, the last checkpoint at 10.
	l, err := audit.Open(dir, audit.Options{Gateway: "gw-a", SigningKeyFile: keyFile, CheckpointEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t0 := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	for i := range 15 {
		e := &audit.Event{Time: t0.Add(time.Duration(i) * time.Minute), Gateway: "gw-a", RequestID: fmt.Sprintf("r%d", i),
			Operation: audit.OpDisclosure, Action: "record.read", Status: 200, Agency: "rocu-nw", RecordIDs: []string{"rec-1"},
			DSAIDs: []string{"dsa-met-rocu"}, Purpose: "investigation", Justification: "OP-NIGHTJAR"}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	s, err := jose.LoadOrCreateSigner(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := s.PublicJWKS()
	pinned := filepath.Join(base, "pinned.jwks.json")
	os.WriteFile(pinned, jwks, 0o600)
	if r, err := audit.Verify(dir, audit.VerifyOptions{JWKS: jwks}); err != nil || !r.OK || r.Entries != 15 || r.SignedSize != 10 {
		t.Fatalf("setup: %+v %v", r, err)
	}
	cpBefore, _ := os.ReadFile(filepath.Join(dir, "checkpoints.jws"))

	export := func(t *testing.T, d string, extra ...string) (string, *audit.EvidencePack) {
		t.Helper()
		pack := filepath.Join(t.TempDir(), "pack.json")
		args := append([]string{"export", "--dir", d, "--dsa", "dsa-met-rocu", "--jwks", pinned, "--out", pack}, extra...)
		out, err := runAudit(t, args...)
		if err != nil {
			t.Fatalf("export: %v\n%s", err, out)
		}
		if chk, err := runAudit(t, "check-proof", "--jwks", pinned, "-o", "text", pack); err != nil || !strings.HasPrefix(chk, "OK:") {
			t.Fatalf("check-proof: %v\n%s", err, chk)
		}
		return out, readPack(t, pack)
	}
	leftOut := func(t *testing.T, out string, p *audit.EvidencePack, reason string) {
		t.Helper()
		if len(p.Entries) != 10 || p.Unproven != 5 || len(p.Uncovered) != 1 {
			t.Fatalf("pack: %d entries, %d unproven, uncovered %+v", len(p.Entries), p.Unproven, p.Uncovered)
		}
		u := p.Uncovered[0]
		if u.Gateway != "gw-a" || u.Count != 5 || u.FirstSeq != 11 || u.LastSeq != 15 || u.SignedSize != 10 || u.LogSize != 15 ||
			!strings.Contains(u.Reason, reason) {
			t.Fatalf("uncovered: %+v", u)
		}
		if !strings.Contains(out, "NOT IN THE PACK: gateway gw-a: 5 matching entries (seq 11 to 15)") || !strings.Contains(out, reason) {
			t.Fatalf("export output does not say what was left out:\n%s", out)
		}
	}

	t.Run("a running gateway holds the log: nothing signed, the gap is named", func(t *testing.T) {
		out, p := export(t, dir, "--audit-key", keyFile)
		leftOut(t, out, p, "a running gateway holds the log")
		if cp, _ := os.ReadFile(filepath.Join(dir, "checkpoints.jws")); string(cp) != string(cpBefore) {
			t.Fatal("export wrote a checkpoint into a log a gateway holds")
		}
	})
	t.Run("no key here: the gap is named", func(t *testing.T) {
		out, p := export(t, copyLog(t, dir))
		leftOut(t, out, p, "no audit signing key")
	})
	t.Run("--no-seal: the gap is named", func(t *testing.T) {
		out, p := export(t, copyLog(t, dir), "--audit-key", keyFile, "--no-seal")
		leftOut(t, out, p, "--no-seal")
	})
	t.Run("another key: refused, the gap is named", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.jwk")
		if _, err := jose.LoadOrCreateSigner(other); err != nil {
			t.Fatal(err)
		}
		out, p := export(t, copyLog(t, dir), "--audit-key", other)
		leftOut(t, out, p, "not this log's audit key")
	})
	t.Run("the log's key and no gateway: a checkpoint is signed, every entry is in", func(t *testing.T) {
		crashed := copyLog(t, dir) // what kill -9 leaves
		out, p := export(t, crashed, "--audit-key", keyFile)
		if len(p.Entries) != 15 || p.Unproven != 0 || len(p.Uncovered) != 0 || p.Gateways[0].TreeSize != 15 {
			t.Fatalf("pack: %d entries, %d unproven, %+v, tree size %d\n%s", len(p.Entries), p.Unproven, p.Uncovered, p.Gateways[0].TreeSize, out)
		}
		if !strings.Contains(out, "signed a checkpoint over 5 entries") || strings.Contains(out, "NOT IN THE PACK") {
			t.Fatalf("export output:\n%s", out)
		}
		if r, err := audit.Verify(crashed, audit.VerifyOptions{JWKS: jwks}); err != nil || !r.OK || r.SignedSize != 15 || r.Unsigned != 0 {
			t.Fatalf("the log after sealing: %+v %v", r, err)
		}
	})
}
