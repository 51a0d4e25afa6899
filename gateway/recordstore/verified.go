package recordstore

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/liaison-project/liaison/connectors/objstore"
)

// Verified record metadata, kept for listings.
//
// A listing page loads up to a hundred record objects, and most of the
// cost of a load is not the read but what follows it: the Ed25519 check
// of the signed metadata, its strict JSON decode and the metadata digest.
// The same records are listed again and again (the newest first), so
// LoadListed keeps what that work produced and, for an object read again,
// skips it when — and only when — it would produce the same thing.
//
// verifyMeta's result is a function of three things: the record id, the
// exact bytes of the signed metadata (the JWS in the object's frame, which
// holds the id, version, state, markings and wrapped key), and the keys
// the signer trusts. The cache key is a SHA-256 over the first two, and
// the cache belongs to one signer: when the Store's signer is not the one
// the entries were verified under, they are all dropped. So a hit returns
// exactly what verifying again would return, and anything else misses:
//
//   - the object is still read from the store on every load, so a record
//     that is gone (ErrNotFound) or recalled or erased (a tombstone: other
//     bytes, state "recalled") is seen as the store holds it now;
//   - any change of the stored metadata — a rewrap or re-sign, a new
//     version, a restore of other bytes, tampering — changes the hash and
//     goes through the full check, which refuses what it refused before
//     (and counts it as an integrity failure, as before);
//   - the bytes after the JWS (the sealed content) are not part of the
//     key, because verifyMeta does not read them: what depends on them is
//     checked on every load (checkSealed), and the content's AEAD, bound
//     to id, version and digest, is checked when it is opened, as before;
//   - only successful verifications are kept: a failure is never cached,
//     so a refused object costs a full check every time.
//
// The bound is verifiedMaxEntries entries and verifiedMaxBytes bytes
// (estimated: twice the JWS length plus a fixed overhead per entry, which
// is above what a decoded record was measured to hold), least recently
// used first out. It is not configurable: at its bound it costs tens of
// megabytes, and a miss costs only the verification the gateway did before.

const (
	// verifiedMaxEntries bounds the cache's entries: more than the
	// records on the pages a gateway lists often (a hundred pages of a
	// hundred records is 10,000).
	verifiedMaxEntries = 50_000
	// verifiedMaxBytes bounds the cache's estimated memory.
	verifiedMaxBytes = 64 << 20
	// verifiedEntryOverhead is the estimated memory of an entry beyond
	// its decoded strings (struct, slices, map and list bookkeeping).
	verifiedEntryOverhead = 1024
)

type verifiedKey [sha256.Size]byte

type verifiedEntry struct {
	key  verifiedKey
	rec  *Record // verified and decoded; sealed and tag are empty
	size int
}

// verifiedCache is a bounded LRU of verified record metadata for one
// signer. Its zero value is not usable: see newVerifiedCache.
type verifiedCache struct {
	mu         sync.Mutex
	by         Signer // the signer every entry was verified under
	entries    map[verifiedKey]*list.Element
	lru        list.List // front: most recently used
	bytes      int
	maxEntries int
	maxBytes   int
	// hits and misses count lookups (tests read them).
	hits, misses int
	// off makes every lookup miss and keeps nothing (SetListedCache).
	off atomic.Bool
}

func newVerifiedCache(maxEntries, maxBytes int) *verifiedCache {
	return &verifiedCache{entries: map[verifiedKey]*list.Element{}, maxEntries: maxEntries, maxBytes: maxBytes}
}

// verifiedKeyOf hashes what verifyMeta's result depends on besides the
// signer: the id and the signed metadata's exact bytes (the id's length
// first, so that no two pairs hash the same input).
func verifiedKeyOf(id string, jws []byte) verifiedKey {
	h := sha256.New()
	var n [8]byte
	for i, l := 0, uint64(len(id)); i < 8; i++ {
		n[i] = byte(l >> (8 * i))
	}
	h.Write(n[:])
	h.Write([]byte(id))
	h.Write(jws)
	var k verifiedKey
	h.Sum(k[:0])
	return k
}

// sameSigner reports whether a and b are the same signer value. A signer
// whose type cannot be compared is never the same, so a cache under it
// never hits (and never panics).
func sameSigner(a, b Signer) bool {
	if a == nil || b == nil {
		return false
	}
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}

// forSigner drops every entry unless they were verified under signer
// (c.mu held): the trusted keys may differ.
func (c *verifiedCache) forSigner(signer Signer) bool {
	if sameSigner(c.by, signer) {
		return true
	}
	clear(c.entries)
	c.lru.Init()
	c.bytes = 0
	c.by = signer
	return sameSigner(c.by, signer)
}

// get returns the entry for k verified under signer, or nil. A nil cache
// (a Store not made by New) holds nothing.
func (c *verifiedCache) get(k verifiedKey, signer Signer) *Record {
	if c == nil || c.off.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.forSigner(signer) {
		c.misses++
		return nil
	}
	el := c.entries[k]
	if el == nil {
		c.misses++
		return nil
	}
	c.hits++
	c.lru.MoveToFront(el)
	return el.Value.(*verifiedEntry).rec
}

// put keeps rec, verified under signer, as the entry for k, and evicts
// the least recently used entries beyond the bounds.
func (c *verifiedCache) put(k verifiedKey, signer Signer, rec *Record, size int) {
	if c == nil || c.off.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.forSigner(signer) || size > c.maxBytes || c.maxEntries < 1 {
		return
	}
	if el := c.entries[k]; el != nil {
		// Another load verified the same bytes meanwhile: same result.
		c.lru.MoveToFront(el)
		return
	}
	c.entries[k] = c.lru.PushFront(&verifiedEntry{key: k, rec: rec, size: size})
	c.bytes += size
	for len(c.entries) > c.maxEntries || c.bytes > c.maxBytes {
		el := c.lru.Back()
		e := el.Value.(*verifiedEntry)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.bytes -= e.size
	}
}

// SetListedCache turns the verified cache of LoadListed on (the default)
// or off, dropping what it holds: for the test that proves listings are
// the same either way, and the benchmark that compares them in one run.
func (rs *Store) SetListedCache(on bool) {
	c := rs.verified
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off.Store(!on)
	clear(c.entries)
	c.lru.Init()
	c.bytes = 0
}

// ListedCacheStats reports the verified cache's hits and misses since the
// Store was made, and the entries it holds.
func (rs *Store) ListedCacheStats() (hits, misses, entries int) {
	c := rs.verified
	if c == nil {
		return 0, 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, len(c.entries)
}

// LoadListed is Load for listings: the same checks with the same results
// (the object is read from the store every time), but the verification
// and decoding of signed metadata already verified under this signer is
// not done again (see above). The Record it returns shares its metadata
// with the cache: the caller must not modify it — not its Meta's slices,
// maps or pointed-to values — and must not pass it to a path that changes
// records (Reseal, Recall, Rewrite and the like take records from Load).
func (rs *Store) LoadListed(ctx context.Context, id string) (*Record, error) {
	obj, tag, err := rs.store.GetVersion(ctx, recordKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := rs.decodeListed(id, obj)
	if err != nil {
		return nil, rs.checked(err)
	}
	st.tag = tag
	return st, nil
}

// decodeListed is decode through the verified cache.
func (rs *Store) decodeListed(id string, obj []byte) (*Record, error) {
	jws, sealed, err := splitObject(obj)
	if err != nil {
		return nil, err
	}
	k := verifiedKeyOf(id, jws)
	cached := rs.verified.get(k, rs.signer)
	if cached == nil {
		if cached, err = rs.verifyMeta(id, jws); err != nil {
			return nil, err
		}
		rs.verified.put(k, rs.signer, cached, 2*len(jws)+verifiedEntryOverhead)
	}
	st := *cached // the per-load fields below are the copy's own
	st.sealed = sealed
	if err := checkSealed(&st); err != nil {
		return nil, err
	}
	return &st, nil
}
