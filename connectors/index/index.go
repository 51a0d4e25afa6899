// Package index is the contract of Liaison's query and selector index: the
// database that narrows which records a listing or a search considers, plus
// the conformance suite (indextest) that every backend passes. Backends:
// connectors/sqlite (embedded, pure Go; `liaison dev` and single nodes) and
// connectors/postgres (pgx; shared by gateway replicas in production).
//
// The index is never the source of truth and never grants anything. The
// object store and the audit log are the truth: the index can be rebuilt
// from the store (`liaison index rebuild`), and every row it returns is a
// candidate that the gateway loads, verifies and puts to the policy before
// showing it. So it keeps only what filters need, and selectors only as
// blind values (keyed HMACs of their normalised form): a copy of the
// database discloses which records share a selector, never the selector.
package index

import (
	"context"
	"errors"
	"time"
)

// Entry is what the index keeps of one version of one record.
type Entry struct {
	RecordID string
	// Version is the record's version; Upsert never replaces a newer
	// version with an older one (replicas and rebuilds race).
	Version int
	// State is "active" or "recalled" (Query and Lookup return active only).
	State string
	// Created is when the record was first published (UTC).
	Created time.Time
	// ReviewDue is the MoPI review date, "YYYY-MM-DD" ("" if none).
	ReviewDue string
	// Originator is the publishing agency.
	Originator string
	// Readers are the agencies that may find the record in a listing: the
	// originator and every recipient (shares add to it).
	Readers []string
	// Recipients are the explicit recipient agencies.
	Recipients   []string
	DSAIDs       []string
	Operation    string
	OCGIDs       []string
	FourP        []string
	Tier         string
	TLP          string
	HandlingCode string
	// Selectors are the record's blind selector values.
	Selectors []Blind
}

// Blind is one blind index value: HMAC-SHA256 of a normalised selector
// under blind-index key version KeyVersion, and the selector's type (so a
// search can say which of its selectors hit without knowing the value).
type Blind struct {
	KeyVersion int
	Type       string
	Value      []byte // 32 bytes
}

// Query selects active records that Reader may find. Every non-empty
// field narrows the result (AND); a slice field matches a record having
// any of the given values (OR within the field).
type Query struct {
	// Reader is required: the caller's agency.
	Reader string

	DSAIDs       []string
	Originators  []string
	Recipients   []string
	Operations   []string
	OCGIDs       []string
	FourP        []string
	Tiers        []string
	TLPs         []string
	HandlingCode []string

	// CreatedFrom (inclusive) and CreatedTo (exclusive); zero = open.
	CreatedFrom, CreatedTo time.Time
	// ReviewFrom and ReviewTo bound review_due, inclusive, "YYYY-MM-DD";
	// "" = open. Records without a review date never match a bound.
	ReviewFrom, ReviewTo string

	// After resumes a listing: only record ids strictly greater (ids sort
	// by creation time). Results are in ascending record id order.
	After string
	// Limit is the most rows returned (1..10000).
	Limit int
}

// Hit is one row of a query: a candidate record at a version.
type Hit struct {
	RecordID string
	Version  int
}

// Match is one record having a blind value that a lookup asked for.
type Match struct {
	RecordID   string
	Version    int
	Originator string
	DSAIDs     []string
	// Types are the selector types (Blind.Type) of the asked values that
	// this record holds.
	Types []string
}

// Backend is one index database.
type Backend interface {
	// Upsert stores e, replacing the stored entry of the same record only
	// if e.Version >= its version (equal versions replace: a share or a
	// recall changes readers or state without a new version number).
	// Readers, selectors and every list field are replaced as a whole.
	Upsert(ctx context.Context, e Entry) error
	// Query returns up to q.Limit active entries matching q.
	Query(ctx context.Context, q Query) ([]Hit, error)
	// Lookup returns the active records holding any of the blind values,
	// up to limit records, in record id order.
	Lookup(ctx context.Context, values []Blind, limit int) ([]Match, error)
	// Get returns the stored entry of id, or ErrNotFound.
	Get(ctx context.Context, id string) (Entry, error)
	// Count returns how many entries (any state) and blind values the
	// index holds.
	Count(ctx context.Context) (entries, blinds int64, err error)
	// DeleteBlinds removes every blind value made under keyVersion
	// (after a key rotation has re-indexed every record).
	DeleteBlinds(ctx context.Context, keyVersion int) error
	// GetState and SetState keep small named values beside the index
	// (rebuild progress, the audit position recovery resumes from).
	// GetState returns "" for a name never set.
	GetState(ctx context.Context, name string) (string, error)
	SetState(ctx context.Context, name, value string) error
	// Ping checks the database answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

var (
	// ErrNotFound: no entry for that record.
	ErrNotFound = errors.New("index: not found")
	// ErrUnavailable: the database cannot be reached or timed out. The
	// gateway answers 503 and fails closed.
	ErrUnavailable = errors.New("index: database unavailable")
	// ErrInvalid: the entry or query breaks the contract (empty reader,
	// bad limit, malformed date): a bug in the caller, never user input.
	ErrInvalid = errors.New("index: invalid argument")
)

// MaxLimit bounds Query and Lookup.
const MaxLimit = 10000
