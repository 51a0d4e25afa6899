package audit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/jose"
)

// Rotating the audit signing key (docs/operations.md): the node restarts
// with a new key file; checkpoints from then on are signed by it, the
// published key set keeps both public keys, and the whole log verifies —
// unpinned, and pinned to both keys. Pinned to the new key alone, the old
// checkpoints fail: a verifier must pin the union.
func TestAuditKeyRotationKeepsTheLogVerifiable(t *testing.T) {
	dir := t.TempDir()
	keys := t.TempDir()
	k1, k2 := filepath.Join(keys, "audit-1.jwk.json"), filepath.Join(keys, "audit-2.jwk.json")
	appendSome := func(keyFile string) {
		t.Helper()
		l, err := Open(dir, Options{Gateway: "gw-test", SigningKeyFile: keyFile, CheckpointEvery: 1})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := l.Append(t.Context(), &Event{Operation: OpCollection, Action: "record.publish", Status: 201}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	appendSome(k1)
	appendSome(k2)
	pub := func(files ...string) []byte {
		t.Helper()
		var set []byte
		for _, f := range files {
			s, err := jose.LoadOrCreateSigner(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.PublicJWKS()
			if err != nil {
				t.Fatal(err)
			}
			if set == nil {
				set = b
				continue
			}
			if set, _, err = mergeJWKS(set, b); err != nil {
				t.Fatal(err)
			}
		}
		return set
	}
	if r, err := Verify(dir, VerifyOptions{}); err != nil || !r.OK || r.Entries != 6 {
		t.Fatalf("unpinned after rotation: %v %+v", err, r)
	}
	if r, err := Verify(dir, VerifyOptions{JWKS: pub(k1, k2)}); err != nil || !r.OK {
		t.Fatalf("pinned to both keys: %v %+v", err, r)
	}
	if r, err := Verify(dir, VerifyOptions{JWKS: pub(k2)}); err == nil && r.OK {
		t.Fatal("pinned to the new key alone, the old checkpoints verified")
	}
	published, err := os.ReadFile(filepath.Join(dir, keysFile))
	if err != nil {
		t.Fatal(err)
	}
	set, err := jwk.Parse(published)
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 2 {
		t.Fatalf("published key set holds %d keys, want both", set.Len())
	}
}
