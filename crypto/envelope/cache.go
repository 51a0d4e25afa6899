package envelope

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liaison-project/liaison/connectors/keys"
)

// MaxMessagesPerKey is the most messages one data key may seal (the
// gateway refuses a larger keys.cache.max_records): with random
// 96-bit nonces, NIST SP 800-38D §8.3 allows 2^32 invocations per key.
const MaxMessagesPerKey = 1 << 32

// CacheLimits bound how long and how much one cached data key is used, in
// the manner of the AWS Encryption SDK's caching materials manager. A zero
// in any of MaxAge, MaxMessages or MaxBytes disables the data-key cache (every
// DataKeyFor goes to the provider); a zero UnwrapTTL or MaxUnwrapEntries
// disables the unwrap cache.
type CacheLimits struct {
	// MaxAge is how long a data key is reused after it was generated.
	MaxAge time.Duration
	// MaxMessages is how many messages one data key seals. Values above
	// 2^32 are lowered to 2^32, GCM's bound for random nonces.
	MaxMessages uint64
	// MaxBytes is how many plaintext bytes one data key seals. A single
	// message larger than this gets a data key of its own, not cached.
	MaxBytes uint64
	// UnwrapTTL is how long an unwrapped data key is kept, counted from when
	// it was unwrapped (use does not extend it), which bounds how long a key
	// stays usable here after it is shredded at the provider.
	UnwrapTTL time.Duration
	// MaxUnwrapEntries bounds the unwrap cache (least recently used first out).
	MaxUnwrapEntries int
}

// DefaultCacheLimits are the gateway's defaults: a data key seals at most
// 10,000 records or 1 GiB within 5 minutes — at least 96 provider calls an
// hour under a sustained write load, and a compromised data key exposes a
// bounded slice of records — and an unwrapped key is kept 1 minute, for at
// most 10,000 keys (about 1 MiB with overhead).
func DefaultCacheLimits() CacheLimits {
	return CacheLimits{
		MaxAge:           5 * time.Minute,
		MaxMessages:      10_000,
		MaxBytes:         1 << 30,
		UnwrapTTL:        time.Minute,
		MaxUnwrapEntries: 10_000,
	}
}

// CacheStats count cache use; RecordsPerProviderCall is the figure of merit.
type CacheStats struct {
	DataKeyRequests      uint64 // DataKeyFor calls
	DataKeyProviderCalls uint64 // GenerateDataKey calls they caused
	UnwrapRequests       uint64 // Unwrap calls
	UnwrapProviderCalls  uint64 // UnwrapDataKey calls they caused
}

// RecordsPerProviderCall is DataKeyRequests / DataKeyProviderCalls (0 when
// nothing was fetched).
func (s CacheStats) RecordsPerProviderCall() float64 {
	if s.DataKeyProviderCalls == 0 {
		return 0
	}
	return float64(s.DataKeyRequests) / float64(s.DataKeyProviderCalls)
}

// ErrNegativeLength: DataKeyFor was given a negative plaintext length.
var ErrNegativeLength = errors.New("envelope: negative plaintext length")

// CachingKeys puts a bounded cache in front of a keys.Provider: DataKeyFor
// reuses a data key per KEK name within CacheLimits, and Unwrap keeps
// unwrapped keys briefly. Provider errors are returned and never cached, so
// when the provider is down, writes fail closed as soon as the cached key is
// spent. Every key handed out is the caller's own copy; the cache zeroes its
// copies when it drops them. Safe for concurrent use.
type CachingKeys struct {
	p       keys.Provider
	lim     CacheLimits
	encOn   bool
	unwrpOn bool
	now     func() time.Time // replaced by tests

	mu      sync.Mutex
	enc     map[string]*encEntry // by KEK name
	flights map[string]*flight   // in-flight GenerateDataKey by KEK name
	gen     map[string]uint64    // bumped by Purge: results fetched before are not cached
	epoch   uint64               // bumped by PurgeAll
	unw     map[unwrapKey]*unwrapEntry
	lru     *list.List // of *unwrapEntry, most recently used first
	fifo    *list.List // of *unwrapEntry, oldest first: expiry order, as the TTL is fixed

	dkRequests, dkCalls, unwrapRequests, unwrapCalls atomic.Uint64
}

type encEntry struct {
	dk      keys.DataKey
	created time.Time
	uses    uint64
	bytes   uint64
}

type flight struct {
	done chan struct{}
	err  error
}

// unwrapKey identifies a wrapped key under a KEK name without keeping the
// wrapped bytes themselves.
type unwrapKey struct {
	name string
	sum  [sha256.Size]byte
}

type unwrapEntry struct {
	key       unwrapKey
	plaintext []byte
	expires   time.Time
	lruElem   *list.Element
	fifoElem  *list.Element
}

// NewCachingKeys wraps p with a cache bounded by c.
func NewCachingKeys(p keys.Provider, c CacheLimits) *CachingKeys {
	if c.MaxMessages > MaxMessagesPerKey {
		c.MaxMessages = MaxMessagesPerKey
	}
	return &CachingKeys{
		p:       p,
		lim:     c,
		encOn:   c.MaxAge > 0 && c.MaxMessages > 0 && c.MaxBytes > 0,
		unwrpOn: c.UnwrapTTL > 0 && c.MaxUnwrapEntries > 0,
		now:     time.Now,
		enc:     map[string]*encEntry{},
		flights: map[string]*flight{},
		gen:     map[string]uint64{},
		unw:     map[unwrapKey]*unwrapEntry{},
		lru:     list.New(),
		fifo:    list.New(),
	}
}

// Limits returns the limits in force (after clamping).
func (c *CachingKeys) Limits() CacheLimits { return c.lim }

// Stats returns the counters.
func (c *CachingKeys) Stats() CacheStats {
	return CacheStats{
		DataKeyRequests:      c.dkRequests.Load(),
		DataKeyProviderCalls: c.dkCalls.Load(),
		UnwrapRequests:       c.unwrapRequests.Load(),
		UnwrapProviderCalls:  c.unwrapCalls.Load(),
	}
}

func copyDataKey(dk keys.DataKey) keys.DataKey {
	return keys.DataKey{Plaintext: bytes.Clone(dk.Plaintext), Wrapped: bytes.Clone(dk.Wrapped)}
}

// usable reports whether e may seal one more message of n bytes.
func (c *CachingKeys) usable(e *encEntry, n uint64) bool {
	return c.now().Sub(e.created) < c.lim.MaxAge &&
		e.uses < c.lim.MaxMessages &&
		e.bytes+n <= c.lim.MaxBytes
}

func (c *CachingKeys) dropEncLocked(name string) {
	if e, ok := c.enc[name]; ok {
		clear(e.dk.Plaintext)
		delete(c.enc, name)
	}
}

// DataKeyFor returns a data key, wrapped under KEK name, for sealing one
// message of plaintextLen bytes. The key is reused across calls until a
// limit would be passed; the use is accounted before the key is returned.
// Concurrent callers for one name share a single provider call.
func (c *CachingKeys) DataKeyFor(ctx context.Context, name string, plaintextLen int) (keys.DataKey, error) {
	if plaintextLen < 0 {
		return keys.DataKey{}, ErrNegativeLength
	}
	c.dkRequests.Add(1)
	n := uint64(plaintextLen)
	if !c.encOn || n > c.lim.MaxBytes {
		return c.generate(ctx, name)
	}
	for {
		if err := ctx.Err(); err != nil {
			return keys.DataKey{}, fmt.Errorf("envelope: %w", err)
		}
		c.mu.Lock()
		if e, ok := c.enc[name]; ok {
			if c.usable(e, n) {
				e.uses++
				e.bytes += n
				out := copyDataKey(e.dk)
				c.mu.Unlock()
				return out, nil
			}
			c.dropEncLocked(name)
		}
		if f, ok := c.flights[name]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return keys.DataKey{}, fmt.Errorf("envelope: %w", ctx.Err())
			}
			// The leader's own cancellation is not ours: try again.
			if f.err != nil && !(isContextErr(f.err) && ctx.Err() == nil) {
				return keys.DataKey{}, f.err
			}
			continue
		}
		f := &flight{done: make(chan struct{})}
		c.flights[name] = f
		gen, epoch := c.gen[name], c.epoch
		c.mu.Unlock()

		out, cached, err := c.lead(ctx, name, n, f, gen, epoch)
		if err != nil || cached {
			return out, err
		}
		// Purged while fetching: go round again.
	}
}

// lead fetches a data key for name on behalf of everyone waiting on f and
// caches it, unless a Purge came in meanwhile (cached is then false and the
// caller fetches again). f is finished on every path, even a panic in the
// provider, so waiters never hang.
func (c *CachingKeys) lead(ctx context.Context, name string, n uint64, f *flight, gen, epoch uint64) (out keys.DataKey, cached bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("envelope: key provider panicked: %v", r)
		}
		c.mu.Lock()
		delete(c.flights, name)
		f.err = err
		close(f.done)
		c.mu.Unlock()
	}()
	dk, err := c.generate(ctx, name)
	if err != nil {
		return keys.DataKey{}, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen[name] != gen || c.epoch != epoch {
		// Purged while fetching (say after a rotation or a shred): this key
		// may be wrapped under a version that is now gone.
		clear(dk.Plaintext)
		return keys.DataKey{}, false, nil
	}
	c.dropEncLocked(name)
	c.enc[name] = &encEntry{dk: dk, created: c.now(), uses: 1, bytes: n}
	return copyDataKey(dk), true, nil
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// generate calls the provider and checks what it returns.
func (c *CachingKeys) generate(ctx context.Context, name string) (keys.DataKey, error) {
	c.dkCalls.Add(1)
	dk, err := c.p.GenerateDataKey(ctx, name)
	if err != nil {
		return keys.DataKey{}, err
	}
	if len(dk.Plaintext) != KeySize || len(dk.Wrapped) == 0 {
		clear(dk.Plaintext)
		return keys.DataKey{}, fmt.Errorf("envelope: provider returned a malformed data key for %s", name)
	}
	return dk, nil
}

// Unwrap returns the plaintext of a data key wrapped under KEK name, from the
// cache when it was unwrapped less than UnwrapTTL ago.
func (c *CachingKeys) Unwrap(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	c.unwrapRequests.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if !c.unwrpOn {
		return c.unwrap(ctx, name, wrapped)
	}
	k := unwrapKey{name: name, sum: sha256.Sum256(wrapped)}
	c.mu.Lock()
	c.expireLocked()
	if e, ok := c.unw[k]; ok {
		c.lru.MoveToFront(e.lruElem)
		out := bytes.Clone(e.plaintext)
		c.mu.Unlock()
		return out, nil
	}
	gen, epoch := c.gen[name], c.epoch
	c.mu.Unlock()

	pt, err := c.unwrap(ctx, name, wrapped)
	if err != nil {
		return nil, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.unw[k]; dup || c.gen[name] != gen || c.epoch != epoch {
		return pt, nil // a concurrent call cached it, or a Purge came in between
	}
	e := &unwrapEntry{key: k, plaintext: bytes.Clone(pt), expires: c.now().Add(c.lim.UnwrapTTL)}
	e.lruElem = c.lru.PushFront(e)
	e.fifoElem = c.fifo.PushBack(e)
	c.unw[k] = e
	for c.lru.Len() > c.lim.MaxUnwrapEntries {
		c.removeUnwrapLocked(c.lru.Back().Value.(*unwrapEntry))
	}
	return pt, nil
}

func (c *CachingKeys) unwrap(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	c.unwrapCalls.Add(1)
	pt, err := c.p.UnwrapDataKey(ctx, name, wrapped)
	if err != nil {
		return nil, err
	}
	if len(pt) != KeySize {
		clear(pt)
		return nil, fmt.Errorf("envelope: provider returned a malformed data key for %s", name)
	}
	return pt, nil
}

// expireLocked drops unwrap entries past their TTL, oldest first.
func (c *CachingKeys) expireLocked() {
	now := c.now()
	for f := c.fifo.Front(); f != nil; f = c.fifo.Front() {
		e := f.Value.(*unwrapEntry)
		if now.Before(e.expires) {
			return
		}
		c.removeUnwrapLocked(e)
	}
}

func (c *CachingKeys) removeUnwrapLocked(e *unwrapEntry) {
	clear(e.plaintext)
	c.lru.Remove(e.lruElem)
	c.fifo.Remove(e.fifoElem)
	delete(c.unw, e.key)
}

// Purge drops every cached key for KEK name — call it after rotating,
// shredding or deleting that KEK — and makes sure no fetch that was already
// running when Purge was called gets cached.
func (c *CachingKeys) Purge(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen[name]++
	c.dropEncLocked(name)
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*unwrapEntry); e.key.name == name {
			c.removeUnwrapLocked(e)
		}
		el = next
	}
}

// PurgeAll drops every cached key, for shutdown or a provider change.
func (c *CachingKeys) PurgeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for name := range c.enc {
		c.dropEncLocked(name)
	}
	for el := c.lru.Front(); el != nil; el = c.lru.Front() {
		c.removeUnwrapLocked(el.Value.(*unwrapEntry))
	}
}
