package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
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
// by object key, never a scan of the registry), by the reference
// evaluation and by the engine's path:
//
//	go test ./policy -run '^$' -bench DecideScaling -benchtime 2000x
//
// The inputs are scalingInputs: distinct in caller, originator, DSAs,
// recipients, purpose and review date, so that neither path is measured on
// one input repeated (a decision cache would serve it, and the registry
// lookups would always hit the same entries). Up to b.N = scalingDistinct
// iterations, no input comes round again.
func BenchmarkDecideScaling(b *testing.B) {
	small, large := federationEngine(b, 10), federationEngine(b, 10000)
	inSmall, inLarge := scalingInputs(b, 10), scalingInputs(b, 10000)
	ctx := context.Background()
	for _, path := range []struct {
		name   string
		decide func(*policy.Engine, policy.Prepared) (policy.Decision, error)
	}{
		{"reference", func(e *policy.Engine, p policy.Prepared) (policy.Decision, error) {
			return policy.DecideReference(ctx, e, p)
		}},
		{"engine", func(e *policy.Engine, p policy.Prepared) (policy.Decision, error) { return e.DecidePrepared(ctx, p) }},
	} {
		b.Run("path="+path.name, func(b *testing.B) {
			var ds, dl []time.Duration
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				ps, pl := inSmall[i%len(inSmall)], inLarge[i%len(inLarge)]
				i++
				start := time.Now()
				if d, err := path.decide(small, ps); err != nil || !d.Allow {
					b.Fatalf("small federation: %v %v, %v", d.Allow, d.Codes(), err)
				}
				mid := time.Now()
				if d, err := path.decide(large, pl); err != nil || !d.Allow {
					b.Fatalf("large federation: %v %v, %v", d.Allow, d.Codes(), err)
				}
				ds, dl = append(ds, mid.Sub(start)), append(dl, time.Since(mid))
			}
			b.StopTimer()
			slices.Sort(ds)
			slices.Sort(dl)
			b.ReportMetric(float64(dl[len(dl)/2])/float64(ds[len(ds)/2]), "ratio-10000/10")
			b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-10-ns")
			b.ReportMetric(float64(dl[len(dl)/2].Nanoseconds()), "p50-10000-ns")
		})
	}
}

// scalingDistinct is how many distinct inputs scalingInputs draws.
const scalingDistinct = 4000

// scalingInputs are scalingDistinct allowed reads in a federation of n
// (see federatedRead), each different in what the decision depends on: the
// caller and originator walk the federation's agencies (all of them for
// n = 10,000; round and round for n = 10), the record is shared under the
// caller's and its neighbours' DSAs, the purpose cycles through the
// record's allowed purposes and the review date moves a day per input, so
// that no two inputs have the same decision-relevant part even where there
// are only ten agencies to choose from.
func scalingInputs(tb testing.TB, n int) []policy.Prepared {
	tb.Helper()
	return scalingInputsN(tb, n, scalingDistinct)
}

func scalingInputsN(tb testing.TB, n, count int) []policy.Prepared {
	tb.Helper()
	purposes := []any{"investigation", "prevention", "detection", "prosecution"}
	review := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]policy.Prepared, count)
	for k := range out {
		// A stride coprime with both sizes: neighbours in the sequence are
		// far apart in the registry, as callers of a busy gateway are.
		m := (k * 7919) % n
		id := func(j int) string { return fmt.Sprintf("force-%05d", ((m+j)%n+n)%n) }
		dsa := func(j int) string { return fmt.Sprintf("dsa-%05d", ((2*m+j)%(2*n)+2*n)%(2*n)) }
		in := input(tb, baseRead, map[string]any{
			"subject.agency_id":        id(1),
			"record.originator.org_id": id(0),
			// DSA 2m-1 has parties m-1..m+2, DSA 2m parties m..m+3: both
			// name the caller and the originator.
			"record.dsa_ids":                []any{dsa(-1), dsa(0), dsa(-4)},
			"record.recipients":             []any{id(1), id(2), id(3)},
			"request.purpose":               purposes[k%len(purposes)],
			"record.review_due":             review.AddDate(0, 0, k).Format(time.DateOnly),
			"record.handling":               map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"allowed_recipient_types": []any{"uk_police"}}},
			"record.classification":         map[string]any{"tier": "OFFICIAL", "sensitive": true, "descriptors": []any{"PERSONAL_DATA"}},
			"record.grading.europol":        map[string]any{"source": "B", "info": "2"},
			"record.handling.europol_codes": []any{"H2"},
		})
		p, err := policy.Prepare(typed(tb, in))
		if err != nil {
			tb.Fatal(err)
		}
		out[k] = p
	}
	return out
}

// BenchmarkDecideScalingMemory reports what the policy data of a
// federation of 10,000 agencies and 20,000 DSAs costs in memory: the Go
// heap in use after the engine is loaded (and has decided once, so that
// anything built on first use is counted) minus before, against the JSON
// size of the data directory it was loaded from, with a federation of 10
// measured the same way in the same run (the policy's modules and the demo
// data are in both; the difference is the registry's cost):
//
//	go test ./policy -run '^$' -bench DecideScalingMemory -benchtime 1x
func BenchmarkDecideScalingMemory(b *testing.B) {
	type sized struct{ heap, json int64 }
	measure := func(n int) sized {
		dir := federation(b, n)
		var js int64
		_ = filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
				if fi, err := d.Info(); err == nil {
					js += fi.Size()
				}
			}
			return err
		})
		before := heapInUse()
		e, err := policy.New(context.Background(), policy.Options{Dir: dir, ReloadInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		if d, err := e.DecidePrepared(context.Background(), scalingInputsN(b, n, 1)[0]); err != nil || !d.Allow {
			b.Fatalf("federation of %d: %v %v, %v", n, d.Allow, d.Codes(), err)
		}
		after := heapInUse()
		runtime.KeepAlive(e)
		_ = e.Close()
		return sized{after - before, js}
	}
	var small, large sized
	for b.Loop() {
		small, large = measure(10), measure(10000)
	}
	b.ReportMetric(float64(small.heap)/(1<<20), "heap-10-MiB")
	b.ReportMetric(float64(large.heap)/(1<<20), "heap-10000-MiB")
	b.ReportMetric(float64(small.json)/(1<<20), "json-10-MiB")
	b.ReportMetric(float64(large.json)/(1<<20), "json-10000-MiB")
	b.ReportMetric(float64(large.heap-small.heap)/float64(large.json-small.json), "heap/json-of-registry")
}

// heapInUse is the bytes of live heap objects after a full collection
// (runtime/metrics, the figure GOGC paces on).
func heapInUse() int64 {
	runtime.GC()
	runtime.GC() // the second one frees what the first one's finalizers released
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
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
