package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/liaison-project/liaison/policies"
	"github.com/liaison-project/liaison/policy"
)

// The golden differential test holds the policy to the decisions it made
// when testdata/golden_decisions.json was recorded: every field the gateway
// reads (allow, visible, reasons in order, obligations, dsa_id) and the
// explanation, for a corpus of inputs on the live data (samples.json, the
// Rego test cases' inputs and a few hundred generated combinations), and
// the full decision of every table case of the Rego tests on their frozen
// fixtures. It exists so that the policy can be rewritten for speed with
// the guarantee that no decision changes; a deliberate change of a decision
// regenerates the file:
//
//	go test ./policy -run TestGoldenDecisions -update-golden
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden_decisions.json from the current policy")

const goldenFile = "testdata/golden_decisions.json"

type goldenCase struct {
	Name  string `json:"name"`
	Input any    `json:"input"`
}

type goldenDecision struct {
	Allow       bool               `json:"allow"`
	Visible     bool               `json:"visible"`
	Reasons     []policy.Reason    `json:"reasons"`
	Obligations policy.Obligations `json:"obligations"`
	DSAID       string             `json:"dsa_id"`
	Error       string             `json:"error,omitempty"`
	// Facts are the explanation's facts (data.liaison.authz.explain); the
	// rest of an explanation is derived in Go from the decision.
	Facts []string `json:"facts,omitempty"`
}

type goldenEntry struct {
	Name     string         `json:"name"`
	Input    any            `json:"input"`
	Decision goldenDecision `json:"decision"`
}

type goldenDoc struct {
	Comment string        `json:"comment"`
	Live    []goldenEntry `json:"live"`
	// Fixture decisions of the Rego test tables, by table and case name,
	// as the policy returns them (data.liaison.authz.decision).
	Fixtures map[string]map[string]any `json:"fixtures"`
}

func TestGoldenDecisions(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	corpus := goldenCorpus(t)
	got := goldenDoc{
		Comment:  "Recorded decisions; see policy/golden_test.go. Regenerate only for a deliberate change of decisions: go test ./policy -run TestGoldenDecisions -update-golden",
		Fixtures: fixtureDecisions(t),
	}
	for _, c := range corpus {
		d, err := e.DecideJSON(ctx, js(t, c.Input))
		gd := goldenDecision{Allow: d.Allow, Visible: d.Visible, Reasons: d.Reasons, Obligations: d.Obligations, DSAID: d.DSAID}
		if err != nil {
			gd.Error = err.Error()
		} else {
			gd.Facts = e.ExplainJSON(ctx, d, js(t, c.Input)).Facts
		}
		got.Live = append(got.Live, goldenEntry{Name: c.Name, Input: c.Input, Decision: gd})
	}
	// Round-trip through JSON so that both sides compare as plain values.
	gotJSON, err := compactGolden(got)
	if err != nil {
		t.Fatal(err)
	}
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, gotJSON, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d live decisions and %d fixture tables to %s", len(got.Live), len(got.Fixtures), goldenFile)
		return
	}
	wantJSON, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (record it with -update-golden)", err)
	}
	var want, have goldenDoc
	if err := json.Unmarshal(wantJSON, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(gotJSON, &have); err != nil {
		t.Fatal(err)
	}
	if len(want.Live) != len(have.Live) {
		t.Fatalf("corpus has %d inputs, golden file %d: the generator changed; regenerate only with an unchanged policy", len(have.Live), len(want.Live))
	}
	failures := 0
	for i := range want.Live {
		w, h := want.Live[i], have.Live[i]
		wi, _ := json.Marshal(w.Input)
		hi, _ := json.Marshal(h.Input)
		if w.Name != h.Name || !bytes.Equal(wi, hi) {
			t.Fatalf("corpus entry %d is %q, golden %q (or its input differs): the generator changed", i, h.Name, w.Name)
		}
		wd, _ := json.Marshal(w.Decision)
		hd, _ := json.Marshal(h.Decision)
		if !bytes.Equal(wd, hd) {
			failures++
			if failures <= 20 {
				t.Errorf("%s: decision changed\n got: %s\nwant: %s\ninput: %s", w.Name, hd, wd, wi)
			}
		}
	}
	for table, cases := range want.Fixtures {
		for name, wd := range cases {
			a, _ := json.Marshal(wd)
			b, _ := json.Marshal(have.Fixtures[table][name])
			if !bytes.Equal(a, b) {
				failures++
				if failures <= 40 {
					t.Errorf("fixture %s / %s: decision changed\n got: %s\nwant: %s", table, name, b, a)
				}
			}
		}
		if len(cases) != len(have.Fixtures[table]) {
			t.Errorf("fixture table %s has %d cases, golden %d", table, len(have.Fixtures[table]), len(cases))
		}
	}
	if len(want.Fixtures) != len(have.Fixtures) {
		t.Errorf("%d fixture tables, golden %d", len(have.Fixtures), len(want.Fixtures))
	}
	if failures > 0 {
		t.Fatalf("%d decisions differ from %s", failures, goldenFile)
	}
	t.Logf("%d live decisions and %d fixture tables identical", len(have.Live), len(have.Fixtures))
}

// compactGolden writes one live entry and one fixture table per line, so
// that the file stays small and a diff shows which decisions changed.
func compactGolden(doc goldenDoc) ([]byte, error) {
	var b bytes.Buffer
	comment, err := json.Marshal(doc.Comment)
	if err != nil {
		return nil, err
	}
	b.WriteString("{\"comment\": ")
	b.Write(comment)
	b.WriteString(",\n\"live\": [\n")
	for i, e := range doc.Live {
		line, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		b.Write(line)
		if i < len(doc.Live)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("],\n\"fixtures\": {\n")
	tables := make([]string, 0, len(doc.Fixtures))
	for k := range doc.Fixtures {
		tables = append(tables, k)
	}
	sort.Strings(tables)
	for i, k := range tables {
		line, err := json.Marshal(map[string]any{k: doc.Fixtures[k]})
		if err != nil {
			return nil, err
		}
		b.Write(line[1 : len(line)-1])
		if i < len(tables)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}}\n")
	return b.Bytes(), nil
}

// goldenCorpus is deterministic: samples.json, the Rego test cases' inputs
// (on the live data), hand-picked inputs and seeded random combinations.
func goldenCorpus(t *testing.T) []goldenCase {
	t.Helper()
	var out []goldenCase
	add := func(name string, in any) { out = append(out, goldenCase{Name: name, Input: in}) }

	// samples.json
	raw, err := fs.ReadFile(policies.FS(), "samples.json")
	if err != nil {
		t.Fatal(err)
	}
	var samples struct {
		Samples []struct {
			Name  string `json:"name"`
			Input any    `json:"input"`
		} `json:"samples"`
	}
	if err := json.Unmarshal(raw, &samples); err != nil {
		t.Fatal(err)
	}
	for _, s := range samples.Samples {
		add("sample: "+s.Name, s.Input)
	}

	// The Rego tests' table inputs, decided on the live data.
	for _, fc := range fixtureInputs(t, regoTables) {
		add("rego case: "+fc.Name, fc.Input)
	}

	// Garbage and edge shapes.
	for i, in := range []any{nil, 42, "record.read", []any{}, map[string]any{}, map[string]any{"action": 7},
		input(t, baseRead, map[string]any{"subject.officer": "dc-77"}),
		input(t, baseRead, map[string]any{"subject.officer": map[string]any{"id": ""}}),
		input(t, baseRead, map[string]any{"record": "x"}),
		input(t, baseRead, map[string]any{"record.dsa_ids": "dsa-uk-soc", "action": "record.publish", "subject.agency_id": "met-police"}),
		input(t, baseRead, map[string]any{"record.recipients": []any{1, "hmrc"}, "action": "record.publish", "subject.agency_id": "met-police"}),
		input(t, baseRead, map[string]any{"record.handling": "C"}),
		input(t, baseRead, map[string]any{"record.handling.conditions": "x", "record.handling.code": "C"}),
		input(t, baseRead, map[string]any{"record.classification": nil}),
		input(t, baseRead, map[string]any{"record.classification.eyes_only": "GBR"}),
		input(t, baseRead, map[string]any{"record.handling.europol_codes": "H1"}),
		input(t, baseRead, map[string]any{"record.grading": nil}),
		input(t, baseRead, map[string]any{"request": nil}),
		input(t, baseRead, map[string]any{"subject": nil}),
		input(t, baseRead, map[string]any{"time": "yesterday"}),
	} {
		add(fmt.Sprintf("edge %02d", i), in)
	}

	// Seeded combinations.
	r := rand.New(rand.NewPCG(20261121, 42))
	pick := func(xs ...any) any { return xs[r.IntN(len(xs))] }
	actions := []any{"record.read", "record.read", "record.read", "record.list", "record.list", "record.publish", "record.publish",
		"record.recall", "policy.decide", "record.share", "audit.query", "record.delete"}
	agencies := []any{"met-police", "rocu-nw", "nca", "hmrc", "selec", "border-force", "nowhere-pd", "BAD ID"}
	officers := []any{
		nil,
		map[string]any{"id": "dc-77", "clearance": "SC", "vetting": "MV", "roles": []any{"analyst"}, "nationality": "GBR"},
		map[string]any{"id": "pc-1", "clearance": "BPSS", "vetting": "RV", "roles": []any{"analyst"}, "nationality": "GBR"},
		map[string]any{"id": "dv-2", "clearance": "DV", "vetting": "NPPV3", "roles": []any{"security_officer", "auditor"}, "nationality": "GBR"},
		map[string]any{"id": "ro-3", "clearance": "SC", "vetting": "MV", "roles": []any{"dpo"}, "nationality": "ROU"},
		map[string]any{"id": "nc-4", "vetting": "RV"},
		map[string]any{"clearance": "SC"},
	}
	purposes := []any{"investigation", "investigation", "prevention", "detection", "prosecution", "execution_of_penalties", "public_security", "", "bogus", nil}
	handlings := []any{
		map[string]any{"code": "P"},
		map[string]any{"code": "P"},
		map[string]any{"code": "P", "action_code": "A1"},
		map[string]any{"code": "C", "action_code": "A1", "sanitisation_code": "S1", "conditions": map[string]any{}},
		map[string]any{"code": "C", "action_code": "A2", "sanitisation_code": "S2", "conditions": map[string]any{"no_judicial_use": true}},
		map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"free_text": "ask first"}},
		map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"allowed_recipient_orgs": []any{"rocu-nw", "hmrc"}}},
		map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"allowed_recipient_types": []any{"uk_police", "selec"}}},
		map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"originating_agency_only": true}},
		map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S2", "conditions": map[string]any{"intelligence_use_only": true, "expires": "2026-01-01T00:00:00Z"}},
		map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"expires": "2027-06-01T00:00:00Z", "no_onward_dissemination": true}},
		map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"expires": "soon"}},
		map[string]any{"code": "C", "action_code": "A3"},
		map[string]any{"code": "X"},
		map[string]any{"code": "P", "europol_codes": []any{"H1"}},
		map[string]any{"code": "P", "europol_codes": []any{"H0", "H2"}},
		map[string]any{"code": "P", "europol_codes": []any{"H3"}},
		map[string]any{"code": "P", "europol_codes": []any{"H9"}},
		map[string]any{"code": "C", "action_code": "A2", "sanitisation_code": "S1", "conditions": map[string]any{}, "europol_codes": []any{"H1"}},
	}
	dsaSets := []any{
		[]any{"dsa-uk-soc"}, []any{"dsa-uk-soc"}, []any{"dsa-selec-ops"}, []any{"dsa-uk-soc", "dsa-selec-ops"},
		[]any{"dsa-legacy-2023"}, []any{"dsa-legacy-2023", "dsa-uk-soc"}, []any{"dsa-unknown"}, []any{}, nil,
	}
	recipientSets := []any{
		[]any{"rocu-nw", "hmrc", "selec"}, []any{"rocu-nw"}, []any{"hmrc", "nca"}, []any{"selec"}, []any{"border-force", "rocu-nw"},
		[]any{"nowhere-pd"}, []any{}, []any{"rocu-nw", "hmrc", "nca", "selec", "met-police"},
	}
	classifications := []any{
		map[string]any{"tier": "OFFICIAL"},
		map[string]any{"tier": "OFFICIAL", "sensitive": true, "descriptors": []any{"PERSONAL_DATA"}},
		map[string]any{"tier": "OFFICIAL", "sensitive": true, "eyes_only": []any{"UK"}, "rel_to": []any{"ROU"}},
		map[string]any{"tier": "OFFICIAL", "eyes_only": []any{"GBR", "ROU"}, "descriptors": []any{"LPP", "ODD_ONE"}, "handling_instructions": []any{"RECIPIENTS ONLY"}},
		map[string]any{"tier": "SECRET", "uk_prefix": true},
		map[string]any{"tier": "TOP_SECRET"},
		map[string]any{"tier": "RESTRICTED"},
		map[string]any{"tier": "OFFICIAL", "eyes_only": []any{"FVEY"}},
	}
	tlps := []any{"CLEAR", "GREEN", "AMBER", "AMBER", "AMBER+STRICT", "RED", "PURPLE", nil}
	gradings := []any{
		map[string]any{"source": "1", "intelligence": "B"},
		map[string]any{"source": "2", "intelligence": "C"},
		map[string]any{"source": "9", "intelligence": "B"},
		map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "B24"},
		map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "A14"},
		map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "B25"},
		map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "C31"},
		map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "Z99"},
		map[string]any{"source": "1", "intelligence": "B", "europol": map[string]any{"source": "B", "info": "2"}},
		map[string]any{"source": "1", "intelligence": "B", "europol": map[string]any{"source": "Q", "info": "7"}},
	}
	justifications := []any{"Operation KINGFISHER: lead 42", "short", "", nil}
	times := []any{"2026-11-21T10:00:00Z", "2026-11-21T10:00:00Z", "2025-02-01T00:00:00Z", "2029-02-01T00:00:00Z", "not a time"}
	dims := []struct {
		key    string
		values []any
	}{
		{"action", actions},
		{"time", times},
		{"subject.agency_id", agencies},
		{"subject.officer", officers},
		{"request.purpose", purposes},
		{"request.justification", justifications},
		{"record.originator.org_id", []any{"met-police", "met-police", "hmrc", "nca", "selec"}},
		{"record.handling", handlings},
		{"record.dsa_ids", dsaSets},
		{"record.recipients", recipientSets},
		{"record.classification", classifications},
		{"record.tlp", tlps},
		{"record.grading", gradings},
		{"record.allowed_purposes", []any{[]any{"investigation"}, []any{"prevention", "investigation", "detection", "prosecution"}, []any{"public_security"}, []any{}, []any{"investigation", "bogus"}}},
		{"record.data_subject_category", []any{"suspect", "none", nil}},
		{"record.source_type", []any{nil, nil, "chis", "open_source"}},
		{"record.protected_fields", []any{[]any{"source_details"}, []any{}, []any{"a", "b"}}},
	}
	shareEdits := func(edits map[string]any) {
		switch r.IntN(4) {
		case 0:
			edits["share"] = map[string]any{"recipients": pick([]any{"nca"}, []any{"nca", "rocu-nw"}, []any{}, []any{"nowhere-pd"})}
		case 1:
			edits["share"] = map[string]any{"recipients": []any{"nca"}}
			edits["record.consents"] = []any{map[string]any{"id": "con_y", "requested_by": pick("rocu-nw", "hmrc"), "recipients": []any{"nca"},
				"approved_by": pick("met-police", "hmrc"), "approved_at": "2026-11-20T00:00:00Z", "receipt_digest": "sha256:00"}}
		case 2:
			edits["share"] = map[string]any{"recipients": []any{"nca"}}
			edits["consent"] = map[string]any{"approved_by": pick("met-police", "rocu-nw"), "recipients": pick([]any{"nca"}, []any{"hmrc"})}
		}
	}
	// Every dimension at random: mostly denials, many reasons at once.
	for i := range 500 {
		edits := map[string]any{}
		for _, d := range dims {
			edits[d.key] = pick(d.values...)
		}
		shareEdits(edits)
		add(fmt.Sprintf("generated %03d", i), input(t, baseRead, edits))
	}
	// Near an allowed decision: one to three dimensions changed from an
	// allowed read, list, publish or share, so that obligations, banners and
	// single reasons are covered too.
	bases := []map[string]any{
		{},
		{"action": "record.list"},
		{"action": "record.list", "request.purpose": nil, "subject.officer": nil},
		{"action": "record.publish", "subject.agency_id": "met-police"},
		{"action": "record.share", "subject.agency_id": "met-police", "share": map[string]any{"recipients": []any{"nca"}}},
		{"subject.agency_id": "hmrc", "record.dsa_ids": []any{"dsa-uk-soc", "dsa-selec-ops"}},
		{"subject.agency_id": "selec", "subject.officer.nationality": "ROU", "record.dsa_ids": []any{"dsa-selec-ops"}, "record.tlp": "GREEN"},
	}
	for i := range 400 {
		edits := map[string]any{}
		for k, v := range bases[r.IntN(len(bases))] {
			edits[k] = v
		}
		for range 1 + r.IntN(3) {
			d := dims[r.IntN(len(dims))]
			edits[d.key] = pick(d.values...)
		}
		add(fmt.Sprintf("near-allow %03d", i), input(t, baseRead, edits))
	}

	// The federation actions, added after every earlier entry (and with
	// their own random source) so that no earlier entry moved or changed.
	for _, fc := range fixtureInputs(t, fedRegoTables) {
		add("rego case: "+fc.Name, fc.Input)
	}
	for _, fc := range federationCorpus(t) {
		add(fc.Name, fc.Input)
	}
	return out
}

// federationCorpus: seeded federation.deliver and federation.accept
// inputs, every dimension at random and near an allowed delivery.
func federationCorpus(t *testing.T) []goldenCase {
	t.Helper()
	var out []goldenCase
	r := rand.New(rand.NewPCG(20261121, 11))
	pick := func(xs ...any) any { return xs[r.IntN(len(xs))] }
	// fed returns a fresh federation object: input() edits nested keys in
	// place, so no two inputs may share one.
	fed := func(peer string, hosts, recipients []any) map[string]any {
		return map[string]any{"peer_gateway": peer, "peer_agencies": slices.Clone(hosts), "recipients": slices.Clone(recipients), "provenance": []any{"gw-south"}}
	}
	deliver := func() map[string]any {
		return map[string]any{"action": "federation.deliver", "subject.agency_id": "met-police",
			"federation": fed("gw-north", []any{"rocu-nw", "nca"}, []any{"rocu-nw"})}
	}
	accept := func() map[string]any {
		return map[string]any{"action": "federation.accept", "subject.agency_id": "met-police", "subject.officer": nil,
			"request.purpose": "", "request.justification": "", "request.case": "",
			"federation": fed("gw-south", []any{"met-police", "hmrc"}, []any{"rocu-nw"})}
	}
	toSelec := func(base map[string]any) map[string]any {
		base["record.dsa_ids"] = []any{"dsa-selec-ops"}
		base["federation"] = fed(base["federation"].(map[string]any)["peer_gateway"].(string), []any{"selec", "met-police", "hmrc"}, []any{"selec"})
		return base
	}
	bases := []func() map[string]any{
		deliver,
		accept,
		func() map[string]any { return toSelec(deliver()) },
		func() map[string]any { return toSelec(accept()) },
		func() map[string]any {
			b := accept()
			b["subject.agency_id"] = "hmrc"
			return b
		},
		func() map[string]any {
			b := deliver()
			b["subject.agency_id"] = "rocu-nw"
			b["record.recipients"] = []any{"rocu-nw", "hmrc", "nca"}
			b["federation.recipients"] = []any{"nca"}
			return b
		},
	}
	dims := []struct {
		key    string
		values []any
	}{
		{"action", []any{"federation.deliver", "federation.accept", "federation.accept", "federation.reject"}},
		{"time", []any{"2026-11-21T10:00:00Z", "2026-11-21T10:00:00Z", "2029-02-01T00:00:00Z", "not a time"}},
		{"subject.agency_id", []any{"met-police", "met-police", "hmrc", "rocu-nw", "selec", "nca", "border-force", "nowhere-pd"}},
		{"subject.officer", []any{nil, nil, map[string]any{"id": "dc-77", "clearance": "SC", "vetting": "MV", "roles": []any{"analyst"}, "nationality": "GBR"}}},
		{"record.originator.org_id", []any{"met-police", "met-police", "hmrc", "selec"}},
		{"record.dsa_ids", []any{[]any{"dsa-uk-soc"}, []any{"dsa-uk-soc"}, []any{"dsa-selec-ops"}, []any{"dsa-uk-soc", "dsa-selec-ops"}, []any{"dsa-legacy-2023"}, []any{"dsa-elsewhere", "dsa-uk-soc"}, []any{"dsa-elsewhere"}, []any{}, nil}},
		{"record.recipients", []any{[]any{"rocu-nw", "hmrc", "selec"}, []any{"rocu-nw"}, []any{"hmrc", "nca"}, []any{"selec"}, []any{"nowhere-pd", "rocu-nw"}, []any{}}},
		{"record.classification", []any{
			map[string]any{"tier": "OFFICIAL"},
			map[string]any{"tier": "OFFICIAL", "sensitive": true, "descriptors": []any{"PERSONAL_DATA"}},
			map[string]any{"tier": "OFFICIAL", "eyes_only": []any{"ROU"}},
			map[string]any{"tier": "OFFICIAL", "eyes_only": []any{"UK"}},
			map[string]any{"tier": "SECRET"},
			map[string]any{"tier": "TOP_SECRET"},
			map[string]any{"tier": "RESTRICTED"},
		}},
		{"record.tlp", []any{"CLEAR", "GREEN", "AMBER", "AMBER", "RED", "PURPLE", nil}},
		{"record.handling", []any{
			map[string]any{"code": "P"},
			map[string]any{"code": "P"},
			map[string]any{"code": "C", "action_code": "A1", "sanitisation_code": "S2", "conditions": map[string]any{"originating_agency_only": true}},
			map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"allowed_recipient_orgs": []any{"rocu-nw", "hmrc"}}},
			map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": map[string]any{"allowed_recipient_types": []any{"uk_police", "selec"}}},
			map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S2", "conditions": map[string]any{"intelligence_use_only": true, "expires": "2026-01-01T00:00:00Z"}},
			map[string]any{"code": "C", "action_code": "A3"},
			map[string]any{"code": "X"},
			map[string]any{"code": "P", "europol_codes": []any{"H0", "H2"}},
			map[string]any{"code": "P", "europol_codes": []any{"H9"}},
		}},
		{"record.grading", []any{
			map[string]any{"source": "1", "intelligence": "B"},
			map[string]any{"source": "1", "intelligence": "B"},
			map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "B24"},
			map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "C31"},
			map[string]any{"source": "1", "intelligence": "A", "legacy_5x5x5": "Z99"},
		}},
		{"record.data_subject_category", []any{"suspect", "none"}},
		{"federation.peer_gateway", []any{"gw-north", "gw-south", "GW BAD", 7, nil}},
		{"federation.peer_agencies", []any{[]any{"rocu-nw", "nca"}, []any{"met-police", "hmrc"}, []any{"selec"}, []any{"met-police", "hmrc", "rocu-nw", "nca", "selec"}, []any{}, "rocu-nw", nil}},
		{"federation.recipients", []any{[]any{"rocu-nw"}, []any{"rocu-nw"}, []any{"hmrc"}, []any{"selec"}, []any{"nca"}, []any{"rocu-nw", "hmrc"}, []any{"nowhere-pd"}, []any{}, "rocu-nw", nil}},
		{"federation.provenance", []any{[]any{"gw-south"}, []any{"gw-south"}, []any{}, []any{"gw-a", "gw-b", "gw-c", "gw-south"}, []any{"gw-a", "gw-b", "gw-c", "gw-d", "gw-south"}, "gw-south", nil}},
	}
	// Every dimension at random.
	for i := range 200 {
		edits := bases[r.IntN(len(bases))]()
		for _, d := range dims {
			edits[d.key] = pick(d.values...)
		}
		if r.IntN(20) == 0 {
			for k := range edits {
				if strings.HasPrefix(k, "federation.") {
					delete(edits, k)
				}
			}
			edits["federation"] = pick(nil, "gw-north", []any{})
		}
		out = append(out, goldenCase{Name: fmt.Sprintf("federation generated %03d", i), Input: input(t, baseRead, edits)})
	}
	// Near an allowed delivery: one to three dimensions changed.
	for i := range 200 {
		edits := bases[r.IntN(len(bases))]()
		for range 1 + r.IntN(3) {
			d := dims[r.IntN(len(dims))]
			edits[d.key] = pick(d.values...)
		}
		out = append(out, goldenCase{Name: fmt.Sprintf("federation near-allow %03d", i), Input: input(t, baseRead, edits)})
	}
	return out
}

// regoTables are the Rego tests' case tables and the base input each is
// run on (see the test_* rules that use them).
var regoTables = []struct{ name, cases, base string }{
	{"authz.read", "data.liaison.authz_test.read_cases", "data.liaison.authz_test.read_input"},
	{"authz.list", "data.liaison.authz_test.list_cases", `object.union(data.liaison.authz_test.read_input, {"action": "record.list"})`},
	{"authz.publish", "data.liaison.authz_test.publish_cases", "data.liaison.authz_test.publish_input"},
	{"authz.recall", "data.liaison.authz_test.recall_cases", `object.union(data.liaison.authz_test.read_input, {"action": "record.recall"})`},
	{"authz.decide", "data.liaison.authz_test.decide_cases", "data.liaison.authz_test.decide_input"},
	{"authz.share", "data.liaison.authz_test.share_cases", "data.liaison.authz_test.share_input"},
	{"authz.audit", "data.liaison.authz_test.audit_cases", "data.liaison.authz_test.audit_input"},
	{"schemes.read", "data.liaison.schemes_authz_test.read_cases", "data.liaison.authz_test.read_input"},
	{"schemes.publish", "data.liaison.schemes_authz_test.publish_cases", "data.liaison.authz_test.publish_input"},
	{"schemes.obligations", "data.liaison.schemes_authz_test.obligation_cases", "data.liaison.authz_test.read_input"},
	{"most_restrictive", "data.liaison.most_restrictive_test.cases", "data.liaison.authz_test.read_input"},
}

// fedRegoTables are the federation actions' tables; their inputs come last
// in the corpus (see goldenCorpus).
var fedRegoTables = []struct{ name, cases, base string }{
	{"federation.deliver", "data.liaison.authz_test.deliver_cases", "data.liaison.authz_test.deliver_input"},
	{"federation.accept", "data.liaison.authz_test.accept_cases", "data.liaison.authz_test.accept_input"},
}

// testPolicy compiles every module of the embedded library, tests included,
// over the live data, to evaluate the Rego tests' tables.
func testPolicy(t *testing.T) (*ast.Compiler, map[string]any) {
	t.Helper()
	mods := map[string]*ast.Module{}
	data := map[string]any{}
	err := fs.WalkDir(policies.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(policies.FS(), p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(p, ".rego"):
			m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				return err
			}
			mods[p] = m
		case path.Dir(p) == "data" && strings.HasSuffix(p, ".json"):
			var doc map[string]any
			if err := util.UnmarshalJSON(src, &doc); err != nil {
				return err
			}
			for k, v := range doc {
				data[k] = v
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := ast.NewCompiler()
	if c.Compile(mods); c.Failed() {
		t.Fatal(c.Errors)
	}
	return c, data
}

func evalRego(t *testing.T, c *ast.Compiler, data map[string]any, query string) any {
	t.Helper()
	rs, err := rego.New(rego.Query("x := "+query), rego.Compiler(c), rego.Store(inmem.NewFromObject(data))).Eval(context.Background())
	if err != nil || len(rs) != 1 {
		t.Fatalf("%s: %v (%d results)", query, err, len(rs))
	}
	return rs[0].Bindings["x"]
}

// fixtureInputs are the inputs of the Rego tests' table cases (patch and
// remove applied to the table's base input).
func fixtureInputs(t *testing.T, tables []struct{ name, cases, base string }) []goldenCase {
	t.Helper()
	c, data := testPolicy(t)
	var out []goldenCase
	for _, tb := range tables {
		q := fmt.Sprintf(`{name: inp | some name, tc in %s; inp := json.remove(object.union(%s, object.get(tc, "patch", {})), object.get(tc, "remove", []))}`, tb.cases, tb.base)
		m, _ := evalRego(t, c, data, q).(map[string]any)
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, goldenCase{Name: tb.name + ": " + n, Input: m[n]})
		}
	}
	return out
}

// fixtureDecisions are the full decisions of the Rego tests' table cases on
// the frozen fixtures, data overrides included (authz_test.run).
func fixtureDecisions(t *testing.T) map[string]map[string]any {
	t.Helper()
	c, data := testPolicy(t)
	out := map[string]map[string]any{}
	for _, tb := range slices.Concat(regoTables, fedRegoTables) {
		q := fmt.Sprintf(`{name: d | some name, tc in %s; d := data.liaison.authz_test.run(%s, tc)}`, tb.cases, tb.base)
		m, _ := evalRego(t, c, data, q).(map[string]any)
		if len(m) == 0 {
			t.Fatalf("table %s decided nothing", tb.name)
		}
		out[tb.name] = m
	}
	return out
}

// TestTypedInputDecidesAsJSON: the gateway's typed input (policy.Input,
// through the reflection fast path) gets exactly the decision its JSON
// gets, for every golden input that is a gateway input — one that decodes
// strictly into policy.Input and encodes back to the same document.
func TestTypedInputDecidesAsJSON(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	typedCases := 0
	for _, c := range goldenCorpus(t) {
		raw := js(t, c.Input)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var in policy.Input
		if dec.Decode(&in) != nil {
			continue
		}
		var orig, back any
		if json.Unmarshal(raw, &orig) != nil || json.Unmarshal(js(t, in), &back) != nil || !reflect.DeepEqual(orig, back) {
			continue // not the same document once typed: not a gateway input
		}
		typedCases++
		want, werr := e.DecideJSON(ctx, raw)
		got, gerr := e.Decide(ctx, in)
		want.ID, got.ID = "", ""
		if !reflect.DeepEqual(got, want) || (werr == nil) != (gerr == nil) {
			t.Errorf("%s: typed input decides %+v (%v), its JSON %+v (%v)", c.Name, got, gerr, want, werr)
		}
		if gerr == nil {
			if gx, wx := e.Explain(ctx, got, in), e.ExplainJSON(ctx, want, raw); !reflect.DeepEqual(gx, wx) {
				t.Errorf("%s: explanations differ:\n%+v\n%+v", c.Name, gx, wx)
			}
		}
	}
	if typedCases < 50 {
		t.Fatalf("only %d golden inputs are gateway inputs; the comparison proves little", typedCases)
	}
	t.Logf("%d golden inputs decided typed and as JSON, identically", typedCases)
}
