package indextest

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
)

// Corpus is the synthetic index the backends' benchmarks share, so that
// their numbers compare: entry i of N is the same everywhere.
//
// Shape: 10 agencies; each entry has its originator and two recipients as
// readers (about 30% of the entries per agency); one of 50 DSAs, plus the
// DSA "dsa-sel" on 1% of the entries (the selective filter: 1% of any
// reader's records); an operation on half (of 200), an OCG on 30% (of
// 1000), one 4P, tier, TLP and handling code each of 3-4 values, a review
// date on 70%, and SelectorsPerEntry blind values drawn from
// N*SelectorsPerEntry/2 distinct values (a value is held by about two
// records).
type Corpus struct {
	N                 int
	SelectorsPerEntry int
}

// Agencies of the corpus; BenchReader is the reader the benchmarks query as.
const (
	corpusAgencies = 10
	BenchReader    = "ag-03"
	// SelectiveDSA is on 1% of the entries.
	SelectiveDSA = "dsa-sel"
)

func agency(i int) string { return fmt.Sprintf("ag-%02d", i) }

// ID is the record id of entry i: shaped like a record id ("rec_" and 26
// characters) and ordered by i.
func (c Corpus) ID(i int) string {
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
	return fmt.Sprintf("rec_%012d%014x", i, h[:7])
}

// BlindValue is the corpus's blind value number v.
func (c Corpus) BlindValue(v int) index.Blind {
	h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("blind"), uint64(v)))
	return index.Blind{KeyVersion: 1, Type: []string{"phone", "email", "vehicle", "name"}[v%4], Value: h[:]}
}

// Entry returns entry i.
func (c Corpus) Entry(i int) index.Entry {
	rng := rand.New(rand.NewPCG(uint64(i), 0x1dc))
	orig := rng.IntN(corpusAgencies)
	r1 := (orig + 1 + rng.IntN(corpusAgencies-1)) % corpusAgencies
	r2 := r1
	for r2 == r1 || r2 == orig {
		r2 = rng.IntN(corpusAgencies)
	}
	e := index.Entry{
		RecordID: c.ID(i), Version: 1, State: "active",
		Created:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Originator:   agency(orig),
		Readers:      []string{agency(orig), agency(r1), agency(r2)},
		Recipients:   []string{agency(r1), agency(r2)},
		DSAIDs:       []string{fmt.Sprintf("dsa-%02d", rng.IntN(50))},
		FourP:        []string{[]string{"pursue", "prevent", "protect", "prepare"}[rng.IntN(4)]},
		Tier:         []string{"t1", "t2", "t3"}[rng.IntN(3)],
		TLP:          []string{"red", "amber", "green", "clear"}[rng.IntN(4)],
		HandlingCode: []string{"P", "C", "H"}[rng.IntN(3)],
	}
	if i%100 == 37 {
		e.DSAIDs = append(e.DSAIDs, SelectiveDSA)
	}
	if rng.IntN(2) == 0 {
		e.Operation = fmt.Sprintf("op-%03d", rng.IntN(200))
	}
	if rng.IntN(10) < 3 {
		e.OCGIDs = []string{fmt.Sprintf("ocg-%04d", rng.IntN(1000))}
	}
	if rng.IntN(10) < 7 {
		e.ReviewDue = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(3*365)).Format(time.DateOnly)
	}
	if domain := c.N * c.SelectorsPerEntry / 2; domain > 0 {
		for range c.SelectorsPerEntry {
			e.Selectors = append(e.Selectors, c.BlindValue(rng.IntN(domain)))
		}
	}
	return e
}

// BenchSizes reads a comma-separated list of sizes from the environment
// variable env ("100000,1000000"), or returns def. The default run is
// small; the numbers in docs/benchmarks.md come from the large sizes.
func BenchSizes(tb testing.TB, env string, def ...int) []int {
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			tb.Fatalf("%s=%q: want a comma-separated list of positive sizes", env, s)
		}
		out = append(out, n)
	}
	return out
}

// Latencies collects per-call durations and reports their percentiles.
type Latencies []time.Duration

// Report reports p50 and p99 in nanoseconds under prefix.
func (l Latencies) Report(b *testing.B, prefix string) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	q := func(p float64) float64 { return float64(s[min(len(s)-1, int(p*float64(len(s))))].Nanoseconds()) }
	b.ReportMetric(q(0.50), prefix+"p50-ns")
	b.ReportMetric(q(0.99), prefix+"p99-ns")
}

// BenchQueries are the query shapes the benchmarks time, each a page of
// 100 for BenchReader from a random position.
func BenchQueries() []struct {
	Name  string
	Query index.Query
} {
	return []struct {
		Name  string
		Query index.Query
	}{
		{"all", index.Query{Reader: BenchReader, Limit: 100}},
		{"dsa_1pct", index.Query{Reader: BenchReader, DSAIDs: []string{SelectiveDSA}, Limit: 100}},
		{"dsa_1pct_and_tier", index.Query{Reader: BenchReader, DSAIDs: []string{SelectiveDSA}, Tiers: []string{"t1", "t2"}, Limit: 100}},
		{"tier_or_tlp", index.Query{Reader: BenchReader, Tiers: []string{"t1", "t3"}, TLPs: []string{"red", "green"}, Limit: 100}},
		{"review_window", index.Query{Reader: BenchReader, ReviewFrom: "2026-06-01", ReviewTo: "2026-06-30", Limit: 100}},
	}
}
