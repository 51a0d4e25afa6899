package policy_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/policies"
	"github.com/liaison-project/liaison/policy"
)

// sibling returns a copy of the input raw (JSON) with every part the
// decision cache's key leaves out or projects changed at random
// (policy/cache.go): the record's id, version and creation time, the
// certificate fingerprint, the case, the officer's id (if it is a
// non-empty string), the justification's text (keeping its trimmed length,
// or any length at or above the minimum of 8), and the time moved within
// its UTC day, often to just before or after an instant the input
// carries. Whether the sibling falls in the same cache cell is up to the
// key; the differential test decides both and compares each with the
// reference.
func sibling(r *rand.Rand, raw []byte) []byte {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	word := func(n int) string {
		const letters = "abcdefghijklmnopqrstuvwxyz ÆØÅéñ0123456789:-"
		rs := []rune(letters)
		b := make([]rune, n)
		for i := range b {
			b[i] = rs[r.IntN(len(rs))]
		}
		// Never start or end with a space: the length is the trimmed one.
		if n > 0 {
			b[0], b[n-1] = 'x', 'y'
		}
		return string(b)
	}
	if rec, ok := m["record"].(map[string]any); ok {
		if _, ok := rec["record_id"]; ok || r.IntN(2) == 0 {
			rec["record_id"] = "rec_" + word(12)
		}
		if _, ok := rec["version"]; ok {
			rec["version"] = 1 + r.IntN(9)
		}
		if _, ok := rec["created"]; ok {
			rec["created"] = time.Unix(r.Int64N(2e9), 0).UTC().Format(time.RFC3339)
		}
	}
	if sub, ok := m["subject"].(map[string]any); ok {
		if _, ok := sub["cert_fingerprint"]; ok || r.IntN(2) == 0 {
			sub["cert_fingerprint"] = word(16)
		}
		if o, ok := sub["officer"].(map[string]any); ok {
			if id, ok := o["id"].(string); ok && id != "" {
				o["id"] = "o-" + word(1+r.IntN(10))
			}
		}
	}
	if req, ok := m["request"].(map[string]any); ok {
		if _, ok := req["case"]; ok || r.IntN(2) == 0 {
			req["case"] = "OP-" + word(8)
		}
		if j, ok := req["justification"].(string); ok {
			n := len([]rune(strings.TrimSpace(j)))
			if n >= 8 && r.IntN(2) == 0 {
				n = 8 + r.IntN(200)
			}
			pad := []string{"", " ", "\t", "\n  "}
			req["justification"] = pad[r.IntN(len(pad))] + word(n) + pad[r.IntN(len(pad))]
		}
	}
	if s, ok := m["time"].(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			day := t.UTC().Truncate(24 * time.Hour)
			next := day.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
			// Just before or after an instant of the input, when the input
			// carries one on that day: where a cache would go wrong.
			if r.IntN(2) == 0 {
				var instants []time.Time
				collectInstants(m, &instants)
				if len(instants) > 0 {
					at := instants[r.IntN(len(instants))]
					c := at.Add(time.Duration(r.IntN(5)-2) * time.Nanosecond)
					if !c.Before(day) && c.Before(day.Add(24*time.Hour)) {
						next = c
					}
				}
			}
			// The day's first and last nanosecond.
			switch r.IntN(8) {
			case 0:
				next = day
			case 1:
				next = day.Add(24*time.Hour - 1)
			}
			m["time"] = next.Format(time.RFC3339Nano)
		}
	}
	out, _ := json.Marshal(m)
	return out
}

func collectInstants(v any, out *[]time.Time) {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339, x); err == nil {
			*out = append(*out, t)
		}
	case map[string]any:
		for k, e := range x {
			if k != "time" {
				collectInstants(e, out)
			}
		}
	case []any:
		for _, e := range x {
			collectInstants(e, out)
		}
	}
}

// TestDecisionCacheOn: the cache serves the bundled code (also when loaded
// from a copy in a directory) and not a changed one; a changed policy is
// decided in full.
func TestDecisionCacheOn(t *testing.T) {
	if _, _, on := policy.DecisionCacheStats(engine(t)); !on {
		t.Fatal("no decision cache on the embedded policy")
	}
	if _, _, on := policy.DecisionCacheStats(statesEngine(t)); !on {
		t.Fatal("no decision cache on a copy of the bundled code with other data")
	}
	dir := copyPolicy(t, policies.FS())
	f, err := os.OpenFile(dir+"/liaison/authz.rego", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("\n# a comment is a change of code too\n")
	_ = f.Close()
	e, err := policy.New(context.Background(), policy.Options{Dir: dir, ReloadInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, _, on := policy.DecisionCacheStats(e); on {
		t.Fatal("a decision cache on code that was not reviewed for it")
	}
	off, err := policy.New(context.Background(), policy.Options{DecisionCacheEntries: -1, ReloadInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if _, _, on := policy.DecisionCacheStats(off); on {
		t.Fatal("DecisionCacheEntries -1 left the cache on")
	}
}

// TestDecisionCacheTimeBoundaries: a decision is never served past a time
// boundary it depends on. Each case decides an input just before a
// boundary (the cache keeps it), again a little earlier (served from the
// cache: the cell is shared), then just at or after the boundary, where
// the reference decides differently: the engine must too.
func TestDecisionCacheTimeBoundaries(t *testing.T) {
	ctx := context.Background()
	exp := "2026-11-21T14:30:00Z"
	cases := []struct {
		name           string
		e              *policy.Engine
		edits          map[string]any
		before, beyond string // times
	}{
		{
			"handling condition expiry", engine(t),
			map[string]any{"record.handling": map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"expires": exp}}},
			"2026-11-21T14:29:59.999999999Z", exp,
		},
		{
			"agreement expiry date (runs to the end of its day)", statesEngine(t),
			map[string]any{"record.dsa_ids": []any{"dsa-st-expiring"}},
			"2026-11-21T23:59:59.999999999Z", "2026-11-22T00:00:00Z",
		},
		{
			"agreement effective date", statesEngine(t),
			map[string]any{"record.dsa_ids": []any{"dsa-st-future"}},
			"2026-11-30T23:59:59.999999999Z", "2026-12-01T00:00:00Z",
		},
		{
			"review date (overdue from the next day)", engine(t),
			map[string]any{"record.review_due": "2026-11-21"},
			"2026-11-21T23:59:59.999999999Z", "2026-11-22T00:00:00Z",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at := func(ts string) policy.Prepared {
				edits := map[string]any{"time": ts}
				for k, v := range c.edits {
					edits[k] = v
				}
				p, err := policy.PrepareJSON(js(t, input(t, baseRead, edits)))
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			before, earlier, beyond := at(c.before), at(strings.Replace(c.before, "59.999999999", "00", 1)), at(c.beyond)
			refBefore, err1 := policy.DecideReference(ctx, c.e, before)
			refBeyond, err2 := policy.DecideReference(ctx, c.e, beyond)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if diffDecisions(refBefore, nil, refBeyond, nil) == "" {
				t.Fatalf("the reference decides alike on both sides (%v / %v): the case proves nothing", codes(refBefore), codes(refBeyond))
			}
			h0, _, _ := policy.DecisionCacheStats(c.e)
			got, err := c.e.DecidePrepared(ctx, before)
			if msg := diffDecisions(got, err, refBefore, nil); msg != "" {
				t.Fatalf("before the boundary: %s", msg)
			}
			got, err = c.e.DecidePrepared(ctx, earlier)
			if msg := diffDecisions(got, err, refBefore, nil); msg != "" {
				t.Fatalf("earlier in the cell: %s", msg)
			}
			if h1, _, _ := policy.DecisionCacheStats(c.e); h1 == h0 {
				t.Fatal("the earlier time in the same cell was not served from the cache: the case does not test the cache")
			}
			got, err = c.e.DecidePrepared(ctx, beyond)
			if msg := diffDecisions(got, err, refBeyond, nil); msg != "" {
				t.Fatalf("served across the boundary: %s", msg)
			}
			kb, _ := policy.DecisionCacheKey(c.e, before)
			ky, _ := policy.DecisionCacheKey(c.e, beyond)
			if kb == ky {
				t.Fatal("one key on both sides of the boundary")
			}
		})
	}
}

// TestDecisionCacheProjections: every part the key leaves out or projects
// is, for the reference evaluation, irrelevant: siblings (sibling) of
// golden inputs whose key equals their original's are decided alike by
// the reference. Beside the differential test (which compares the engine's
// cached answers), this checks the key's assumption itself.
func TestDecisionCacheProjections(t *testing.T) {
	ctx := context.Background()
	e := engine(t)
	r := rand.New(rand.NewPCG(15, 6))
	same, differ := 0, 0
	for i, raw := range goldenInputs(t) {
		if testing.Short() && i%4 != 0 {
			continue
		}
		p, err := policy.PrepareJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		k, ok := policy.DecisionCacheKey(e, p)
		if !ok {
			continue
		}
		want, werr := policy.DecideReference(ctx, e, p)
		for range 3 {
			sraw := sibling(r, raw)
			sp, err := policy.PrepareJSON(sraw)
			if err != nil {
				t.Fatal(err)
			}
			sk, _ := policy.DecisionCacheKey(e, sp)
			if sk != k {
				differ++
				continue
			}
			same++
			got, gerr := policy.DecideReference(ctx, e, sp)
			if msg := diffDecisions(got, gerr, want, werr); msg != "" {
				t.Fatalf("golden %d: a sibling with the same key is decided differently: %s\ninput:   %s\nsibling: %s", i, msg, raw, sraw)
			}
		}
	}
	t.Logf("siblings with the original's key: %d; with another key: %d", same, differ)
	if same < 3*differ {
		t.Fatalf("only %d of %d siblings share their original's key: the test checks little", same, same+differ)
	}
}
