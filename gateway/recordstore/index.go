package recordstore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/record"
)

// Index tells a listing which records an agency may look for. It is
// kept in the shared object store (so stateless replicas share it) as
// batches: one small object per agency per flush, listing the record ids
// that became visible to that agency,
//
//	index/readers/<agency>/<batch id>   {"format":"liaison.index/v1","ids":[...]}
//
// Concurrent publishes and shares are group-committed: whatever arrives
// while a flush is in flight goes into the next one, so under load a
// publish costs a fraction of an index write rather than one object per
// reader.
//
// Entries are candidates, not grants: a listing loads each record and asks
// the policy, so an entry left by a publish that failed later, or of a
// record since recalled, is skipped there. The invariant the callers keep
// is the other way round: an entry is written only after the audit entry
// of the publish or share that adds it is durable, so nothing is listable
// before its collection or disclosure is on the record.
type Index struct {
	store objstore.Store
	// signer is the key cursors' MAC key is derived from (cursorKey).
	signer Signer
	now    func() time.Time
	node   string // distinguishes this process's batch ids from other replicas'
	// linger is how long entries may wait to be written together; 0 makes
	// add wait for its own (group-committed) write.
	linger time.Duration
	// onFlushed is told, after each successful write, a time before which
	// every entry added is durable (the recovery state).
	onFlushed func(through time.Time)
	// observe is told the result of each write and how many entries it held.
	observe func(entries int, err error)
	log     *zap.Logger

	mu      sync.Mutex
	pending map[string][]string // agency → record ids
	waiters []chan error
	running bool
	timer   *time.Timer
	lastMs  int64
	seq     int

	// cursorMACKey authenticates listing cursors (see cursorKey).
	cursorOnce   sync.Once
	cursorMACKey []byte
}

const (
	indexFormat    = "liaison.index/v1"
	indexPrefix    = "index/readers/"
	maxBatchIDs    = 4096 // one batch object stays well under 200 KB
	indexReadConc  = 8
	indexListChunk = 64
)

func newIndex(store objstore.Store, now func() time.Time, linger time.Duration, log *zap.Logger) *Index {
	var b [4]byte
	_, _ = rand.Read(b[:])
	if log == nil {
		log = zap.NewNop()
	}
	return &Index{store: store, now: now, node: hex.EncodeToString(b[:]), linger: linger, log: log,
		pending: map[string][]string{}}
}

func indexAgencyPrefix(agency string) string { return indexPrefix + agency + "/" }

// batchIDPattern: zero-padded Unix milliseconds, a per-millisecond sequence
// and the writer's node tag, so ids sort by time and one process's batches
// sort in the order it wrote them.
var batchIDPattern = regexp.MustCompile(`^[0-9]{13}-[0-9]{4}-[0-9a-f]{8}$`)

// nextBatchID must be called with mu held.
func (ix *Index) nextBatchID() string {
	ms := max(ix.now().UnixMilli(), ix.lastMs)
	if ms == ix.lastMs {
		ix.seq++
		if ix.seq > 9999 {
			ms, ix.seq = ms+1, 0
		}
	} else {
		ix.seq = 0
	}
	ix.lastMs = ms
	return fmt.Sprintf("%013d-%04d-%s", ms, ix.seq, ix.node)
}

// add makes id findable by every agency in readers. Callers call it only
// after their audit entry is durable. Without linger it returns once the
// entry is durable (or failed); with linger it returns at once, and the
// entry is written within linger, retried while the store is down, and
// recovered from the audit log if the process dies first.
func (ix *Index) Add(ctx context.Context, id string, readers []string) error {
	if len(readers) == 0 {
		return nil
	}
	ix.mu.Lock()
	for _, a := range readers {
		ix.pending[a] = append(ix.pending[a], id)
	}
	if ix.linger > 0 {
		if !ix.running && ix.timer == nil {
			ix.timer = time.AfterFunc(ix.linger, ix.kick)
		}
		ix.mu.Unlock()
		return nil
	}
	done := ix.waitLocked()
	ix.mu.Unlock()
	return ix.await(ctx, done)
}

// flush writes every entry added so far and returns when they are durable.
func (ix *Index) Flush(ctx context.Context) error {
	ix.mu.Lock()
	if len(ix.pending) == 0 && !ix.running {
		ix.mu.Unlock()
		return nil
	}
	done := ix.waitLocked()
	ix.mu.Unlock()
	return ix.await(ctx, done)
}

// pendingFor reports whether entries for agency may not be written yet:
// some wait, or a write is in flight.
func (ix *Index) PendingFor(agency string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.pending[agency]) > 0 || ix.running
}

// waitLocked registers a waiter for the next write and makes sure the
// writer runs. mu must be held.
func (ix *Index) waitLocked() chan error {
	done := make(chan error, 1)
	ix.waiters = append(ix.waiters, done)
	if ix.timer != nil {
		ix.timer.Stop()
		ix.timer = nil
	}
	if !ix.running {
		ix.running = true
		go ix.flushLoop()
	}
	return done
}

func (ix *Index) await(ctx context.Context, done chan error) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The write goes on without us; a late entry is only a Candidate.
		return fmt.Errorf("%w: index: %w", objstore.ErrUnavailable, ctx.Err())
	}
}

// kick starts the writer when the linger timer fires.
func (ix *Index) kick() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.timer = nil
	if !ix.running && (len(ix.pending) > 0 || len(ix.waiters) > 0) {
		ix.running = true
		go ix.flushLoop()
	}
}

// flushLoop writes what is pending, one batch after another, until nothing
// is left; then it exits (add, flush or the timer start it again).
func (ix *Index) flushLoop() {
	for {
		ix.mu.Lock()
		if len(ix.pending) == 0 && len(ix.waiters) == 0 {
			ix.running = false
			ix.mu.Unlock()
			return
		}
		pending, waiters := ix.pending, ix.waiters
		ix.pending, ix.waiters = map[string][]string{}, nil
		ids := make(map[string]string, len(pending))
		for a := range pending {
			ids[a] = ix.nextBatchID()
		}
		// Every entry added before now is in this write (or was written).
		through := ix.now()
		ix.mu.Unlock()

		failed, err := ix.write(pending, ids)
		if ix.observe != nil {
			n := 0
			for _, l := range pending {
				n += len(l)
			}
			ix.observe(n, err)
		}
		if err != nil && ix.linger > 0 {
			// Nobody waits for these entries: keep the failed ones and try
			// again later.
			ix.mu.Lock()
			for a, l := range failed {
				ix.pending[a] = append(l, ix.pending[a]...)
			}
			if ix.timer == nil {
				ix.timer = time.AfterFunc(ix.linger, ix.kick)
			}
			ix.running = false
			ix.mu.Unlock()
			ix.log.Warn("listing index write failed; will retry", zap.Error(err))
			for _, w := range waiters {
				w <- err
			}
			return
		}
		if err == nil && ix.onFlushed != nil {
			ix.onFlushed(through)
		}
		for _, w := range waiters {
			w <- err
		}
		if ix.linger > 0 {
			// Lingering: what arrived during this write waits for the timer
			// (or for a flush that someone waits on), so that under load
			// entries share batches instead of being written back to back.
			ix.mu.Lock()
			if len(ix.waiters) == 0 {
				if len(ix.pending) > 0 && ix.timer == nil {
					ix.timer = time.AfterFunc(ix.linger, ix.kick)
				}
				ix.running = false
				ix.mu.Unlock()
				return
			}
			ix.mu.Unlock()
		}
	}
}

type indexBatch struct {
	Format string   `json:"format"`
	IDs    []string `json:"ids"`
}

// write stores one batch per agency, concurrently. Each object is written
// once under a fresh name (IfAbsent): batches are never rewritten. It
// returns the entries of the agencies whose batch failed, so that a retry
// does not write the others again.
func (ix *Index) write(pending map[string][]string, batchIDs map[string]string) (failed map[string][]string, err error) {
	// Not tied to any one request: a batch serves every waiter. The store's
	// own per-call timeout bounds it.
	ctx := context.Background()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for agency, added := range pending {
		// Sorted on a copy: a failed write puts pending back as it was.
		ids := slices.Compact(slices.Sorted(slices.Values(added)))
		for part := 0; part*maxBatchIDs < len(ids); part++ {
			chunk := ids[part*maxBatchIDs : min((part+1)*maxBatchIDs, len(ids))]
			key := indexAgencyPrefix(agency) + batchIDs[agency]
			if part > 0 {
				ix.mu.Lock()
				key = indexAgencyPrefix(agency) + ix.nextBatchID()
				ix.mu.Unlock()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, perr := json.Marshal(indexBatch{Format: indexFormat, IDs: chunk})
				if perr == nil {
					perr = ix.store.Put(ctx, key, b, objstore.PutOptions{IfAbsent: true, ContentType: "application/json"})
				}
				if perr != nil {
					mu.Lock()
					defer mu.Unlock()
					if failed == nil {
						failed, err = map[string][]string{}, fmt.Errorf("store index: %w", perr)
					}
					failed[agency] = append(failed[agency], chunk...)
				}
			}()
		}
	}
	wg.Wait()
	return failed, err
}

// Cursor is where a listing resumes: after record id in batch.
type Cursor struct{ batch, id string }

func (c Cursor) String() string {
	if c.batch == "" {
		return ""
	}
	return c.batch + "." + c.id
}

// parseListCursor accepts exactly what String produces.
func parseListCursor(s string) (Cursor, bool) {
	if s == "" {
		return Cursor{}, true
	}
	batch, id, ok := strings.Cut(s, ".")
	if !ok || !batchIDPattern.MatchString(batch) || !record.ValidID(id) {
		return Cursor{}, false
	}
	return Cursor{batch: batch, id: id}, true
}

// Cursors given to clients are authenticated: "<batch>.<id>.<mac>", the MAC
// an HMAC-SHA256 (truncated to 128 bits, base64url) over the position and
// the agency it was issued to. A forged, altered or another agency's cursor
// is refused (400) instead of steering a scan of the index.
//
// The key is derived from the gateway's metadata signing key (HKDF, its own
// label), so it survives restarts and is the same on every replica that
// shares the store, which must share that signing key anyway to read each
// other's records. Rotating the signing key invalidates outstanding
// cursors: clients get a 400 and start again from the first page.
const (
	cursorMACLen   = 16
	cursorKeyLabel = "liaison.list-cursor/v1"
)

// keyDeriver is implemented by signers that can derive a secret key for
// another purpose from their private key (jose.Signer).
type keyDeriver interface {
	DeriveKey(label string) ([]byte, error)
}

// cursorKey returns the MAC key for cursors, derived from src once. A
// signer that cannot derive one (test doubles) gets a random key for this
// process: cursors then fail closed (400) after a restart or on another
// replica, never open.
func (ix *Index) cursorKey() []byte {
	src := ix.signer
	ix.cursorOnce.Do(func() {
		if kd, ok := src.(keyDeriver); ok {
			k, err := kd.DeriveKey(cursorKeyLabel)
			if err == nil && len(k) >= 32 {
				ix.cursorMACKey = k
				return
			}
			ix.log.Error("cannot derive the list-cursor key from the signing key; cursors are valid in this process only", zap.Error(err))
		}
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			panic("gateway: crypto/rand failed: " + err.Error())
		}
		ix.cursorMACKey = k
	})
	return ix.cursorMACKey
}

// formatCursor is the cursor a client gets to resume after c ("" at the start).
func (ix *Index) FormatCursor(agency string, c Cursor) string {
	return signCursor(ix.cursorKey(), agency, c)
}

// parseCursor accepts exactly what formatCursor produced for agency.
func (ix *Index) ParseCursor(agency, s string) (Cursor, bool) {
	return verifyCursor(ix.cursorKey(), agency, s)
}

func cursorMAC(key []byte, agency, pos string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(cursorKeyLabel))
	m.Write([]byte{0})
	m.Write([]byte(agency))
	m.Write([]byte{0})
	m.Write([]byte(pos))
	return m.Sum(nil)[:cursorMACLen]
}

func signCursor(key []byte, agency string, c Cursor) string {
	pos := c.String()
	if pos == "" {
		return ""
	}
	return pos + "." + base64.RawURLEncoding.EncodeToString(cursorMAC(key, agency, pos))
}

func verifyCursor(key []byte, agency, s string) (Cursor, bool) {
	if s == "" {
		return Cursor{}, true
	}
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return Cursor{}, false
	}
	pos, tag := s[:i], s[i+1:]
	mac, err := base64.RawURLEncoding.Strict().DecodeString(tag)
	if err != nil || len(mac) != cursorMACLen || !hmac.Equal(mac, cursorMAC(key, agency, pos)) {
		return Cursor{}, false
	}
	c, ok := parseListCursor(pos)
	if !ok || c.batch == "" {
		return Cursor{}, false
	}
	return c, true
}

// Candidate is a record id a listing should consider, with the cursor that
// resumes right after it.
type Candidate struct {
	ID     string
	Cursor Cursor
}

// scan returns at least n candidates for agency after cur (fewer only when
// the index is exhausted, in which case more is false), in index order:
// batches by name, ids sorted within a batch.
func (ix *Index) Scan(ctx context.Context, agency string, cur Cursor, n int) (cands []Candidate, more bool, err error) {
	prefix := indexAgencyPrefix(agency)
	if cur.batch != "" {
		ids, err := ix.readBatch(ctx, prefix+cur.batch)
		if err != nil && !errors.Is(err, objstore.ErrNotFound) {
			return nil, false, err
		}
		for _, id := range ids {
			if id > cur.id {
				cands = append(cands, Candidate{ID: id, Cursor: Cursor{batch: cur.batch, id: id}})
			}
		}
	}
	startAfter := ""
	if cur.batch != "" {
		startAfter = prefix + cur.batch
	}
	for len(cands) < n {
		keys, err := ix.store.List(ctx, prefix, startAfter, indexListChunk)
		if err != nil {
			return nil, false, err
		}
		if len(keys) == 0 {
			return cands, false, nil
		}
		batches := make([][]string, len(keys))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(indexReadConc)
		for i, k := range keys {
			g.Go(func() error {
				ids, err := ix.readBatch(gctx, k)
				if errors.Is(err, objstore.ErrNotFound) {
					return nil
				}
				batches[i] = ids
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, false, err
		}
		for i, k := range keys {
			batch := strings.TrimPrefix(k, prefix)
			if !batchIDPattern.MatchString(batch) {
				continue
			}
			for _, id := range batches[i] {
				cands = append(cands, Candidate{ID: id, Cursor: Cursor{batch: batch, id: id}})
			}
		}
		startAfter = keys[len(keys)-1]
		if len(keys) < indexListChunk {
			return cands, false, nil
		}
	}
	return cands, true, nil
}

// readBatch reads one batch object. A malformed batch is skipped rather
// than failing every listing: entries are only candidates, and each record
// is verified on its own.
func (ix *Index) readBatch(ctx context.Context, key string) ([]string, error) {
	b, err := ix.store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return parseBatch(b), nil
}

// parseBatch returns the valid record ids of a batch object, sorted; none
// for a malformed one (FuzzParseBatch).
func parseBatch(b []byte) []string {
	var batch indexBatch
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&batch); err != nil || batch.Format != indexFormat {
		return nil
	}
	ids := batch.IDs[:0]
	for _, id := range batch.IDs {
		if record.ValidID(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
