// Package indextest is the conformance suite every index.Backend passes,
// plus a property test that compares a backend with a plain in-memory
// reference implementation of the contract over random entries and
// queries.
//
// Usage from a backend's tests:
//
//	func TestConformance(t *testing.T) {
//		indextest.Run(t, func(t *testing.T) index.Backend { return openForTest(t) })
//	}
//
// open is called once per subtest with that subtest's t and must return an
// empty index (the backend registers its own cleanup). The suite closes
// the backend itself only in the closed-database test.
//
// Where the contract leaves room, the suite pins what the SQL backends do:
// Created is kept to the microsecond; Get returns list fields as given and
// selectors deduplicated by (key version, value) in that order; a blind
// value is 32 bytes; Lookup reports the types of the asked values.
package indextest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
)

// Run runs the conformance suite.
func Run(t *testing.T, open func(t *testing.T) index.Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b index.Backend)
	}{
		{"round_trip", testRoundTrip},
		{"invalid_entry", testInvalidEntry},
		{"versions", testVersions},
		{"lists_replaced", testListsReplaced},
		{"filters_alone", testFiltersAlone},
		{"filters_combined", testFiltersCombined},
		{"created_range", testCreatedRange},
		{"review_range", testReviewRange},
		{"recalled", testRecalled},
		{"paging", testPaging},
		{"invalid_query", testInvalidQuery},
		{"lookup", testLookup},
		{"delete_blinds", testDeleteBlinds},
		{"count", testCount},
		{"state", testState},
		{"concurrency", testConcurrency},
		{"property", testProperty},
		{"closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var base = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// id returns the i-th record id; ids sort like record ids (by creation).
func id(i int) string { return fmt.Sprintf("rec_%06d", i) }

// blind is a deterministic 32-byte blind value of (key version, selector).
func blind(kv int, typ, sel string) index.Blind {
	h := sha256.Sum256(fmt.Appendf(nil, "%d/%s/%s", kv, typ, sel))
	return index.Blind{KeyVersion: kv, Type: typ, Value: h[:]}
}

func entry(i int) index.Entry {
	return index.Entry{
		RecordID: id(i), Version: 1, State: "active",
		Created:    base.Add(time.Duration(i) * time.Hour),
		Originator: "ag-a", Readers: []string{"ag-a", "ag-b"}, Recipients: []string{"ag-b"},
		DSAIDs: []string{"dsa-1"}, Tier: "t2", TLP: "amber", HandlingCode: "P",
	}
}

func upsert(t *testing.T, b index.Backend, es ...index.Entry) {
	t.Helper()
	for _, e := range es {
		if err := b.Upsert(context.Background(), e); err != nil {
			t.Fatalf("Upsert(%s v%d): %v", e.RecordID, e.Version, err)
		}
	}
}

func query(t *testing.T, b index.Backend, q index.Query) []index.Hit {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = index.MaxLimit
	}
	hits, err := b.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	return hits
}

func ids(hits []index.Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.RecordID)
	}
	return out
}

func idList(is ...int) []string {
	out := []string{}
	for _, i := range is {
		out = append(out, id(i))
	}
	return out
}

func wantIDs(t *testing.T, b index.Backend, q index.Query, want []string) {
	t.Helper()
	if got := ids(query(t, b, q)); !slices.Equal(got, want) {
		t.Errorf("Query(%+v)\n got %v\nwant %v", q, got, want)
	}
}

// sameEntry compares a stored entry with what was upserted, in the
// suite's normal form.
func sameEntry(t *testing.T, got, want index.Entry) {
	t.Helper()
	g, w := normalise(got), normalise(want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("Get(%s)\n got %+v\nwant %+v", want.RecordID, g, w)
	}
}

func testRoundTrip(t *testing.T, b index.Backend) {
	ctx := context.Background()
	e := entry(1)
	e.Version = 3
	e.Created = base.Add(1234567891 * time.Nanosecond) // sub-microsecond part dropped
	e.ReviewDue = "2027-01-31"
	e.Operation, e.OCGIDs, e.FourP = "op-x", []string{"ocg-1", "ocg-2"}, []string{"pursue", "protect"}
	e.Readers = []string{"ag-a", "ag-b", "ag-c"}
	e.Recipients = []string{"ag-b", "ag-c"}
	e.DSAIDs = []string{"dsa-1", "dsa-2"}
	e.Selectors = []index.Blind{blind(2, "phone", "1"), blind(1, "email", "x"), blind(1, "phone", "1"), blind(1, "email", "x")}
	upsert(t, b, e)
	got, err := b.Get(ctx, e.RecordID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	sameEntry(t, got, e)
	if got.Created.Location() != time.UTC || !got.Created.Equal(base.Add(1234567*time.Microsecond)) {
		t.Errorf("Created = %v, want %v in UTC", got.Created, base.Add(1234567*time.Microsecond))
	}
	if len(got.Selectors) != 3 {
		t.Errorf("selectors = %d, want 3 (a duplicate value is stored once)", len(got.Selectors))
	}
	if _, err := b.Get(ctx, "rec_missing"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	// An entry with nothing but the required fields.
	min := index.Entry{RecordID: id(2), State: "recalled", Created: base}
	upsert(t, b, min)
	got, err = b.Get(ctx, min.RecordID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	sameEntry(t, got, min)
}

func testInvalidEntry(t *testing.T, b index.Backend) {
	ctx := context.Background()
	bad := map[string]func(e *index.Entry){
		"no_id":        func(e *index.Entry) { e.RecordID = "" },
		"state":        func(e *index.Entry) { e.State = "deleted" },
		"empty_state":  func(e *index.Entry) { e.State = "" },
		"review":       func(e *index.Entry) { e.ReviewDue = "2027-1-5" },
		"review_date":  func(e *index.Entry) { e.ReviewDue = "2027-02-30" },
		"short_blind":  func(e *index.Entry) { e.Selectors = []index.Blind{{KeyVersion: 1, Type: "x", Value: []byte{1}}} },
		"neg_version":  func(e *index.Entry) { e.Version = -1 },
		"blind_nil":    func(e *index.Entry) { e.Selectors = []index.Blind{{KeyVersion: 1, Type: "x"}} },
		"review_text":  func(e *index.Entry) { e.ReviewDue = "tomorrow!!" },
		"review_space": func(e *index.Entry) { e.ReviewDue = " 2027-01-01" },
	}
	for name, mutate := range bad {
		e := entry(1)
		mutate(&e)
		if err := b.Upsert(ctx, e); !errors.Is(err, index.ErrInvalid) {
			t.Errorf("%s: Upsert = %v, want ErrInvalid", name, err)
		}
	}
	if n, _, err := b.Count(ctx); err != nil || n != 0 {
		t.Errorf("Count after invalid upserts = %d, %v; want 0 (nothing stored)", n, err)
	}
}

func testVersions(t *testing.T, b index.Backend) {
	ctx := context.Background()
	e := entry(1)
	e.Version, e.Tier = 5, "t5"
	upsert(t, b, e)
	older := e
	older.Version, older.Tier = 4, "t4"
	upsert(t, b, older) // not an error: a late replica write loses quietly
	got, err := b.Get(ctx, e.RecordID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 5 || got.Tier != "t5" {
		t.Errorf("after older upsert: v%d tier %s, want v5 t5", got.Version, got.Tier)
	}
	wantIDs(t, b, index.Query{Reader: "ag-a", Tiers: []string{"t4"}}, []string{})
	equal := e
	equal.Tier = "t5b"
	upsert(t, b, equal)
	if got, _ := b.Get(ctx, e.RecordID); got.Tier != "t5b" {
		t.Errorf("equal version did not replace: tier %s", got.Tier)
	}
	newer := e
	newer.Version, newer.Tier = 6, "t6"
	upsert(t, b, newer)
	if got, _ := b.Get(ctx, e.RecordID); got.Version != 6 || got.Tier != "t6" {
		t.Errorf("newer version did not replace: v%d %s", got.Version, got.Tier)
	}
	hits := query(t, b, index.Query{Reader: "ag-a", Tiers: []string{"t6"}})
	if len(hits) != 1 || hits[0].Version != 6 {
		t.Errorf("Query hits = %+v, want one at v6", hits)
	}
	wantIDs(t, b, index.Query{Reader: "ag-a", Tiers: []string{"t5b"}}, []string{})
}

func testListsReplaced(t *testing.T, b index.Backend) {
	ctx := context.Background()
	e := entry(1)
	e.Readers = []string{"ag-a", "ag-b", "ag-c"}
	e.OCGIDs = []string{"ocg-1", "ocg-2"}
	e.Selectors = []index.Blind{blind(1, "phone", "1"), blind(1, "phone", "2")}
	upsert(t, b, e)
	e2 := e
	e2.Readers = []string{"ag-a", "ag-d"}
	e2.OCGIDs = []string{"ocg-3"}
	e2.Selectors = []index.Blind{blind(1, "phone", "3")}
	upsert(t, b, e2)
	for _, r := range []string{"ag-b", "ag-c"} {
		wantIDs(t, b, index.Query{Reader: r}, []string{})
	}
	wantIDs(t, b, index.Query{Reader: "ag-d"}, idList(1))
	wantIDs(t, b, index.Query{Reader: "ag-a", OCGIDs: []string{"ocg-1", "ocg-2"}}, []string{})
	wantIDs(t, b, index.Query{Reader: "ag-a", OCGIDs: []string{"ocg-3"}}, idList(1))
	m, err := b.Lookup(ctx, []index.Blind{blind(1, "phone", "1"), blind(1, "phone", "2")}, 10)
	if err != nil || len(m) != 0 {
		t.Errorf("Lookup of replaced selectors = %+v, %v; want none", m, err)
	}
	m, err = b.Lookup(ctx, []index.Blind{blind(1, "phone", "3")}, 10)
	if err != nil || len(m) != 1 {
		t.Errorf("Lookup of new selector = %+v, %v; want one", m, err)
	}
	if _, n, _ := b.Count(ctx); n != 1 {
		t.Errorf("blind count = %d, want 1", n)
	}
	got, _ := b.Get(ctx, e.RecordID)
	sameEntry(t, got, e2)
	// Emptied lists.
	e3 := e2
	e3.Readers, e3.OCGIDs, e3.Selectors = nil, nil, nil
	upsert(t, b, e3)
	wantIDs(t, b, index.Query{Reader: "ag-a"}, []string{})
	got, _ = b.Get(ctx, e.RecordID)
	sameEntry(t, got, e3)
}

// filterSet is eight entries differing in every filtered field.
func filterSet(t *testing.T, b index.Backend) {
	t.Helper()
	for i := 1; i <= 8; i++ {
		e := entry(i)
		e.Readers = []string{"ag-r"}
		e.Originator = []string{"ag-a", "ag-b"}[i%2]
		e.Recipients = []string{fmt.Sprintf("rcp-%d", i%3), "rcp-all"}
		e.DSAIDs = []string{fmt.Sprintf("dsa-%d", i%4)}
		if i%4 == 0 {
			e.DSAIDs = append(e.DSAIDs, "dsa-x")
		}
		e.Operation = []string{"", "op-1", "op-2"}[i%3]
		e.OCGIDs = nil
		if i <= 4 {
			e.OCGIDs = []string{fmt.Sprintf("ocg-%d", i), "ocg-low"}
		}
		e.FourP = []string{[]string{"pursue", "prevent", "protect", "prepare"}[i%4]}
		e.Tier = fmt.Sprintf("t%d", i%2+1)
		e.TLP = []string{"red", "amber", "green"}[i%3]
		e.HandlingCode = []string{"P", "C"}[i%2]
		upsert(t, b, e)
	}
}

func testFiltersAlone(t *testing.T, b index.Backend) {
	filterSet(t, b)
	q := func(mod func(q *index.Query)) index.Query {
		q := index.Query{Reader: "ag-r"}
		mod(&q)
		return q
	}
	cases := []struct {
		name string
		q    index.Query
		want []string
	}{
		{"none", q(func(q *index.Query) {}), idList(1, 2, 3, 4, 5, 6, 7, 8)},
		{"dsa", q(func(q *index.Query) { q.DSAIDs = []string{"dsa-1"} }), idList(1, 5)},
		{"dsa_or", q(func(q *index.Query) { q.DSAIDs = []string{"dsa-1", "dsa-x"} }), idList(1, 4, 5, 8)},
		{"dsa_second_value", q(func(q *index.Query) { q.DSAIDs = []string{"dsa-x"} }), idList(4, 8)},
		{"dsa_none", q(func(q *index.Query) { q.DSAIDs = []string{"dsa-9"} }), idList()},
		{"originator", q(func(q *index.Query) { q.Originators = []string{"ag-b"} }), idList(1, 3, 5, 7)},
		{"originator_or", q(func(q *index.Query) { q.Originators = []string{"ag-a", "ag-b"} }), idList(1, 2, 3, 4, 5, 6, 7, 8)},
		{"recipient", q(func(q *index.Query) { q.Recipients = []string{"rcp-0"} }), idList(3, 6)},
		{"recipient_or_overlap", q(func(q *index.Query) { q.Recipients = []string{"rcp-0", "rcp-all"} }), idList(1, 2, 3, 4, 5, 6, 7, 8)},
		{"operation", q(func(q *index.Query) { q.Operations = []string{"op-2"} }), idList(2, 5, 8)},
		{"operation_or", q(func(q *index.Query) { q.Operations = []string{"op-1", "op-2"} }), idList(1, 2, 4, 5, 7, 8)},
		{"ocg", q(func(q *index.Query) { q.OCGIDs = []string{"ocg-3"} }), idList(3)},
		{"ocg_shared", q(func(q *index.Query) { q.OCGIDs = []string{"ocg-low"} }), idList(1, 2, 3, 4)},
		{"fourp", q(func(q *index.Query) { q.FourP = []string{"prepare", "pursue"} }), idList(3, 4, 7, 8)},
		{"tier", q(func(q *index.Query) { q.Tiers = []string{"t1"} }), idList(2, 4, 6, 8)},
		{"tlp", q(func(q *index.Query) { q.TLPs = []string{"red"} }), idList(3, 6)},
		{"tlp_or", q(func(q *index.Query) { q.TLPs = []string{"red", "green"} }), idList(2, 3, 5, 6, 8)},
		{"handling", q(func(q *index.Query) { q.HandlingCode = []string{"C"} }), idList(1, 3, 5, 7)},
		{"after", q(func(q *index.Query) { q.After = id(6) }), idList(7, 8)},
		{"after_between", q(func(q *index.Query) { q.After = id(6) + "a" }), idList(7, 8)},
		{"limit", q(func(q *index.Query) { q.Limit = 3 }), idList(1, 2, 3)},
		{"other_reader", index.Query{Reader: "ag-a"}, idList()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantIDs(t, b, tc.q, tc.want) })
	}
}

func testFiltersCombined(t *testing.T, b index.Backend) {
	filterSet(t, b)
	cases := []struct {
		name string
		q    index.Query
		want []string
	}{
		{"dsa_and_tier", index.Query{DSAIDs: []string{"dsa-1", "dsa-x"}, Tiers: []string{"t1"}}, idList(4, 8)},
		{"ocg_and_originator", index.Query{OCGIDs: []string{"ocg-low"}, Originators: []string{"ag-b"}}, idList(1, 3)},
		{"op_tlp_handling", index.Query{Operations: []string{"op-1", "op-2"}, TLPs: []string{"amber", "green"}, HandlingCode: []string{"C"}}, idList(1, 5, 7)},
		{"recipient_fourp", index.Query{Recipients: []string{"rcp-1", "rcp-2"}, FourP: []string{"prevent", "protect"}}, idList(1, 2, 5)},
		{"all_fields", index.Query{DSAIDs: []string{"dsa-1"}, Originators: []string{"ag-b"}, Recipients: []string{"rcp-all"},
			Operations: []string{"op-1"}, OCGIDs: []string{"ocg-1"}, FourP: []string{"prevent"}, Tiers: []string{"t2"},
			TLPs: []string{"amber"}, HandlingCode: []string{"C"}}, idList(1)},
		{"all_fields_one_off", index.Query{DSAIDs: []string{"dsa-1"}, Originators: []string{"ag-b"}, Recipients: []string{"rcp-all"},
			Operations: []string{"op-1"}, OCGIDs: []string{"ocg-1"}, FourP: []string{"prevent"}, Tiers: []string{"t2"},
			TLPs: []string{"amber"}, HandlingCode: []string{"P"}}, idList()},
		{"disjoint", index.Query{Tiers: []string{"t1"}, HandlingCode: []string{"C"}}, idList()},
		{"filter_after_limit", index.Query{Originators: []string{"ag-a"}, After: id(2), Limit: 2}, idList(4, 6)},
		{"created_and_dsa", index.Query{DSAIDs: []string{"dsa-0", "dsa-1"}, CreatedFrom: base.Add(4 * time.Hour), CreatedTo: base.Add(8 * time.Hour)}, idList(4, 5)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Reader = "ag-r"
			wantIDs(t, b, tc.q, tc.want)
		})
	}
}

func testCreatedRange(t *testing.T, b index.Backend) {
	for i := 1; i <= 5; i++ {
		upsert(t, b, entry(i)) // created base+i hours
	}
	h := func(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }
	cases := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"open", time.Time{}, time.Time{}, idList(1, 2, 3, 4, 5)},
		{"from_inclusive", h(2), time.Time{}, idList(2, 3, 4, 5)},
		{"to_exclusive", time.Time{}, h(4), idList(1, 2, 3)},
		{"both", h(2), h(4), idList(2, 3)},
		{"empty_window", h(3), h(3), idList()},
		{"between", h(2).Add(time.Microsecond), h(3).Add(time.Microsecond), idList(3)},
		{"other_zone", h(2).In(time.FixedZone("x", 3600)), h(3).In(time.FixedZone("y", -7200)), idList(2)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantIDs(t, b, index.Query{Reader: "ag-a", CreatedFrom: tc.from, CreatedTo: tc.to}, tc.want)
		})
	}
}

func testReviewRange(t *testing.T, b index.Backend) {
	reviews := []string{"", "2026-05-01", "2026-06-15", "2026-06-30", "", "2027-01-01"}
	for i, r := range reviews {
		e := entry(i + 1)
		e.ReviewDue = r
		upsert(t, b, e)
	}
	cases := []struct {
		name     string
		from, to string
		want     []string
	}{
		{"open_includes_undated", "", "", idList(1, 2, 3, 4, 5, 6)},
		{"from_inclusive", "2026-06-15", "", idList(3, 4, 6)},
		{"to_inclusive", "", "2026-06-15", idList(2, 3)},
		{"both_inclusive", "2026-05-01", "2026-06-30", idList(2, 3, 4)},
		{"single_day", "2026-06-30", "2026-06-30", idList(4)},
		{"nothing", "2026-07-01", "2026-12-31", idList()},
		{"inverted", "2026-07-01", "2026-06-01", idList()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantIDs(t, b, index.Query{Reader: "ag-a", ReviewFrom: tc.from, ReviewTo: tc.to}, tc.want)
		})
	}
}

func testRecalled(t *testing.T, b index.Backend) {
	ctx := context.Background()
	sel := blind(1, "phone", "07700")
	for i := 1; i <= 3; i++ {
		e := entry(i)
		e.Selectors = []index.Blind{sel}
		upsert(t, b, e)
	}
	r := entry(2)
	r.State, r.Selectors = "recalled", []index.Blind{sel}
	upsert(t, b, r)
	wantIDs(t, b, index.Query{Reader: "ag-a"}, idList(1, 3))
	wantIDs(t, b, index.Query{Reader: "ag-b", DSAIDs: []string{"dsa-1"}}, idList(1, 3))
	m, err := b.Lookup(ctx, []index.Blind{sel}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := matchIDs(m); !slices.Equal(got, idList(1, 3)) {
		t.Errorf("Lookup = %v, want rec 1 and 3 (2 recalled)", got)
	}
	got, err := b.Get(ctx, id(2))
	if err != nil || got.State != "recalled" {
		t.Errorf("Get(recalled) = %+v, %v; want it with state recalled", got, err)
	}
	if n, _, _ := b.Count(ctx); n != 3 {
		t.Errorf("Count = %d, want 3 (recalled entries count)", n)
	}
	// A recall undone at the same version (a rebuild replaying) is found again.
	upsert(t, b, entry(2))
	wantIDs(t, b, index.Query{Reader: "ag-a"}, idList(1, 2, 3))
}

func matchIDs(m []index.Match) []string {
	out := []string{}
	for _, x := range m {
		out = append(out, x.RecordID)
	}
	return out
}

func testPaging(t *testing.T, b index.Backend) {
	const n = 230
	rng := rand.New(rand.NewPCG(1, 2))
	var want []string
	for i := range n {
		e := entry(i)
		e.Tier = []string{"t1", "t2", "t3"}[rng.IntN(3)]
		e.OCGIDs = []string{"ocg-a", "ocg-b"}[:rng.IntN(3)]
		if e.Tier != "t3" && len(e.OCGIDs) > 0 {
			want = append(want, e.RecordID)
		}
		upsert(t, b, e)
	}
	for _, limit := range []int{1, 7, 100, len(want), len(want) + 1} {
		var got []string
		q := index.Query{Reader: "ag-b", Tiers: []string{"t1", "t2"}, OCGIDs: []string{"ocg-a", "ocg-b"}, Limit: limit}
		for pages := 0; ; pages++ {
			if pages > n+1 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			hits := query(t, b, q)
			if len(hits) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(hits))
			}
			got = append(got, ids(hits)...)
			if len(hits) < limit {
				break
			}
			q.After = hits[len(hits)-1].RecordID
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: walked %d ids, want %d (each exactly once, in order)", limit, len(got), len(want))
		}
	}
}

func testInvalidQuery(t *testing.T, b index.Backend) {
	upsert(t, b, entry(1))
	ctx := context.Background()
	bad := map[string]index.Query{
		"no_reader":     {Limit: 10},
		"limit_zero":    {Reader: "ag-a"},
		"limit_neg":     {Reader: "ag-a", Limit: -1},
		"limit_over":    {Reader: "ag-a", Limit: index.MaxLimit + 1},
		"review_from":   {Reader: "ag-a", Limit: 10, ReviewFrom: "2026/01/01"},
		"review_to":     {Reader: "ag-a", Limit: 10, ReviewTo: "2026-13-01"},
		"reader_filter": {Limit: 10, DSAIDs: []string{"dsa-1"}},
	}
	for name, q := range bad {
		if hits, err := b.Query(ctx, q); !errors.Is(err, index.ErrInvalid) {
			t.Errorf("%s: Query = %v, %v; want ErrInvalid", name, hits, err)
		}
	}
	if hits, err := b.Query(ctx, index.Query{Reader: "ag-a", Limit: index.MaxLimit}); err != nil || len(hits) != 1 {
		t.Errorf("Query at MaxLimit = %v, %v", hits, err)
	}
	for _, limit := range []int{0, -1, index.MaxLimit + 1} {
		if _, err := b.Lookup(ctx, []index.Blind{blind(1, "x", "y")}, limit); !errors.Is(err, index.ErrInvalid) {
			t.Errorf("Lookup limit %d = %v, want ErrInvalid", limit, err)
		}
	}
	if _, err := b.Lookup(ctx, []index.Blind{{KeyVersion: 1, Type: "x", Value: []byte("short")}}, 10); !errors.Is(err, index.ErrInvalid) {
		t.Errorf("Lookup of a short value = %v, want ErrInvalid", err)
	}
}

func testLookup(t *testing.T, b index.Backend) {
	ctx := context.Background()
	phone1, phone1v2 := blind(1, "phone", "07700"), blind(2, "phone", "07700")
	email := blind(1, "email", "a@b")
	veh := blind(2, "vehicle", "AB12")
	e1 := entry(1)
	e1.Selectors = []index.Blind{phone1, email}
	e1.DSAIDs = []string{"dsa-1", "dsa-2"}
	e2 := entry(2)
	e2.Selectors = []index.Blind{phone1v2, veh}
	e2.Originator = "ag-z"
	e3 := entry(3)
	e3.Selectors = []index.Blind{phone1, phone1v2}
	e4 := entry(4)
	e4.Selectors = []index.Blind{email}
	e4.State = "recalled"
	e5 := entry(5)
	e5.Selectors = []index.Blind{blind(1, "phone", "other")}
	upsert(t, b, e1, e2, e3, e4, e5)

	m, err := b.Lookup(ctx, []index.Blind{phone1, email, veh}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []index.Match{
		{RecordID: id(1), Version: 1, Originator: "ag-a", DSAIDs: []string{"dsa-1", "dsa-2"}, Types: []string{"email", "phone"}},
		{RecordID: id(2), Version: 1, Originator: "ag-z", DSAIDs: []string{"dsa-1"}, Types: []string{"vehicle"}},
		{RecordID: id(3), Version: 1, Originator: "ag-a", DSAIDs: []string{"dsa-1"}, Types: []string{"phone"}},
	}
	sameMatches(t, m, want)
	// Several key versions at once (during a rotation both are asked).
	m, err = b.Lookup(ctx, []index.Blind{phone1, phone1v2}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := matchIDs(m); !slices.Equal(got, idList(1, 2, 3)) {
		t.Errorf("Lookup v1+v2 = %v", got)
	}
	// A value under the wrong key version matches nothing.
	wrongKV := phone1
	wrongKV.KeyVersion = 3
	if m, err := b.Lookup(ctx, []index.Blind{wrongKV}, 10); err != nil || len(m) != 0 {
		t.Errorf("Lookup under another key version = %v, %v; want none", m, err)
	}
	// Limit counts records, in record id order.
	m, err = b.Lookup(ctx, []index.Blind{phone1, phone1v2, email}, 2)
	if err != nil {
		t.Fatal(err)
	}
	sameMatches(t, m, want[:1:1])
	if len(m) == 2 && m[1].RecordID != id(2) {
		t.Errorf("second match %s, want %s", m[1].RecordID, id(2))
	}
	if len(m) != 2 {
		t.Errorf("Lookup limit 2 = %d matches", len(m))
	}
	if m, err := b.Lookup(ctx, nil, 10); err != nil || len(m) != 0 {
		t.Errorf("Lookup(nothing) = %v, %v", m, err)
	}
	if m, err := b.Lookup(ctx, []index.Blind{blind(1, "phone", "nobody")}, 10); err != nil || len(m) != 0 {
		t.Errorf("Lookup(unknown) = %v, %v", m, err)
	}
	// Only the recalled record holds email besides e1.
	if m, err := b.Lookup(ctx, []index.Blind{email}, 10); err != nil || !slices.Equal(matchIDs(m), idList(1)) {
		t.Errorf("Lookup(email) = %v, %v; want only rec 1 (4 is recalled)", m, err)
	}
}

func sameMatches(t *testing.T, got, want []index.Match) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.RecordID != w.RecordID || g.Version != w.Version || g.Originator != w.Originator ||
			!slices.Equal(g.DSAIDs, w.DSAIDs) || !slices.Equal(sorted(g.Types), w.Types) {
			t.Errorf("match %d = %+v, want %+v", i, g, w)
		}
	}
	if len(got) < len(want) {
		t.Errorf("%d matches, want at least %d", len(got), len(want))
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func testDeleteBlinds(t *testing.T, b index.Backend) {
	ctx := context.Background()
	e := entry(1)
	e.Selectors = []index.Blind{blind(1, "phone", "1"), blind(2, "phone", "1"), blind(1, "email", "e")}
	e2 := entry(2)
	e2.Selectors = []index.Blind{blind(1, "phone", "2")}
	upsert(t, b, e, e2)
	if err := b.DeleteBlinds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, n, err := b.Count(ctx); err != nil || n != 1 {
		t.Errorf("blinds after DeleteBlinds(1) = %d, %v; want 1", n, err)
	}
	if m, _ := b.Lookup(ctx, []index.Blind{blind(1, "phone", "1"), blind(1, "phone", "2")}, 10); len(m) != 0 {
		t.Errorf("Lookup of deleted key version = %v", m)
	}
	if m, _ := b.Lookup(ctx, []index.Blind{blind(2, "phone", "1")}, 10); !slices.Equal(matchIDs(m), idList(1)) {
		t.Errorf("Lookup of kept key version = %v", m)
	}
	got, _ := b.Get(ctx, id(1))
	if len(got.Selectors) != 1 || got.Selectors[0].KeyVersion != 2 {
		t.Errorf("Get selectors = %+v, want only key version 2", got.Selectors)
	}
	if err := b.DeleteBlinds(ctx, 9); err != nil {
		t.Errorf("DeleteBlinds of an unused version = %v", err)
	}
}

func testCount(t *testing.T, b index.Backend) {
	ctx := context.Background()
	if n, m, err := b.Count(ctx); err != nil || n != 0 || m != 0 {
		t.Fatalf("empty Count = %d, %d, %v", n, m, err)
	}
	for i := range 4 {
		e := entry(i)
		for j := range i {
			e.Selectors = append(e.Selectors, blind(1, "phone", fmt.Sprint(j)))
		}
		upsert(t, b, e)
	}
	upsert(t, b, entry(3)) // equal version without selectors replaces them
	if n, m, err := b.Count(ctx); err != nil || n != 4 || m != 0+1+2 {
		t.Errorf("Count = %d, %d, %v; want 4, 3", n, m, err)
	}
}

func testState(t *testing.T, b index.Backend) {
	ctx := context.Background()
	if v, err := b.GetState(ctx, "rebuild"); err != nil || v != "" {
		t.Errorf("GetState(unset) = %q, %v", v, err)
	}
	for _, v := range []string{"1", "page:rec_000123", ""} {
		if err := b.SetState(ctx, "rebuild", v); err != nil {
			t.Fatal(err)
		}
		if got, err := b.GetState(ctx, "rebuild"); err != nil || got != v {
			t.Errorf("GetState = %q, %v; want %q", got, err, v)
		}
	}
	if err := b.SetState(ctx, "audit", "42"); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetState(ctx, "rebuild"); got != "" {
		t.Errorf("names interfere: %q", got)
	}
	if got, _ := b.GetState(ctx, "audit"); got != "42" {
		t.Errorf("GetState(audit) = %q", got)
	}
}

func testConcurrency(t *testing.T, b index.Backend) {
	ctx := context.Background()
	const workers, records, rounds = 8, 20, 40
	var mu sync.Mutex
	maxVersion := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range rounds {
				i := rng.IntN(records)
				e := entry(i)
				e.Version = rng.IntN(10)
				e.Tier = fmt.Sprintf("t%d", e.Version)
				e.Selectors = []index.Blind{blind(1, "phone", fmt.Sprint(i)), blind(1, "phone", fmt.Sprint(e.Version))}
				if err := b.Upsert(ctx, e); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				maxVersion[e.RecordID] = max(maxVersion[e.RecordID], e.Version)
				mu.Unlock()
				if _, err := b.Query(ctx, index.Query{Reader: "ag-b", Tiers: []string{"t3", "t9"}, Limit: 50}); err != nil {
					errs <- err
					return
				}
				if _, err := b.Lookup(ctx, []index.Blind{blind(1, "phone", "3")}, 50); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
	for rid, v := range maxVersion {
		got, err := b.Get(ctx, rid)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != v || got.Tier != fmt.Sprintf("t%d", v) {
			t.Errorf("%s: stored v%d %s, want the highest upserted v%d", rid, got.Version, got.Tier, v)
		}
		var i int
		fmt.Sscanf(rid, "rec_%d", &i)
		want := normalise(index.Entry{Selectors: []index.Blind{blind(1, "phone", fmt.Sprint(i)), blind(1, "phone", fmt.Sprint(v))}}).Selectors
		if !reflect.DeepEqual(normalise(got).Selectors, want) {
			t.Errorf("%s: selectors %d, want the two of the v%d upsert (not a mix)", rid, len(got.Selectors), v)
		}
	}
	if n, _, _ := b.Count(ctx); n != int64(len(maxVersion)) {
		t.Errorf("Count = %d, want %d", n, len(maxVersion))
	}
}

func testClosed(t *testing.T, b index.Backend) {
	ctx := context.Background()
	upsert(t, b, entry(1))
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	calls := map[string]func() error{
		"upsert": func() error { return b.Upsert(ctx, entry(2)) },
		"query": func() error {
			_, err := b.Query(ctx, index.Query{Reader: "ag-a", Limit: 10})
			return err
		},
		"lookup": func() error {
			_, err := b.Lookup(ctx, []index.Blind{blind(1, "a", "b")}, 10)
			return err
		},
		"get": func() error {
			_, err := b.Get(ctx, id(1))
			return err
		},
		"count": func() error {
			_, _, err := b.Count(ctx)
			return err
		},
		"delete_blinds": func() error { return b.DeleteBlinds(ctx, 1) },
		"get_state": func() error {
			_, err := b.GetState(ctx, "x")
			return err
		},
		"set_state": func() error { return b.SetState(ctx, "x", "y") },
		"ping":      func() error { return b.Ping(ctx) },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s on a closed index: no error", name)
		} else if errors.Is(err, index.ErrNotFound) || errors.Is(err, index.ErrInvalid) {
			t.Errorf("%s on a closed index: %v (an availability error, not a verdict)", name, err)
		}
	}
}

// testProperty upserts random entries (older and equal versions, recalls,
// reader changes) into the backend and the reference, and compares random
// queries, pages and lookups.
func testProperty(t *testing.T, b index.Backend) {
	ctx := context.Background()
	ref := newReference()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	seed := rng.Uint64()
	rng = rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)
	pick := func(pool []string, max int) []string {
		n := rng.IntN(max + 1)
		var out []string
		for range n {
			out = append(out, pool[rng.IntN(len(pool))])
		}
		return out
	}
	agencies := []string{"ag-a", "ag-b", "ag-c", "ag-d"}
	dsas := []string{"dsa-1", "dsa-2", "dsa-3"}
	ocgs := []string{"ocg-1", "ocg-2", "ocg-3", "ocg-4"}
	fourp := []string{"pursue", "prevent", "protect", "prepare"}
	ops := []string{"", "op-1", "op-2"}
	tiers := []string{"", "t1", "t2", "t3"}
	tlps := []string{"red", "amber", "green"}
	hcs := []string{"P", "C", "H"}
	reviews := []string{"", "2026-04-01", "2026-05-15", "2026-06-30"}
	sels := func() []index.Blind {
		var out []index.Blind
		for range rng.IntN(4) {
			out = append(out, blind(1+rng.IntN(2), []string{"phone", "email"}[rng.IntN(2)], fmt.Sprint(rng.IntN(12))))
		}
		return out
	}
	const records = 120
	for range 400 {
		i := rng.IntN(records)
		e := index.Entry{
			RecordID: id(i), Version: rng.IntN(4), State: []string{"active", "active", "active", "recalled"}[rng.IntN(4)],
			Created:    base.Add(time.Duration(i)*time.Hour + time.Duration(rng.IntN(3600))*time.Second),
			ReviewDue:  reviews[rng.IntN(len(reviews))],
			Originator: agencies[rng.IntN(len(agencies))], Readers: pick(agencies, 3), Recipients: pick(agencies, 2),
			DSAIDs: pick(dsas, 2), Operation: ops[rng.IntN(len(ops))], OCGIDs: pick(ocgs, 2), FourP: pick(fourp, 2),
			Tier: tiers[rng.IntN(len(tiers))], TLP: tlps[rng.IntN(len(tlps))], HandlingCode: hcs[rng.IntN(len(hcs))],
			Selectors: sels(),
		}
		if err := b.Upsert(ctx, e); err != nil {
			t.Fatalf("Upsert: %v", err)
		}
		if err := ref.Upsert(ctx, e); err != nil {
			t.Fatalf("reference Upsert: %v", err)
		}
	}
	for i := range records {
		want, werr := ref.Get(ctx, id(i))
		got, gerr := b.Get(ctx, id(i))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("Get(%s): %v, reference %v", id(i), gerr, werr)
		}
		if werr == nil {
			sameEntry(t, got, want)
		}
	}
	rq := func() index.Query {
		q := index.Query{Reader: agencies[rng.IntN(len(agencies))], Limit: 1 + rng.IntN(40)}
		if rng.IntN(3) == 0 {
			q.DSAIDs = pick(dsas, 2)
		}
		if rng.IntN(4) == 0 {
			q.Originators = pick(agencies, 2)
		}
		if rng.IntN(4) == 0 {
			q.Recipients = pick(agencies, 2)
		}
		if rng.IntN(4) == 0 {
			q.Operations = pick(ops[1:], 2)
		}
		if rng.IntN(3) == 0 {
			q.OCGIDs = pick(ocgs, 3)
		}
		if rng.IntN(4) == 0 {
			q.FourP = pick(fourp, 2)
		}
		if rng.IntN(4) == 0 {
			q.Tiers = pick(tiers[1:], 2)
		}
		if rng.IntN(4) == 0 {
			q.TLPs = pick(tlps, 2)
		}
		if rng.IntN(5) == 0 {
			q.HandlingCode = pick(hcs, 2)
		}
		if rng.IntN(4) == 0 {
			q.CreatedFrom = base.Add(time.Duration(rng.IntN(records)) * time.Hour)
		}
		if rng.IntN(4) == 0 {
			q.CreatedTo = base.Add(time.Duration(rng.IntN(records)) * time.Hour)
		}
		if rng.IntN(4) == 0 {
			q.ReviewFrom = reviews[rng.IntN(len(reviews))]
		}
		if rng.IntN(4) == 0 {
			q.ReviewTo = reviews[rng.IntN(len(reviews))]
		}
		if rng.IntN(3) == 0 {
			q.After = id(rng.IntN(records))
		}
		return q
	}
	for range 300 {
		q := rq()
		want, _ := ref.Query(ctx, q)
		got, err := b.Query(ctx, q)
		if err != nil {
			t.Fatalf("Query(%+v): %v", q, err)
		}
		if !reflect.DeepEqual(hitsOrEmpty(got), hitsOrEmpty(want)) {
			t.Fatalf("Query(%+v)\n got %v\nwant %v (seed %d)", q, got, want, seed)
		}
	}
	// Walking every page equals one unlimited query.
	for range 20 {
		q := rq()
		q.After = ""
		all := q
		all.Limit = index.MaxLimit
		want, _ := ref.Query(ctx, all)
		var got []index.Hit
		for {
			page, err := b.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if len(page) < q.Limit {
				break
			}
			q.After = page[len(page)-1].RecordID
		}
		if !reflect.DeepEqual(hitsOrEmpty(got), hitsOrEmpty(want)) {
			t.Fatalf("paged %+v\n got %v\nwant %v (seed %d)", q, got, want, seed)
		}
	}
	for range 100 {
		var vals []index.Blind
		for range 1 + rng.IntN(4) {
			vals = append(vals, blind(1+rng.IntN(2), []string{"phone", "email"}[rng.IntN(2)], fmt.Sprint(rng.IntN(12))))
		}
		limit := 1 + rng.IntN(30)
		want, _ := ref.Lookup(ctx, vals, limit)
		got, err := b.Lookup(ctx, vals, limit)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i].Types = sorted(got[i].Types)
			if len(got[i].DSAIDs) == 0 {
				got[i].DSAIDs = nil
			}
		}
		for i := range want {
			if len(want[i].DSAIDs) == 0 {
				want[i].DSAIDs = nil
			}
		}
		if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("Lookup(limit %d)\n got %+v\nwant %+v (seed %d)", limit, got, want, seed)
		}
	}
	ne, nb, err := b.Count(ctx)
	we, wb, _ := ref.Count(ctx)
	if err != nil || ne != we || nb != wb {
		t.Errorf("Count = %d, %d, %v; reference %d, %d", ne, nb, err, we, wb)
	}
}

func hitsOrEmpty(h []index.Hit) []index.Hit {
	if h == nil {
		return []index.Hit{}
	}
	return h
}
