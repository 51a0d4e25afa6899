package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/liaison-project/liaison/connectors/fsstore"
)

// noteLog writes 12 entries and closes the log, so that its last
// checkpoint (and note) covers all of them.
func noteLog(t *testing.T) (dir string, jwks []byte) {
	t.Helper()
	dir = t.TempDir()
	l := openLog(t, dir, Options{CheckpointEvery: 5})
	for range 12 {
		if err := l.Append(context.Background(), ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	jwks, err := signer(t).PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	return dir, jwks
}

// The note is a C2SP checkpoint that the x/mod note package — what Go's
// checksum database and witness tooling use — verifies with the verifier
// key derived from the log's published JWKS, and its body is the JWS
// checkpoint's size and root.
func TestCheckpointNoteVerifiesWithTheNotePackage(t *testing.T) {
	dir, jwks := noteLog(t)
	msg, err := os.ReadFile(filepath.Join(dir, noteFile))
	if err != nil {
		t.Fatal(err)
	}
	vkeys, err := NoteVerifierKeys(jwks, "gw-1")
	if err != nil || len(vkeys) != 1 {
		t.Fatalf("verifier keys: %v %v", vkeys, err)
	}
	if !strings.HasPrefix(vkeys[0], NoteOrigin("gw-1")+"+") {
		t.Fatalf("the key is not named after the log's origin: %s", vkeys[0])
	}
	v, err := note.NewVerifier(vkeys[0])
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("x/mod note does not verify the checkpoint note: %v\n%s", err, msg)
	}
	r := mustVerify(t, dir, 12)
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != "liaison.audit/gw-1" || lines[1] != "12" || lines[3] != "" {
		t.Fatalf("note body: %q", n.Text)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || hexHash(root) != r.RootHash {
		t.Fatalf("note root %q is not the tree's %s", lines[2], r.RootHash)
	}
	if r.Note == nil || r.Note.TreeSize != 12 || r.Note.RootHash != r.RootHash {
		t.Fatalf("verify did not check the note: %+v", r.Note)
	}
	if n.Sigs[0].Name != NoteOrigin("gw-1") || n.Sigs[0].Hash != v.KeyHash() {
		t.Fatalf("signature line: %+v", n.Sigs[0])
	}
}

// Every byte of a note counts; a note verifies only with the log's key and
// only as that log's checkpoint.
func TestCheckpointNoteRejectsChangesOtherKeysAndOtherOrigins(t *testing.T) {
	dir, jwks := noteLog(t)
	msg, err := os.ReadFile(filepath.Join(dir, noteFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenNote(msg, jwks, "gw-1"); err != nil {
		t.Fatalf("the note as written: %v", err)
	}
	for i := range msg {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x01
		if _, err := OpenNote(bad, jwks, "gw-1"); err == nil {
			t.Fatalf("a note with byte %d changed verifies:\n%s", i, bad)
		}
	}
	other, err := signerFor(t).PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenNote(msg, other, "gw-1"); err == nil {
		t.Fatal("a note verifies with another key")
	}
	// The same signature spelt with non-zero padding bits (base64 that a
	// lenient decoder reads as the same bytes) is refused: one spelling.
	eq := bytes.LastIndexByte(msg, '=')
	if eq < 0 {
		t.Fatalf("the signature line has no padding: %q", msg)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := strings.IndexByte(alphabet, msg[eq-1])
	if last < 0 || last&3 != 0 {
		t.Fatalf("unexpected final character %q", msg[eq-1])
	}
	spelt := bytes.Clone(msg)
	spelt[eq-1] = alphabet[last|1] // same 4 data bits, one padding bit set
	if _, err := OpenNote(spelt, jwks, "gw-1"); err == nil {
		t.Fatal("a non-canonical spelling of the signature verifies")
	}
	if _, err := OpenNote(msg, jwks, "gw-2"); err == nil {
		t.Fatal("gw-1's note verifies as gw-2's")
	}
	// Signed with the right key but under another origin: the body names
	// another log, so even a valid signature does not make it this log's.
	cp := Checkpoint{Gateway: "gw-2", TreeSize: 12, RootHash: mustVerify(t, dir, 12).RootHash}
	foreign, err := signNote(signer(t), cp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenNote(foreign, jwks, "gw-1"); err == nil {
		t.Fatal("a note of origin gw-2 verifies as gw-1's")
	}
	// The x/mod package agrees on the wrong key.
	vk, _ := NoteVerifierKeys(other, "gw-1")
	v, _ := note.NewVerifier(vk[0])
	if _, err := note.Open(msg, note.VerifierList(v)); err == nil {
		t.Fatal("x/mod note verifies the note with another key")
	}
}

// A witness cosignature appended to the note (what a witness returns)
// leaves it valid for Liaison; a verifier that knows the witness key sees
// both signatures.
func TestCheckpointNoteKeepsWitnessCosignatures(t *testing.T) {
	dir, jwks := noteLog(t)
	msg, _ := os.ReadFile(filepath.Join(dir, noteFile))
	skey, vkey, err := note.GenerateKey(nil, "witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := note.NewSigner(skey)
	wv, _ := note.NewVerifier(vkey)
	logKeys, _ := NoteVerifierKeys(jwks, "gw-1")
	lv, _ := note.NewVerifier(logKeys[0])
	n, err := note.Open(msg, note.VerifierList(lv))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, ws)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenNote(cosigned, jwks, "gw-1"); err != nil {
		t.Fatalf("a cosigned note no longer verifies: %v", err)
	}
	both, err := note.Open(cosigned, note.VerifierList(lv, wv))
	if err != nil || len(both.Sigs) != 2 {
		t.Fatalf("log and witness signatures: %v %v", both, err)
	}
}

// Verify checks the note against the tree: a note re-signed over a root
// the entries do not have fails, and so does one naming more entries than
// the log holds.
func TestVerifyChecksTheNoteAgainstTheEntries(t *testing.T) {
	dir, _ := noteLog(t)
	r := mustVerify(t, dir, 12)
	root, _ := hex.DecodeString(r.RootHash)
	root[0] ^= 1
	bad, err := signNote(signer(t), Checkpoint{Gateway: "gw-1", TreeSize: 12, RootHash: hexHash(root)})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, noteFile), bad, 0o600)
	r, err = Verify(dir, VerifyOptions{})
	if err != nil || r.OK || r.Failure.Kind != FailMismatch {
		t.Fatalf("a note over another root: %+v %v", r.Failure, err)
	}
	beyond, _ := signNote(signer(t), Checkpoint{Gateway: "gw-1", TreeSize: 13, RootHash: r.RootHash})
	os.WriteFile(filepath.Join(dir, noteFile), beyond, 0o600)
	r, err = Verify(dir, VerifyOptions{})
	if err != nil || r.OK || r.Failure.Kind != FailMissing || r.Failure.Seq != 13 {
		t.Fatalf("a note over entries the log lacks: %+v %v", r.Failure, err)
	}
	os.WriteFile(filepath.Join(dir, noteFile), []byte("liaison.audit/gw-1\n12\n\n— x AAAA\n"), 0o600)
	if r, _ = Verify(dir, VerifyOptions{}); r.OK || r.Failure.Kind != FailCheckpoint {
		t.Fatalf("a malformed note: %+v", r.Failure)
	}
}

// The evidence pack carries the note of the checkpoint its proofs use, and
// CheckPack verifies it: a note of another size or a changed note fails.
func TestEvidencePackCarriesTheCheckpointNote(t *testing.T) {
	dir, jwks := noteLog(t)
	pack, err := Export([]string{dir}, Filter{}, VerifyOptions{JWKS: jwks}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(pack.Gateways) != 1 || pack.Gateways[0].Note == "" {
		t.Fatalf("the pack carries no note: %+v", pack.Gateways)
	}
	b, _ := json.Marshal(pack)
	var back EvidencePack
	json.Unmarshal(b, &back)
	res, err := CheckPack(&back, jwks)
	if err != nil || len(res.Notes) != 1 || res.Notes[0].TreeSize != 12 || len(res.Entries) != 12 {
		t.Fatalf("check: %+v %v", res, err)
	}
	// Without a pinned key set, the pack's own keys check it.
	if _, err := CheckPack(&back, nil); err != nil {
		t.Fatal(err)
	}
	older, _ := signNote(signer(t), Checkpoint{Gateway: "gw-1", TreeSize: 10, RootHash: res.Checkpoints[0].RootHash})
	back.Gateways[0].Note = string(older)
	if _, err := CheckPack(&back, jwks); !errors.Is(err, ErrTampered) {
		t.Fatalf("a note of another size: %v", err)
	}
	back.Gateways[0].Note = strings.Replace(pack.Gateways[0].Note, "\n12\n", "\n11\n", 1)
	if _, err := CheckPack(&back, jwks); !errors.Is(err, ErrTampered) {
		t.Fatalf("an altered note: %v", err)
	}
}

// The shipper copies the note; VerifyStore checks it, and catches one
// altered in the store.
func TestShipperShipsTheNoteAndStoreVerifiesIt(t *testing.T) {
	store, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentMaxEntries: 4, CheckpointEvery: 100})
	for range 9 {
		l.Append(context.Background(), ev("x"))
	}
	l.Close()
	ctx := context.Background()
	sh := NewShipper(store, &Log{dir: dir, opts: Options{Gateway: "gw-1"}}, ShipperOptions{})
	if _, err := sh.Ship(ctx); err != nil {
		t.Fatal(err)
	}
	// The note over all 9 entries is pending: the active segment is local.
	r, err := VerifyStore(ctx, store, "gw-1", VerifyOptions{})
	if err != nil || !r.OK || r.Entries != 8 || r.Pending == 0 {
		t.Fatalf("store: %+v %v", r, err)
	}
	if _, err := store.Get(ctx, noteKey("gw-1", 9)); err != nil {
		t.Fatalf("note not shipped: %v", err)
	}
	// A note over the shipped entries, swapped for one over another root.
	good, _ := signNote(signer(t), Checkpoint{Gateway: "gw-1", TreeSize: 8, RootHash: r.RootHash})
	store.Put(ctx, noteKey("gw-1", 8), good, objstoreOpts())
	if r, _ = VerifyStore(ctx, store, "gw-1", VerifyOptions{}); !r.OK || r.Note == nil || r.Note.TreeSize != 8 {
		t.Fatalf("a good note over shipped entries: %+v %+v", r.Note, r.Failure)
	}
	store.Delete(ctx, noteKey("gw-1", 8))
	bad := bytes.Replace(good, []byte("\n8\n"), []byte("\n"+strconv.Itoa(7)+"\n"), 1)
	store.Put(ctx, noteKey("gw-1", 8), bad, objstoreOpts())
	if r, _ = VerifyStore(ctx, store, "gw-1", VerifyOptions{}); r.OK || !strings.Contains(r.Failure.Reason, "checkpoint-") {
		t.Fatalf("an altered note in the store: %+v", r.Failure)
	}
}
