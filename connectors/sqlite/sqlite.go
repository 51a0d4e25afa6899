// Package sqlite is the embedded index backend (index.Backend) on SQLite,
// through modernc.org/sqlite (pure Go, no cgo): the index of `liaison dev`
// and of a single-node gateway. connectors/postgres is the same schema for
// replicas that share one index.
//
// The index is rebuildable from the object store, so it trades a little
// durability for speed: WAL with synchronous=NORMAL may lose the last
// transactions on a power cut (never corrupt the file); recovery re-indexes
// from the audit position kept in the state table. SQLite allows one
// writer at a time, so writes go through one connection (its transactions
// begin IMMEDIATE, taking the write lock up front rather than failing to
// upgrade a read lock); reads use a small pool of read-only connections
// that WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/internal/indexplan"
)

// Index is an index.Backend in one SQLite database file.
type Index struct {
	w, r   *sql.DB
	closed atomic.Bool
}

var _ index.Backend = (*Index)(nil)

type options struct {
	readers     int
	busyTimeout time.Duration
}

// Option configures Open.
type Option func(*options)

// WithReaders sets the number of read connections (default 4).
func WithReaders(n int) Option { return func(o *options) { o.readers = max(n, 1) } }

// WithBusyTimeout sets how long a statement waits for a lock held by
// another process before failing (default 5s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// Open opens (creating if needed) the index database at path and brings
// its schema up to date.
func Open(path string, opts ...Option) (*Index, error) {
	o := options{readers: 4, busyTimeout: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("%w: sqlite index needs a file path (readers and the writer share it)", index.ErrInvalid)
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		for _, p := range extra {
			q.Add("_pragma", p)
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", index.ErrUnavailable, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	x := &Index{w: w}
	// The schema first, through the writer: readers opening a file that
	// has no tables yet would fail their first query.
	if err := x.migrate(context.Background()); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn("query_only(1)", "cache_size(-16000)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("%w: %v", index.ErrUnavailable, err)
	}
	r.SetMaxOpenConns(o.readers)
	r.SetMaxIdleConns(o.readers)
	x.r = r
	return x, nil
}

// migrations are applied in order, each once; schema_version holds how many
// have been. Forward only: a database migrated by a newer binary is refused
// rather than misread.
var migrations = []string{
	`CREATE TABLE entries (
		record_id     TEXT PRIMARY KEY,
		version       INTEGER NOT NULL,
		state         TEXT NOT NULL,
		created       INTEGER NOT NULL, -- Unix microseconds
		review_due    TEXT,             -- YYYY-MM-DD or NULL
		originator    TEXT NOT NULL,
		operation     TEXT NOT NULL,
		tier          TEXT NOT NULL,
		tlp           TEXT NOT NULL,
		handling_code TEXT NOT NULL,
		lists         TEXT NOT NULL     -- JSON: readers, recipients, DSAs, OCGs, 4P
	) WITHOUT ROWID;
	-- One row per (reader, term) of every active entry: see indexplan.
	CREATE TABLE access (
		agency    TEXT NOT NULL,
		term      TEXT NOT NULL,
		record_id TEXT NOT NULL,
		PRIMARY KEY (agency, term, record_id)
	) WITHOUT ROWID;
	CREATE TABLE blinds (
		record_id   TEXT NOT NULL,
		key_version INTEGER NOT NULL,
		value       BLOB NOT NULL,
		type        TEXT NOT NULL,
		PRIMARY KEY (record_id, key_version, value)
	) WITHOUT ROWID;
	CREATE INDEX blinds_value ON blinds (value);
	CREATE TABLE state (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
}

func (x *Index) migrate(ctx context.Context) error {
	tx, err := x.w.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return unavailable(err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return unavailable(err)
	}
	if v > len(migrations) {
		return fmt.Errorf("sqlite index: schema version %d is newer than this binary's %d; use a newer liaison or rebuild the index", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("sqlite index: migration %d: %w", i+1, err)
		}
	}
	if v < len(migrations) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (?)`, len(migrations)); err != nil {
			return unavailable(err)
		}
	}
	return unavailable(tx.Commit())
}

// unavailable maps a database failure to index.ErrUnavailable: the index
// is a rebuildable cache, so whatever stops it answering (closed, busy
// past the timeout, I/O error, corrupt file, cancelled context) makes the
// gateway fail closed with a 503, and the message keeps the cause.
func unavailable(err error) error {
	if err == nil || errors.Is(err, index.ErrUnavailable) || errors.Is(err, index.ErrInvalid) || errors.Is(err, index.ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: sqlite: %v", index.ErrUnavailable, err)
}

func (x *Index) open() error {
	if x.closed.Load() {
		return fmt.Errorf("%w: sqlite index closed", index.ErrUnavailable)
	}
	return nil
}

// Upsert implements index.Backend.
func (x *Index) Upsert(ctx context.Context, e index.Entry) error {
	return x.UpsertMany(ctx, []index.Entry{e})
}

// UpsertMany upserts entries in one transaction (rebuilds and bulk loads:
// a commit per entry is what limits SQLite's write rate). It stops at the
// first invalid entry, storing none of them.
func (x *Index) UpsertMany(ctx context.Context, entries []index.Entry) error {
	if err := x.open(); err != nil {
		return err
	}
	for _, e := range entries {
		if err := indexplan.ValidateEntry(e); err != nil {
			return err
		}
	}
	tx, err := x.w.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback()
	st, err := prepare(ctx, tx)
	if err != nil {
		return unavailable(err)
	}
	defer st.close()
	for _, e := range entries {
		if err := st.upsert(ctx, e); err != nil {
			return unavailable(err)
		}
	}
	return unavailable(tx.Commit())
}

type stmts struct {
	get, put, addAccess, delAccess, delBlinds, addBlind *sql.Stmt
}

func prepare(ctx context.Context, tx *sql.Tx) (*stmts, error) {
	var s stmts
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&s.get, `SELECT version, state, originator, operation, tier, tlp, handling_code, lists FROM entries WHERE record_id = ?`},
		{&s.put, `INSERT OR REPLACE INTO entries (record_id, version, state, created, review_due, originator, operation, tier, tlp, handling_code, lists)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.addAccess, `INSERT OR IGNORE INTO access (agency, term, record_id) VALUES (?, ?, ?)`},
		{&s.delAccess, `DELETE FROM access WHERE agency = ? AND term = ? AND record_id = ?`},
		{&s.delBlinds, `DELETE FROM blinds WHERE record_id = ?`},
		{&s.addBlind, `INSERT OR IGNORE INTO blinds (record_id, key_version, value, type) VALUES (?, ?, ?, ?)`},
	} {
		st, err := tx.PrepareContext(ctx, p.q)
		if err != nil {
			s.close()
			return nil, err
		}
		*p.st = st
	}
	return &s, nil
}

func (s *stmts) close() {
	for _, st := range []*sql.Stmt{s.get, s.put, s.addAccess, s.delAccess, s.delBlinds, s.addBlind} {
		if st != nil {
			st.Close()
		}
	}
}

func (s *stmts) upsert(ctx context.Context, e index.Entry) error {
	var old index.Entry
	var lists string
	old.RecordID = e.RecordID
	err := s.get.QueryRowContext(ctx, e.RecordID).Scan(&old.Version, &old.State, &old.Originator, &old.Operation,
		&old.Tier, &old.TLP, &old.HandlingCode, &lists)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		old = index.Entry{}
	case err != nil:
		return err
	case old.Version > e.Version:
		return nil // a newer version is stored: an older one never replaces it
	default:
		if err := indexplan.DecodeLists(lists, &old); err != nil {
			return err
		}
	}
	var review any
	if e.ReviewDue != "" {
		review = e.ReviewDue
	}
	if _, err := s.put.ExecContext(ctx, e.RecordID, e.Version, e.State, indexplan.Micros(e.Created), review,
		e.Originator, e.Operation, e.Tier, e.TLP, e.HandlingCode, indexplan.EncodeLists(e)); err != nil {
		return err
	}
	add, remove := indexplan.Diff(indexplan.AccessRows(old), indexplan.AccessRows(e))
	for _, r := range remove {
		if _, err := s.delAccess.ExecContext(ctx, r.Agency, r.Term, e.RecordID); err != nil {
			return err
		}
	}
	for _, r := range add {
		if _, err := s.addAccess.ExecContext(ctx, r.Agency, r.Term, e.RecordID); err != nil {
			return err
		}
	}
	if _, err := s.delBlinds.ExecContext(ctx, e.RecordID); err != nil {
		return err
	}
	for _, b := range e.Selectors {
		if _, err := s.addBlind.ExecContext(ctx, e.RecordID, b.KeyVersion, b.Value, b.Type); err != nil {
			return err
		}
	}
	return nil
}

// Query implements index.Backend.
func (x *Index) Query(ctx context.Context, q index.Query) ([]index.Hit, error) {
	if err := x.open(); err != nil {
		return nil, err
	}
	if err := indexplan.ValidateQuery(q); err != nil {
		return nil, err
	}
	stmt, args := indexplan.QuerySQL(q, func(int) string { return "?" })
	rows, err := x.r.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	hits := make([]index.Hit, 0, min(q.Limit, 128))
	for rows.Next() {
		var h index.Hit
		if err := rows.Scan(&h.RecordID, &h.Version); err != nil {
			return nil, unavailable(err)
		}
		hits = append(hits, h)
	}
	return hits, unavailable(rows.Err())
}

// Lookup implements index.Backend.
func (x *Index) Lookup(ctx context.Context, values []index.Blind, limit int) ([]index.Match, error) {
	if err := x.open(); err != nil {
		return nil, err
	}
	if err := indexplan.ValidateLookup(values, limit); err != nil {
		return nil, err
	}
	if len(values) == 0 {
		return nil, nil
	}
	stmt, args := indexplan.LookupSQL(values, func(int) string { return "?" })
	rows, err := x.r.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	m := indexplan.NewMatcher(values, limit)
	for rows.Next() {
		var r indexplan.LookupRow
		if err := rows.Scan(&r.RecordID, &r.KeyVersion, &r.Value, &r.Version, &r.Originator, &r.Lists); err != nil {
			return nil, unavailable(err)
		}
		if done, err := m.Add(r); err != nil || done {
			return m.Matches(), err
		}
	}
	return m.Matches(), unavailable(rows.Err())
}

// Get implements index.Backend.
func (x *Index) Get(ctx context.Context, id string) (index.Entry, error) {
	if err := x.open(); err != nil {
		return index.Entry{}, err
	}
	e := index.Entry{RecordID: id}
	var created int64
	var review sql.NullString
	var lists string
	err := x.r.QueryRowContext(ctx, `SELECT version, state, created, review_due, originator, operation, tier, tlp, handling_code, lists
		FROM entries WHERE record_id = ?`, id).Scan(&e.Version, &e.State, &created, &review, &e.Originator, &e.Operation,
		&e.Tier, &e.TLP, &e.HandlingCode, &lists)
	if errors.Is(err, sql.ErrNoRows) {
		return index.Entry{}, index.ErrNotFound
	}
	if err != nil {
		return index.Entry{}, unavailable(err)
	}
	e.Created, e.ReviewDue = indexplan.FromMicros(created), review.String
	if err := indexplan.DecodeLists(lists, &e); err != nil {
		return index.Entry{}, unavailable(err)
	}
	rows, err := x.r.QueryContext(ctx, `SELECT key_version, type, value FROM blinds WHERE record_id = ? ORDER BY key_version, value`, id)
	if err != nil {
		return index.Entry{}, unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b index.Blind
		if err := rows.Scan(&b.KeyVersion, &b.Type, &b.Value); err != nil {
			return index.Entry{}, unavailable(err)
		}
		e.Selectors = append(e.Selectors, b)
	}
	return e, unavailable(rows.Err())
}

// Count implements index.Backend.
func (x *Index) Count(ctx context.Context) (entries, blinds int64, err error) {
	if err := x.open(); err != nil {
		return 0, 0, err
	}
	err = x.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM blinds)`).Scan(&entries, &blinds)
	return entries, blinds, unavailable(err)
}

// DeleteBlinds implements index.Backend.
func (x *Index) DeleteBlinds(ctx context.Context, keyVersion int) error {
	if err := x.open(); err != nil {
		return err
	}
	_, err := x.w.ExecContext(ctx, `DELETE FROM blinds WHERE key_version = ?`, keyVersion)
	return unavailable(err)
}

// GetState implements index.Backend.
func (x *Index) GetState(ctx context.Context, name string) (string, error) {
	if err := x.open(); err != nil {
		return "", err
	}
	var v string
	err := x.r.QueryRowContext(ctx, `SELECT value FROM state WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, unavailable(err)
}

// SetState implements index.Backend.
func (x *Index) SetState(ctx context.Context, name, value string) error {
	if err := x.open(); err != nil {
		return err
	}
	_, err := x.w.ExecContext(ctx, `INSERT INTO state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return unavailable(err)
}

// Ping implements index.Backend: both the writer and a reader answer.
func (x *Index) Ping(ctx context.Context) error {
	if err := x.open(); err != nil {
		return err
	}
	if err := x.w.PingContext(ctx); err != nil {
		return unavailable(err)
	}
	var one int
	return unavailable(x.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_version`).Scan(&one))
}

// Close implements index.Backend.
func (x *Index) Close() error {
	if x.closed.Swap(true) {
		return nil
	}
	return errors.Join(x.r.Close(), x.w.Close())
}
