package indexplan

import (
	"slices"
	"testing"

	"github.com/liaison-project/liaison/connectors/index"
)

func TestReviewMonths(t *testing.T) {
	cases := []struct {
		from, to string
		want     []string
	}{
		{"2026-06-01", "2026-06-30", []string{"2026-06"}},
		{"2026-05-31", "2026-07-01", []string{"2026-05", "2026-06", "2026-07"}},
		{"2026-11-15", "2027-01-15", []string{"2026-11", "2026-12", "2027-01"}},
		{"2026-07-01", "2026-06-01", nil}, // inverted
		{"", "2026-06-01", nil},           // open
		{"2026-01-01", "2027-12-31", []string{"2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07",
			"2026-08", "2026-09", "2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03", "2027-04", "2027-05",
			"2027-06", "2027-07", "2027-08", "2027-09", "2027-10", "2027-11", "2027-12"}},
		{"2026-01-01", "2028-01-01", nil}, // 25 months: too wide
	}
	for _, c := range cases {
		if got := reviewMonths(c.from, c.to); !slices.Equal(got, c.want) {
			t.Errorf("reviewMonths(%s, %s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

func TestPlanQuery(t *testing.T) {
	p := PlanQuery(index.Query{Reader: "a"})
	if !slices.Equal(p.Drive, []string{""}) || p.Check != nil {
		t.Errorf("plain listing plan = %+v", p)
	}
	p = PlanQuery(index.Query{Reader: "a", Tiers: []string{"t2", "t1", "t1"}, DSAIDs: []string{"d"}, TLPs: []string{"red"},
		ReviewFrom: "2026-01-01", ReviewTo: "2026-02-01"})
	if !slices.Equal(p.Drive, []string{"d:d"}) {
		t.Errorf("drive = %v, want the DSA", p.Drive)
	}
	want := [][]string{{"t:t1", "t:t2"}, {"l:red"}} // review months are not a check: the bounds are
	if len(p.Check) != len(want) || !slices.Equal(p.Check[0], want[0]) || !slices.Equal(p.Check[1], want[1]) {
		t.Errorf("checks = %v, want %v", p.Check, want)
	}
	p = PlanQuery(index.Query{Reader: "a", Tiers: []string{"t1"}, ReviewFrom: "2026-01-01", ReviewTo: "2026-02-01"})
	if !slices.Equal(p.Drive, []string{"v:2026-01", "v:2026-02"}) || len(p.Check) != 1 {
		t.Errorf("review-driven plan = %+v", p)
	}
}

func TestMerge(t *testing.T) {
	h := func(ids ...string) []index.Hit {
		var out []index.Hit
		for _, id := range ids {
			out = append(out, index.Hit{RecordID: id, Version: 1})
		}
		return out
	}
	got := Merge([][]index.Hit{h("a", "c", "e"), h("b", "c", "f"), nil, h("c", "d")}, 10)
	if ids := ids(got); !slices.Equal(ids, []string{"a", "b", "c", "d", "e", "f"}) {
		t.Errorf("Merge = %v", ids)
	}
	if ids := ids(Merge([][]index.Hit{h("a", "c"), h("b", "c")}, 2)); !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("Merge limit 2 = %v", ids)
	}
}

func ids(h []index.Hit) []string {
	var out []string
	for _, x := range h {
		out = append(out, x.RecordID)
	}
	return out
}

func TestDiff(t *testing.T) {
	add, remove := Diff([]Row{{"a", ""}, {"b", ""}}, []Row{{"b", ""}, {"c", ""}})
	if !slices.Equal(add, []Row{{"c", ""}}) || !slices.Equal(remove, []Row{{"a", ""}}) {
		t.Errorf("Diff = %v, %v", add, remove)
	}
}

// FuzzDecodeLists: the stored lists come back from a database a thief or a
// bug may have altered; decoding them never panics, and what EncodeLists
// wrote decodes to the same lists.
func FuzzDecodeLists(f *testing.F) {
	f.Add(`{"r":["a","b"],"c":["b"],"d":["dsa"]}`)
	f.Add(`{}`)
	f.Add(`{"r":null,"g":[""]}`)
	f.Add(`[1,2]`)
	f.Fuzz(func(t *testing.T, s string) {
		var e index.Entry
		if err := DecodeLists(s, &e); err != nil {
			return
		}
		var again index.Entry
		if err := DecodeLists(EncodeLists(e), &again); err != nil {
			t.Fatalf("re-decoding %q: %v", EncodeLists(e), err)
		}
		for _, pair := range [][2][]string{{e.Readers, again.Readers}, {e.Recipients, again.Recipients}, {e.DSAIDs, again.DSAIDs},
			{e.OCGIDs, again.OCGIDs}, {e.FourP, again.FourP}} {
			if !slices.Equal(pair[0], pair[1]) {
				t.Fatalf("round trip changed %v into %v", pair[0], pair[1])
			}
		}
	})
}

// FuzzValidDate: ValidDate accepts exactly what time.DateOnly parses in
// ten characters, and never panics.
func FuzzValidDate(f *testing.F) {
	for _, s := range []string{"2026-06-01", "2026-02-30", "", "2026-6-1", "99999-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidDate(s) && len(s) != 10 {
			t.Fatalf("ValidDate(%q) with length %d", s, len(s))
		}
	})
}
