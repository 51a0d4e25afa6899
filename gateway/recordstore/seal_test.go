package recordstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/record"
)

// oneKey is a DataKeys with one data key, "wrapped" as itself (tests only).
type oneKey []byte

func (k oneKey) DataKeyFor(context.Context, string, int) (keys.DataKey, error) {
	return keys.DataKey{Plaintext: bytes.Clone(k), Wrapped: bytes.Clone(k)}, nil
}

func (k oneKey) Unwrap(context.Context, string, []byte) ([]byte, error) { return bytes.Clone(k), nil }

// TestSealWritesContentOnce: Seal's object is the one encode frames from
// its record (so SealReceived, which re-encodes, writes the same format),
// decodes and opens to the content, and the content is sealed straight
// into the object: sealing 1 MiB allocates about 1 MiB, not a ciphertext
// buffer and then a frame to copy it into (2 MiB before).
func TestSealWritesContentOnce(t *testing.T) {
	signer, err := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "signing.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	k := make(oneKey, 32)
	rand.Read(k)
	rs := &Store{signer: signer, keys: k, keyName: func(*record.Meta) string { return "k" }}
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	meta := record.Meta{RecordID: record.NewID(now), Version: 1, Created: now.Format(time.RFC3339),
		Originator: record.Originator{OrgID: "met-police"}, TLP: "AMBER", DSAIDs: []string{"dsa-uk-soc"}, Recipients: []string{"rocu-nw"}}
	content := bytes.Repeat([]byte(`{"summary":"x"}`), (1<<20)/15)
	ctx := context.Background()

	p, err := rs.Seal(ctx, meta, content)
	if err != nil {
		t.Fatal(err)
	}
	again, err := rs.encode(&p.Record)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, p.Object) {
		t.Fatal("Seal's object is not the one encode frames from its record")
	}
	st, err := rs.decode(meta.RecordID, p.Object)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rs.Open(ctx, st); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Open = %d bytes, %v", len(got), err)
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 8
	for range runs {
		if _, err := rs.Seal(ctx, meta, content); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > uint64(len(content))*5/4 {
		t.Errorf("Seal allocated %d bytes for %d bytes of content: the ciphertext is copied", per, len(content))
	}
}
