package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/liaison-project/liaison/crypto/jose"
)

// The checkpoint as a C2SP signed note (https://c2sp.org/tlog-checkpoint,
// https://c2sp.org/signed-note), next to the JWS form: the format
// transparency-log witnesses read and cosign. The body is
//
//	<origin>
//	<tree size, decimal>
//	<root hash, standard base64>
//
// and the signature line is "— <origin> <base64(key hash ‖ Ed25519 sig)>".
// The tree is RFC 6962 (leaf prefix 0x00, node prefix 0x01), as the
// checkpoint format assumes. The key is the log's own Ed25519 audit key,
// the one its JWKS publishes: a witness or auditor pins one key for both
// forms, and a rotated key is published the same way (NoteVerifierKeys).
//
// The JWS file stays the log's record of every checkpoint; checkpoint.note
// holds the latest one only (what a witness asks for), replaced atomically
// after each JWS checkpoint is durable.
const noteFile = "checkpoint.note"

// maxNoteLen bounds what OpenNote reads: a checkpoint and a few hundred
// cosignatures fit with room to spare.
const maxNoteLen = 64 << 10

// NoteOrigin is the origin line of gateway's checkpoints, and the name of
// its key in signature lines: a schema-less name that is unique per log
// and holds no spaces or '+', as the checkpoint format asks.
func NoteOrigin(gateway string) string { return "liaison.audit/" + gateway }

// NoteCheckpoint is what a verified checkpoint note states.
type NoteCheckpoint struct {
	Origin   string `json:"origin"`
	TreeSize uint64 `json:"tree_size"`
	RootHash string `json:"root_hash"` // lowercase hex, as in Checkpoint
}

// noteBody is the checkpoint note text (no extension lines).
func noteBody(origin string, size uint64, root []byte) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))
}

// noteSigner signs notes with the audit key. The x/mod note package calls
// it; its key hash is the C2SP Ed25519 one, so any verifier built from the
// public key (NoteVerifierKeys) matches its signature lines.
type noteSigner struct {
	name string
	hash uint32
	s    *jose.Signer
}

func (n noteSigner) Name() string                    { return n.name }
func (n noteSigner) KeyHash() uint32                 { return n.hash }
func (n noteSigner) Sign(msg []byte) ([]byte, error) { return n.s.SignEd25519(msg) }

// ed25519KeyHash is the C2SP signed-note key ID of an Ed25519 key:
// SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key), first four bytes big-endian.
func ed25519KeyHash(name string, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{0x01})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// signNote returns the signed checkpoint note of c.
func signNote(s *jose.Signer, c Checkpoint) ([]byte, error) {
	root, err := c.root()
	if err != nil {
		return nil, err
	}
	pubs, err := s.Ed25519Keys()
	if err != nil || len(pubs) != 1 {
		return nil, fmt.Errorf("audit: note key: %v", err)
	}
	origin := NoteOrigin(c.Gateway)
	ns := noteSigner{name: origin, hash: ed25519KeyHash(origin, pubs[0]), s: s}
	return note.Sign(&note.Note{Text: noteBody(origin, c.TreeSize, root)}, ns)
}

// NoteVerifierKeys returns, for each Ed25519 key in jwks, the verifier key
// ("vkey", <name>+<hex key hash>+<base64(0x01 ‖ key)>) that signed-note
// tooling and witnesses are configured with for gateway's log.
func NoteVerifierKeys(jwks []byte, gateway string) ([]string, error) {
	v, err := jose.NewVerifier(jwks)
	if err != nil {
		return nil, fmt.Errorf("audit: key set: %w", err)
	}
	return noteVerifierKeys(v, gateway)
}

func noteVerifierKeys(v *jose.Verifier, gateway string) ([]string, error) {
	pubs, err := v.Ed25519Keys()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(pubs))
	for _, p := range pubs {
		vk, err := note.NewEd25519VerifierKey(NoteOrigin(gateway), p)
		if err != nil {
			return nil, fmt.Errorf("audit: gateway %q cannot name a note key: %w", printableOrigin(gateway), err)
		}
		out = append(out, vk)
	}
	return out, nil
}

// OpenNote verifies a checkpoint note of gateway's log against the keys in
// jwks and returns what it states. The note must carry a valid signature
// by one of those keys under gateway's origin (other signatures, such as
// witness cosignatures, are allowed and ignored), and its body must be a
// checkpoint of that origin in canonical form. Anything else is an error.
func OpenNote(msg []byte, jwks []byte, gateway string) (NoteCheckpoint, error) {
	v, err := jose.NewVerifier(jwks)
	if err != nil {
		return NoteCheckpoint{}, fmt.Errorf("audit: key set: %w", err)
	}
	return openNote(msg, v, gateway)
}

func openNote(msg []byte, jv *jose.Verifier, gateway string) (NoteCheckpoint, error) {
	var nc NoteCheckpoint
	if len(msg) > maxNoteLen {
		return nc, errors.New("note is too long")
	}
	vkeys, err := noteVerifierKeys(jv, gateway)
	if err != nil {
		return nc, err
	}
	vs := make([]note.Verifier, 0, len(vkeys))
	for _, vk := range vkeys {
		v, err := note.NewVerifier(vk)
		if err != nil {
			return nc, fmt.Errorf("audit: note key: %w", err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return nc, fmt.Errorf("note does not verify: %w", err)
	}
	// note.Open decodes signatures leniently (non-zero padding bits are
	// ignored), so one signature has several spellings. Evidence has one:
	// a signature line that is not canonical base64 is refused.
	for _, sig := range append(n.Sigs, n.UnverifiedSigs...) {
		if _, err := base64.StdEncoding.Strict().DecodeString(sig.Base64); err != nil {
			return nc, fmt.Errorf("note signature by %s is not canonical base64", sig.Name)
		}
	}
	return parseNoteBody(n.Text, NoteOrigin(gateway))
}

// checkNote verifies a log's latest checkpoint note against the verified
// tree: signed by one of the log's keys, of its origin, over no more
// entries than the log holds, and with the root those entries hash to.
func checkNote(r *Report, msg []byte, jv *jose.Verifier) {
	fail := func(kind, reason string) {
		r.OK, r.Failure = false, &Failure{Kind: kind, Reason: noteFile + ": " + reason}
	}
	if jv == nil {
		fail(FailCheckpoint, "no public key to check its signature")
		return
	}
	if r.Gateway == "" {
		fail(FailCheckpoint, "the log names no gateway, so the note's origin cannot be checked")
		return
	}
	nc, err := openNote(msg, jv, r.Gateway)
	if err != nil {
		fail(FailCheckpoint, err.Error())
		return
	}
	if nc.TreeSize > r.Entries {
		r.OK, r.Failure = false, &Failure{Kind: FailMissing, Seq: r.Entries + 1,
			Reason: fmt.Sprintf("%s is signed over %d entries but the log has %d", noteFile, nc.TreeSize, r.Entries)}
		return
	}
	if r.tree == nil {
		fail(FailCheckpoint, "no tree to check it against")
		return
	}
	root, err := r.tree.root(nc.TreeSize)
	if err != nil || !sameHash(root, nc.RootHash) {
		fail(FailMismatch, fmt.Sprintf("the entries do not hash to the root it signs at tree size %d", nc.TreeSize))
		return
	}
	r.Note, r.noteRaw = &nc, msg
}

// parseNoteBody reads a checkpoint body: origin, decimal size without
// leading zeros, 32-byte root in canonical standard base64, then optional
// extension lines (which Liaison does not write and ignores).
func parseNoteBody(text, origin string) (NoteCheckpoint, error) {
	var nc NoteCheckpoint
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return nc, errors.New("note is not a checkpoint: fewer than three lines")
	}
	if lines[0] != origin {
		return nc, fmt.Errorf("note is the checkpoint of another log (origin %q)", printableOrigin(lines[0]))
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return nc, errors.New("note is not a checkpoint: tree size is not a canonical decimal")
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return nc, errors.New("note is not a checkpoint: root hash is not 32 bytes of base64")
	}
	for _, ext := range lines[3 : len(lines)-1] {
		if ext == "" {
			return nc, errors.New("note is not a checkpoint: empty extension line")
		}
	}
	return NoteCheckpoint{Origin: origin, TreeSize: size, RootHash: hexHash(root)}, nil
}

// printableOrigin keeps a hostile origin out of error messages' control
// characters and length.
func printableOrigin(s string) string {
	if len(s) > 80 {
		s = s[:80]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// SignedNote is the verified checkpoint note, exactly as stored (with any
// cosignatures): what a witness is given to cosign. Nil if the log had none.
func (r *Report) SignedNote() []byte { return bytes.Clone(r.noteRaw) }

// PublishedKeys returns the public key set published in the log directory
// dir (what verifies its checkpoints when no key set is pinned).
func PublishedKeys(dir string) ([]byte, error) { return readKeys(LogDir(dir)) }

// writeNote replaces dir's latest checkpoint note.
func writeNote(dir string, n []byte) error {
	return writeFileAtomic(filepath.Join(dir, noteFile), n)
}

// readNote returns dir's latest checkpoint note, nil if there is none.
func readNote(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, noteFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return b, nil
}

// noteSize reads the tree size from a note without verifying it (the
// shipper names objects; verifiers check signatures).
func noteSize(n []byte) (uint64, error) {
	i := bytes.Index(n, []byte("\n\n"))
	if i < 0 {
		return 0, errors.New("not a signed note")
	}
	lines := strings.SplitN(string(n[:i+1]), "\n", 3)
	if len(lines) < 3 {
		return 0, errors.New("not a checkpoint note")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return 0, errors.New("not a checkpoint note")
	}
	return size, nil
}
