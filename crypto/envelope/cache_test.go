package envelope

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/keys"
)

// fakeProvider is a counting in-memory keys.Provider. gate, when set, blocks
// every call until it is closed (or receives), to hold calls in flight.
type fakeProvider struct {
	mu       sync.Mutex
	keys     map[string][]byte // wrapped → plaintext, wrapped embeds the name
	gen      atomic.Int64
	unwraps  atomic.Int64
	failNext atomic.Int64 // fail this many calls with errUnavailable
	gate     chan struct{}
	entered  chan struct{} // if set, receives once per call on entry
	panicky  atomic.Bool
}

var errUnavailable = fmt.Errorf("fake: %w", keys.ErrUnavailable)

func newFake() *fakeProvider { return &fakeProvider{keys: map[string][]byte{}} }

func (f *fakeProvider) wait(ctx context.Context) error {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.panicky.Load() {
		panic("fake provider bug")
	}
	if f.failNext.Load() > 0 && f.failNext.Add(-1) >= 0 {
		return errUnavailable
	}
	return nil
}

func (f *fakeProvider) GenerateDataKey(ctx context.Context, name string) (keys.DataKey, error) {
	f.gen.Add(1)
	if err := f.wait(ctx); err != nil {
		return keys.DataKey{}, err
	}
	pt := make([]byte, 32)
	rand.Read(pt)
	id := make([]byte, 8)
	rand.Read(id)
	wrapped := []byte(fmt.Sprintf("%s:%x", name, id))
	f.mu.Lock()
	f.keys[string(wrapped)] = bytes.Clone(pt)
	f.mu.Unlock()
	return keys.DataKey{Plaintext: pt, Wrapped: wrapped}, nil
}

func (f *fakeProvider) UnwrapDataKey(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	f.unwraps.Add(1)
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	pt, ok := f.keys[string(wrapped)]
	if !ok || !bytes.HasPrefix(wrapped, []byte(name+":")) {
		return nil, keys.ErrInvalidCiphertext
	}
	return bytes.Clone(pt), nil
}

// clock is a manual clock for CachingKeys.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCache(p keys.Provider, lim CacheLimits) (*CachingKeys, *clock) {
	c := NewCachingKeys(p, lim)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.now = clk.now
	return c, clk
}

func dataKey(t *testing.T, c *CachingKeys, name string, n int) keys.DataKey {
	t.Helper()
	dk, err := c.DataKeyFor(t.Context(), name, n)
	if err != nil {
		t.Fatalf("DataKeyFor(%s, %d): %v", name, n, err)
	}
	if len(dk.Plaintext) != 32 || len(dk.Wrapped) == 0 {
		t.Fatalf("malformed data key")
	}
	return dk
}

// step is one DataKeyFor call in a limits scenario: advance the clock, ask
// for a key for n bytes, and expect the same key as the previous call or a
// fresh one.
type step struct {
	advance time.Duration
	n       int
	fresh   bool
}

func TestDataKeyLimits(t *testing.T) {
	base := CacheLimits{MaxAge: time.Minute, MaxMessages: 1000, MaxBytes: 1 << 20}
	with := func(f func(*CacheLimits)) CacheLimits { l := base; f(&l); return l }
	tests := []struct {
		name  string
		lim   CacheLimits
		steps []step
	}{
		{"messages_exact", with(func(l *CacheLimits) { l.MaxMessages = 3 }), []step{
			{n: 1, fresh: true}, {n: 1}, {n: 1}, {n: 1, fresh: true}, {n: 1}, {n: 1}, {n: 1, fresh: true},
		}},
		{"messages_one", with(func(l *CacheLimits) { l.MaxMessages = 1 }), []step{
			{n: 1, fresh: true}, {n: 1, fresh: true}, {n: 1, fresh: true},
		}},
		{"bytes_exact", with(func(l *CacheLimits) { l.MaxBytes = 100 }), []step{
			{n: 40, fresh: true}, {n: 60}, {n: 0}, {n: 1, fresh: true}, {n: 99}, {n: 1, fresh: true},
		}},
		{"bytes_would_exceed", with(func(l *CacheLimits) { l.MaxBytes = 100 }), []step{
			{n: 50, fresh: true}, {n: 51, fresh: true}, {n: 49}, {n: 1, fresh: true},
		}},
		{"age", base, []step{
			{n: 1, fresh: true}, {advance: time.Minute - time.Nanosecond, n: 1}, {advance: time.Nanosecond, n: 1, fresh: true},
			{advance: 30 * time.Second, n: 1}, {advance: 30 * time.Second, n: 1, fresh: true},
		}},
		{"oversized_message_gets_own_key", with(func(l *CacheLimits) { l.MaxBytes = 100 }), []step{
			{n: 10, fresh: true}, {n: 101, fresh: true}, {n: 101, fresh: true},
		}},
		{"disabled_by_zero_age", with(func(l *CacheLimits) { l.MaxAge = 0 }), []step{
			{n: 1, fresh: true}, {n: 1, fresh: true}, {n: 1, fresh: true},
		}},
		{"disabled_by_zero_messages", with(func(l *CacheLimits) { l.MaxMessages = 0 }), []step{
			{n: 1, fresh: true}, {n: 1, fresh: true},
		}},
		{"disabled_by_zero_bytes", with(func(l *CacheLimits) { l.MaxBytes = 0 }), []step{
			{n: 0, fresh: true}, {n: 0, fresh: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newFake()
			c, clk := newCache(p, tc.lim)
			var prev keys.DataKey
			wantCalls := int64(0)
			for i, s := range tc.steps {
				clk.advance(s.advance)
				dk := dataKey(t, c, "agency-a", s.n)
				same := bytes.Equal(dk.Wrapped, prev.Wrapped) && bytes.Equal(dk.Plaintext, prev.Plaintext)
				if s.fresh == same {
					t.Fatalf("step %d: fresh key = %v, want %v", i, !same, s.fresh)
				}
				if s.fresh {
					wantCalls++
				}
				prev = dk
			}
			if got := p.gen.Load(); got != wantCalls {
				t.Fatalf("provider calls = %d, want %d", got, wantCalls)
			}
			st := c.Stats()
			if st.DataKeyRequests != uint64(len(tc.steps)) || st.DataKeyProviderCalls != uint64(wantCalls) {
				t.Fatalf("stats = %+v, want %d requests, %d provider calls", st, len(tc.steps), wantCalls)
			}
		})
	}
}

// An oversized message neither uses nor replaces the cached key.
func TestOversizedMessageKeepsCachedKey(t *testing.T) {
	c, _ := newCache(newFake(), CacheLimits{MaxAge: time.Minute, MaxMessages: 10, MaxBytes: 100})
	a := dataKey(t, c, "n", 10)
	big := dataKey(t, c, "n", 1000)
	b := dataKey(t, c, "n", 10)
	if bytes.Equal(big.Wrapped, a.Wrapped) {
		t.Fatal("oversized message reused the cached key")
	}
	if !bytes.Equal(a.Wrapped, b.Wrapped) {
		t.Fatal("oversized message evicted the cached key")
	}
}

func TestMaxMessagesClampedToGCMBound(t *testing.T) {
	c := NewCachingKeys(newFake(), CacheLimits{MaxAge: time.Minute, MaxMessages: 1 << 40, MaxBytes: 1})
	if got := c.Limits().MaxMessages; got != 1<<32 {
		t.Fatalf("MaxMessages = %d, want 2^32", got)
	}
	d := DefaultCacheLimits()
	if d.MaxMessages == 0 || d.MaxMessages > 1<<32 || d.MaxAge <= 0 || d.MaxBytes == 0 || d.UnwrapTTL <= 0 || d.MaxUnwrapEntries <= 0 {
		t.Fatalf("DefaultCacheLimits = %+v: every limit must be set and within bounds", d)
	}
}

func TestNegativeLength(t *testing.T) {
	c, _ := newCache(newFake(), DefaultCacheLimits())
	if _, err := c.DataKeyFor(t.Context(), "n", -1); !errors.Is(err, ErrNegativeLength) {
		t.Fatalf("err = %v, want ErrNegativeLength", err)
	}
}

func TestNamesAreSeparate(t *testing.T) {
	p := newFake()
	c, _ := newCache(p, DefaultCacheLimits())
	a, b := dataKey(t, c, "agency-a", 1), dataKey(t, c, "agency-b", 1)
	if bytes.Equal(a.Plaintext, b.Plaintext) {
		t.Fatal("two KEK names share a data key")
	}
	if a2 := dataKey(t, c, "agency-a", 1); !bytes.Equal(a2.Wrapped, a.Wrapped) {
		t.Fatal("agency-a's key was not reused")
	}
	if p.gen.Load() != 2 {
		t.Fatalf("provider calls = %d, want 2", p.gen.Load())
	}
}

func TestReturnedKeysAreCopies(t *testing.T) {
	p := newFake()
	c, _ := newCache(p, DefaultCacheLimits())
	dk := dataKey(t, c, "n", 1)
	want := bytes.Clone(dk.Plaintext)
	wantWrapped := bytes.Clone(dk.Wrapped)

	// A caller scribbling on its copy does not reach the cache.
	clear(dk.Plaintext)
	clear(dk.Wrapped)
	dk2 := dataKey(t, c, "n", 1)
	if !bytes.Equal(dk2.Plaintext, want) || !bytes.Equal(dk2.Wrapped, wantWrapped) {
		t.Fatal("cached key changed when a caller modified its copy")
	}
	// The cache zeroing its copy (Purge) does not reach callers.
	c.Purge("n")
	if !bytes.Equal(dk2.Plaintext, want) {
		t.Fatal("Purge zeroed a key already handed to a caller")
	}

	// Same for unwrap.
	pt, err := c.Unwrap(t.Context(), "n", wantWrapped)
	if err != nil || !bytes.Equal(pt, want) {
		t.Fatalf("Unwrap: %v", err)
	}
	clear(pt)
	pt2, err := c.Unwrap(t.Context(), "n", wantWrapped)
	if err != nil || !bytes.Equal(pt2, want) {
		t.Fatal("cached unwrap changed when a caller modified its copy")
	}
	c.PurgeAll()
	if !bytes.Equal(pt2, want) {
		t.Fatal("PurgeAll zeroed a key already handed to a caller")
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	p := newFake()
	p.gate = make(chan struct{})
	p.entered = make(chan struct{}, 100)
	c, _ := newCache(p, DefaultCacheLimits())

	const callers = 16
	results := make([]keys.DataKey, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.DataKeyFor(t.Context(), "n", 10)
		}()
	}
	<-p.entered // one call reached the provider and is held there
	// Let the others queue up behind it; whether they have yet or not, the
	// assertion below holds, but this makes the sharing actually happen.
	time.Sleep(10 * time.Millisecond)
	close(p.gate)
	wg.Wait()

	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(results[i].Wrapped, results[0].Wrapped) {
			t.Fatalf("caller %d got a different key", i)
		}
	}
	if got := p.gen.Load(); got != 1 {
		t.Fatalf("provider calls = %d, want 1", got)
	}
	if st := c.Stats(); st.RecordsPerProviderCall() != callers {
		t.Fatalf("records per provider call = %v, want %d", st.RecordsPerProviderCall(), callers)
	}
}

func TestConcurrentUseHonoursMessageLimit(t *testing.T) {
	p := newFake()
	c, _ := newCache(p, CacheLimits{MaxAge: time.Hour, MaxMessages: 4, MaxBytes: 1 << 30})
	const callers, each = 8, 25
	var (
		mu   sync.Mutex
		uses = map[string]int{}
		wg   sync.WaitGroup
	)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				dk, err := c.DataKeyFor(t.Context(), "n", 1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				uses[string(dk.Wrapped)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for w, n := range uses {
		if n > 4 {
			t.Fatalf("key %s sealed %d messages, limit 4", w, n)
		}
	}
	// Accounting is exact, so every key is used exactly 4 times.
	if want := int64(callers * each / 4); p.gen.Load() != want || len(uses) != int(want) {
		t.Fatalf("provider calls = %d, distinct keys = %d, want %d", p.gen.Load(), len(uses), want)
	}
}

func TestProviderErrorIsReturnedNotCached(t *testing.T) {
	p := newFake()
	c, _ := newCache(p, DefaultCacheLimits())

	p.failNext.Store(1)
	if _, err := c.DataKeyFor(t.Context(), "n", 1); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("DataKeyFor: err = %v, want the provider's ErrUnavailable", err)
	}
	dk := dataKey(t, c, "n", 1) // provider back: the failure was not cached
	if p.gen.Load() != 2 {
		t.Fatalf("provider calls = %d, want 2", p.gen.Load())
	}

	// Unwrap: an error is not cached either, and a failure does not evict.
	p.failNext.Store(1)
	if _, err := c.Unwrap(t.Context(), "n", dk.Wrapped); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("Unwrap: err = %v, want ErrUnavailable", err)
	}
	if pt, err := c.Unwrap(t.Context(), "n", dk.Wrapped); err != nil || !bytes.Equal(pt, dk.Plaintext) {
		t.Fatalf("Unwrap after recovery: %v", err)
	}
	if _, err := c.Unwrap(t.Context(), "n", []byte("n:forged")); !errors.Is(err, keys.ErrInvalidCiphertext) {
		t.Fatalf("Unwrap of a bad key: err = %v", err)
	}
	if _, err := c.Unwrap(t.Context(), "n", []byte("n:forged")); !errors.Is(err, keys.ErrInvalidCiphertext) {
		t.Fatalf("second Unwrap of a bad key: err = %v", err)
	}
	if got := p.unwraps.Load(); got != 4 {
		t.Fatalf("provider unwraps = %d, want 4 (errors never cached, one success cached)", got)
	}
}

func TestSharedFetchErrorReachesEveryWaiter(t *testing.T) {
	p := newFake()
	p.gate = make(chan struct{})
	p.entered = make(chan struct{}, 100)
	p.failNext.Store(1)
	c, _ := newCache(p, DefaultCacheLimits())
	const callers = 6
	errs := make(chan error, callers)
	for range callers {
		go func() {
			_, err := c.DataKeyFor(t.Context(), "n", 1)
			errs <- err
		}()
	}
	<-p.entered
	time.Sleep(10 * time.Millisecond)
	close(p.gate)
	failed := 0
	for range callers {
		if err := <-errs; err != nil {
			if !errors.Is(err, keys.ErrUnavailable) {
				t.Fatalf("err = %v", err)
			}
			failed++
		}
	}
	// The leader and whoever waited on it fail (fail closed, no retry
	// storm); anyone who arrived after the failure made one fresh call,
	// which succeeded and served the rest.
	switch calls := p.gen.Load(); {
	case calls == 1 && failed != callers:
		t.Fatalf("one provider call failed but %d of %d callers failed", failed, callers)
	case calls == 2 && (failed == 0 || failed == callers):
		t.Fatalf("two provider calls, %d of %d callers failed", failed, callers)
	case calls > 2:
		t.Fatalf("provider calls = %d, want at most 2", calls)
	}
}

func TestLeaderCancellationDoesNotFailWaiters(t *testing.T) {
	p := newFake()
	p.gate = make(chan struct{})
	p.entered = make(chan struct{}, 100)
	c, _ := newCache(p, DefaultCacheLimits())

	leaderCtx, cancel := context.WithCancel(t.Context())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.DataKeyFor(leaderCtx, "n", 1)
		leaderErr <- err
	}()
	<-p.entered
	waiterErr := make(chan error, 1)
	go func() {
		_, err := c.DataKeyFor(t.Context(), "n", 1)
		waiterErr <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the waiter join the flight
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: err = %v, want context.Canceled", err)
	}
	<-p.entered // the waiter took over with a call of its own
	close(p.gate)
	if err := <-waiterErr; err != nil {
		t.Fatalf("waiter: %v", err)
	}
}

func TestProviderPanicDoesNotHangWaiters(t *testing.T) {
	p := newFake()
	p.panicky.Store(true)
	c, _ := newCache(p, DefaultCacheLimits())
	if _, err := c.DataKeyFor(t.Context(), "n", 1); err == nil {
		t.Fatal("DataKeyFor succeeded with a panicking provider")
	}
	p.panicky.Store(false)
	done := make(chan error, 1)
	go func() { _, err := c.DataKeyFor(t.Context(), "n", 1); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after the panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("DataKeyFor hangs after a provider panic")
	}
}

func TestCancelledContext(t *testing.T) {
	p := newFake()
	c, _ := newCache(p, DefaultCacheLimits())
	dk := dataKey(t, c, "n", 1)
	if _, err := c.Unwrap(t.Context(), "n", dk.Wrapped); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// Even with everything cached, a cancelled request gets no key.
	if _, err := c.DataKeyFor(ctx, "n", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("DataKeyFor: err = %v, want context.Canceled", err)
	}
	if _, err := c.Unwrap(ctx, "n", dk.Wrapped); !errors.Is(err, context.Canceled) {
		t.Fatalf("Unwrap: err = %v, want context.Canceled", err)
	}
}

func TestUnwrapCache(t *testing.T) {
	lim := CacheLimits{UnwrapTTL: time.Minute, MaxUnwrapEntries: 2}
	setup := func(t *testing.T) (*fakeProvider, *CachingKeys, *clock, []keys.DataKey) {
		p := newFake()
		c, clk := newCache(p, lim) // data-key caching off: every key distinct
		var dks []keys.DataKey
		for range 3 {
			dks = append(dks, dataKey(t, c, "n", 1))
		}
		return p, c, clk, dks
	}
	unwrap := func(t *testing.T, c *CachingKeys, dk keys.DataKey) {
		t.Helper()
		pt, err := c.Unwrap(t.Context(), "n", dk.Wrapped)
		if err != nil || !bytes.Equal(pt, dk.Plaintext) {
			t.Fatalf("Unwrap: %v", err)
		}
	}
	t.Run("hit", func(t *testing.T) {
		p, c, _, dks := setup(t)
		unwrap(t, c, dks[0])
		unwrap(t, c, dks[0])
		unwrap(t, c, dks[0])
		if p.unwraps.Load() != 1 {
			t.Fatalf("provider unwraps = %d, want 1", p.unwraps.Load())
		}
	})
	t.Run("ttl_from_first_unwrap", func(t *testing.T) {
		p, c, clk, dks := setup(t)
		unwrap(t, c, dks[0])
		clk.advance(time.Minute - time.Nanosecond)
		unwrap(t, c, dks[0]) // hit; does not extend the TTL
		if p.unwraps.Load() != 1 {
			t.Fatalf("provider unwraps = %d before expiry, want 1", p.unwraps.Load())
		}
		clk.advance(time.Nanosecond)
		unwrap(t, c, dks[0])
		if p.unwraps.Load() != 2 {
			t.Fatalf("provider unwraps = %d after expiry, want 2", p.unwraps.Load())
		}
	})
	t.Run("lru_bound", func(t *testing.T) {
		p, c, _, dks := setup(t)
		unwrap(t, c, dks[0])
		unwrap(t, c, dks[1])
		unwrap(t, c, dks[0]) // 0 is now most recently used
		unwrap(t, c, dks[2]) // evicts 1
		if c.lru.Len() != 2 || len(c.unw) != 2 || c.fifo.Len() != 2 {
			t.Fatalf("cache holds %d/%d/%d entries, want 2", c.lru.Len(), len(c.unw), c.fifo.Len())
		}
		before := p.unwraps.Load()
		unwrap(t, c, dks[0])
		unwrap(t, c, dks[2])
		if p.unwraps.Load() != before {
			t.Fatal("recently used entries were evicted")
		}
		unwrap(t, c, dks[1])
		if p.unwraps.Load() != before+1 {
			t.Fatal("least recently used entry was not evicted")
		}
	})
	t.Run("name_is_part_of_the_key", func(t *testing.T) {
		p, c, _, dks := setup(t)
		unwrap(t, c, dks[0])
		if _, err := c.Unwrap(t.Context(), "other", dks[0].Wrapped); !errors.Is(err, keys.ErrInvalidCiphertext) {
			t.Fatalf("Unwrap under another name: err = %v, want the provider's ErrInvalidCiphertext", err)
		}
		if p.unwraps.Load() != 2 {
			t.Fatal("unwrap under another name was answered from the cache")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		for _, l := range []CacheLimits{{UnwrapTTL: time.Minute}, {MaxUnwrapEntries: 5}} {
			p := newFake()
			c, _ := newCache(p, l)
			dk := dataKey(t, c, "n", 1)
			unwrap(t, c, dk)
			unwrap(t, c, dk)
			if p.unwraps.Load() != 2 || c.lru.Len() != 0 {
				t.Fatalf("limits %+v: provider unwraps = %d, want 2 (cache disabled)", l, p.unwraps.Load())
			}
		}
	})
	t.Run("expired_entries_are_zeroed", func(t *testing.T) {
		_, c, clk, dks := setup(t)
		unwrap(t, c, dks[0])
		held := c.unw[unwrapKeyFor("n", dks[0].Wrapped)].plaintext
		clk.advance(time.Minute)
		unwrap(t, c, dks[1]) // any call sweeps
		if !bytes.Equal(held, make([]byte, 32)) {
			t.Fatal("expired plaintext key left in memory")
		}
	})
}

func unwrapKeyFor(name string, wrapped []byte) unwrapKey {
	return unwrapKey{name: name, sum: sha256.Sum256(wrapped)}
}

func TestPurge(t *testing.T) {
	p := newFake()
	c, _ := newCache(p, DefaultCacheLimits())
	a := dataKey(t, c, "a", 1)
	b := dataKey(t, c, "b", 1)
	for _, dk := range []struct {
		name string
		dk   keys.DataKey
	}{{"a", a}, {"b", b}} {
		if _, err := c.Unwrap(t.Context(), dk.name, dk.dk.Wrapped); err != nil {
			t.Fatal(err)
		}
	}
	cachedA := c.enc["a"].dk.Plaintext

	c.Purge("a")
	if !bytes.Equal(cachedA, make([]byte, 32)) {
		t.Fatal("Purge did not zero the cached data key")
	}
	if a2 := dataKey(t, c, "a", 1); bytes.Equal(a2.Wrapped, a.Wrapped) {
		t.Fatal("Purge(a) kept a's data key")
	}
	if b2 := dataKey(t, c, "b", 1); !bytes.Equal(b2.Wrapped, b.Wrapped) {
		t.Fatal("Purge(a) dropped b's data key")
	}
	before := p.unwraps.Load()
	c.Unwrap(t.Context(), "b", b.Wrapped)
	if p.unwraps.Load() != before {
		t.Fatal("Purge(a) dropped b's unwrap entry")
	}
	c.Unwrap(t.Context(), "a", a.Wrapped)
	if p.unwraps.Load() != before+1 {
		t.Fatal("Purge(a) kept a's unwrap entry")
	}

	c.PurgeAll()
	if len(c.enc) != 0 || len(c.unw) != 0 || c.lru.Len() != 0 || c.fifo.Len() != 0 {
		t.Fatal("PurgeAll left entries")
	}
}

func TestPurgeDuringFetchIsNotCached(t *testing.T) {
	p := newFake()
	p.gate = make(chan struct{})
	p.entered = make(chan struct{}, 10)
	c, _ := newCache(p, DefaultCacheLimits())

	got := make(chan keys.DataKey, 1)
	go func() {
		dk, err := c.DataKeyFor(t.Context(), "n", 1)
		if err != nil {
			t.Error(err)
		}
		got <- dk
	}()
	<-p.entered
	c.Purge("n")         // e.g. the KEK was rotated while the key was being fetched
	p.gate <- struct{}{} // release the first call: its key must be discarded
	<-p.entered          // so the cache fetched again
	close(p.gate)
	dk := <-got
	if p.gen.Load() != 2 {
		t.Fatalf("provider calls = %d, want 2 (pre-purge key discarded)", p.gen.Load())
	}
	if again := dataKey(t, c, "n", 1); !bytes.Equal(again.Wrapped, dk.Wrapped) {
		t.Fatal("the post-purge key was not cached")
	}
}

// BenchmarkDataKeyFor reports how many records one provider call serves
// under the default limits, with several goroutines sealing 4 KiB records.
func BenchmarkDataKeyFor(b *testing.B) {
	for _, tc := range []struct {
		name string
		lim  CacheLimits
	}{{"defaults", DefaultCacheLimits()}, {"no_cache", CacheLimits{}}} {
		b.Run(tc.name, func(b *testing.B) {
			c := NewCachingKeys(newFake(), tc.lim)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.DataKeyFor(context.Background(), "agency-a", 4096); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(c.Stats().RecordsPerProviderCall(), "records/provider-call")
		})
	}
}
