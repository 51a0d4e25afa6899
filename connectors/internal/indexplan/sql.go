package indexplan

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/liaison-project/liaison/connectors/index"
)

// Placeholder renders the n-th (1-based) bind parameter of a dialect:
// "?" for SQLite, "$n" for PostgreSQL.
type Placeholder func(n int) string

// QuerySQL renders q (already validated) as one SQL statement over the
// shared schema, returning (record_id, version) rows in record id order.
//
// Each driving term is one ordered range scan of the access primary key
// (agency, term, record_id) joined to entries for the version, the state
// is implicit (only active entries are filed in access) and the date
// bounds and other filters are checked per row; the scan stops at the
// limit. Several driving terms (OR within the field) are several such
// scans, each limited, merged by UNION (a record holding two of the values
// comes once) and limited again.
func QuerySQL(q index.Query, ph Placeholder) (string, []any) {
	p := PlanQuery(q)
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return ph(len(args))
	}
	one := func(term string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "SELECT a.record_id, e.version FROM access a JOIN entries e ON e.record_id = a.record_id"+
			" WHERE a.agency = %s AND a.term = %s AND a.record_id > %s", arg(q.Reader), arg(term), arg(q.After))
		if !q.CreatedFrom.IsZero() {
			fmt.Fprintf(&b, " AND e.created >= %s", arg(Micros(q.CreatedFrom)))
		}
		if !q.CreatedTo.IsZero() {
			fmt.Fprintf(&b, " AND e.created < %s", arg(Micros(q.CreatedTo)))
		}
		if q.ReviewFrom != "" {
			fmt.Fprintf(&b, " AND e.review_due >= %s", arg(q.ReviewFrom))
		}
		if q.ReviewTo != "" {
			fmt.Fprintf(&b, " AND e.review_due <= %s", arg(q.ReviewTo))
		}
		for _, g := range p.Check {
			in := make([]string, len(g))
			for i, t := range g {
				in[i] = arg(t)
			}
			fmt.Fprintf(&b, " AND EXISTS (SELECT 1 FROM access x WHERE x.agency = a.agency AND x.record_id = a.record_id AND x.term IN (%s))",
				strings.Join(in, ", "))
		}
		fmt.Fprintf(&b, " ORDER BY a.record_id LIMIT %s", arg(q.Limit))
		return b.String()
	}
	if len(p.Drive) == 1 {
		return one(p.Drive[0]), args
	}
	parts := make([]string, len(p.Drive))
	for i, t := range p.Drive {
		parts[i] = fmt.Sprintf("SELECT record_id, version FROM (%s) AS s%d", one(t), i)
	}
	return strings.Join(parts, " UNION ") + " ORDER BY record_id LIMIT " + arg(q.Limit), args
}

// Lists are an entry's list fields as stored in entries.lists (JSON): Get
// returns them, and an upsert diffs the access rows they filed.
type Lists struct {
	Readers    []string `json:"r,omitempty"`
	Recipients []string `json:"c,omitempty"`
	DSAIDs     []string `json:"d,omitempty"`
	OCGIDs     []string `json:"g,omitempty"`
	FourP      []string `json:"f,omitempty"`
}

// EncodeLists returns e's lists as stored.
func EncodeLists(e index.Entry) string {
	b, err := json.Marshal(Lists{e.Readers, e.Recipients, e.DSAIDs, e.OCGIDs, e.FourP})
	if err != nil {
		panic(err) // string slices always marshal
	}
	return string(b)
}

// DecodeLists reads stored lists into e.
func DecodeLists(s string, e *index.Entry) error {
	var l Lists
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return fmt.Errorf("index: stored lists of %s: %w", e.RecordID, err)
	}
	e.Readers, e.Recipients, e.DSAIDs, e.OCGIDs, e.FourP = l.Readers, l.Recipients, l.DSAIDs, l.OCGIDs, l.FourP
	return nil
}

// Row is one access row of a record.
type Row struct{ Agency, Term string }

// AccessRows returns the access rows an entry is filed under: none unless
// it is active.
func AccessRows(e index.Entry) []Row {
	if e.State != StateActive {
		return nil
	}
	terms := Terms(e)
	var rows []Row
	for _, r := range Readers(e) {
		for _, t := range terms {
			rows = append(rows, Row{r, t})
		}
	}
	return rows
}

// Diff returns the rows of next not in prev (to insert) and of prev not in
// next (to delete): a share adds a reader's rows without rewriting the
// others.
func Diff(prev, next []Row) (add, remove []Row) {
	ps := make(map[Row]bool, len(prev))
	for _, r := range prev {
		ps[r] = true
	}
	ns := make(map[Row]bool, len(next))
	for _, r := range next {
		ns[r] = true
		if !ps[r] {
			add = append(add, r)
		}
	}
	for _, r := range prev {
		if !ns[r] {
			remove = append(remove, r)
		}
	}
	return add, remove
}
