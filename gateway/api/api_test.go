package api_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway/api"
)

var update = flag.Bool("update", false, "rewrite testdata/fields.json from the types")

// bodies are every type of the package that goes on the wire, by name.
// A type added to the package must be added here (TestEveryTypeIsPinned).
var bodies = map[string]any{
	"Published":            api.Published{},
	"Record":               api.Record{},
	"Handling":             api.Handling{},
	"RecordList":           api.RecordList{},
	"RecordListItem":       api.RecordListItem{},
	"Recalled":             api.Recalled{},
	"ShareRequest":         api.ShareRequest{},
	"Shared":               api.Shared{},
	"ConsentFiled":         api.ConsentFiled{},
	"ConsentRefusal":       api.ConsentRefusal{},
	"ConsentList":          api.ConsentList{},
	"ConsentItem":          api.ConsentItem{},
	"ConsentDecided":       api.ConsentDecided{},
	"DecisionRequest":      api.DecisionRequest{},
	"DecisionResult":       api.DecisionResult{},
	"AuditPage":            api.AuditPage{},
	"Health":               api.Health{},
	"Readiness":            api.Readiness{},
	"Problem":              api.Problem{},
	"Deliveries":           api.Deliveries{},
	"Delivery":             api.Delivery{},
	"Review":               api.Review{},
	"ReviewRequest":        api.ReviewRequest{},
	"Reviewed":             api.Reviewed{},
	"RequestFile":          api.RequestFile{},
	"RequestAnswer":        api.RequestAnswer{},
	"RequestDetail":        api.RequestDetail{},
	"InfoRequest":          api.InfoRequest{},
	"RequestEvent":         api.RequestEvent{},
	"InfoRequestList":      api.InfoRequestList{},
	"RegistryAgency":       api.RegistryAgency{},
	"RegistryAgencies":     api.RegistryAgencies{},
	"AgencyAdd":            api.AgencyAdd{},
	"RegistryDSA":          api.RegistryDSA{},
	"RegistryDSAs":         api.RegistryDSAs{},
	"DSARenew":             api.DSARenew{},
	"RegistryChanged":      api.RegistryChanged{},
	"RegistryEnumValue":    api.RegistryEnumValue{},
	"RegistryEnumerations": api.RegistryEnumerations{},
	"EnumAdd":              api.EnumAdd{},
	"EvidenceRequest":      api.EvidenceRequest{},
	"AuditStats":           api.AuditStats{},
	"DSADayCount":          api.DSADayCount{},
	"ReasonCount":          api.ReasonCount{},
	"AgencyCount":          api.AgencyCount{},
	"PolicyStatus":         api.PolicyStatus{},
	"ShadowStatus":         api.ShadowStatus{},
	"PolicyReloads":        api.PolicyReloads{},
	"PolicyReload":         api.PolicyReload{},
	"ShadowReport":         api.ShadowReport{},
}

// apiPkg is the package path of the types above: fill sets every field of
// the package's own structs and leaves other packages' types (record.Meta,
// policy.Decision, audit.Event) at their zero value, so that this test pins
// this package's names only.
var apiPkg = reflect.TypeFor[api.Published]().PkgPath()

// fill sets every field of v (a struct of this package) to a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte(`{"k":"v"}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem())
		v.Set(p)
	case reflect.Struct:
		if v.Type().PkgPath() != apiPkg {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}

// keys are the member names of v's JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// fieldSets are, per type, the members of a fully populated body ("all")
// and of a zero one ("zero": what omitempty leaves out is missing here).
type fieldSets struct {
	All  []string `json:"all"`
	Zero []string `json:"zero"`
}

func populated(t *testing.T, zero any) any {
	t.Helper()
	p := reflect.New(reflect.TypeOf(zero))
	fill(p.Elem())
	return p.Interface()
}

// TestFieldNames pins every member name and every omitempty of the wire
// types against testdata/fields.json: renaming a field, or making one
// optional, changes the wire format and fails here. (go test -update
// rewrites the file; review its diff as a change of the API.)
func TestFieldNames(t *testing.T) {
	got := map[string]fieldSets{}
	for name, zero := range bodies {
		got[name] = fieldSets{All: keys(t, populated(t, zero)), Zero: keys(t, zero)}
	}
	path := filepath.Join("testdata", "fields.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]fieldSets
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name := range bodies {
		if !reflect.DeepEqual(got[name], want[name]) {
			t.Errorf("%s: members %+v, golden says %+v", name, got[name], want[name])
		}
	}
	for name := range want {
		if _, ok := bodies[name]; !ok {
			t.Errorf("golden names %s, which is not a wire type any more", name)
		}
	}
}

// TestRoundTrip: every populated body decodes back to itself with unknown
// fields disallowed, so no member is written under one name and read under
// another.
func TestRoundTrip(t *testing.T) {
	for name, zero := range bodies {
		v := populated(t, zero)
		if p, ok := v.(*api.Problem); ok {
			p.Status = 400 // a problem's status is an error status
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(zero))
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(back.Interface()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back.Interface(), v) {
			t.Errorf("%s: %s decodes to %+v", name, b, back.Elem().Interface())
		}
		if r, ok := v.(api.Response); ok {
			if err := api.Decode(b, r); err != nil {
				t.Errorf("%s: a populated body fails Decode: %v", name, err)
			}
		}
	}
}

// TestEveryTypeIsPinned: each exported struct type declared in the
// package's source is in bodies (so a new body type cannot skip the pins).
func TestEveryTypeIsPinned(t *testing.T) {
	for _, file := range []string{"api.go", "oversight.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^type ([A-Z]\w*) struct`).FindAllStringSubmatch(string(src), -1) {
			if _, ok := bodies[m[1]]; !ok {
				t.Errorf("type %s of %s is not pinned in bodies", m[1], file)
			}
		}
	}
}

// TestDocsNameTheMembers: the endpoint table of docs/api.md lists each answer's
// members; every list must be the members the type writes (all of them,
// or, for an answer whose optional members are absent, exactly the rest).
func TestDocsNameTheMembers(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	bq := func(s string) string { return strings.ReplaceAll(s, "'", "`") } // a backquote in a raw string
	refused := api.ConsentDecided{ConsentID: "x", State: "refused", RecordID: "x"}
	for _, c := range []struct {
		snippet string // as it stands in docs/api.md
		body    any
	}{
		{bq(`201 '{"id","version","digest","decision_id","policy_revision"}'`), populated(t, api.Published{})},
		{bq(`200 '{"id","version","meta","content","handling","decision_id","policy_revision"}'`), populated(t, api.Record{})},
		{bq(`('banner', 'conditions', 'grading', 'redacted', 'originator_consent_required', 'review')`), populated(t, api.Handling{})},
		{bq(`200 '{"items":[{"id","version","meta","banner","review"}],"next_cursor"}'`), populated(t, api.RecordList{})},
		{bq(`200 '{"id","decision","version","previous_due","review","state","decision_id"}'`), populated(t, api.Reviewed{})},
		{bq(`200 '{"id","state":"recalled"}'`), populated(t, api.Recalled{})},
		{bq(`200 '{"id","version","state":"shared","recipients","decision_id"}'`), populated(t, api.Shared{})},
		{bq(`202 '{"consent_id","state":"pending","record_id","recipients","expires","decision_id","reasons","previous_refusals","duplicate","detail"}'`), populated(t, api.ConsentFiled{})},
		{bq(`200 '{"consent_id","state":"approved","record_id","version","recipients","receipt":JWS}'`), populated(t, api.ConsentDecided{})},
		{bq(`200 '{"consent_id","state":"refused","record_id"}'`), refused},
		{bq(`200 '{"decision": {...}}'`), api.DecisionResult{}},
		{bq(`'{"gateway", "items": [entries], "next_after"}'`), api.AuditPage{}},
		{bq(`'{"recipients": [...], "note": "..."}'`), api.ShareRequest{}},
		{bq(`'{"input": {...}}'`), api.DecisionRequest{}},
	} {
		if !strings.Contains(string(doc), c.snippet) {
			t.Errorf("docs/api.md no longer says %s", c.snippet)
			continue
		}
		var named []string
		for _, m := range regexp.MustCompile(`"(\w+)"|`+"`(\\w+)`").FindAllStringSubmatch(c.snippet, -1) {
			if n := m[1] + m[2]; n != "refused" && n != "approved" && n != "pending" && n != "recalled" && n != "shared" {
				if !slices.Contains(named, n) {
					named = append(named, n)
				}
			}
		}
		want := keys(t, c.body)
		if inner, ok := c.body.(*api.RecordList); ok { // the items' members are listed inline
			want = append(want, keys(t, inner.Items[0])...)
			slices.Sort(want)
			want = slices.Compact(want)
		}
		slices.Sort(named)
		if !slices.Equal(named, want) {
			t.Errorf("docs/api.md lists %v for %T, which writes %v", named, c.body, want)
		}
	}
}

// TestDocsConsentExample: the 202 example in docs/api.md is a ConsentFiled
// with every member and nothing else.
func TestDocsConsentExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\n(\\{\"consent_id\".*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/api.md has no consent request example")
	}
	example := strings.ReplaceAll(string(m[1]), "…", "x")
	dec := json.NewDecoder(strings.NewReader(example))
	dec.DisallowUnknownFields()
	var f api.ConsentFiled
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("example: %v", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(example), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys(t, populated(t, api.ConsentFiled{})) {
		if _, ok := raw[k]; !ok {
			t.Errorf("the example lacks %q", k)
		}
	}
	if err := f.Check(); err != nil {
		t.Error(err)
	}
}

// TestDecodeRefusesMalformedBodies: what a client must never take for an
// answer is an error from Decode, never zero values.
func TestDecodeRefusesMalformedBodies(t *testing.T) {
	for _, c := range []struct {
		body string
		into api.Response
		want string
	}{
		{``, &api.Published{}, "not JSON"},
		{`<html>bad gateway</html>`, &api.Published{}, "not JSON"},
		{`{"id":"rec_x"} trailing`, &api.Published{}, "not JSON"},
		{`null`, &api.Published{}, `missing "id"`},
		{`{}`, &api.Published{}, `missing "id"`},
		{`{"id":"rec_x","version":"1","digest":"d","decision_id":"dec"}`, &api.Published{}, `"version" is not a int`},
		{`{"id":"rec_x","version":1,"digest":"d"}`, &api.Published{}, `missing "decision_id"`},
		{`{"id":"rec_x","content":"text","decision_id":"d"}`, &api.Record{}, `"content" is not a JSON object`},
		{`{"next_cursor":""}`, &api.RecordList{}, `missing "items"`},
		{`{"items":[{}]}`, &api.RecordList{}, `items[0]: missing "id"`},
		{`{"items":{}}`, &api.ConsentList{}, `"items" is not a`},
		{`{"id":"rec_x"}`, &api.Recalled{}, `missing "state"`},
		{`{"consent_id":"con_x","state":"pending"}`, &api.ConsentFiled{}, `missing "record_id"`},
		{`{"decision":{}}`, &api.DecisionResult{}, `missing "decision.id"`},
		{`{"gateway":"gw","items":null}`, &api.AuditPage{}, `missing "items"`},
		{`{"status":200,"title":"OK"}`, &api.Problem{}, `missing "status"`},
		{`{"status":404}`, &api.Problem{}, `missing "title"`},
	} {
		err := api.Decode([]byte(c.body), c.into)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%q) into %T = %v, want an error containing %q", c.body, c.into, err, c.want)
		}
	}
	var ok api.Published
	if err := api.Decode([]byte(`{"id":"rec_x","version":1,"digest":"d","decision_id":"dec","new_field":1}`), &ok); err != nil || ok.ID != "rec_x" {
		t.Errorf("a valid body with an unknown member (a newer gateway) must decode: %v", err)
	}
}
