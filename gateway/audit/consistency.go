package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// What a running log gives the gateways that witness it (cross-witnessing,
// docs/federation.md): its latest signed checkpoint note, and consistency
// proofs between tree sizes, so that a witness holding an earlier
// checkpoint can check that the log only grew.
//
// The writer keeps only the compact range of the tree (O(log n) hashes),
// so a proof is computed from the entries on disk. It starts from the
// state a sealed segment left beside it (checked against the signed
// checkpoint at that size, as opening the log does) and reads only the
// entries from there: the cost is bounded by one segment plus the entries
// added since the witness's size, not by the length of the log.

// ErrNoCheckpoint: the log has signed no checkpoint note yet.
var ErrNoCheckpoint = errors.New("audit: no checkpoint signed yet")

// LatestNote returns the log's latest checkpoint note (checkpoint.note, the
// C2SP signed note) and what it states, verified with the key set the log
// publishes. ErrNoCheckpoint if none was signed yet.
func (l *Log) LatestNote() ([]byte, NoteCheckpoint, error) {
	msg, err := readNote(l.dir)
	if err != nil {
		return nil, NoteCheckpoint{}, err
	}
	if msg == nil {
		return nil, NoteCheckpoint{}, ErrNoCheckpoint
	}
	jwks, err := readKeys(l.dir)
	if err != nil {
		return nil, NoteCheckpoint{}, err
	}
	nc, err := OpenNote(msg, jwks, l.opts.Gateway)
	if err != nil {
		return nil, NoteCheckpoint{}, fmt.Errorf("%w: %s: %v", ErrTampered, noteFile, err)
	}
	return msg, nc, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof (node hashes,
// lowercase hex) that the log's first size1 entries are a prefix of its
// first size2, and the root hash at size2 it proves to. size2 must not
// exceed the entries that are durable. The proof is checked against the
// roots it was computed from before it is returned.
func (l *Log) ConsistencyProof(size1, size2 uint64) ([]string, string, error) {
	if size1 > size2 {
		return nil, "", fmt.Errorf("audit: no consistency proof from size %d to the smaller %d", size1, size2)
	}
	if n := l.Size(); size2 > n {
		return nil, "", fmt.Errorf("audit: tree size %d beyond the %d entries logged", size2, n)
	}
	return consistencyFromDisk(l, size1, size2)
}

func consistencyFromDisk(l *Log, size1, size2 uint64) ([]string, string, error) {
	if size2 == 0 {
		return []string{}, hexHash(hasher.EmptyRoot()), nil
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, "", err
	}
	want := make(map[compact.NodeID]int, len(nodes.IDs))
	for i, id := range nodes.IDs {
		want[id] = i
	}
	hashes := make([][]byte, len(nodes.IDs))
	found := 0
	take := func(id compact.NodeID, h []byte) {
		if i, ok := want[id]; ok && hashes[i] == nil {
			hashes[i] = bytes.Clone(h)
			found++
		}
	}
	segs, err := listSegments(l.dir)
	if err != nil {
		return nil, "", fmt.Errorf("audit: %w", err)
	}
	rng, first := l.startBefore(segs, size1)
	var root1 []byte
	// atSize1 takes, at size1, the nodes of the proof that lie left of it:
	// they are the compact range's (RFC 6962 proofs name no other node
	// left of the old size).
	atSize1 := func() error {
		ids := compact.RangeNodes(0, size1, nil)
		for i, h := range rng.Hashes() {
			take(ids[i], h)
		}
		var err error
		root1, err = rng.GetRootHash(nil)
		return err
	}
	if size1 > 0 && rng.End() == size1 {
		if err := atSize1(); err != nil {
			return nil, "", err
		}
	}
	// Nodes right of size1 are completed while appending its leaves.
	visit := func(id compact.NodeID, h []byte) {
		if b, _ := id.Coverage(); b >= size1 {
			take(id, h)
		}
	}
	for i := first; i < len(segs) && rng.End() < size2; i++ {
		data, err := os.ReadFile(filepath.Join(l.dir, segs[i].name))
		if err != nil {
			return nil, "", fmt.Errorf("audit: %w", err)
		}
		for off := 0; off < len(data) && rng.End() < size2; {
			nl := bytes.IndexByte(data[off:], '\n')
			if nl < 0 {
				break // an append in progress: beyond what is durable
			}
			if err := rng.Append(hasher.HashLeaf(data[off:off+nl]), visit); err != nil {
				return nil, "", err
			}
			off += nl + 1
			if size1 > 0 && rng.End() == size1 {
				if err := atSize1(); err != nil {
					return nil, "", err
				}
			}
		}
	}
	if rng.End() != size2 {
		return nil, "", fmt.Errorf("%w: the log's segments hold %d entries, not %d", ErrCorrupt, rng.End(), size2)
	}
	if found != len(hashes) {
		return nil, "", fmt.Errorf("audit: consistency proof %d→%d: %d of %d nodes not found", size1, size2, len(hashes)-found, len(hashes))
	}
	root2, err := rng.GetRootHash(nil)
	if err != nil {
		return nil, "", err
	}
	p, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, "", err
	}
	if size1 > 0 {
		if err := proof.VerifyConsistency(hasher, size1, size2, p, root1, root2); err != nil {
			return nil, "", fmt.Errorf("%w: consistency proof %d→%d does not verify: %v", ErrCorrupt, size1, size2, err)
		}
	}
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = hexHash(h)
	}
	return out, hexHash(root2), nil
}

// startBefore returns the compact range of the tree at the end of the last
// sealed segment that ends at or before size (from the state file beside
// it, accepted only if the signed checkpoint at that size has its root),
// and the index of the segment that follows. Without one, the empty tree
// and the first segment.
func (l *Log) startBefore(segs []segFile, size uint64) (*compact.Range, int) {
	empty := rangeFactory.NewEmptyRange(0)
	if len(segs) < 2 {
		return empty, 0
	}
	cps := &cpLines{}
	data, err := os.ReadFile(filepath.Join(l.dir, checkpointsFile))
	if err != nil {
		return empty, 0
	}
	if good := bytes.LastIndexByte(data, '\n') + 1; good > 0 {
		cps.lines = bytes.Split(data[:good-1], []byte("\n"))
	}
	if cps.v, _, err = loadVerifier(l.dir, nil); err != nil || cps.v == nil {
		return empty, 0
	}
	for i := len(segs) - 2; i >= 0; i-- {
		b, err := os.ReadFile(filepath.Join(l.dir, stateName(segs[i].name)))
		if err != nil {
			continue
		}
		var head struct {
			TreeSize uint64 `json:"tree_size"`
		}
		if json.Unmarshal(b, &head) != nil || head.TreeSize > size {
			continue
		}
		if st := l.sealState(segs[i], cps); st != nil {
			return st.rng, i + 1
		}
	}
	return empty, 0
}

// CheckConsistency verifies offline that newer extends older: a
// consistency proof (hex node hashes, as ConsistencyProof gives) from
// older's tree size to newer's, against the roots the two checkpoints
// state. Two checkpoints of the same size must have the same root.
func CheckConsistency(older, newer NoteCheckpoint, proofHex []string) error {
	r1, err := hex.DecodeString(older.RootHash)
	if err != nil || len(r1) != 32 {
		return fmt.Errorf("%w: the older root is not a hash", ErrTampered)
	}
	r2, err := hex.DecodeString(newer.RootHash)
	if err != nil || len(r2) != 32 {
		return fmt.Errorf("%w: the newer root is not a hash", ErrTampered)
	}
	if newer.TreeSize < older.TreeSize {
		return fmt.Errorf("%w: tree size went back from %d to %d", ErrTampered, older.TreeSize, newer.TreeSize)
	}
	p := make([][]byte, len(proofHex))
	for i, h := range proofHex {
		if p[i], err = hex.DecodeString(h); err != nil || len(p[i]) != 32 {
			return fmt.Errorf("%w: proof node %d is not a hash", ErrTampered, i)
		}
	}
	if older.TreeSize == 0 {
		// Every tree extends the empty one; a proof from it is empty.
		if len(p) != 0 {
			return fmt.Errorf("%w: a proof from the empty tree must be empty", ErrTampered)
		}
		return nil
	}
	if err := proof.VerifyConsistency(hasher, older.TreeSize, newer.TreeSize, p, r1, r2); err != nil {
		return fmt.Errorf("%w: tree size %d is not a prefix of tree size %d: %v", ErrTampered, older.TreeSize, newer.TreeSize, err)
	}
	return nil
}
