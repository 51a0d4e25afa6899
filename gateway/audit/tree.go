package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hasher is the RFC 6962 SHA-256 tree hasher every tree here uses.
var hasher = rfc6962.DefaultHasher

var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// tree keeps every perfect subtree hash of an append-only RFC 6962 tree
// (2n hashes for n leaves), so that roots, inclusion proofs and consistency
// proofs at any earlier size come from memory. Proof shapes come from
// merkle/proof; this type only stores the node hashes they name.
type tree struct {
	levels [][][32]byte // levels[l][i] is the node (l, i); arrays keep the GC from scanning them
}

func (t *tree) size() uint64 {
	if len(t.levels) == 0 {
		return 0
	}
	return uint64(len(t.levels[0]))
}

// appendLeaf adds a leaf hash (hasher.HashLeaf of the entry's bytes).
func (t *tree) appendLeaf(h []byte) {
	if len(t.levels) == 0 {
		t.levels = append(t.levels, nil)
	}
	t.levels[0] = append(t.levels[0], [32]byte(h))
	for l := 0; len(t.levels[l])%2 == 0; l++ {
		n := len(t.levels[l])
		parent := hasher.HashChildren(t.levels[l][n-2][:], t.levels[l][n-1][:])
		if l+1 == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		t.levels[l+1] = append(t.levels[l+1], [32]byte(parent))
	}
}

// truncated returns a tree of the first n leaves sharing this one's hashes
// (copy on append), for resuming a verification from a known prefix.
func (t *tree) truncated(n uint64) *tree {
	out := &tree{}
	for l := range t.levels {
		k := n >> uint(l)
		if k == 0 {
			break
		}
		out.levels = append(out.levels, t.levels[l][:k:k])
	}
	return out
}

func (t *tree) node(id compact.NodeID) ([]byte, error) {
	if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])) {
		return nil, fmt.Errorf("audit: tree node (%d,%d) not present", id.Level, id.Index)
	}
	h := t.levels[id.Level][id.Index]
	return h[:], nil
}

// root is the RFC 6962 root hash of the first size leaves.
func (t *tree) root(size uint64) ([]byte, error) {
	if size > t.size() {
		return nil, fmt.Errorf("audit: tree size %d beyond %d leaves", size, t.size())
	}
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

func (t *tree) proofHashes(n proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return n.Rehash(hashes, hasher.HashChildren)
}

// inclusion is the audit path of leaf index in the tree of size leaves.
func (t *tree) inclusion(index, size uint64) ([][]byte, error) {
	if size > t.size() {
		return nil, fmt.Errorf("audit: tree size %d beyond %d leaves", size, t.size())
	}
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return t.proofHashes(n)
}

// consistency proves that the tree of size1 leaves is a prefix of size2's.
func (t *tree) consistency(size1, size2 uint64) ([][]byte, error) {
	if size2 > t.size() {
		return nil, fmt.Errorf("audit: tree size %d beyond %d leaves", size2, t.size())
	}
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return t.proofHashes(n)
}

func hexHash(h []byte) string { return hex.EncodeToString(h) }

func sameHash(a []byte, b string) bool {
	d, err := hex.DecodeString(b)
	return err == nil && bytes.Equal(a, d)
}
