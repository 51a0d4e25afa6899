package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/transparency-dev/merkle/proof"

	"github.com/liaison-project/liaison/crypto/jose"
)

// Proof formats, so that a reader knows what it holds.
const (
	ProofFormat = "liaison-audit-inclusion-proof/v1"
	PackFormat  = "liaison-audit-evidence/v1"
)

// InclusionProof shows, to anyone holding the gateway's public audit key,
// that one entry is in that gateway's log as of a signed checkpoint. It
// needs neither the gateway nor the log to check (CheckProof).
type InclusionProof struct {
	Format  string `json:"format"`
	Gateway string `json:"gateway"`
	Seq     uint64 `json:"seq"`
	// Leaf is the entry exactly as logged: its bytes are the Merkle leaf.
	Leaf       string   `json:"leaf"`
	LeafIndex  uint64   `json:"leaf_index"`
	TreeSize   uint64   `json:"tree_size"`
	AuditPath  []string `json:"audit_path"` // hex node hashes, leaf to root
	Checkpoint string   `json:"checkpoint"` // compact JWS over the checkpoint
	// JWKS is the gateway's public audit key set. Checking with it proves
	// the proof is self-consistent; checking with a key obtained from the
	// gateway's operator proves it is the gateway's.
	JWKS json.RawMessage `json:"jwks"`
}

// Prover makes inclusion proofs from a verified log.
type Prover struct {
	report *Report
	jwks   []byte
}

// NewProver verifies the log in dir and keeps its tree for proofs. A log
// that does not verify gives no proofs: the report says why.
func NewProver(dir string, opts VerifyOptions) (*Prover, *Report, error) {
	r, err := Verify(dir, opts)
	if err != nil {
		return nil, nil, err
	}
	if !r.OK {
		return nil, r, r.Err()
	}
	jwks := opts.JWKS
	if len(jwks) == 0 {
		jwks, err = readKeys(LogDir(dir))
		if err != nil {
			return nil, r, err
		}
	}
	return &Prover{report: r, jwks: jwks}, r, nil
}

// SignedSize is the tree size of the checkpoint the prover proves
// against: entries up to it have proofs.
func (p *Prover) SignedSize() uint64 {
	if cps := p.report.cps; len(cps) > 0 {
		return cps[len(cps)-1].c.TreeSize
	}
	return 0
}

// CheckpointsPath is the file of the log in dir that holds its signed
// checkpoints. It only grows, so a reader that keeps a Prover (which
// verifies the whole log) can tell from its size whether a newer
// checkpoint was signed since.
func CheckpointsPath(dir string) string { return filepath.Join(LogDir(dir), checkpointsFile) }

// ErrNotSigned: the entry is newer than the last checkpoint; a proof is
// possible after the next one.
var ErrNotSigned = errors.New("audit: entry not yet covered by a signed checkpoint")

// Prove returns the inclusion proof of entry seq against the latest
// checkpoint.
func (p *Prover) Prove(seq uint64) (*InclusionProof, error) {
	cps := p.report.cps
	if seq == 0 || seq > p.report.Entries {
		return nil, fmt.Errorf("audit: no entry %d (the log has %d)", seq, p.report.Entries)
	}
	if len(cps) == 0 || cps[len(cps)-1].c.TreeSize < seq {
		return nil, fmt.Errorf("%w: entry %d, last checkpoint at %d", ErrNotSigned, seq, p.report.SignedSize)
	}
	cp := cps[len(cps)-1]
	path, err := p.report.tree.inclusion(seq-1, cp.c.TreeSize)
	if err != nil {
		return nil, err
	}
	leaf, err := p.leaf(seq)
	if err != nil {
		return nil, err
	}
	out := &InclusionProof{Format: ProofFormat, Gateway: cp.c.Gateway, Seq: seq, Leaf: string(leaf), LeafIndex: seq - 1,
		TreeSize: cp.c.TreeSize, Checkpoint: string(cp.raw), JWKS: compactJSON(p.jwks)}
	for _, h := range path {
		out.AuditPath = append(out.AuditPath, hexHash(h))
	}
	return out, nil
}

// leaf reads entry seq's line from the log (the tree keeps only hashes).
func (p *Prover) leaf(seq uint64) ([]byte, error) {
	_, line, err := Entry(p.report.Dir, seq)
	if err == nil && line == nil {
		err = fmt.Errorf("audit: entry %d not found", seq)
	}
	return line, err
}

func compactJSON(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// CheckProof verifies p offline: the checkpoint's signature (with pinned
// keys if given, else p's own JWKS), the entry's own hash, and the audit
// path from the entry's leaf to the signed root. It returns the entry and
// the checkpoint.
func CheckProof(p *InclusionProof, pinnedJWKS []byte) (*Event, *Checkpoint, error) {
	if p.Format != ProofFormat {
		return nil, nil, fmt.Errorf("%w: not an inclusion proof (format %q)", ErrTampered, p.Format)
	}
	keys := pinnedJWKS
	if len(keys) == 0 {
		keys = p.JWKS
	}
	jv, err := jose.NewVerifier(keys)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: key set: %v", ErrTampered, err)
	}
	c, err := parseCheckpoint(jv, []byte(p.Checkpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: checkpoint: %v", ErrTampered, err)
	}
	ev, err := checkLeaf(p.Gateway, p.Seq, p.LeafIndex, p.TreeSize, []byte(p.Leaf), p.AuditPath, &c)
	if err != nil {
		return nil, nil, err
	}
	return ev, &c, nil
}

// checkLeaf checks one entry against a verified checkpoint.
func checkLeaf(gateway string, seq, index, size uint64, leaf []byte, path []string, c *Checkpoint) (*Event, error) {
	bad := func(format string, a ...any) (*Event, error) {
		return nil, fmt.Errorf("%w: entry %d: %s", ErrTampered, seq, fmt.Sprintf(format, a...))
	}
	if c.Gateway != gateway || c.TreeSize != size {
		return bad("the checkpoint is for %s at size %d, the proof says %s at %d", c.Gateway, c.TreeSize, gateway, size)
	}
	if seq == 0 || index != seq-1 || index >= size {
		return bad("leaf index %d does not fit seq %d in a tree of %d", index, seq, size)
	}
	var ev Event
	if err := json.Unmarshal(leaf, &ev); err != nil {
		return bad("the leaf is not an entry: %v", err)
	}
	if self, ok := entrySelfHash(leaf); !ok || self != ev.Hash {
		return bad("the entry's hash does not match its content")
	}
	if ev.Seq != seq || ev.Gateway != gateway {
		return bad("the entry is seq %d of %s", ev.Seq, ev.Gateway)
	}
	hashes := make([][]byte, len(path))
	for i, h := range path {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return bad("audit path node %d is not a hash", i)
		}
		hashes[i] = b
	}
	root, _ := c.root()
	if err := proof.VerifyInclusion(hasher, index, size, hasher.HashLeaf(leaf), hashes, root); err != nil {
		return bad("not in the tree the checkpoint signs: %v", err)
	}
	return &ev, nil
}

// EvidencePack is what an auditor takes away: the entries that matched a
// query, each with its inclusion proof against its gateway's signed
// checkpoint, and the public keys. CheckPack verifies it offline.
type EvidencePack struct {
	Format   string        `json:"format"`
	Created  time.Time     `json:"created"`
	Query    Filter        `json:"query"`
	Gateways []PackGateway `json:"gateways"`
	Entries  []PackEntry   `json:"entries"`
	// Unproven counts matching entries left out because no checkpoint
	// covers them yet; Uncovered says, per gateway, which and why.
	Unproven  int             `json:"unproven,omitempty"`
	Uncovered []PackUncovered `json:"uncovered,omitempty"`
	// Signature, when present, is a JWS by the exporter over the SHA-256
	// of the pack with Signature empty; SignerJWKS verifies it.
	Signature  string          `json:"signature,omitempty"`
	SignerJWKS json.RawMessage `json:"signer_jwks,omitempty"`
}

// PackGateway is one gateway's checkpoint and keys in a pack.
type PackGateway struct {
	Gateway    string          `json:"gateway"`
	TreeSize   uint64          `json:"tree_size"`
	Checkpoint string          `json:"checkpoint"`
	JWKS       json.RawMessage `json:"jwks"`
	// Note is the same checkpoint as a C2SP signed note (checkpoint.note),
	// with whatever witness cosignatures it had, when the log's latest
	// note is at this tree size.
	Note string `json:"note,omitempty"`
}

// PackUncovered is the exporter's statement that matching entries of one
// gateway's log were left out of the pack: they are newer than its last
// signed checkpoint, so the pack could not prove them. It is covered by
// the exporter's signature, not by the gateway's (nothing signed by the
// gateway covers those entries: that is the point).
type PackUncovered struct {
	Gateway string `json:"gateway"`
	// Count matching entries, with sequence numbers FirstSeq..LastSeq,
	// were left out.
	Count    int    `json:"count"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// SignedSize is the tree size of the checkpoint in the pack, LogSize
	// the number of entries the log held when exported.
	SignedSize uint64 `json:"signed_size"`
	LogSize    uint64 `json:"log_size"`
	// Reason says why no checkpoint covering them was signed at export.
	Reason string `json:"reason"`
}

// PackEntry is one entry and its audit path in a pack.
type PackEntry struct {
	Gateway   string   `json:"gateway"`
	Seq       uint64   `json:"seq"`
	Leaf      string   `json:"leaf"`
	LeafIndex uint64   `json:"leaf_index"`
	AuditPath []string `json:"audit_path"`
}

// Export builds an evidence pack of the entries matching f in the logs in
// dirs (each log is verified first; one that fails stops the export).
// Entries newer than their log's last checkpoint are left out, counted in
// Unproven and described in Uncovered; SealHead first avoids that.
func Export(dirs []string, f Filter, opts VerifyOptions, now time.Time) (*EvidencePack, error) {
	pack := &EvidencePack{Format: PackFormat, Created: now.UTC(), Query: f}
	for _, d := range dirs {
		pr, r, err := NewProver(d, opts)
		if err != nil {
			if r != nil && r.Failure != nil {
				return nil, fmt.Errorf("audit: %s does not verify: %w", d, r.Failure)
			}
			return nil, err
		}
		if err := pr.exportInto(pack, d, f); err != nil {
			return nil, err
		}
	}
	sortPack(pack)
	return pack, nil
}

// Export builds the evidence pack of the entries matching f in the
// prover's log, against its checkpoint, without verifying the log again:
// a gateway keeps a Prover per checkpoint (GET /v1/audit/proof) and makes
// packs from it (POST /v1/audit/evidence).
func (p *Prover) Export(f Filter, now time.Time) (*EvidencePack, error) {
	pack := &EvidencePack{Format: PackFormat, Created: now.UTC(), Query: f}
	if err := p.exportInto(pack, p.report.Dir, f); err != nil {
		return nil, err
	}
	sortPack(pack)
	return pack, nil
}

// exportInto adds the entries of the prover's log (in d) matching f to pack.
func (p *Prover) exportInto(pack *EvidencePack, d string, f Filter) error {
	r := p.report
	if len(r.cps) == 0 {
		return fmt.Errorf("%w: %s has no checkpoint", ErrNotSigned, d)
	}
	cp := r.cps[len(r.cps)-1]
	pg := PackGateway{Gateway: cp.c.Gateway, TreeSize: cp.c.TreeSize, Checkpoint: string(cp.raw), JWKS: compactJSON(p.jwks)}
	if r.Note != nil && r.Note.TreeSize == cp.c.TreeSize {
		pg.Note = string(r.noteRaw)
	}
	pack.Gateways = append(pack.Gateways, pg)
	unc := PackUncovered{Gateway: cp.c.Gateway, SignedSize: cp.c.TreeSize, LogSize: r.Entries,
		Reason: "newer than the log's last signed checkpoint, and no checkpoint was signed at export"}
	err := Scan(d, func(ev *Event, line []byte) error {
		if !f.Match(ev) {
			return nil
		}
		if ev.Seq > cp.c.TreeSize {
			pack.Unproven++
			if unc.Count == 0 {
				unc.FirstSeq = ev.Seq
			}
			unc.Count++
			unc.LastSeq = ev.Seq
			return nil
		}
		path, err := r.tree.inclusion(ev.Seq-1, cp.c.TreeSize)
		if err != nil {
			return err
		}
		e := PackEntry{Gateway: cp.c.Gateway, Seq: ev.Seq, Leaf: string(line), LeafIndex: ev.Seq - 1}
		for _, h := range path {
			e.AuditPath = append(e.AuditPath, hexHash(h))
		}
		pack.Entries = append(pack.Entries, e)
		return nil
	})
	if err != nil {
		return err
	}
	if unc.Count > 0 {
		unc.LogSize = max(unc.LogSize, unc.LastSeq) // the log may have grown since it was verified
		pack.Uncovered = append(pack.Uncovered, unc)
	}
	return nil
}

func sortPack(pack *EvidencePack) {
	sort.SliceStable(pack.Entries, func(i, j int) bool {
		if pack.Entries[i].Gateway != pack.Entries[j].Gateway {
			return pack.Entries[i].Gateway < pack.Entries[j].Gateway
		}
		return pack.Entries[i].Seq < pack.Entries[j].Seq
	})
}

// packDigest is what the pack signature covers.
func packDigest(p *EvidencePack) ([]byte, error) {
	c := *p
	c.Signature = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return []byte("sha256:" + hex.EncodeToString(sum[:])), nil
}

// PackSigner is what signs a pack: the exporter's key (jose.Signer), which
// also publishes its public key set so that the pack carries it.
type PackSigner interface {
	Sign(payload []byte) ([]byte, error)
	PublicJWKS() ([]byte, error)
}

var _ PackSigner = (*jose.Signer)(nil)

// Sign signs the pack with s (the exporter's key).
func (p *EvidencePack) Sign(s PackSigner) error {
	jwks, err := s.PublicJWKS()
	if err != nil {
		return err
	}
	p.SignerJWKS = compactJSON(jwks)
	d, err := packDigest(p)
	if err != nil {
		return err
	}
	sig, err := s.Sign(d)
	if err != nil {
		return err
	}
	p.Signature = string(sig)
	return nil
}

// PackResult is what CheckPack found.
type PackResult struct {
	Entries     []Event      `json:"entries"`
	Checkpoints []Checkpoint `json:"checkpoints"`
	// Notes are the checkpoint notes the pack carries, verified.
	Notes []NoteCheckpoint `json:"notes,omitempty"`
	// Signed says whether the pack carries a valid exporter signature.
	Signed bool `json:"signed"`
}

// CheckPack verifies a pack offline: the exporter's signature if present,
// each gateway's checkpoint (with pinnedJWKS if given, else the pack's
// keys), and every entry's inclusion.
func CheckPack(p *EvidencePack, pinnedJWKS []byte) (*PackResult, error) {
	if p.Format != PackFormat {
		return nil, fmt.Errorf("%w: not an evidence pack (format %q)", ErrTampered, p.Format)
	}
	res := &PackResult{}
	if p.Signature != "" {
		sv, err := jose.NewVerifier(p.SignerJWKS)
		if err != nil {
			return nil, fmt.Errorf("%w: signer key set: %v", ErrTampered, err)
		}
		got, err := sv.Verify([]byte(p.Signature))
		want, derr := packDigest(p)
		if err != nil || derr != nil || !bytes.Equal(got, want) {
			return nil, fmt.Errorf("%w: the pack signature does not match its content", ErrTampered)
		}
		res.Signed = true
	}
	cps := map[string]*Checkpoint{}
	for _, g := range p.Gateways {
		keys := pinnedJWKS
		if len(keys) == 0 {
			keys = g.JWKS
		}
		jv, err := jose.NewVerifier(keys)
		if err != nil {
			return nil, fmt.Errorf("%w: %s key set: %v", ErrTampered, g.Gateway, err)
		}
		c, err := parseCheckpoint(jv, []byte(g.Checkpoint))
		if err != nil {
			return nil, fmt.Errorf("%w: %s checkpoint: %v", ErrTampered, g.Gateway, err)
		}
		if c.Gateway != g.Gateway || c.TreeSize != g.TreeSize {
			return nil, fmt.Errorf("%w: %s checkpoint is for %s at %d", ErrTampered, g.Gateway, c.Gateway, c.TreeSize)
		}
		if cps[g.Gateway] != nil {
			return nil, fmt.Errorf("%w: gateway %s appears twice", ErrTampered, g.Gateway)
		}
		if g.Note != "" {
			nc, err := openNote([]byte(g.Note), jv, g.Gateway)
			if err != nil {
				return nil, fmt.Errorf("%w: %s checkpoint note: %v", ErrTampered, g.Gateway, err)
			}
			if nc.TreeSize != c.TreeSize || nc.RootHash != c.RootHash {
				return nil, fmt.Errorf("%w: %s checkpoint note states tree size %d, not the checkpoint's %d with its root", ErrTampered, g.Gateway, nc.TreeSize, c.TreeSize)
			}
			res.Notes = append(res.Notes, nc)
		}
		cps[g.Gateway] = &c
		res.Checkpoints = append(res.Checkpoints, c)
	}
	for _, e := range p.Entries {
		c := cps[e.Gateway]
		if c == nil {
			return nil, fmt.Errorf("%w: entry %d of %s: no checkpoint for that gateway in the pack", ErrTampered, e.Seq, e.Gateway)
		}
		ev, err := checkLeaf(e.Gateway, e.Seq, e.LeafIndex, c.TreeSize, []byte(e.Leaf), e.AuditPath, c)
		if err != nil {
			return nil, err
		}
		res.Entries = append(res.Entries, *ev)
	}
	return res, nil
}
