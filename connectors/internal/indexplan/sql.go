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

// QuerySQL renders q (already validated) as one SQL statement per driving
// term over the shared schema, each returning (record_id, version) rows in
// record id order, at most q.Limit; Merge combines their results.
//
// Each statement is one ordered range scan of the access primary key
// (agency, term, record_id) joined to entries for the version; the state
// is implicit (only active entries are filed in access), and the date
// bounds and the other filters are checked per row, so the scan stops at
// the limit. Several driving terms (OR within the field) are several
// statements rather than one UNION: SQLite runs a UNION of limited
// subqueries by sorting each subquery's every row, ten times slower than
// the separate scans.
func QuerySQL(q index.Query, ph Placeholder) (stmts []string, args [][]any) {
	p := PlanQuery(q)
	dated := !q.CreatedFrom.IsZero() || !q.CreatedTo.IsZero() || q.ReviewFrom != "" || q.ReviewTo != ""
	for _, term := range p.Drive {
		var a []any
		arg := func(v any) string {
			a = append(a, v)
			return ph(len(a))
		}
		var b strings.Builder
		if dated {
			// The bound is repeated on e: PostgreSQL does not carry an
			// inequality across the join, and without it may merge-join
			// against entries scanned from the first record.
			fmt.Fprintf(&b, "SELECT a.record_id, e.version FROM access a JOIN entries e ON e.record_id = a.record_id"+
				" WHERE a.agency = %s AND a.term = %s AND a.record_id > %s", arg(q.Reader), arg(term), arg(q.After))
			fmt.Fprintf(&b, " AND e.record_id > %s", arg(q.After))
		} else {
			// Without date bounds entries is only where the version is:
			// join it to the page, after the limit, never to the scan.
			fmt.Fprintf(&b, "SELECT s.record_id, e.version FROM (SELECT a.record_id FROM access a"+
				" WHERE a.agency = %s AND a.term = %s AND a.record_id > %s", arg(q.Reader), arg(term), arg(q.After))
		}
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
		if !dated {
			b.WriteString(") AS s JOIN entries e ON e.record_id = s.record_id ORDER BY s.record_id")
		}
		stmts, args = append(stmts, b.String()), append(args, a)
	}
	return stmts, args
}

// Merge merges result lists each in record id order into one, without
// duplicates (a record holding two of the OR-ed values is in two lists),
// at most limit long.
func Merge(lists [][]index.Hit, limit int) []index.Hit {
	if len(lists) == 1 {
		return lists[0]
	}
	var out []index.Hit
	pos := make([]int, len(lists))
	for len(out) < limit {
		best := -1
		for i, l := range lists {
			if pos[i] < len(l) && (best < 0 || l[pos[i]].RecordID < lists[best][pos[best]].RecordID) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		h := lists[best][pos[best]]
		for i, l := range lists {
			if pos[i] < len(l) && l[pos[i]].RecordID == h.RecordID {
				pos[i]++
			}
		}
		out = append(out, h)
	}
	return out
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
