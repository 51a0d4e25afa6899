// Package postgres is the index backend (index.Backend) on PostgreSQL,
// through pgx and its pool: the index that gateway replicas share. It has
// the same logical schema as connectors/sqlite (see connectors/internal/
// indexplan for why the tables look the way they do).
//
// Every call runs under a deadline (the caller's, or the Open timeout when
// the caller has none), so a server that stops answering turns into
// index.ErrUnavailable, and a 503, instead of a hung request.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/internal/indexplan"
)

// Index is an index.Backend in a PostgreSQL schema.
type Index struct {
	pool    *pgxpool.Pool
	schema  string
	timeout time.Duration
	closed  atomic.Bool
}

var _ index.Backend = (*Index)(nil)

type options struct {
	schema   string
	maxConns int32
	timeout  time.Duration
}

// Option configures Open.
type Option func(*options)

// WithSchema keeps the index's tables in schema (created if missing;
// default "liaison_index"), so that the index can share a database.
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// WithMaxConns sets the pool size (default 10 per gateway).
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = int32(max(n, 1)) } }

// WithTimeout sets the deadline of a call whose context has none, and of
// connecting (default 5s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string) and brings the index schema up to date. Gateway replicas start
// together: migrations run under a transaction-scoped advisory lock, so one
// replica migrates and the others then find the schema current.
func Open(ctx context.Context, dsn string, opts ...Option) (*Index, error) {
	o := options{schema: "liaison_index", maxConns: 10, timeout: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if !schemaName.MatchString(o.schema) {
		return nil, fmt.Errorf("%w: schema name %q (want lower-case letters, digits, _)", index.ErrInvalid, o.schema)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The message of a DSN parse error can hold the password: say only
		// that it is malformed.
		return nil, fmt.Errorf("%w: postgres index: malformed DSN", index.ErrInvalid)
	}
	cfg.MaxConns = o.maxConns
	cfg.ConnConfig.ConnectTimeout = o.timeout
	cfg.ConnConfig.RuntimeParams["search_path"] = o.schema
	cfg.ConnConfig.RuntimeParams["application_name"] = "liaison-index"
	// pgx prepares and caches statements, and after five executions
	// PostgreSQL may switch a prepared statement to a generic plan, which
	// cannot see how selective this query's terms are or where its
	// after-bound starts: pages went from about 1 ms to 90 ms. Planning
	// each execution costs a fraction of a millisecond.
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable(err)
	}
	x := &Index{pool: pool, schema: o.schema, timeout: o.timeout}
	if err := x.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return x, nil
}

// migrations are applied in order, each once; schema_version holds how many
// have been. Forward only. Text columns that sort or compare use the "C"
// collation: record ids order bytewise, as the contract and SQLite do,
// whatever the database's locale.
var migrations = []string{
	`CREATE TABLE entries (
		record_id     text COLLATE "C" PRIMARY KEY,
		version       integer NOT NULL,
		state         text NOT NULL,
		created       bigint NOT NULL,        -- Unix microseconds
		review_due    text COLLATE "C",       -- YYYY-MM-DD or NULL
		originator    text NOT NULL,
		operation     text NOT NULL,
		tier          text NOT NULL,
		tlp           text NOT NULL,
		handling_code text NOT NULL,
		lists         text NOT NULL           -- JSON: readers, recipients, DSAs, OCGs, 4P
	);
	CREATE TABLE access (
		agency    text COLLATE "C" NOT NULL,
		term      text COLLATE "C" NOT NULL,
		record_id text COLLATE "C" NOT NULL,
		PRIMARY KEY (agency, term, record_id)
	);
	CREATE TABLE blinds (
		record_id   text COLLATE "C" NOT NULL,
		key_version integer NOT NULL,
		value       bytea NOT NULL,
		type        text NOT NULL,
		PRIMARY KEY (record_id, key_version, value)
	);
	CREATE INDEX blinds_value ON blinds (value);
	CREATE TABLE state (name text PRIMARY KEY, value text NOT NULL);`,
}

func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("liaison-index-migrate/" + schema))
	return int64(h.Sum64())
}

func (x *Index) migrate(ctx context.Context) error {
	// The migration may legitimately wait for another replica's, so
	// without a deadline from the caller it gets a longer one than a query.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 6*x.timeout)
		defer cancel()
	}
	tx, err := x.pool.Begin(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer x.rollback(ctx, tx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(x.schema)); err != nil {
		return unavailable(err)
	}
	for _, s := range []string{
		`CREATE SCHEMA IF NOT EXISTS ` + x.schema,
		`CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`,
	} {
		if _, err := tx.Exec(ctx, s); err != nil {
			return unavailable(err)
		}
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return unavailable(err)
	}
	if v > len(migrations) {
		return fmt.Errorf("postgres index: schema version %d is newer than this binary's %d; use a newer liaison or rebuild the index", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return fmt.Errorf("postgres index: migration %d: %w", i+1, err)
		}
	}
	if v < len(migrations) {
		if _, err := tx.Exec(ctx, `DELETE FROM schema_version`); err != nil {
			return unavailable(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, len(migrations)); err != nil {
			return unavailable(err)
		}
	}
	return unavailable(tx.Commit(ctx))
}

// unavailable maps a database failure to index.ErrUnavailable: the index
// is a rebuildable cache, so whatever stops it answering (unreachable,
// timed out, closed, failing) makes the gateway fail closed with a 503.
func unavailable(err error) error {
	if err == nil || errors.Is(err, index.ErrUnavailable) || errors.Is(err, index.ErrInvalid) || errors.Is(err, index.ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: postgres: %v", index.ErrUnavailable, err)
}

// deadline gives ctx the default timeout unless it has a deadline.
func (x *Index) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, x.timeout)
}

// rollback ends tx if it was not committed, also when ctx is done, but
// never waits longer than the timeout for a server that stopped answering.
func (x *Index) rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.timeout)
	defer cancel()
	tx.Rollback(ctx)
}

func (x *Index) open() error {
	if x.closed.Load() {
		return fmt.Errorf("%w: postgres index closed", index.ErrUnavailable)
	}
	return nil
}

// Upsert implements index.Backend.
//
// The entry row is locked (SELECT ... FOR UPDATE) before anything else, so
// concurrent upserts of one record serialise, and the stored version and
// lists read under the lock decide what changes: the version guard, and
// the access rows to add and remove (a diff, so a share inserts only the
// new reader's rows). A record not yet stored is inserted with ON CONFLICT
// DO NOTHING; losing that race to another replica retries under the lock.
func (x *Index) Upsert(ctx context.Context, e index.Entry) error {
	if err := x.open(); err != nil {
		return err
	}
	if err := indexplan.ValidateEntry(e); err != nil {
		return err
	}
	ctx, cancel := x.deadline(ctx)
	defer cancel()
	for range 3 {
		done, err := x.upsertOnce(ctx, e)
		if err != nil || done {
			return unavailable(err)
		}
	}
	return fmt.Errorf("%w: postgres: upsert of %s kept racing", index.ErrUnavailable, e.RecordID)
}

func (x *Index) upsertOnce(ctx context.Context, e index.Entry) (done bool, err error) {
	tx, err := x.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer x.rollback(ctx, tx)
	old := index.Entry{RecordID: e.RecordID}
	var lists string
	err = tx.QueryRow(ctx, `SELECT version, state, coalesce(review_due, ''), originator, operation, tier, tlp, handling_code, lists
		FROM entries WHERE record_id = $1 FOR UPDATE`, e.RecordID).Scan(&old.Version, &old.State, &old.ReviewDue, &old.Originator,
		&old.Operation, &old.Tier, &old.TLP, &old.HandlingCode, &lists)
	var review *string
	if e.ReviewDue != "" {
		review = &e.ReviewDue
	}
	args := []any{e.RecordID, e.Version, e.State, indexplan.Micros(e.Created), review, e.Originator, e.Operation,
		e.Tier, e.TLP, e.HandlingCode, indexplan.EncodeLists(e)}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		old = index.Entry{}
		tag, err := tx.Exec(ctx, `INSERT INTO entries (record_id, version, state, created, review_due, originator, operation,
			tier, tlp, handling_code, lists) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (record_id) DO NOTHING`, args...)
		if err != nil {
			return false, err
		}
		if tag.RowsAffected() == 0 {
			return false, nil // inserted meanwhile by another writer: again, under its lock
		}
	case err != nil:
		return false, err
	case old.Version > e.Version:
		return true, nil // a newer version is stored: an older one never replaces it
	default:
		if err := indexplan.DecodeLists(lists, &old); err != nil {
			return false, err
		}
		if _, err := tx.Exec(ctx, `UPDATE entries SET version = $2, state = $3, created = $4, review_due = $5,
			originator = $6, operation = $7, tier = $8, tlp = $9, handling_code = $10, lists = $11
			WHERE record_id = $1 AND version <= $2`, args...); err != nil {
			return false, err
		}
	}
	add, remove := indexplan.Diff(indexplan.AccessRows(old), indexplan.AccessRows(e))
	var b pgx.Batch
	if len(remove) > 0 {
		ag, tm := columns(remove)
		b.Queue(`DELETE FROM access WHERE record_id = $1 AND (agency, term) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
			e.RecordID, ag, tm)
	}
	if len(add) > 0 {
		ag, tm := columns(add)
		b.Queue(`INSERT INTO access (agency, term, record_id) SELECT a, t, $1 FROM unnest($2::text[], $3::text[]) AS u(a, t)
			ON CONFLICT DO NOTHING`, e.RecordID, ag, tm)
	}
	b.Queue(`DELETE FROM blinds WHERE record_id = $1`, e.RecordID)
	if len(e.Selectors) > 0 {
		kv, val, typ := make([]int32, len(e.Selectors)), make([][]byte, len(e.Selectors)), make([]string, len(e.Selectors))
		for i, s := range e.Selectors {
			kv[i], val[i], typ[i] = int32(s.KeyVersion), s.Value, s.Type
		}
		b.Queue(`INSERT INTO blinds (record_id, key_version, value, type)
			SELECT $1, k, v, t FROM unnest($2::integer[], $3::bytea[], $4::text[]) AS u(k, v, t) ON CONFLICT DO NOTHING`,
			e.RecordID, kv, val, typ)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

func columns(rows []indexplan.Row) (agencies, terms []string) {
	agencies, terms = make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		agencies[i], terms[i] = r.Agency, r.Term
	}
	return agencies, terms
}

func dollar(n int) string { return fmt.Sprintf("$%d", n) }

// Query implements index.Backend.
func (x *Index) Query(ctx context.Context, q index.Query) ([]index.Hit, error) {
	if err := x.open(); err != nil {
		return nil, err
	}
	if err := indexplan.ValidateQuery(q); err != nil {
		return nil, err
	}
	ctx, cancel := x.deadline(ctx)
	defer cancel()
	stmts, args := indexplan.QuerySQL(q, dollar)
	// One round trip for all the scans of an OR-ed driving field.
	var b pgx.Batch
	for i, stmt := range stmts {
		b.Queue(stmt, args[i]...)
	}
	res := x.pool.SendBatch(ctx, &b)
	defer res.Close()
	lists := make([][]index.Hit, len(stmts))
	for i := range stmts {
		rows, err := res.Query()
		if err != nil {
			return nil, unavailable(err)
		}
		hits := make([]index.Hit, 0, min(q.Limit, 128))
		for rows.Next() {
			var h index.Hit
			if err := rows.Scan(&h.RecordID, &h.Version); err != nil {
				rows.Close()
				return nil, unavailable(err)
			}
			hits = append(hits, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, unavailable(err)
		}
		lists[i] = hits
	}
	return indexplan.Merge(lists, q.Limit), unavailable(res.Close())
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
	ctx, cancel := x.deadline(ctx)
	defer cancel()
	stmt, args := indexplan.LookupSQL(values, dollar)
	rows, err := x.pool.Query(ctx, stmt, args...)
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
			return m.Matches(), unavailable(err)
		}
	}
	return m.Matches(), unavailable(rows.Err())
}

// Get implements index.Backend.
func (x *Index) Get(ctx context.Context, id string) (index.Entry, error) {
	if err := x.open(); err != nil {
		return index.Entry{}, err
	}
	ctx, cancel := x.deadline(ctx)
	defer cancel()
	e := index.Entry{RecordID: id}
	var created int64
	var review *string
	var lists string
	err := x.pool.QueryRow(ctx, `SELECT version, state, created, review_due, originator, operation, tier, tlp, handling_code, lists
		FROM entries WHERE record_id = $1`, id).Scan(&e.Version, &e.State, &created, &review, &e.Originator, &e.Operation,
		&e.Tier, &e.TLP, &e.HandlingCode, &lists)
	if errors.Is(err, pgx.ErrNoRows) {
		return index.Entry{}, index.ErrNotFound
	}
	if err != nil {
		return index.Entry{}, unavailable(err)
	}
	e.Created = indexplan.FromMicros(created)
	if review != nil {
		e.ReviewDue = *review
	}
	if err := indexplan.DecodeLists(lists, &e); err != nil {
		return index.Entry{}, unavailable(err)
	}
	rows, err := x.pool.Query(ctx, `SELECT key_version, type, value FROM blinds WHERE record_id = $1 ORDER BY key_version, value`, id)
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
	ctx, cancel := x.deadline(ctx)
	defer cancel()
	err = x.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM blinds)`).Scan(&entries, &blinds)
	return entries, blinds, unavailable(err)
}

// DeleteBlinds implements index.Backend.
func (x *Index) DeleteBlinds(ctx context.Context, keyVersion int) error {
	if err := x.open(); err != nil {
		return err
	}
	ctx, cancel := x.deadline(ctx)
	defer cancel()
	_, err := x.pool.Exec(ctx, `DELETE FROM blinds WHERE key_version = $1`, keyVersion)
	return unavailable(err)
}

// GetState implements index.Backend.
func (x *Index) GetState(ctx context.Context, name string) (string, error) {
	if err := x.open(); err != nil {
		return "", err
	}
	ctx, cancel := x.deadline(ctx)
	defer cancel()
	var v string
	err := x.pool.QueryRow(ctx, `SELECT value FROM state WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, unavailable(err)
}

// SetState implements index.Backend.
func (x *Index) SetState(ctx context.Context, name, value string) error {
	if err := x.open(); err != nil {
		return err
	}
	ctx, cancel := x.deadline(ctx)
	defer cancel()
	_, err := x.pool.Exec(ctx, `INSERT INTO state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return unavailable(err)
}

// Ping implements index.Backend.
func (x *Index) Ping(ctx context.Context) error {
	if err := x.open(); err != nil {
		return err
	}
	ctx, cancel := x.deadline(ctx)
	defer cancel()
	var v int
	return unavailable(x.pool.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v))
}

// Close implements index.Backend.
func (x *Index) Close() error {
	if !x.closed.Swap(true) {
		x.pool.Close()
	}
	return nil
}
