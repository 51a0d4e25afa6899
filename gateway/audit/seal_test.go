package audit

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
)

// heldLog is a log a "gateway" (this test) still holds: 15 entries, the
// last checkpoint at 10.
func heldLog(t *testing.T) (string, *Log) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, Options{CheckpointEvery: 10})
	t.Cleanup(func() { l.Close() })
	for range 15 {
		if err := l.Append(context.Background(), ev("record.read")); err != nil {
			t.Fatal(err)
		}
	}
	return dir, l
}

// crashCopy copies the log's files without its lock: what kill -9 leaves.
func crashCopy(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600)
	}
	return dst
}

func TestSecondWriterIsRefused(t *testing.T) {
	dir, l := heldLog(t)
	if _, err := Open(dir, Options{Gateway: "gw-1", Signer: signer(t)}); !errors.Is(err, ErrLogHeld) {
		t.Fatalf("a second writer opened the log: %v", err)
	}
	l.Close()
	l2, err := Open(dir, Options{Gateway: "gw-1", Signer: signer(t)})
	if err != nil {
		t.Fatalf("after the first writer closed: %v", err)
	}
	l2.Close()
}

func TestSealHead(t *testing.T) {
	dir, _ := heldLog(t)
	jwks, _ := signer(t).PublicJWKS()
	t.Run("held by a running writer: refused, nothing written", func(t *testing.T) {
		before, _ := os.ReadFile(filepath.Join(dir, checkpointsFile))
		if _, err := SealHead(dir, SealOptions{Signer: signer(t)}); !errors.Is(err, ErrLogHeld) {
			t.Fatalf("SealHead on a held log: %v", err)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, checkpointsFile)); string(after) != string(before) {
			t.Fatal("SealHead wrote into a held log")
		}
	})
	t.Run("another key: refused", func(t *testing.T) {
		other, _ := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "other.jwk"))
		d := crashCopy(t, dir)
		if _, err := SealHead(d, SealOptions{Signer: other}); !errors.Is(err, ErrNotThisLogsKey) {
			t.Fatalf("sealed with a key the log never published: %v", err)
		}
		if r := mustVerify(t, d, 15); r.SignedSize != 10 {
			t.Fatalf("signed size %d", r.SignedSize)
		}
	})
	t.Run("another gateway's name: refused", func(t *testing.T) {
		if _, err := SealHead(crashCopy(t, dir), SealOptions{Signer: signer(t), Gateway: "gw-9"}); err == nil {
			t.Fatal("sealed under another gateway's name")
		}
	})
	t.Run("the log's key, no writer: every entry signed, and Export covers them", func(t *testing.T) {
		d := crashCopy(t, dir)
		pack, err := Export([]string{d}, Filter{}, VerifyOptions{JWKS: jwks}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(pack.Entries) != 10 || len(pack.Uncovered) != 1 || pack.Uncovered[0].Count != 5 || pack.Uncovered[0].FirstSeq != 11 ||
			pack.Uncovered[0].LastSeq != 15 || pack.Uncovered[0].SignedSize != 10 || pack.Uncovered[0].Reason == "" {
			t.Fatalf("before sealing: %d entries, uncovered %+v", len(pack.Entries), pack.Uncovered)
		}
		r, err := SealHead(d, SealOptions{Signer: signer(t), JWKS: jwks})
		if err != nil || r.Unsigned != 5 {
			t.Fatalf("seal: %+v %v", r, err)
		}
		if r := mustVerify(t, d, 15); r.SignedSize != 15 || r.Gateway != "gw-1" {
			t.Fatalf("after sealing: %+v", r)
		}
		pack, err = Export([]string{d}, Filter{}, VerifyOptions{JWKS: jwks}, time.Now())
		if err != nil || len(pack.Entries) != 15 || pack.Unproven != 0 || len(pack.Uncovered) != 0 {
			t.Fatalf("after sealing: %v %d entries, uncovered %+v", err, len(pack.Entries), pack.Uncovered)
		}
		if _, err := CheckPack(pack, jwks); err != nil {
			t.Fatal(err)
		}
		// Nothing left to sign: a second seal writes nothing.
		before, _ := os.ReadFile(filepath.Join(d, checkpointsFile))
		if r, err := SealHead(d, SealOptions{Signer: signer(t)}); err != nil || r.Unsigned != 0 {
			t.Fatalf("second seal: %+v %v", r, err)
		}
		if after, _ := os.ReadFile(filepath.Join(d, checkpointsFile)); string(after) != string(before) {
			t.Fatal("a second seal wrote a checkpoint")
		}
	})
}

// FuzzCheckPack: an evidence pack is a file anyone can hand an auditor.
// Whatever its bytes, CheckPack never panics, and with the gateway's key
// pinned it accepts only entries that are in the log, as they are there.
func FuzzCheckPack(f *testing.F) {
	dir := f.TempDir()
	l := openLog(f, dir, Options{CheckpointEvery: 5})
	for i := range 12 {
		e := ev("record.read")
		e.RecordIDs = []string{"rec-" + string(rune('a'+i%3))}
		if err := l.Append(context.Background(), e); err != nil {
			f.Fatal(err)
		}
	}
	l.Close()
	jwks, _ := signer(f).PublicJWKS()
	leaves := map[uint64]string{}
	if err := Scan(dir, func(ev *Event, line []byte) error { leaves[ev.Seq] = string(line); return nil }); err != nil {
		f.Fatal(err)
	}
	pack, err := Export([]string{dir}, Filter{}, VerifyOptions{JWKS: jwks}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	pack.Uncovered = []PackUncovered{{Gateway: "gw-1", Count: 2, FirstSeq: 13, LastSeq: 14, SignedSize: 12, LogSize: 14, Reason: "held"}}
	b, _ := json.Marshal(pack)
	f.Add(b)
	f.Add([]byte(`{"format":"liaison-audit-evidence/v1","gateways":[],"entries":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p EvidencePack
		if json.Unmarshal(data, &p) != nil {
			return
		}
		res, err := CheckPack(&p, jwks)
		if err != nil {
			return
		}
		if len(res.Entries) != len(p.Entries) {
			t.Fatalf("%d entries accepted of %d", len(res.Entries), len(p.Entries))
		}
		for i, e := range p.Entries {
			if leaves[e.Seq] != e.Leaf || res.Entries[i].Seq != e.Seq {
				t.Fatalf("accepted entry %d is not the log's: %q", e.Seq, e.Leaf)
			}
		}
	})
}
