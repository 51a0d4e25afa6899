package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaison-project/liaison/policies"
	"github.com/liaison-project/liaison/policy"
)

// The differential corpus (issue 15): every input is decided by the
// reference evaluation (policy.Options.Reference: the decision query as
// OPA's interpreter evaluates it, as before any optimisation) and by the
// engine's own path, and the two decisions must be identical in every
// field (allow, visible, every reason in order, every obligation, dsa_id,
// audit scope, revision; only the random decision id differs) and fail
// alike. The corpus is the golden file's live inputs followed by
// generated ones (diffGen), deterministic for a seed. `go test` runs a
// sample; make decide-diff runs the full corpus:
//
//	go test ./policy -run TestDecideDifferential -diff-n 100000 -v
var (
	diffN    = flag.Int("diff-n", 2000, "generated inputs in the differential corpus (the golden inputs come on top)")
	diffSeed = flag.Uint64("diff-seed", 15, "seed of the differential corpus generator")
)

func TestDecideDifferential(t *testing.T) {
	n := *diffN
	if testing.Short() {
		n = min(n, 300)
	}
	live, states := engine(t), statesEngine(t)
	ref := referenceOf(t)
	golden := goldenInputs(t)
	gen := newDiffGen(t, *diffSeed)
	type job struct {
		name string
		e    *policy.Engine
		raw  []byte
		i    uint64
	}
	jobs := make(chan job, 64)
	var checked, allowed, failures, siblings, served atomic.Int64
	var mu sync.Mutex
	codes := map[string]int{}
	actions := map[string]int{}
	var wg sync.WaitGroup
	ctx := context.Background()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				p, err := policy.PrepareJSON(j.raw)
				if err != nil {
					t.Errorf("%s: %v", j.name, err)
					continue
				}
				want, werr := ref(ctx, j.e == states, p)
				got, gerr := j.e.DecidePrepared(ctx, p)
				if os.Getenv(baselineEnv) != "" {
					// Another policy: another revision.
					want.Revision = got.Revision
				}
				checked.Add(1)
				if want.Allow {
					allowed.Add(1)
				}
				if msg := diffDecisions(got, gerr, want, werr); msg != "" {
					if failures.Add(1) <= 20 {
						t.Errorf("%s: %s\ninput: %s", j.name, msg, j.raw)
					}
				}
				// Its sibling (cache_test.go): the parts the decision
				// cache's key leaves out changed. Decided right after the
				// original, it is served from the cache whenever the key
				// says the decision is the same; the reference says
				// whether it is.
				// The race pass (-short) checks a quarter of them.
				if sraw := sibling(rand.New(rand.NewPCG(*diffSeed, j.i)), j.raw); !testing.Short() || j.i%4 == 0 {
					sp, err := policy.PrepareJSON(sraw)
					if err != nil {
						t.Errorf("%s, sibling: %v", j.name, err)
						continue
					}
					k1, _ := policy.DecisionCacheKey(j.e, p)
					k2, ok := policy.DecisionCacheKey(j.e, sp)
					swant, swerr := ref(ctx, j.e == states, sp)
					sgot, sgerr := j.e.DecidePrepared(ctx, sp)
					if os.Getenv(baselineEnv) != "" {
						swant.Revision = sgot.Revision
					}
					siblings.Add(1)
					if ok && k1 == k2 {
						served.Add(1)
					}
					if msg := diffDecisions(sgot, sgerr, swant, swerr); msg != "" {
						if failures.Add(1) <= 20 {
							t.Errorf("%s, sibling: %s\ninput:   %s\nsibling: %s", j.name, msg, j.raw, sraw)
						}
					}
				}
				mu.Lock()
				for _, c := range want.Codes() {
					codes[c]++
				}
				var in struct {
					Action any `json:"action"`
				}
				_ = json.Unmarshal(j.raw, &in)
				actions[fmt.Sprint(in.Action)]++
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for i, in := range golden {
		jobs <- job{fmt.Sprintf("golden %d", i), live, in, uint64(i)}
	}
	for i := range n {
		in, onStates := gen.next()
		e := live
		if onStates {
			e = states
		}
		jobs <- job{fmt.Sprintf("generated %d (seed %d)", i, *diffSeed), e, js(t, in), uint64(len(golden) + i)}
	}
	close(jobs)
	wg.Wait()
	// Coverage: the generator must reach every action and deny for many
	// different reasons, or the comparison proves little.
	for _, a := range allActions {
		if actions[a] == 0 && n >= 2000 {
			t.Errorf("no input of action %s", a)
		}
	}
	if n >= 2000 && (len(codes) < 60 || allowed.Load() < int64(n/20)) {
		t.Errorf("weak corpus: %d distinct reason codes, %d allowed of %d", len(codes), allowed.Load(), checked.Load())
	}
	t.Logf("reason codes reached: %v", slices.Sorted(maps.Keys(codes)))
	t.Logf("inputs by action: %v", actions)
	total := checked.Load() + siblings.Load()
	fmt.Printf("decide-diff: %d inputs (%d golden + %d generated, seed %d) and %d siblings (%d of them with their original's cache key, served from the cache): %d identical, %d differ; %d allowed, %d distinct reason codes, %d actions; %s\n",
		checked.Load(), len(golden), n, *diffSeed, siblings.Load(), served.Load(), total-failures.Load(), failures.Load(), allowed.Load(), len(codes), len(actions), time.Since(start).Round(time.Millisecond))
	if siblings.Load() > 100 && served.Load() < siblings.Load()/2 {
		t.Errorf("only %d of %d siblings shared their original's cache key: the cache is barely tested", served.Load(), siblings.Load())
	}
	if failures.Load() > 0 {
		t.Fatalf("%d of %d decisions differ from the reference", failures.Load(), total)
	}
}

// baselineEnv names a policy directory to take as the reference instead
// of the engine's own reference evaluation, for a change of the policy
// itself (restructured Rego): the rewritten policy in this tree is then
// compared with the policy before the rewrite, as BenchmarkDecideBaseline
// compares their speed:
//
//	git archive HEAD policies | tar -x -C /tmp/base
//	LIAISON_BENCH_BASELINE=/tmp/base/policies make decide-diff
const baselineEnv = "LIAISON_BENCH_BASELINE"

// referenceOf returns how the reference decides an input for the live
// data (states false) or statesEngine's (states true): the engine's own
// reference evaluation, or the baseline policy's (see baselineEnv).
func referenceOf(tb testing.TB) func(ctx context.Context, states bool, p policy.Prepared) (policy.Decision, error) {
	tb.Helper()
	live, st := engine(tb), statesEngine(tb)
	base := os.Getenv(baselineEnv)
	if base == "" {
		return func(ctx context.Context, states bool, p policy.Prepared) (policy.Decision, error) {
			if states {
				return policy.DecideReference(ctx, st, p)
			}
			return policy.DecideReference(ctx, live, p)
		}
	}
	baseLive, err := newEngine(tb, context.Background(), policy.Options{Dir: copyPolicy(tb, os.DirFS(base)), ReloadInterval: -1, Reference: true})
	if err != nil {
		tb.Fatalf("baseline policy %s: %v", base, err)
	}
	baseStates := statesEngineOf(tb, base, policy.Options{Reference: true})
	return func(ctx context.Context, states bool, p policy.Prepared) (policy.Decision, error) {
		if states {
			return baseStates.DecidePrepared(ctx, p)
		}
		return baseLive.DecidePrepared(ctx, p)
	}
}

// diffDecisions compares two decisions in every field but the random id.
func diffDecisions(got policy.Decision, gerr error, want policy.Decision, werr error) string {
	if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
		return fmt.Sprintf("error %v, reference %v", gerr, werr)
	}
	got.ID, want.ID = "", ""
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		return fmt.Sprintf("decision differs\n      got: %s\nreference: %s", g, w)
	}
	return ""
}

// goldenInputs are the live inputs of the golden file, as recorded.
func goldenInputs(t testing.TB) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Live []struct {
			Input json.RawMessage `json:"input"`
		} `json:"live"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(doc.Live))
	for i, e := range doc.Live {
		out[i] = e.Input
	}
	return out
}

// allActions are the actions of the bundled policy (policy.Action*).
var allActions = []string{
	"record.publish", "record.read", "record.list", "record.recall", "record.share", "audit.query", "policy.decide",
	"policy.inspect", "federation.deliver", "federation.accept", "record.discover", "record.review", "request.file",
	"registry.read", "registry.change",
}

// stateDSAs are agreements in every state, added (as copies of
// dsa-uk-soc, same parties) to the data of statesEngine: the embedded
// data has only active ones.
var stateDSAs = map[string]map[string]any{
	"dsa-st-draft":      {"status": "draft"},
	"dsa-st-suspended":  {"status": "suspended"},
	"dsa-st-terminated": {"status": "terminated"},
	"dsa-st-future":     {"effective_date": "2026-12-01"},
	"dsa-st-started":    {"effective_date": "2026-11-21"},
	"dsa-st-expiring":   {"expiry_date": "2026-11-21", "review_date": "2026-11-20"},
	"dsa-st-review":     {"review_date": "2026-11-21"},
	"dsa-st-nodiscover": {"discovery": "none"},
}

// statesEngines holds statesEngine's engine, loaded once per test binary
// (closed by TestMain).
var statesEngines sync.Map

// statesEngine is the embedded policy over the embedded data plus
// stateDSAs.
func statesEngine(tb testing.TB) *policy.Engine {
	return statesEngineOf(tb, "", policy.Options{})
}

// statesEngineOf is statesEngine for the policy directory base (empty: the
// embedded library), with opts.
func statesEngineOf(tb testing.TB, base string, opts policy.Options) *policy.Engine {
	tb.Helper()
	key := fmt.Sprintf("%s|%t", base, opts.Reference)
	if e, ok := statesEngines.Load(key); ok {
		return e.(*policy.Engine)
	}
	var dir string
	if base == "" {
		dir = copyPolicy(tb, policies.FS())
	} else {
		dir = copyPolicy(tb, os.DirFS(base))
	}
	var dsas map[string]map[string]any
	readKey(tb, dir, "dsas", &dsas)
	for id, patch := range stateDSAs {
		d := map[string]any{}
		for k, v := range dsas["dsa-uk-soc"] {
			d[k] = v
		}
		for k, v := range patch {
			d[k] = v
		}
		d["dsa_id"] = id
		dsas[id] = d
	}
	writeKey(tb, dir, "dsas", dsas)
	opts.Dir, opts.ReloadInterval = dir, -1
	e, err := policy.New(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	if actual, loaded := statesEngines.LoadOrStore(key, e); loaded {
		_ = e.Close()
		return actual.(*policy.Engine)
	}
	return e
}

// diffGen draws policy inputs: half of them every dimension at random
// (mostly denials, many reasons at once), half one to four dimensions
// changed from an input near an allowed decision of some action, so that
// obligations, banners, scopes and single reasons are reached too. Times
// sit on the boundaries the data and the input carry (DSA effective,
// review and expiry dates, handling expiry, review_due) and one second
// either side.
type diffGen struct {
	tb    testing.TB
	r     *rand.Rand
	dims  []diffDim
	bases []map[string]any
}

type diffDim struct {
	key    string
	values func() any
}

func newDiffGen(tb testing.TB, seed uint64) *diffGen {
	g := &diffGen{tb: tb, r: rand.New(rand.NewPCG(seed, 1521))}
	r := g.r
	pick := func(xs ...any) func() any { return func() any { return xs[r.IntN(len(xs))] } }
	var times []any
	for _, d := range []string{"2024-09-30", "2025-03-31", "2026-11-20", "2026-11-21", "2026-12-01", "2027-06-30", "2027-12-31", "2028-06-30", "2028-12-31"} {
		day, _ := time.Parse(time.DateOnly, d)
		for _, off := range []time.Duration{-time.Second, 0, time.Second, 24*time.Hour - time.Second, 24 * time.Hour} {
			times = append(times, day.Add(off).Format(time.RFC3339))
		}
	}
	times = append(times, "2026-11-21T10:00:00Z", "2026-11-21T10:00:00.5Z", "2026-11-21T11:00:00+01:00", "not a time", 7, nil)
	agencies := []any{"met-police", "rocu-nw", "nca", "hmrc", "selec", "border-force", "nowhere-pd", "BAD ID", ""}
	roles := []string{"analyst", "security_officer", "auditor", "dpo", "federation_auditor", "registry_admin", "reviewer"}
	officer := func() any {
		if r.IntN(5) == 0 {
			return pick(nil, "dc-77", map[string]any{})()
		}
		o := map[string]any{}
		if r.IntN(10) != 0 {
			o["id"] = pick("dc-77", "pc-1", "so-1", "")()
		}
		for _, f := range []struct {
			k  string
			vs []any
		}{
			{"clearance", []any{"BPSS", "SC", "SC", "eSC", "DV", "eDV", "TS", ""}},
			{"vetting", []any{"RV", "MV", "NPPV1", "NPPV2", "NPPV3", "CTC", ""}},
			{"nationality", []any{"GBR", "GBR", "ROU", "FRA", "USA", ""}},
		} {
			if r.IntN(6) != 0 {
				o[f.k] = f.vs[r.IntN(len(f.vs))]
			}
		}
		var rs []any
		for _, role := range roles {
			if r.IntN(4) == 0 {
				rs = append(rs, role)
			}
		}
		if rs == nil {
			rs = []any{}
		}
		if r.IntN(15) != 0 {
			o["roles"] = rs
		}
		return o
	}
	dsaIDs := []any{"dsa-uk-soc", "dsa-uk-soc", "dsa-selec-ops", "dsa-legacy-2023", "dsa-unknown"}
	for id := range stateDSAs {
		dsaIDs = append(dsaIDs, id)
	}
	slices.SortFunc(dsaIDs, func(a, b any) int { return cmpString(a.(string), b.(string)) })
	dsaSet := func() any {
		if r.IntN(15) == 0 {
			return pick(nil, "dsa-uk-soc", []any{7})()
		}
		out := []any{}
		for range r.IntN(3) + 1 {
			out = append(out, dsaIDs[r.IntN(len(dsaIDs))])
		}
		return out
	}
	agencySet := func() any {
		if r.IntN(20) == 0 {
			return pick(nil, "rocu-nw", []any{1})()
		}
		out := []any{}
		for range r.IntN(4) {
			out = append(out, agencies[r.IntN(len(agencies)-2)])
		}
		return out
	}
	g.dims = []diffDim{
		{"action", func() any {
			if r.IntN(30) == 0 {
				return pick("record.delete", "federation.reject", 7, nil, "")()
			}
			return allActions[r.IntN(len(allActions))]
		}},
		{"time", pick(times...)},
		{"subject.agency_id", pick(agencies...)},
		{"subject.officer", officer},
		{"subject.cert_fingerprint", pick("9f86d081884c7d65", nil)},
		{"request.purpose", pick("investigation", "investigation", "prevention", "detection", "prosecution", "execution_of_penalties", "public_security", "", "bogus", nil)},
		// Around settings.min_justification_length (8), trimmed.
		{"request.justification", pick("Operation KINGFISHER: lead 42", "short", "Op KING", "Op KINGF", "Op KINGFI", "  Op KING  ", "", nil, 42)},
		{"request.case", pick("OP-KINGFISHER", "", nil)},
		{"record", pick(nil, "x")},
		{"record.originator.org_id", pick("met-police", "met-police", "hmrc", "selec", "rocu-nw", "nowhere-pd")},
		{"record.dsa_ids", dsaSet},
		{"record.recipients", agencySet},
		{"record.classification", pick(
			map[string]any{"tier": "OFFICIAL"},
			map[string]any{"tier": "OFFICIAL", "sensitive": true, "descriptors": []any{"PERSONAL_DATA"}},
			map[string]any{"tier": "OFFICIAL", "sensitive": true, "eyes_only": []any{"UK"}, "rel_to": []any{"ROU"}},
			map[string]any{"tier": "OFFICIAL", "eyes_only": []any{"GBR", "ROU"}, "descriptors": []any{"LPP", "ODD_ONE"}, "handling_instructions": []any{"RECIPIENTS ONLY"}},
			map[string]any{"tier": "OFFICIAL", "descriptors": []any{"MARKET_SENSITIVE", "LEGAL"}},
			map[string]any{"tier": "SECRET", "uk_prefix": true},
			map[string]any{"tier": "SECRET"},
			map[string]any{"tier": "TOP_SECRET"},
			map[string]any{"tier": "RESTRICTED"},
			map[string]any{"tier": "OFFICIAL", "eyes_only": []any{"FVEY"}},
			nil,
		)},
		{"record.tlp", pick("CLEAR", "GREEN", "AMBER", "AMBER", "AMBER+STRICT", "RED", "PURPLE", nil)},
		{"record.grading", pick(
			map[string]any{"source": "1", "intelligence": "B"},
			map[string]any{"source": "2", "intelligence": "C"},
			map[string]any{"source": "3", "intelligence": "E"},
			map[string]any{"source": "9", "intelligence": "B"},
			map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "B24"},
			map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "A14"},
			map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "B25"},
			map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "C31"},
			map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "Z99"},
			map[string]any{"source": "1", "intelligence": "B", "europol": map[string]any{"source": "B", "info": "2"}},
			map[string]any{"source": "1", "intelligence": "B", "europol": map[string]any{"source": "A", "info": "1"}},
			map[string]any{"source": "1", "intelligence": "B", "europol": map[string]any{"source": "Q", "info": "7"}},
			nil,
		)},
		{"record.handling", func() any {
			exp := pick("2026-11-21T09:59:59Z", "2026-11-21T10:00:00Z", "2026-11-21T10:00:01Z", "2026-01-01T00:00:00Z", "2027-06-01T00:00:00Z", "soon")()
			return pick(
				map[string]any{"code": "P"},
				map[string]any{"code": "P"},
				map[string]any{"code": "P", "action_code": "A1"},
				map[string]any{"code": "C", "action_code": "A1", "sanitisation_code": "S1", "conditions": map[string]any{}},
				map[string]any{"code": "C", "action_code": "A2", "sanitisation_code": "S2", "conditions": map[string]any{"no_judicial_use": true}},
				map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"free_text": "ask first"}},
				map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"allowed_recipient_orgs": []any{"rocu-nw", "hmrc"}}},
				map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"allowed_recipient_types": []any{"uk_police", "selec", "rocu"}}},
				map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"originating_agency_only": true}},
				map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S2", "conditions": map[string]any{"intelligence_use_only": true, "expires": exp}},
				map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"expires": exp, "no_onward_dissemination": true}},
				map[string]any{"code": "C", "action_code": "A3"},
				map[string]any{"code": "X"},
				map[string]any{"code": "P", "europol_codes": []any{"H1"}},
				map[string]any{"code": "P", "europol_codes": []any{"H0", "H2"}},
				map[string]any{"code": "P", "europol_codes": []any{"H3"}},
				map[string]any{"code": "P", "europol_codes": []any{"H9"}},
				map[string]any{"code": "C", "action_code": "A2", "sanitisation_code": "S1", "conditions": map[string]any{}, "europol_codes": []any{"H1"}},
				"C",
			)()
		}},
		{"record.allowed_purposes", pick([]any{"prevention", "investigation", "detection", "prosecution"}, []any{"investigation"}, []any{"public_security"}, []any{}, nil)},
		{"record.data_subject_category", pick("suspect", "victim", "witness", "none", nil)},
		{"record.content_basis", pick("fact", "assessment", nil)},
		{"record.source_type", pick(nil, nil, "chis", "open_source")},
		{"record.protected_fields", pick([]any{"source_details"}, []any{}, []any{"a", "b"})},
		{"record.review_due", pick("2026-11-20", "2026-11-21", "2026-11-22", "2026-12-21", "2026-12-22", "2027-06-01", "2020-01-01", "never", nil)},
		{"record.consents", func() any {
			return pick(nil, []any{map[string]any{"id": "con_y", "requested_by": pick("rocu-nw", "hmrc")(), "recipients": []any{"nca"},
				"approved_by": pick("met-police", "hmrc")(), "approved_at": pick("2026-11-20T00:00:00Z", "2026-11-21T10:00:00Z", "2026-11-21T10:00:01Z")(), "receipt_digest": "sha256:00"}})()
		}},
		{"share", func() any {
			return pick(nil, map[string]any{"recipients": agencySet()}, map[string]any{"recipients": []any{"nca"}}, "nca")()
		}},
		{"consent", func() any {
			return pick(nil, map[string]any{"id": "con_x", "requested_by": pick("rocu-nw", "hmrc")(), "approved_by": pick("met-police", "rocu-nw")(), "recipients": pick([]any{"nca"}, []any{"hmrc"}, []any{})()})()
		}},
		{"federation", func() any {
			if r.IntN(8) == 0 {
				return pick(nil, "gw-north", []any{})()
			}
			return map[string]any{
				"peer_gateway":  pick("gw-north", "gw-south", "GW BAD", 7)(),
				"peer_agencies": pick([]any{"rocu-nw", "nca"}, []any{"met-police", "hmrc"}, []any{"selec"}, []any{"met-police", "hmrc", "rocu-nw", "nca", "selec"}, []any{}, "rocu-nw")(),
				"recipients":    pick([]any{"rocu-nw"}, []any{"hmrc"}, []any{"selec"}, []any{"nca"}, []any{"rocu-nw", "hmrc"}, []any{"nowhere-pd"}, []any{}, "rocu-nw")(),
				"provenance":    pick([]any{"gw-south"}, []any{}, []any{"gw-a", "gw-b", "gw-c", "gw-south"}, []any{"gw-a", "gw-b", "gw-c", "gw-d", "gw-south"}, "gw-south")(),
			}
		}},
		{"review", func() any {
			return pick(nil, "retain",
				map[string]any{"decision": pick("retain", "retain", "dispose", "archive")(), "review_due": pick("2026-11-21", "2026-11-22", "2027-06-01", "2036-11-18", "2036-11-19", "2036-11-20", "2040-01-01", "tomorrow", nil)()},
			)()
		}},
		{"info_request", func() any {
			if r.IntN(10) == 0 {
				return pick(nil, "x")()
			}
			return map[string]any{
				"holder":  pick("met-police", "met-police", "hmrc", "selec", "nowhere-pd")(),
				"dsa_ids": dsaSet(),
				"urgency": pick("urgent", "normal", "soon")(),
				"access":  pick("direct", "indirect", "")(),
				"kind":    pick("information", "prum_core_data", "gossip")(),
			}
		}},
		{"registry", func() any {
			if r.IntN(10) == 0 {
				return pick(nil, "x")()
			}
			kind := pick("agency", "dsa", "enumeration", "party")().(string)
			return map[string]any{
				"kind":   kind,
				"id":     pick("met-police", "new-force", "dsa-uk-soc", "dsa-new", "agency_types", "recipient_types", "BAD ID")(),
				"change": pick("add", "suspend", "activate", "remove", "terminate", "renew", "rename")(),
			}
		}},
	}
	// Near-allow bases, one or more per action (the Rego tests' base
	// inputs and the golden corpus's).
	reg := func(kind, id, change string) map[string]any {
		return map[string]any{"action": "registry.change", "subject.agency_id": "met-police", "record": nil,
			"subject.officer.roles": []any{"registry_admin"}, "registry": map[string]any{"kind": kind, "id": id, "change": change}}
	}
	g.bases = []map[string]any{
		{},
		{"action": "record.list"},
		{"action": "record.list", "request.purpose": nil, "subject.officer": nil},
		{"action": "record.publish", "subject.agency_id": "met-police"},
		{"action": "record.recall", "subject.agency_id": "met-police"},
		{"action": "record.share", "subject.agency_id": "met-police", "share": map[string]any{"recipients": []any{"nca"}}},
		{"action": "record.share", "subject.agency_id": "rocu-nw", "share": map[string]any{"recipients": []any{"nca"}},
			"consent": map[string]any{"id": "con_x", "requested_by": "rocu-nw", "approved_by": "met-police", "recipients": []any{"nca"}}},
		{"subject.agency_id": "hmrc", "record.dsa_ids": []any{"dsa-uk-soc", "dsa-selec-ops"}},
		{"subject.agency_id": "selec", "subject.officer.nationality": "ROU", "record.dsa_ids": []any{"dsa-selec-ops"}, "record.tlp": "GREEN"},
		{"action": "record.discover", "subject.agency_id": "nca"},
		{"action": "record.review", "subject.agency_id": "met-police", "review": map[string]any{"decision": "retain", "review_due": "2027-06-01"}},
		{"action": "record.review", "subject.agency_id": "met-police", "review": map[string]any{"decision": "dispose"}},
		{"action": "request.file", "subject.agency_id": "nca", "record": nil,
			"info_request": map[string]any{"holder": "met-police", "dsa_ids": []any{"dsa-uk-soc"}, "urgency": "normal", "access": "direct", "kind": "information"}},
		{"action": "request.file", "subject.agency_id": "hmrc", "record": nil,
			"info_request": map[string]any{"holder": "met-police", "dsa_ids": []any{"dsa-selec-ops"}, "urgency": "urgent", "access": "indirect", "kind": "prum_core_data"}},
		{"action": "policy.decide", "subject.officer.roles": []any{"security_officer"}},
		{"action": "policy.inspect", "subject.agency_id": "nca", "record": nil, "subject.officer.roles": []any{"security_officer"}},
		{"action": "audit.query", "record": nil, "subject.officer.roles": []any{"auditor"}},
		{"action": "audit.query", "record": nil, "subject.officer.roles": []any{"federation_auditor"}},
		{"action": "registry.read", "record": nil, "subject.officer.roles": []any{"registry_admin"}},
		reg("dsa", "dsa-uk-soc", "suspend"),
		reg("agency", "new-force", "add"),
		reg("enumeration", "agency_types", "add"),
		{"action": "federation.deliver", "subject.agency_id": "met-police",
			"federation": map[string]any{"peer_gateway": "gw-north", "peer_agencies": []any{"rocu-nw", "nca"}, "recipients": []any{"rocu-nw"}, "provenance": []any{"gw-south"}}},
		{"action": "federation.accept", "subject.agency_id": "met-police", "subject.officer": nil,
			"federation": map[string]any{"peer_gateway": "gw-south", "peer_agencies": []any{"met-police", "hmrc"}, "recipients": []any{"rocu-nw"}, "provenance": []any{"gw-south"}}},
	}
	for _, id := range []string{"dsa-st-draft", "dsa-st-suspended", "dsa-st-future", "dsa-st-started", "dsa-st-expiring", "dsa-st-review"} {
		g.bases = append(g.bases, map[string]any{"record.dsa_ids": []any{id}}, map[string]any{"action": "record.publish", "subject.agency_id": "met-police", "record.dsa_ids": []any{id}})
	}
	return g
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// next draws one input (a fresh map: input() edits nested maps in place)
// and whether to decide it on statesEngine (a quarter of the inputs, and
// every input naming one of stateDSAs).
func (g *diffGen) next() (map[string]any, bool) {
	r := g.r
	edits := map[string]any{}
	if r.IntN(2) == 0 {
		for _, d := range g.dims {
			if r.IntN(3) != 0 || d.key == "action" {
				edits[d.key] = d.values()
			}
		}
	} else {
		base := g.bases[r.IntN(len(g.bases))]
		// Bases are shared: copy them through JSON so that edits never
		// reach them.
		raw, _ := json.Marshal(base)
		_ = json.Unmarshal(raw, &edits)
		for range 1 + r.IntN(4) {
			d := g.dims[r.IntN(len(g.dims))]
			edits[d.key] = d.values()
		}
	}
	in := input(g.tb, baseRead, edits)
	raw, _ := json.Marshal(in)
	onStates := r.IntN(4) == 0
	for id := range stateDSAs {
		if strings.Contains(string(raw), `"`+id+`"`) {
			onStates = true
		}
	}
	return in, onStates
}

// mixedInputs are n distinct inputs of the differential generator, on the
// embedded data, prepared once (the conversion is not what is compared).
func mixedInputs(tb testing.TB, n int) []policy.Prepared {
	tb.Helper()
	gen := newDiffGen(tb, 20261206)
	seen := map[string]bool{}
	out := make([]policy.Prepared, 0, n)
	for len(out) < n {
		in, _ := gen.next()
		raw := js(tb, in)
		if seen[string(raw)] {
			continue
		}
		seen[string(raw)] = true
		p, err := policy.PrepareJSON(raw)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// trafficInputs are n distinct inputs shaped like a gateway's traffic over
// three working days: each is one of 500 request shapes, each a golden (or
// generated) input of an action drawn with the weights of a gateway's request mix (reads and listings most, then
// searches, publishes, federation deliveries and acceptances, shares,
// requests, recalls, audit queries and reviews), with what differs from one request to the next in real traffic
// drawn again — the record (a new id, version and creation time), the
// officer (one of twenty per agency), the case, the justification's words
// and length, and the time, which moves on by 26 s per input over three
// days, so that every input is distinct and crosses day boundaries, where
// agreement and review dates fall. What stays is what a gateway's traffic
// repeats: who the agencies are and their officers' attributes, the
// records' markings and agreements, the purposes, the actions.
func trafficInputs(tb testing.TB, n int) []policy.Prepared {
	tb.Helper()
	byAction := map[string][][]byte{}
	// The golden inputs, and the generator's for the actions the golden
	// file has few of (searches, reviews, requests).
	pool := goldenInputs(tb)
	gen := newDiffGen(tb, 2026)
	for range 4000 {
		in, states := gen.next()
		if !states {
			pool = append(pool, js(tb, in))
		}
	}
	for _, raw := range pool {
		var in struct {
			Action string `json:"action"`
			Time   string `json:"time"`
		}
		if json.Unmarshal(raw, &in) != nil || in.Time == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, in.Time); err != nil {
			continue
		}
		byAction[in.Action] = append(byAction[in.Action], raw)
	}
	mix := []struct {
		action string
		weight int
	}{
		{"record.read", 45}, {"record.list", 30}, {"record.discover", 8}, {"record.publish", 6},
		{"record.share", 3}, {"request.file", 3}, {"record.recall", 2}, {"audit.query", 2}, {"record.review", 1},
		{"federation.deliver", 4}, {"federation.accept", 4},
	}
	total := 0
	for _, m := range mix {
		if len(byAction[m.action]) == 0 {
			tb.Fatalf("no golden input of %s", m.action)
		}
		total += m.weight
	}
	r := rand.New(rand.NewPCG(2026, 12))
	// The request shapes of the three days: each an action of the mix and
	// one of its base inputs. Real traffic repeats its shapes (the same
	// teams read records of the same originators under the same agreements
	// with the same markings); how many there are sets how often the cache
	// can answer (LIAISON_BENCH_TRAFFIC_SHAPES, default 500).
	shapes := 500
	if v, err := strconv.Atoi(os.Getenv("LIAISON_BENCH_TRAFFIC_SHAPES")); err == nil && v > 0 {
		shapes = v
	}
	type shape struct{ raw []byte }
	var shapeList []shape
	for range shapes {
		w := r.IntN(total)
		action := mix[0].action
		for _, m := range mix {
			if w < m.weight {
				action = m.action
				break
			}
			w -= m.weight
		}
		bases := byAction[action]
		shapeList = append(shapeList, shape{bases[r.IntN(len(bases))]})
	}
	t0 := time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC)
	words := strings.Fields("operation lead suspect vehicle address account transfer courier shipment meeting port border warrant intelligence network supplier associate phone cash firearm")
	out := make([]policy.Prepared, 0, n)
	for i := range n {
		var m map[string]any
		_ = json.Unmarshal(shapeList[r.IntN(len(shapeList))].raw, &m)
		at := t0.Add(time.Duration(i) * 26 * time.Second)
		m["time"] = at.Format(time.RFC3339)
		if rec, ok := m["record"].(map[string]any); ok {
			rec["record_id"] = fmt.Sprintf("rec_%08d", r.IntN(1e8))
			rec["version"] = 1 + r.IntN(3)
			rec["created"] = at.Add(-time.Duration(r.IntN(90*24)) * time.Hour).Format(time.RFC3339)
		}
		if sub, ok := m["subject"].(map[string]any); ok {
			if o, ok := sub["officer"].(map[string]any); ok {
				if id, ok := o["id"].(string); ok && id != "" {
					o["id"] = fmt.Sprintf("%v-o%02d", sub["agency_id"], r.IntN(20))
				}
			}
		}
		if req, ok := m["request"].(map[string]any); ok {
			if _, ok := req["case"]; ok {
				req["case"] = fmt.Sprintf("OP-%04d", r.IntN(300))
			}
			if j, ok := req["justification"].(string); ok && len(strings.TrimSpace(j)) >= 8 {
				var b strings.Builder
				for b.Len() < 20+r.IntN(100) {
					b.WriteString(words[r.IntN(len(words))])
					b.WriteByte(' ')
				}
				req["justification"] = strings.TrimSpace(b.String())
			}
		}
		p, err := policy.PrepareJSON(js(tb, m))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// BenchmarkDecideMixed decides 10,000 distinct inputs in turn, by the
// reference evaluation and by the engine's path (with its decision cache,
// emptied before each measurement), and reports each one's p50 and p99,
// and in the alternating sub-benchmark the ratio reference ÷ engine of
// their medians, measured in the same run, and the share of the engine's
// decisions served by the cache:
//
//	go test ./policy -run '^$' -bench DecideMixed -benchtime 10000x
//
// Two workloads: traffic (trafficInputs: what a gateway's requests look
// like) and generated (the differential generator's inputs: every
// dimension drawn at random, almost none alike — the worst case for a
// cache, where the engine's path is the reference's plus the key). Run
// with -benchtime 10000x: with more iterations an input comes round again
// and would be served from the cache for that reason alone. With
// LIAISON_BENCH_BASELINE set, the reference is that policy directory's
// evaluation (see baselineEnv).
func BenchmarkDecideMixed(b *testing.B) {
	const n = 10000
	e := engine(b)
	ctx := context.Background()
	ref := referenceOf(b)
	for _, w := range []struct {
		name   string
		inputs func(testing.TB, int) []policy.Prepared
	}{{"traffic", trafficInputs}, {"generated", mixedInputs}} {
		inputs := w.inputs(b, n)
		paths := []struct {
			name   string
			decide func(policy.Prepared) (policy.Decision, error)
		}{
			{"reference", func(p policy.Prepared) (policy.Decision, error) { return ref(ctx, false, p) }},
			{"engine", func(p policy.Prepared) (policy.Decision, error) { return e.DecidePrepared(ctx, p) }},
		}
		hitShare := func(b *testing.B) {
			if h, m, on := policy.DecisionCacheStats(e); on && h+m > 0 {
				b.ReportMetric(100*float64(h)/float64(h+m), "cache-hit-%")
			}
		}
		for _, path := range paths {
			b.Run("workload="+w.name+"/path="+path.name, func(b *testing.B) {
				policy.ResetDecisionCache(e)
				i := 0
				percentiles(b, func() {
					if _, err := path.decide(inputs[i%n]); err != nil && !errorIsDeny(err) {
						b.Fatal(err)
					}
					i++
				})
				if path.name == "engine" {
					hitShare(b)
				}
			})
		}
		b.Run("workload="+w.name+"/ratio", func(b *testing.B) {
			policy.ResetDecisionCache(e)
			var rd, ed []time.Duration
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				p := inputs[i%n]
				i++
				t0 := time.Now()
				_, _ = paths[0].decide(p)
				t1 := time.Now()
				_, _ = paths[1].decide(p)
				rd, ed = append(rd, t1.Sub(t0)), append(ed, time.Since(t1))
			}
			b.StopTimer()
			slices.Sort(rd)
			slices.Sort(ed)
			q := func(d []time.Duration, p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) }
			mean := func(d []time.Duration) float64 {
				var s time.Duration
				for _, x := range d {
					s += x
				}
				return float64(s) / float64(len(d))
			}
			b.ReportMetric(q(rd, 0.5), "ref-p50-ns")
			b.ReportMetric(q(ed, 0.5), "p50-ns")
			b.ReportMetric(q(rd, 0.99), "ref-p99-ns")
			b.ReportMetric(q(ed, 0.99), "p99-ns")
			b.ReportMetric(q(rd, 0.5)/q(ed, 0.5), "ratio-p50")
			b.ReportMetric(q(rd, 0.99)/q(ed, 0.99), "ratio-p99")
			b.ReportMetric(mean(rd)/mean(ed), "ratio-mean")
			hitShare(b)
		})
	}
}

// errorIsDeny: an input the policy cannot evaluate (a generated malformed
// one) is denied with an evaluation error; that is a decision too.
func errorIsDeny(err error) bool {
	return errors.Is(err, policy.ErrEvaluation) || errors.Is(err, policy.ErrMalformedDecision)
}

// TestDiffGenDeterministic: the corpus is a function of its seed, so that
// a difference found once can be found again (-diff-seed).
func TestDiffGenDeterministic(t *testing.T) {
	a, b, c := newDiffGen(t, 7), newDiffGen(t, 7), newDiffGen(t, 8)
	same := 0
	for i := range 200 {
		x, xs := a.next()
		y, ys := b.next()
		z, _ := c.next()
		if !reflect.DeepEqual(x, y) || xs != ys {
			t.Fatalf("input %d differs between two runs of seed 7", i)
		}
		if reflect.DeepEqual(x, z) {
			same++
		}
	}
	if same > 20 {
		t.Errorf("seeds 7 and 8 drew %d identical inputs of 200", same)
	}
}
