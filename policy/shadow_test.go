package policy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/liaison-project/liaison/policy"
	"github.com/liaison-project/liaison/policy/shadow"
)

// The tests of package policy/shadow live here, beside the engine tests
// whose fixtures (copyBundle, input, edit, …) they share; TestMain's goleak
// check covers the shadow's goroutine.

// candidateEngine loads a copy of the bundle with edit applied.
func candidateEngine(t *testing.T, edit func(dir string)) *policy.Engine {
	t.Helper()
	dir := copyBundle(t)
	edit(dir)
	e, err := newEngine(t, context.Background(), policy.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// stricter raises the justification minimum to 40 characters and suspends
// dsa-selec-ops; the samples are replaced because they describe the live
// federation.
func stricter(t *testing.T) func(dir string) {
	return func(dir string) {
		edit(t, dir, "data/settings.json", `"min_justification_length": 8`, `"min_justification_length": 40`)
		editDSA(t, dir, "dsa-selec-ops", func(d map[string]any) { d["status"] = "suspended" })
		write(t, dir, "samples.json", `{"samples": []}`)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []shadow.Change {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []shadow.Change
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var c shadow.Change
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		out = append(out, c)
	}
	return out
}

func TestShadowReportsEveryChangedDecision(t *testing.T) {
	live := engine(t)
	cand := candidateEngine(t, stricter(t))
	var report, inputs syncBuffer
	sh := shadow.New(live, cand, shadow.Options{Report: &report, Inputs: &inputs})
	ctx := context.Background()

	selec := map[string]any{
		"subject.agency_id":       "selec",
		"subject.officer":         map[string]any{"id": "sel-1", "clearance": "BPSS", "nationality": "ROU"},
		"record.dsa_ids":          []any{"dsa-selec-ops"},
		"record.allowed_purposes": []any{"investigation"},
		"record.recipients":       []any{"selec"},
	}
	tests := []struct {
		name    string
		edits   map[string]any
		changed bool
	}{
		{"long justification: same", map[string]any{"request.justification": "Operation KINGFISHER: subject linked to lead 42 in Manchester"}, false},
		{"short justification: allow→deny", nil, true},
		{"stranger: same", map[string]any{"subject.agency_id": "nca"}, false},
		{"SELEC under a suspended DSA: allow→deny", selec, true},
		{"already denied, another reason added", map[string]any{"request.purpose": ""}, true},
	}
	for _, tc := range tests {
		in := input(t, baseRead, tc.edits)
		want, _ := live.DecideJSON(ctx, js(t, in))
		got, err := sh.DecideJSON(ctx, js(t, in))
		if err != nil || got.Allow != want.Allow || got.Revision != live.Revision() || !slices.Equal(got.Codes(), want.Codes()) {
			t.Fatalf("%s: shadow answered %+v, %v; want the live decision %+v", tc.name, got, err, want)
		}
		// The caller may reuse its input at once.
		in["action"] = "record.recall"
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	wantChanged := 0
	for _, tc := range tests {
		if tc.changed {
			wantChanged++
		}
	}
	if st := sh.Stats(); st.Compared != uint64(len(tests)) || st.Changed != uint64(wantChanged) || st.Dropped != 0 {
		t.Fatalf("stats = %+v", st)
	}
	changes := report.lines(t)
	if len(changes) != wantChanged {
		t.Fatalf("%d changes reported, want %d: %+v", len(changes), wantChanged, changes)
	}
	c := changes[0]
	if c.Action != "record.read" || c.Agency != "rocu-nw" || c.RecordID != "rec_01JD8X3Q" || c.Transition() != "allow→deny" ||
		!slices.Equal(c.Kinds, []string{"allow", "reasons", "obligations", "dsa_id"}) || !slices.Equal(c.CodesAdded, []string{"justification_required"}) ||
		c.Live.Revision != live.Revision() || c.Candidate.Revision != cand.Revision() || !strings.HasPrefix(c.InputDigest, "sha256:") {
		t.Errorf("change = %+v", c)
	}
	if c2 := changes[1]; c2.Agency != "selec" || !slices.Contains(c2.CodesAdded, "dsa_not_active") || c2.Transition() != "allow→deny" {
		t.Errorf("second change = %+v", c2)
	}
	if c3 := changes[2]; c3.Transition() != "same" || !slices.Equal(c3.Kinds, []string{"reasons"}) ||
		!slices.Equal(c3.CodesAdded, []string{"justification_required"}) || c3.CodesRemoved != nil {
		t.Errorf("third change = %+v", c3)
	}
	// The report carries ids and codes, never the input's free text.
	report.mu.Lock()
	raw := report.b.String()
	report.mu.Unlock()
	if strings.Contains(raw, "KINGFISHER") || strings.Contains(raw, "Operation") {
		t.Error("the report carries the justification text")
	}
	// Inputs were recorded for replay, one per comparison.
	if n := strings.Count(inputs.b.String(), "\n"); n != len(tests) {
		t.Errorf("%d inputs recorded, want %d", n, len(tests))
	}
	// After Close the shadow still answers, from the live policy.
	if d, err := sh.DecideJSON(ctx, js(t, input(t, baseRead, nil))); err != nil || !d.Allow {
		t.Fatalf("after Close: %+v, %v", d, err)
	}
}

func TestShadowSameInputSameDigest(t *testing.T) {
	live := engine(t)
	cand := candidateEngine(t, stricter(t))
	ctx := context.Background()
	a, err := shadow.Compare(ctx, live, cand, js(t, input(t, baseRead, nil)))
	if err != nil || a == nil {
		t.Fatalf("Compare = %v, %v", a, err)
	}
	b, _ := shadow.Compare(ctx, live, cand, js(t, input(t, baseRead, nil)))
	other, _ := shadow.Compare(ctx, live, cand, js(t, input(t, baseRead, map[string]any{"request.case": "OP-OTHER"})))
	if a.InputDigest != b.InputDigest || a.InputDigest == other.InputDigest {
		t.Fatalf("digests %s %s %s", a.InputDigest, b.InputDigest, other.InputDigest)
	}
	if same, _ := shadow.Compare(ctx, live, live, js(t, input(t, baseRead, nil))); same != nil {
		t.Fatalf("a policy compared with itself reports %+v", same)
	}
}

// blockingWriter holds the shadow's worker until released.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

func TestShadowNeverDelaysTheLiveDecision(t *testing.T) {
	live := engine(t)
	cand := candidateEngine(t, stricter(t))
	w := blockingWriter{release: make(chan struct{})}
	sh := shadow.New(live, cand, shadow.Options{Report: w, QueueSize: 2})
	ctx := context.Background()
	in := input(t, baseRead, nil) // changes under the candidate: the worker blocks writing it
	for range 10 {
		if d, err := sh.DecideJSON(ctx, js(t, in)); err != nil || !d.Allow {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
	}
	close(w.release)
	_ = sh.Close()
	st := sh.Stats()
	if st.Dropped == 0 || st.Compared+st.Dropped != 10 {
		t.Fatalf("stats = %+v; want drops, and every decision either compared or dropped", st)
	}
}

var _ io.Writer = (*syncBuffer)(nil)
