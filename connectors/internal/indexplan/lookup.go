package indexplan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/liaison-project/liaison/connectors/index"
)

// LookupSQL renders a lookup of values: rows (record_id, key_version,
// value, version, originator, lists) of active entries holding any of the
// values, in record id order. The blinds_value index finds the rows; the
// key version is checked by the Matcher (a 32-byte HMAC under one key
// never equals one under another, but the contract matches both parts).
func LookupSQL(values []index.Blind, ph Placeholder) (string, []any) {
	args := make([]any, 0, len(values))
	in := make([]string, 0, len(values))
	seen := map[string]bool{}
	for _, v := range values {
		if seen[string(v.Value)] {
			continue
		}
		seen[string(v.Value)] = true
		args = append(args, v.Value)
		in = append(in, ph(len(args)))
	}
	return fmt.Sprintf(`SELECT b.record_id, b.key_version, b.value, e.version, e.originator, e.lists
		FROM blinds b JOIN entries e ON e.record_id = b.record_id
		WHERE b.value IN (%s) AND e.state = 'active' ORDER BY b.record_id`, strings.Join(in, ", ")), args
}

// LookupRow is one row of LookupSQL.
type LookupRow struct {
	RecordID   string
	KeyVersion int
	Value      []byte
	Version    int
	Originator string
	Lists      string
}

// Matcher folds lookup rows into matches.
type Matcher struct {
	asked map[string][]string // key version + value → asked types
	limit int
	out   []index.Match
}

func blindKey(kv int, v []byte) string { return fmt.Sprintf("%d/%s", kv, v) }

// NewMatcher returns a matcher for a lookup of values, up to limit records.
func NewMatcher(values []index.Blind, limit int) *Matcher {
	m := &Matcher{asked: map[string][]string{}, limit: limit}
	for _, v := range values {
		k := blindKey(v.KeyVersion, v.Value)
		m.asked[k] = append(m.asked[k], v.Type)
	}
	return m
}

// Add folds in one row (rows come in record id order). It reports done
// when a row of a record beyond the limit arrives: the caller stops
// reading.
func (m *Matcher) Add(r LookupRow) (done bool, err error) {
	types, ok := m.asked[blindKey(r.KeyVersion, r.Value)]
	if !ok {
		return false, nil
	}
	n := len(m.out)
	if n == 0 || m.out[n-1].RecordID != r.RecordID {
		if n == m.limit {
			return true, nil
		}
		e := index.Entry{RecordID: r.RecordID}
		if err := DecodeLists(r.Lists, &e); err != nil {
			return true, err
		}
		m.out = append(m.out, index.Match{RecordID: r.RecordID, Version: r.Version, Originator: r.Originator, DSAIDs: e.DSAIDs})
		n++
	}
	last := &m.out[n-1]
	for _, t := range types {
		if !slices.Contains(last.Types, t) {
			last.Types = append(last.Types, t)
		}
	}
	slices.Sort(last.Types)
	return false, nil
}

// Matches returns the matches so far.
func (m *Matcher) Matches() []index.Match { return m.out }
