package recordstore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/gateway/record"
)

// Index keeps the query and selector index (an index.Backend: SQLite
// embedded, PostgreSQL shared by replicas) in step with the record store.
//
// Entries are candidates, not grants: a listing or a search loads each
// record, verifies it and asks the policy, so an entry left by a publish
// that failed later, or of a record since recalled, is skipped there. The
// invariant the callers keep is the other way round: an entry is written
// only after the audit entry of the publish or share that adds it is
// durable, so nothing is findable before its collection or disclosure is
// on the record. A crash between the two is repaired at start from the
// audit log (Recover), and the whole index can be rebuilt from the store
// (Rebuild): the store and the audit log are the source of truth.
type Index struct {
	db    index.Backend
	rs    *Store
	blind Blinder
	// signer is the key cursors' MAC key is derived from (cursorKey).
	signer Signer
	now    func() time.Time
	log    *zap.Logger
	// onFlushed is told, after each successful write, a time before which
	// every entry put is durable (the recovery state).
	onFlushed func(through time.Time)
	// observe is told the result of each write and how many entries it held.
	observe func(entries int, err error)

	// cursorMACKey authenticates listing cursors (see cursorKey).
	cursorOnce   sync.Once
	cursorMACKey []byte

	// inflight: start times of the writes under way (Put), for the lag
	// metric (Lag).
	lagMu    sync.Mutex
	lagNext  uint64
	inflight map[uint64]time.Time

	// Group commit (upsert): concurrent writes share one transaction.
	gmu      sync.Mutex
	gpending []*groupWrite
	grunning bool
}

// batchUpserter is a backend that writes many entries in one transaction
// (connectors/sqlite: a commit per entry is what bounds SQLite's write
// rate, about 450 a second here).
type batchUpserter interface {
	UpsertMany(ctx context.Context, entries []index.Entry) error
}

type groupWrite struct {
	e    index.Entry
	done chan error
}

// maxGroup bounds the entries of one group-committed transaction.
const maxGroup = 256

// upsert writes e. With a backend that batches, writes that arrive while a
// transaction is committing go into the next one together, so that under
// load an entry costs a fraction of a commit; the caller still returns only
// once its own entry is durable.
func (ix *Index) upsert(ctx context.Context, e index.Entry) error {
	bu, ok := ix.db.(batchUpserter)
	if !ok {
		return ix.db.Upsert(ctx, e)
	}
	w := &groupWrite{e: e, done: make(chan error, 1)}
	ix.gmu.Lock()
	ix.gpending = append(ix.gpending, w)
	if !ix.grunning {
		ix.grunning = true
		go ix.groupCommit(bu)
	}
	ix.gmu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		// The write may still land: an entry is only a candidate.
		return fmt.Errorf("%w: %w", index.ErrUnavailable, ctx.Err())
	}
}

// groupCommit writes what is pending, one transaction after another, until
// nothing is left.
func (ix *Index) groupCommit(bu batchUpserter) {
	for {
		ix.gmu.Lock()
		n := min(len(ix.gpending), maxGroup)
		if n == 0 {
			ix.grunning = false
			ix.gmu.Unlock()
			return
		}
		batch := ix.gpending[:n:n]
		ix.gpending = ix.gpending[n:]
		ix.gmu.Unlock()
		entries := make([]index.Entry, len(batch))
		for i, w := range batch {
			entries[i] = w.e
		}
		ctx, cancel := context.WithTimeout(context.Background(), putTimeout)
		err := bu.UpsertMany(ctx, entries)
		if err != nil && len(batch) > 1 && !errors.Is(err, index.ErrUnavailable) {
			// One entry the backend refuses must not fail the others'
			// writes: write them one by one.
			for _, w := range batch {
				w.done <- ix.db.Upsert(ctx, w.e)
			}
			cancel()
			continue
		}
		cancel()
		for _, w := range batch {
			w.done <- err
		}
	}
}

// Blinder turns a record's selectors into blind index values: normalised
// (the originator's jurisdiction is the default region) and keyed with
// every blind-index key version in use.
type Blinder interface {
	Blind(ctx context.Context, meta *record.Meta) ([]index.Blind, error)
}

// putTimeout bounds one index write. Recovery reads the audit log from
// well before its saved point (slack >= 30 s), so a write never outlives
// the window that would repair it.
const putTimeout = 10 * time.Second

// Backend is the index database (for searches and the rebuild).
func (ix *Index) Backend() index.Backend { return ix.db }

// Put makes st findable as it now stands: its readers, filters and blind
// selector values (a recalled record is kept, marked recalled, so that
// listings and searches no longer return it). Callers call it only after
// their audit entry is durable.
func (ix *Index) Put(ctx context.Context, st *Record) error {
	if ix.db == nil {
		return fmt.Errorf("%w: no index database configured", index.ErrUnavailable)
	}
	start := ix.now()
	defer ix.track()()
	e, err := ix.entry(ctx, st)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, putTimeout)
		err = ix.upsert(ctx, e)
		cancel()
	}
	if ix.observe != nil {
		ix.observe(1, err)
	}
	if err != nil {
		return fmt.Errorf("index %s: %w", st.Meta.RecordID, err)
	}
	if ix.onFlushed != nil {
		ix.onFlushed(start)
	}
	return nil
}

// track notes a write under way until the returned func is called.
func (ix *Index) track() func() {
	ix.lagMu.Lock()
	defer ix.lagMu.Unlock()
	if ix.inflight == nil {
		ix.inflight = map[uint64]time.Time{}
	}
	id := ix.lagNext
	ix.lagNext++
	ix.inflight[id] = time.Now()
	return func() {
		ix.lagMu.Lock()
		delete(ix.inflight, id)
		ix.lagMu.Unlock()
	}
}

// Lag is how many index writes are under way (each after its audit entry
// is durable, so the record is on the record but not yet findable) and
// how long the oldest has been waiting: the index's lag behind the audit
// log. Writes are bounded by putTimeout; a lag beyond it means writes are
// stuck behind a slow database.
func (ix *Index) Lag() (pending int, oldest time.Duration) {
	ix.lagMu.Lock()
	defer ix.lagMu.Unlock()
	now := time.Now()
	for _, t := range ix.inflight {
		oldest = max(oldest, now.Sub(t))
	}
	return len(ix.inflight), oldest
}

// entry is what the index keeps of st: no content, selectors only blind.
func (ix *Index) entry(ctx context.Context, st *Record) (index.Entry, error) {
	m := &st.Meta
	created, _ := time.Parse(time.RFC3339, m.Created)
	e := index.Entry{
		RecordID: m.RecordID, Version: m.Version, State: st.State, Created: created.UTC(),
		ReviewDue: m.ReviewDue, Originator: m.Originator.OrgID, Readers: m.Readers(),
		Recipients: m.Recipients, DSAIDs: m.DSAIDs, OCGIDs: m.OCGIDs,
		Tier: m.Classification.Tier, TLP: m.TLP, HandlingCode: m.Handling.Code,
	}
	if t := tagsOf(m.Tags); t != nil {
		e.Operation, e.FourP = t.Operation, t.FourP
	}
	if st.State != StateActive {
		return e, nil
	}
	if len(st.Selectors) > 0 && m.Selectors == nil {
		err := ix.rs.OpenSelectors(ctx, st)
		if errors.Is(err, ErrShredded) {
			// Its key is destroyed: the selectors are gone with the
			// content, and so are their blind values.
			return e, nil
		}
		if err != nil {
			return e, fmt.Errorf("open selectors: %w", err)
		}
	}
	if len(m.Selectors) > 0 {
		if ix.blind == nil {
			return e, fmt.Errorf("%w: no blind-index keys to index selectors with", index.ErrUnavailable)
		}
		b, err := ix.blind.Blind(ctx, m)
		if err != nil {
			return e, err
		}
		e.Selectors = b
	}
	return e, nil
}

// Tags are the metadata tags the index filters on.
type Tags struct {
	Operation string   `json:"operation,omitempty"`
	FourP     []string `json:"four_p,omitempty"`
}

func tagsOf(raw json.RawMessage) *Tags {
	if len(raw) == 0 {
		return nil
	}
	var t Tags
	if json.Unmarshal(raw, &t) != nil {
		return nil
	}
	return &t
}

// Query returns candidates for q.Reader after the cursor position q.After.
func (ix *Index) Query(ctx context.Context, q index.Query) ([]index.Hit, error) {
	if ix.db == nil {
		return nil, fmt.Errorf("%w: no index database configured", index.ErrUnavailable)
	}
	return ix.db.Query(ctx, q)
}

// Cursors given to clients are authenticated: "<record id>.<mac>", the MAC
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
	cursorKeyLabel = "liaison.list-cursor/v2"
)

// keyDeriver is implemented by signers that can derive a secret key for
// another purpose from their private key (jose.Signer).
type keyDeriver interface {
	DeriveKey(label string) ([]byte, error)
}

// cursorKey returns the MAC key for cursors, derived once. A signer that
// cannot derive one (test doubles) gets a random key for this process:
// cursors then fail closed (400) after a restart or on another replica,
// never open.
func (ix *Index) cursorKey() []byte {
	ix.cursorOnce.Do(func() {
		if kd, ok := ix.signer.(keyDeriver); ok {
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

// FormatCursor is the cursor a client gets to resume after record id
// ("" at the start).
func (ix *Index) FormatCursor(agency, after string) string {
	return signCursor(ix.cursorKey(), agency, after)
}

// ParseCursor accepts exactly what FormatCursor produced for agency and
// returns the record id to resume after.
func (ix *Index) ParseCursor(agency, s string) (string, bool) {
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

func signCursor(key []byte, agency, after string) string {
	if after == "" {
		return ""
	}
	return after + "." + base64.RawURLEncoding.EncodeToString(cursorMAC(key, agency, after))
}

func verifyCursor(key []byte, agency, s string) (string, bool) {
	if s == "" {
		return "", true
	}
	pos, tag, ok := strings.Cut(s, ".")
	if !ok || !record.ValidID(pos) {
		return "", false
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(tag)
	if err != nil || len(mac) != cursorMACLen || !hmac.Equal(mac, cursorMAC(key, agency, pos)) {
		return "", false
	}
	return pos, true
}
