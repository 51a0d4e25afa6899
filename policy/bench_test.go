package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/policies"
	"github.com/liaison-project/liaison/policy"
)

// federation writes a policy directory with the embedded modules and a
// generated federation of n agencies and 2n DSAs on top of the demo one:
// agency i is party to DSAs i and i+1 (mod n) with its neighbours, so every
// agreement has four parties, like the demo agreements. The Rego tests are
// left out: they use their own fixtures and are not what is measured.
func federation(tb testing.TB, n int) string {
	tb.Helper()
	dir := copyPolicy(tb, policies.FS())
	var agencies map[string]map[string]any
	var dsas map[string]map[string]any
	readKey(tb, dir, "agencies", &agencies)
	readKey(tb, dir, "dsas", &dsas)
	id := func(i int) string { return fmt.Sprintf("force-%05d", (i+n)%n) }
	for i := range n {
		agencies[id(i)] = map[string]any{
			"name": "Force " + id(i), "org_type": "uk_police", "country": "GBR", "is_competent_authority": true,
			"system_clearance": "BPSS", "require_officer_token": false, "system_vetting": "RV",
		}
	}
	template := dsas["dsa-uk-soc"]
	for i := range 2 * n {
		d := map[string]any{}
		for k, v := range template {
			d[k] = v
		}
		dsaID := fmt.Sprintf("dsa-%05d", i)
		d["dsa_id"] = dsaID
		var parties, bases []any
		for j := range 4 {
			parties = append(parties, map[string]any{"org_id": id(i/2 + j), "role": "both", "org_type": "uk_police", "country": "GBR"})
			bases = append(bases, map[string]any{"party": id(i/2 + j), "regime": "DPA2018_Part3"})
		}
		d["parties"], d["lawful_basis"] = parties, bases
		dsas[dsaID] = d
	}
	writeKey(tb, dir, "agencies", agencies)
	writeKey(tb, dir, "dsas", dsas)
	return dir
}

func readKey(tb testing.TB, dir, key string, into any) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "data", key+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	doc := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(doc[key], into); err != nil {
		tb.Fatal(err)
	}
}

func writeKey(tb testing.TB, dir, key string, v any) {
	tb.Helper()
	bs, err := json.Marshal(map[string]any{key: v})
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", key+".json"), bs, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// copyPolicy copies a policy directory (the embedded library, or a
// baseline) into a temporary one, without its Rego tests.
func copyPolicy(tb testing.TB, fsys fs.FS) string {
	tb.Helper()
	dir := tb.TempDir()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, src, 0o644)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// federations caches one engine per size across benchmarks of one run.
var federations sync.Map

func federationEngine(tb testing.TB, n int) *policy.Engine {
	tb.Helper()
	if e, ok := federations.Load(n); ok {
		return e.(*policy.Engine)
	}
	e, err := newEngine(tb, context.Background(), policy.Options{Dir: federation(tb, n), ReloadInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	if got := len(e.Agencies()); got != n+6 || len(e.DSAs()) != 2*n+3 {
		tb.Fatalf("federation of %d agencies, %d DSAs", got, len(e.DSAs()))
	}
	federations.Store(n, e)
	return e
}

// federatedRead is a realistic read in a federation of n: a recipient
// officer reads an OFFICIAL-SENSITIVE C-handled record shared under three
// agreements, one of which names the caller.
func federatedRead(tb testing.TB, n int) map[string]any {
	tb.Helper()
	caller := fmt.Sprintf("force-%05d", n/2+1)
	originator := fmt.Sprintf("force-%05d", n/2)
	return input(tb, baseRead, map[string]any{
		"subject.agency_id":             caller,
		"record.originator.org_id":      originator,
		"record.dsa_ids":                []any{fmt.Sprintf("dsa-%05d", n-4), fmt.Sprintf("dsa-%05d", n-1), fmt.Sprintf("dsa-%05d", n)},
		"record.recipients":             []any{caller, fmt.Sprintf("force-%05d", n/2+2), fmt.Sprintf("force-%05d", n/2+3)},
		"record.handling":               map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"allowed_recipient_types": []any{"uk_police"}}},
		"record.classification":         map[string]any{"tier": "OFFICIAL", "sensitive": true, "descriptors": []any{"PERSONAL_DATA"}},
		"record.grading.europol":        map[string]any{"source": "B", "info": "2"},
		"record.handling.europol_codes": []any{"H2"},
	})
}

// percentiles runs decide b.N times and reports p50 and p99 latency.
func percentiles(b *testing.B, decide func()) {
	b.Helper()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		decide()
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	q := func(p float64) float64 { return float64(durations[int(p*float64(len(durations)-1))].Nanoseconds()) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
}

// BenchmarkDecideFederation measures a read decision in federations of 10,
// 500 and 10,000 agencies (with twice as many DSAs).
func BenchmarkDecideFederation(b *testing.B) {
	for _, n := range []int{10, 500, 10000} {
		b.Run(fmt.Sprintf("agencies=%d/dsas=%d", n, 2*n), func(b *testing.B) {
			e := federationEngine(b, n)
			in := typed(b, federatedRead(b, n))
			ctx := context.Background()
			percentiles(b, func() {
				if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
					b.Fatalf("Decide = %v %v, %v", d.Allow, d.Codes(), err)
				}
			})
		})
	}
}

// BenchmarkDecideScaling alternates decisions in a federation of 10 and of
// 10,000 agencies, so that both see the same machine state, and reports
// the ratio of their median decision times (target ≤ 1.5: every lookup is
// by object key, never a scan of the registry).
func BenchmarkDecideScaling(b *testing.B) {
	small, large := federationEngine(b, 10), federationEngine(b, 10000)
	inSmall, inLarge := typed(b, federatedRead(b, 10)), typed(b, federatedRead(b, 10000))
	ctx := context.Background()
	var ds, dl []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if d, _ := small.Decide(ctx, inSmall); !d.Allow {
			b.Fatal("small federation denied")
		}
		mid := time.Now()
		if d, _ := large.Decide(ctx, inLarge); !d.Allow {
			b.Fatal("large federation denied")
		}
		ds, dl = append(ds, mid.Sub(start)), append(dl, time.Since(mid))
	}
	b.StopTimer()
	slices.Sort(ds)
	slices.Sort(dl)
	b.ReportMetric(float64(dl[len(dl)/2])/float64(ds[len(ds)/2]), "ratio-10000/10")
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-10-ns")
	b.ReportMetric(float64(dl[len(dl)/2].Nanoseconds()), "p50-10000-ns")
}

// BenchmarkDecideBaseline compares the policy in this tree with another
// policy directory, decision for decision in the same run:
//
//	git archive HEAD policies | tar -x -C /tmp/base
//	LIAISON_BENCH_BASELINE=/tmp/base/policies go test ./policy -run '^$' -bench DecideBaseline
func BenchmarkDecideBaseline(b *testing.B) {
	dir := os.Getenv("LIAISON_BENCH_BASELINE")
	if dir == "" {
		b.Skip("set LIAISON_BENCH_BASELINE to a policy directory to compare with")
	}
	base, err := newEngine(b, context.Background(), policy.Options{Dir: dir, ReloadInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	in := typed(b, input(b, baseRead, nil))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		e    *policy.Engine
	}{{"policy=baseline", base}, {"policy=current", engine(b)}} {
		b.Run(tc.name, func(b *testing.B) {
			percentiles(b, func() {
				if d, err := tc.e.Decide(ctx, in); err != nil || !d.Allow {
					b.Fatalf("Decide = %v %v, %v", d.Allow, d.Codes(), err)
				}
			})
		})
	}
}
