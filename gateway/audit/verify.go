package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/liaison-project/liaison/crypto/jose"
)

// Failure kinds.
const (
	FailEntry      = "entry"      // an entry is malformed, altered, out of order or torn
	FailMissing    = "missing"    // entries that a checkpoint covers are not in the log
	FailMismatch   = "mismatch"   // entries do not hash to the root a checkpoint signs
	FailCheckpoint = "checkpoint" // a checkpoint is malformed, badly signed, or inconsistent
)

// Failure is the first thing in a log that does not verify, named as
// precisely as the evidence allows.
type Failure struct {
	Kind string `json:"kind"`
	// Segment and Line locate the entry (1-based line within the segment).
	Segment string `json:"segment,omitempty"`
	Line    int    `json:"line,omitempty"`
	// Seq is the first entry that is bad or missing: the seq the log should
	// have at that place.
	Seq uint64 `json:"seq,omitempty"`
	// Checkpoint is the 1-based line of the checkpoint concerned, if any.
	Checkpoint int    `json:"checkpoint,omitempty"`
	Reason     string `json:"reason"`
}

func (f *Failure) Error() string {
	var b bytes.Buffer
	b.WriteString("audit: ")
	switch {
	case f.Segment != "" && f.Line > 0:
		fmt.Fprintf(&b, "%s line %d (seq %d): ", f.Segment, f.Line, f.Seq)
	case f.Seq > 0:
		fmt.Fprintf(&b, "seq %d: ", f.Seq)
	}
	if f.Checkpoint > 0 {
		fmt.Fprintf(&b, "checkpoint %d: ", f.Checkpoint)
	}
	b.WriteString(f.Reason)
	return b.String()
}

// Unwrap makes every failure an ErrTampered.
func (f *Failure) Unwrap() error { return ErrTampered }

// Report is the outcome of verifying one gateway's log.
type Report struct {
	Dir         string `json:"dir,omitempty"`
	Gateway     string `json:"gateway,omitempty"`
	Entries     uint64 `json:"entries"`
	Segments    int    `json:"segments"`
	Checkpoints int    `json:"checkpoints"`
	// RootHash is the root over every verified entry.
	RootHash string `json:"root_hash,omitempty"`
	// SignedSize is the tree size of the last checkpoint that verified.
	SignedSize uint64 `json:"signed_size"`
	// Unsigned counts entries after the last checkpoint: intact as far as
	// the chain shows, but not yet covered by a signature.
	Unsigned uint64 `json:"unsigned"`
	// Pending counts checkpoints that cover entries not available here (a
	// store holds sealed segments only); they are checked once it does.
	Pending int `json:"pending_checkpoints,omitempty"`
	// KeySource says where the public keys came from.
	KeySource string   `json:"key_source,omitempty"`
	Failure   *Failure `json:"failure,omitempty"`
	OK        bool     `json:"ok"`
	// Recoveries are the `liaison audit recover` runs on this log: each
	// says which entries were moved out of it, why, and where the evidence
	// is (and whether it is still there unchanged).
	Recoveries []Recovery `json:"recoveries,omitempty"`
	// Note is what the log's latest checkpoint note (checkpoint.note, the
	// C2SP signed-note form) states, once verified; nil if there is none.
	Note *NoteCheckpoint `json:"note,omitempty"`
	// Witness is what the log records of the peers' audit checkpoints
	// this gateway witnessed (federation), per peer; empty for a gateway
	// that witnesses none.
	Witness []WitnessPeer `json:"witness,omitempty"`

	tree    *tree              // the verified tree, for proofs
	cps     []parsedCheckpoint // the checkpoints, for proofs
	noteRaw []byte             // the verified note, for export
}

// Err is the report's failure as an error (nil when it verified).
func (r *Report) Err() error {
	if r.Failure == nil {
		return nil
	}
	return r.Failure
}

// parsedCheckpoint is one line of a checkpoints file.
type parsedCheckpoint struct {
	line int
	c    Checkpoint
	root []byte
	raw  []byte // the compact JWS
}

// parseCheckpoints verifies every line of a checkpoints file. A line that
// is not a well-formed, validly signed checkpoint is a failure: nothing
// else writes that file.
func parseCheckpoints(v *jose.Verifier, data []byte) ([]parsedCheckpoint, *Failure) {
	var out []parsedCheckpoint
	line := 0
	for off := 0; off < len(data); {
		line++
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			return out, &Failure{Kind: FailCheckpoint, Checkpoint: line, Reason: "incomplete last line in " + checkpointsFile}
		}
		raw := data[off : off+nl]
		off += nl + 1
		if v == nil {
			return out, &Failure{Kind: FailCheckpoint, Checkpoint: line, Reason: "no public key to check checkpoint signatures"}
		}
		c, err := parseCheckpoint(v, raw)
		if err != nil {
			return out, &Failure{Kind: FailCheckpoint, Checkpoint: line, Reason: "not a validly signed checkpoint: " + err.Error()}
		}
		root, _ := c.root()
		out = append(out, parsedCheckpoint{line: line, c: c, root: root, raw: raw})
	}
	return out, nil
}

// entryHead is what the verifier decodes of each entry; the rest is
// covered by the entry's hash and its Merkle leaf.
type entryHead struct {
	Seq     uint64 `json:"seq"`
	Gateway string `json:"gateway"`
	Prev    string `json:"prev"`
	Hash    string `json:"hash"`
}

// genesis is the prev of the first entry.
const genesis = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// hashTail is how every canonical entry ends: ,"hash":"sha256:<64 hex>"}
const (
	hashKey    = `,"hash":"`
	hashValLen = len("sha256:") + 64
	hashTail   = len(hashKey) + hashValLen + len(`"}`)
)

// entrySelfHash is SHA-256 over the entry's line with its hash value
// emptied — the bytes, not a re-encoding, so that any change anywhere in
// the line is caught. ok is false if the line does not end as an entry does.
func entrySelfHash(line []byte) (string, bool) {
	n := len(line)
	if n < hashTail+2 || !bytes.Equal(line[n-hashTail:n-hashTail+len(hashKey)], []byte(hashKey)) || line[n-2] != '"' || line[n-1] != '}' {
		return "", false
	}
	h := sha256.New()
	h.Write(line[:n-hashTail+len(hashKey)])
	h.Write([]byte(`"}`))
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), true
}

// verifier checks one gateway's entries as a stream of segments, building
// the Merkle tree, then checks the checkpoints against that tree.
type verifier struct {
	tree       *tree
	seq        uint64
	prev       string
	lastSegNum int
	segments   int
	gateway    string
	fail       *Failure

	// Light mode (opening a log for writing): no tree, only the compact
	// range, and the root at one size of interest.
	rng       *compact.Range
	watch     uint64
	watchRoot []byte

	// snap, when set, is called every snapEvery entries and at the start of
	// each segment with the position reached (tests resume from these).
	snap      func(snapshot)
	snapEvery uint64
	progress  func(bytes int)
	// witness, when set, collects the witnessed-checkpoint entries.
	witness *witnessCollector
}

// snapshot is a verifier's state at an entry boundary.
type snapshot struct {
	segIdx, off, line int
	seq               uint64
	prev              string
	lastSegNum        int
}

func newVerifier() *verifier {
	return &verifier{tree: &tree{}, prev: genesis}
}

// addLeaf grows the full tree, or in light mode only the compact range,
// noting its root when it reaches the watched size.
func (v *verifier) addLeaf(h []byte) {
	if v.tree != nil {
		v.tree.appendLeaf(h)
		return
	}
	if err := v.rng.Append(h, nil); err != nil {
		panic(err) // a range that ends where we are always takes the next leaf
	}
	if v.rng.End() == v.watch {
		v.watchRoot, _ = v.rng.GetRootHash(nil)
	}
}

// resume returns a verifier continuing from s over a tree whose first s.seq
// leaves are those of base (the caller guarantees the bytes before s are
// the ones base was built from).
func resume(s snapshot, base *tree) *verifier {
	segs := s.segIdx
	if s.off > 0 {
		segs++ // resuming inside a segment already counted
	}
	return &verifier{tree: base.truncated(s.seq), seq: s.seq, prev: s.prev, lastSegNum: s.lastSegNum, segments: segs}
}

// segment checks one segment's bytes from offset off (at 1-based line
// line-1 done). It returns false at the first failure.
func (v *verifier) segment(idx int, name string, num int, data []byte, off, line int) bool {
	if v.fail != nil {
		return false
	}
	if off == 0 {
		if num != v.lastSegNum+1 {
			v.fail = &Failure{Kind: FailMissing, Segment: segmentName(v.lastSegNum + 1), Seq: v.seq + 1,
				Reason: fmt.Sprintf("segment %s is missing (found %s next)", segmentName(v.lastSegNum+1), name)}
			return false
		}
		v.segments++
		if v.snap != nil {
			v.snap(snapshot{segIdx: idx, off: 0, line: 0, seq: v.seq, prev: v.prev, lastSegNum: v.lastSegNum})
		}
		v.lastSegNum = num
	}
	start := off
	var head entryHead
	for off < len(data) {
		line++
		want := v.seq + 1
		bad := func(format string, a ...any) bool {
			v.fail = &Failure{Kind: FailEntry, Segment: name, Line: line, Seq: want, Reason: fmt.Sprintf(format, a...)}
			return false
		}
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			return bad("incomplete last line (%d bytes without a newline): torn write or truncation", len(data)-off)
		}
		raw := data[off : off+nl]
		head = entryHead{}
		if err := json.Unmarshal(raw, &head); err != nil {
			return bad("not a JSON entry: %v", err)
		}
		if head.Seq != want {
			return bad("expected seq %d, found %d: entries are missing, duplicated or out of order", want, head.Seq)
		}
		if head.Prev != v.prev {
			return bad("prev does not name the previous entry's hash: an entry before it was removed or replaced")
		}
		self, ok := entrySelfHash(raw)
		if !ok {
			return bad("entry does not end with its hash")
		}
		if self != head.Hash {
			return bad("entry hash does not match its content: the entry was altered")
		}
		if v.gateway == "" {
			v.gateway = head.Gateway
		}
		v.addLeaf(hasher.HashLeaf(raw))
		if v.witness != nil {
			v.witness.add(raw)
		}
		v.seq, v.prev = want, head.Hash
		off += nl + 1
		if v.snap != nil && v.snapEvery > 0 && v.seq%v.snapEvery == 0 {
			v.snap(snapshot{segIdx: idx, off: off, line: line, seq: v.seq, prev: v.prev, lastSegNum: v.lastSegNum})
		}
	}
	if v.progress != nil {
		v.progress(len(data) - start)
	}
	return true
}

// finish checks the checkpoints against the tree and fills r. partial means
// that checkpoints beyond the entries seen are pending, not missing entries
// (a store holds only sealed segments).
func (v *verifier) finish(r *Report, cps []parsedCheckpoint, cpFail *Failure, partial bool) {
	r.Gateway = v.gateway
	r.Entries = v.seq
	r.Segments = v.segments
	r.Checkpoints = len(cps)
	if root, err := v.tree.root(v.seq); err == nil {
		r.RootHash = hexHash(root)
	}
	if len(cps) > 0 && cps[len(cps)-1].c.Gateway != "" {
		r.Gateway = cps[len(cps)-1].c.Gateway
	}
	fail := v.fail
	if cpFail != nil {
		// The checkpoints file is written by the gateway alone: a bad line
		// there is reported first whatever the entries say.
		fail = cpFail
	} else if cf := v.checkCheckpoints(r, cps, partial); cf != nil {
		if fail == nil || cf.Seq < fail.Seq || cf.Kind == FailCheckpoint {
			fail = cf
		}
	}
	if r.SignedSize <= v.seq {
		r.Unsigned = v.seq - r.SignedSize
	}
	r.Failure = fail
	r.OK = fail == nil
}

func (v *verifier) checkCheckpoints(r *Report, cps []parsedCheckpoint, partial bool) *Failure {
	// Which checkpoints match the entries? A mismatch is either altered
	// entries or an altered checkpoint: if a later checkpoint still matches
	// the same entries, the odd one out is the checkpoint.
	match := make([]bool, len(cps))
	firstBad, lastGood := -1, -1
	for i, cp := range cps {
		if cp.c.TreeSize > v.seq {
			continue
		}
		root, err := v.tree.root(cp.c.TreeSize)
		match[i] = err == nil && bytes.Equal(root, cp.root)
		if match[i] {
			lastGood = i
		} else if firstBad < 0 {
			firstBad = i
		}
	}
	prevSize := func(i int) uint64 {
		for j := i - 1; j >= 0; j-- {
			if match[j] && cps[j].c.TreeSize < cps[i].c.TreeSize {
				return cps[j].c.TreeSize
			}
		}
		return 0
	}
	if firstBad >= 0 {
		cp := cps[firstBad]
		if lastGood > firstBad && cps[lastGood].c.TreeSize >= cp.c.TreeSize {
			return &Failure{Kind: FailCheckpoint, Checkpoint: cp.line, Seq: cp.c.TreeSize,
				Reason: fmt.Sprintf("signed root for tree size %d does not match the log, although checkpoint %d over %d entries does: this checkpoint is not consistent with the log", cp.c.TreeSize, cps[lastGood].line, cps[lastGood].c.TreeSize)}
		}
		from := prevSize(firstBad) + 1
		return &Failure{Kind: FailMismatch, Checkpoint: cp.line, Seq: from,
			Reason: fmt.Sprintf("entries %d..%d do not hash to the root this checkpoint signs: they were altered and re-hashed, or the checkpoint was re-signed", from, cp.c.TreeSize)}
	}
	// Every checkpoint within the log matches it. Now their order and the
	// consistency proofs between consecutive ones.
	var prev *parsedCheckpoint
	for i := range cps {
		cp := &cps[i]
		if cp.c.TreeSize > v.seq {
			if v.fail != nil {
				break // the entry failure stands; these cannot be checked
			}
			if partial {
				r.Pending++
				continue
			}
			return &Failure{Kind: FailMissing, Checkpoint: cp.line, Seq: v.seq + 1,
				Reason: fmt.Sprintf("the log ends after entry %d but this checkpoint is signed over %d entries: entries %d..%d were removed", v.seq, cp.c.TreeSize, v.seq+1, cp.c.TreeSize)}
		}
		if prev != nil {
			if !after(cp, prev) {
				// Name the one out of place: prev, if the checkpoint after
				// this one follows this one but not prev.
				odd, other := cp, prev
				if i+1 < len(cps) && after(&cps[i+1], cp) && !after(&cps[i+1], prev) {
					odd, other = prev, cp
				}
				return &Failure{Kind: FailCheckpoint, Checkpoint: odd.line, Seq: odd.c.TreeSize,
					Reason: fmt.Sprintf("out of order with checkpoint %d (tree size %d at %s; this one %d at %s): checkpoints were replayed, reordered or re-signed",
						other.line, other.c.TreeSize, other.c.Time.Format(time.RFC3339Nano), odd.c.TreeSize, odd.c.Time.Format(time.RFC3339Nano))}
			}
			p, err := v.tree.consistency(prev.c.TreeSize, cp.c.TreeSize)
			if err == nil {
				err = proof.VerifyConsistency(hasher, prev.c.TreeSize, cp.c.TreeSize, p, prev.root, cp.root)
			}
			if err != nil {
				return &Failure{Kind: FailCheckpoint, Checkpoint: cp.line, Seq: cp.c.TreeSize,
					Reason: fmt.Sprintf("not consistent with checkpoint %d: %v", prev.line, err)}
			}
		}
		r.SignedSize = cp.c.TreeSize
		prev = cp
	}
	return nil
}

// after reports whether checkpoint b comes after a: more entries, not earlier.
func after(b, a *parsedCheckpoint) bool {
	return b.c.TreeSize > a.c.TreeSize && !b.c.Time.Before(a.c.Time)
}

// VerifyOptions adjust Verify.
type VerifyOptions struct {
	// JWKS pins the public keys that must have signed the checkpoints. Empty
	// uses the key set published in the log directory, which proves only
	// that the log is self-consistent: pin the key for evidence.
	JWKS []byte
	// Progress is called with the bytes of each segment verified.
	Progress func(bytes int)
	// Live is for a log a gateway is writing: an incomplete last line (an
	// append in progress) in the last segment or the checkpoints file is
	// left for the next run instead of failing this one.
	Live bool
}

// Verify checks the log in dir (see LogDir): every entry, the Merkle tree,
// every checkpoint signature, checkpoints against the tree, and consistency
// between consecutive checkpoints. The report names the first failure; the
// error is for a log that cannot be read at all.
func Verify(dir string, opts VerifyOptions) (*Report, error) {
	dir = LogDir(dir)
	jv, src, err := loadVerifier(dir, opts.JWKS)
	if err != nil {
		return nil, err
	}
	// The note, then checkpoints, then segments: a log being written only
	// grows, and its writer makes entries durable before it signs them, so
	// what is read afterwards holds every entry that what is read first
	// covers.
	noteData, err := readNote(dir)
	if err != nil {
		return nil, err
	}
	cpData, err := os.ReadFile(filepath.Join(dir, checkpointsFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("audit: %w", err)
	}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	r, err := verifySource(dirSource{dir: dir, segs: segs}, cpData, jv, verifyRun{progress: opts.Progress, live: opts.Live})
	if r != nil && r.OK && noteData != nil {
		checkNote(r, noteData, jv)
	}
	if r != nil {
		r.Dir, r.KeySource = dir, src
		if r.Recoveries, err = readRecoveries(dir); err != nil {
			return r, err
		}
	}
	return r, err
}

// segmentSource hands the verifier one segment at a time, so that a long
// log never has to be in memory at once.
type segmentSource interface {
	Len() int
	Segment(i int) (name string, num int, data []byte, err error)
}

type dirSource struct {
	dir  string
	segs []segFile
}

func (d dirSource) Len() int { return len(d.segs) }

func (d dirSource) Segment(i int) (string, int, []byte, error) {
	b, err := os.ReadFile(filepath.Join(d.dir, d.segs[i].name))
	return d.segs[i].name, d.segs[i].num, b, err
}

// verifyRun are the knobs of one verification.
type verifyRun struct {
	partial  bool // checkpoints beyond the entries are pending (store copies)
	live     bool // see VerifyOptions.Live
	progress func(int)
	// from and base resume a verification at a snapshot of an earlier run
	// over identical leading bytes (the mutation test uses it to check
	// thousands of variants of one long log quickly).
	from *snapshot
	base *tree
	snap func(snapshot)
	// snapEvery is how often snap is called.
	snapEvery uint64
}

func verifySource(src segmentSource, cpData []byte, jv *jose.Verifier, run verifyRun) (*Report, error) {
	if run.live {
		cpData = cpData[:bytes.LastIndexByte(cpData, '\n')+1]
	}
	cps, cpFail := parseCheckpoints(jv, cpData)
	v := newVerifier()
	start := 0
	if run.from != nil {
		v = resume(*run.from, run.base)
		start = run.from.segIdx
	}
	v.progress, v.snap, v.snapEvery = run.progress, run.snap, run.snapEvery
	if run.from == nil {
		v.witness = &witnessCollector{}
	}
	for i := start; i < src.Len(); i++ {
		name, num, data, err := src.Segment(i)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", name, err)
		}
		off, line := 0, 0
		if run.from != nil && i == run.from.segIdx {
			off, line = run.from.off, run.from.line
		}
		if run.live && i == src.Len()-1 {
			data = data[:bytes.LastIndexByte(data, '\n')+1]
		}
		if !v.segment(i, name, num, data, off, line) {
			break
		}
	}
	r := &Report{}
	v.finish(r, cps, cpFail, run.partial)
	if v.witness != nil {
		r.Witness = v.witness.list()
	}
	r.tree, r.cps = v.tree, cps
	return r, nil
}

// loadVerifier builds the checkpoint verifier from pinned keys, or from the
// key set in dir. A log without any key set has no checkpoints to check.
func loadVerifier(dir string, pinned []byte) (*jose.Verifier, string, error) {
	if len(pinned) > 0 {
		v, err := jose.NewVerifier(pinned)
		if err != nil {
			return nil, "", fmt.Errorf("audit: pinned key set: %w", err)
		}
		return v, "pinned", nil
	}
	b, err := os.ReadFile(filepath.Join(dir, keysFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "none", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("audit: %w", err)
	}
	v, err := jose.NewVerifier(b)
	if err != nil {
		return nil, "", fmt.Errorf("audit: %s: %w", keysFile, err)
	}
	return v, "log directory (not pinned)", nil
}

// VerifyFile verifies the log at path (its directory or a file in it) with
// the key set published there and returns the number of entries, or an
// error naming the first failure. Kept for callers of the earlier file log.
func VerifyFile(path string) (uint64, error) {
	r, err := Verify(path, VerifyOptions{})
	if err != nil {
		return 0, err
	}
	return r.Entries, r.Err()
}
