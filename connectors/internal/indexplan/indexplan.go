// Package indexplan is what the SQL index backends (connectors/sqlite,
// connectors/postgres) share: validating entries and queries against the
// index contract, the access terms an entry is filed under, and the plan of
// a query (which filter drives the index scan, which are checked per row).
//
// Both backends keep the same logical schema. The hot query is "reader R,
// optional filters, record_id > after, order by record_id, limit n", and a
// filter may match anything from 1% to all of R's records. So an active
// entry is filed in one table, access(agency, term, record_id), once per
// reader under the empty term (the plain listing) and once per reader and
// filter value under "field:value". Any query then starts with an ordered
// range scan of one (agency, term) prefix from record_id > after, which
// stops after n rows when the other conditions rarely reject a row, and
// only ever reads rows that R may see and that already pass the driving
// filter, however rare that value is among R's records or common among
// other agencies' records. The price is rows: readers × (1 + filter values)
// per entry, about 30 for a typical entry.
package indexplan

import (
	"fmt"
	"slices"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
)

// Field codes prefix the terms ("d:DSA-1"). One letter keeps the keys short.
const (
	FieldDSA        = "d"
	FieldOriginator = "o"
	FieldRecipient  = "r"
	FieldOperation  = "p"
	FieldOCG        = "g"
	FieldFourP      = "f"
	FieldTier       = "t"
	FieldTLP        = "l"
	FieldHandling   = "h"
)

// ReaderTerm is the term of the plain listing row.
const ReaderTerm = ""

// Term is the access term of value in field.
func Term(field, value string) string { return field + ":" + value }

// BlindSize is the length of a blind value (HMAC-SHA256).
const BlindSize = 32

// States of an entry.
const (
	StateActive   = "active"
	StateRecalled = "recalled"
)

// ValidDate reports whether s is a "YYYY-MM-DD" calendar date.
func ValidDate(s string) bool {
	if len(s) != 10 {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// ValidateEntry checks e against the contract.
func ValidateEntry(e index.Entry) error {
	switch {
	case e.RecordID == "":
		return fmt.Errorf("%w: entry without a record id", index.ErrInvalid)
	case e.Version < 0:
		return fmt.Errorf("%w: entry %s: negative version", index.ErrInvalid, e.RecordID)
	case e.State != StateActive && e.State != StateRecalled:
		return fmt.Errorf("%w: entry %s: state %q", index.ErrInvalid, e.RecordID, e.State)
	case e.ReviewDue != "" && !ValidDate(e.ReviewDue):
		return fmt.Errorf("%w: entry %s: review date %q is not YYYY-MM-DD", index.ErrInvalid, e.RecordID, e.ReviewDue)
	}
	for _, b := range e.Selectors {
		if len(b.Value) != BlindSize {
			return fmt.Errorf("%w: entry %s: blind value of %d bytes, want %d", index.ErrInvalid, e.RecordID, len(b.Value), BlindSize)
		}
	}
	return nil
}

// ValidateQuery checks q against the contract.
func ValidateQuery(q index.Query) error {
	switch {
	case q.Reader == "":
		return fmt.Errorf("%w: query without a reader", index.ErrInvalid)
	case q.Limit < 1 || q.Limit > index.MaxLimit:
		return fmt.Errorf("%w: limit %d outside 1..%d", index.ErrInvalid, q.Limit, index.MaxLimit)
	case q.ReviewFrom != "" && !ValidDate(q.ReviewFrom):
		return fmt.Errorf("%w: review from %q is not YYYY-MM-DD", index.ErrInvalid, q.ReviewFrom)
	case q.ReviewTo != "" && !ValidDate(q.ReviewTo):
		return fmt.Errorf("%w: review to %q is not YYYY-MM-DD", index.ErrInvalid, q.ReviewTo)
	}
	return nil
}

// ValidateLookup checks Lookup's arguments.
func ValidateLookup(values []index.Blind, limit int) error {
	if limit < 1 || limit > index.MaxLimit {
		return fmt.Errorf("%w: limit %d outside 1..%d", index.ErrInvalid, limit, index.MaxLimit)
	}
	for _, b := range values {
		if len(b.Value) != BlindSize {
			return fmt.Errorf("%w: blind value of %d bytes, want %d", index.ErrInvalid, len(b.Value), BlindSize)
		}
	}
	return nil
}

// Terms returns the terms an active entry is filed under for each of its
// readers: the reader term and one per filter value, deduplicated.
func Terms(e index.Entry) []string {
	t := []string{ReaderTerm}
	add := func(field string, values ...string) {
		for _, v := range values {
			t = append(t, Term(field, v))
		}
	}
	add(FieldDSA, e.DSAIDs...)
	add(FieldOriginator, e.Originator)
	add(FieldRecipient, e.Recipients...)
	add(FieldOCG, e.OCGIDs...)
	add(FieldFourP, e.FourP...)
	if e.Operation != "" {
		add(FieldOperation, e.Operation)
	}
	if e.Tier != "" {
		add(FieldTier, e.Tier)
	}
	if e.TLP != "" {
		add(FieldTLP, e.TLP)
	}
	if e.HandlingCode != "" {
		add(FieldHandling, e.HandlingCode)
	}
	slices.Sort(t)
	return slices.Compact(t)
}

// Readers returns e's readers deduplicated and sorted.
func Readers(e index.Entry) []string {
	r := slices.Clone(e.Readers)
	slices.Sort(r)
	return slices.Compact(slices.DeleteFunc(r, func(s string) bool { return s == "" }))
}

// Plan is how a query is run: an ordered scan of access(Reader, term) for
// each term of Drive (their union, in record id order), each row kept only
// if the record also has, for every group of Check, one of its terms.
type Plan struct {
	Drive []string
	Check [][]string
}

// field is one filter of a query in the order Plan prefers to drive by:
// the fields whose values usually pick few records first (an OCG, an
// operation, a DSA), the low-cardinality labels (tier, TLP, handling code)
// last. Without statistics this is a guess; a wrong guess costs rows
// scanned, never a wrong answer.
func fields(q index.Query) [][]string {
	terms := func(field string, values []string) []string {
		if len(values) == 0 {
			return nil
		}
		out := make([]string, 0, len(values))
		for _, v := range values {
			out = append(out, Term(field, v))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return [][]string{
		terms(FieldOCG, q.OCGIDs),
		terms(FieldOperation, q.Operations),
		terms(FieldDSA, q.DSAIDs),
		terms(FieldFourP, q.FourP),
		terms(FieldRecipient, q.Recipients),
		terms(FieldOriginator, q.Originators),
		terms(FieldHandling, q.HandlingCode),
		terms(FieldTier, q.Tiers),
		terms(FieldTLP, q.TLPs),
	}
}

// PlanQuery plans q: drive by the first filtered field in preference
// order, or by the reader term when q filters on no field.
func PlanQuery(q index.Query) Plan {
	var p Plan
	for _, g := range fields(q) {
		switch {
		case len(g) == 0:
		case p.Drive == nil:
			p.Drive = g
		default:
			p.Check = append(p.Check, g)
		}
	}
	if p.Drive == nil {
		p.Drive = []string{ReaderTerm}
	}
	return p
}

// Micros is how a creation time (or a bound) is stored and compared: Unix
// microseconds, the resolution of PostgreSQL's timestamps. Finer parts are
// dropped, so Get returns Created truncated to the microsecond.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros is the inverse of Micros.
func FromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }
