package selector

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strconv"

	"github.com/liaison-project/liaison/connectors/index"
)

// MinSecret is the shortest blind-index secret, in bytes: HMAC-SHA256's
// full strength needs a key as long as its output.
const MinSecret = 32

// Key is a blind-index key: a secret from the key provider and its
// version. Rotating it means a new Version, re-indexing every record
// under it, and then index.Backend.DeleteBlinds(old version).
type Key struct {
	// Version is the key version (index.Blind.KeyVersion), >= 1.
	Version int
	// Secret is at least MinSecret bytes.
	Secret []byte
}

// ErrKey: a key too short or without a version.
var ErrKey = errors.New("selector: blind-index key needs version >= 1 and a secret of at least 32 bytes")

// Validate reports whether k can make blind values.
func (k Key) Validate() error {
	if k.Version < 1 || len(k.Secret) < MinSecret {
		return ErrKey
	}
	return nil
}

// Blind returns n's blind index value:
//
//	HMAC-SHA256(Secret, "liaison.blind/v" + Version + "\x00" + Canonical)
//
// 32 bytes. The prefix binds the value to this use and this key version
// (so one secret reused under two versions, or for another HMAC, never
// gives the same values); the NUL ends it so that no canonical form can
// extend the prefix. Equal canonical forms give equal values under one
// key, which is what lets the index match them, and is also why the key
// must stay with the gateway: anyone holding it can hash every phone
// number of a country in minutes (FEDERATION.md §7), so a blind value is
// never a thing to send to a peer.
//
// Blind panics if k is not valid (Validate): a short key is a
// configuration fault that must stop the gateway at start, never make
// weak values.
func (k Key) Blind(n Normalized) []byte {
	if err := k.Validate(); err != nil {
		panic(err)
	}
	m := hmac.New(sha256.New, k.Secret)
	var pre [32]byte
	p := append(pre[:0], "liaison.blind/v"...)
	p = strconv.AppendInt(p, int64(k.Version), 10)
	p = append(p, 0)
	m.Write(p)
	m.Write([]byte(n.Canonical))
	return m.Sum(nil)
}

// IndexValues returns the blind values of ns for an index entry or a
// lookup: one per distinct canonical form (a record listing one phone
// number twice holds it once), in the order first seen.
func (k Key) IndexValues(ns []Normalized) []index.Blind {
	out := make([]index.Blind, 0, len(ns))
	seen := make(map[string]bool, len(ns))
	for _, n := range ns {
		if seen[n.Canonical] {
			continue
		}
		seen[n.Canonical] = true
		out = append(out, index.Blind{KeyVersion: k.Version, Type: n.Type, Value: k.Blind(n)})
	}
	return out
}
