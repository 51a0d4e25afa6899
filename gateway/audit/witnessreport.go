package audit

import (
	"bytes"
	"encoding/json"
	"sort"
	"time"
)

// WitnessPeer is what a gateway's own log says about one peer whose audit
// checkpoints it witnessed (entries with federation.direction
// "witnessed"): read from the log alone, so `audit verify` reports it
// offline on a copy.
type WitnessPeer struct {
	Gateway string `json:"gateway"`
	// Witnessed counts the consistent checkpoints recorded; TreeSize,
	// RootHash, Time and Seq are the last one's (the peer's tree size and
	// root, when it was witnessed, and the entry that records it).
	Witnessed int       `json:"witnessed"`
	TreeSize  uint64    `json:"tree_size,omitempty"`
	RootHash  string    `json:"root_hash,omitempty"`
	Time      time.Time `json:"time,omitzero"`
	Seq       uint64    `json:"seq,omitempty"`
	// Problems are the inconsistent or invalid checkpoints recorded.
	Problems []WitnessProblem `json:"problems,omitempty"`
}

// WitnessProblem is one entry recording a checkpoint that was not
// consistent (or not validly signed).
type WitnessProblem struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Outcome  string    `json:"outcome"`
	TreeSize uint64    `json:"tree_size,omitempty"`
	Via      string    `json:"via,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// witnessMark is in every witnessed-checkpoint entry; other entries are
// not decoded beyond their head.
var witnessMark = []byte(`"direction":"witnessed"`)

type witnessCollector struct {
	peers map[string]*WitnessPeer
}

// add reads a witnessed-checkpoint entry; raw has been verified.
func (c *witnessCollector) add(raw []byte) {
	if !bytes.Contains(raw, witnessMark) {
		return
	}
	var e struct {
		Seq        uint64      `json:"seq"`
		Time       time.Time   `json:"time"`
		Error      string      `json:"error"`
		Federation *Federation `json:"federation"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Federation == nil || e.Federation.Direction != "witnessed" {
		return
	}
	f := e.Federation
	if c.peers == nil {
		c.peers = map[string]*WitnessPeer{}
	}
	p := c.peers[f.PeerGateway]
	if p == nil {
		p = &WitnessPeer{Gateway: f.PeerGateway}
		c.peers[f.PeerGateway] = p
	}
	if f.Outcome == WitnessConsistent {
		p.Witnessed++
		p.TreeSize, p.RootHash, p.Time, p.Seq = f.TreeSize, f.RootHash, e.Time, e.Seq
		return
	}
	p.Problems = append(p.Problems, WitnessProblem{Seq: e.Seq, Time: e.Time, Outcome: f.Outcome, TreeSize: f.TreeSize,
		Via: f.Via, Reason: e.Error})
}

func (c *witnessCollector) list() []WitnessPeer {
	out := make([]WitnessPeer, 0, len(c.peers))
	for _, p := range c.peers {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Gateway < out[j].Gateway })
	return out
}
