package regoinput_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policy"
	"github.com/liaison-project/liaison/policy/regoinput"
)

const sampleMeta = `{
  "record_id": "rec_01JD8X3Q", "version": 1, "created": "2026-11-20T09:00:00Z",
  "originator": {"org_id": "met-police", "officer_ref": "pc-1234"},
  "classification": {"tier": "OFFICIAL", "sensitive": true, "descriptors": ["PERSONAL_DATA"], "eyes_only": ["GBR"], "foreign": {"scheme": "EU", "level": "RESTRICTED"}},
  "tlp": "AMBER",
  "grading": {"source": "1", "intelligence": "B", "legacy_5x5x5": "B24", "europol": {"source": "B", "info": "2"}},
  "handling": {"code": "C", "action_code": "A2", "sanitisation_code": "S1", "europol_codes": ["H1"],
    "conditions": {"allowed_recipient_orgs": ["rocu-nw"], "no_judicial_use": true, "expires": "2027-06-01T00:00:00Z", "free_text": "call first"}},
  "allowed_purposes": ["investigation", "prosecution"],
  "data_subject_category": "suspect", "content_basis": "fact", "source_type": "chis", "mopi_group": 2,
  "dsa_ids": ["dsa-uk-soc"], "recipients": ["rocu-nw", "hmrc"], "protected_fields": ["source_details"],
  "review_due": "2027-06-01", "tags": {"four_p": ["PURSUE"], "nim_level": 2, "morile": {"score": 12.5}}
}`

func gatewayInputs(t *testing.T) map[string]any {
	t.Helper()
	var full record.Meta
	if err := json.Unmarshal([]byte(sampleMeta), &full); err != nil {
		t.Fatal(err)
	}
	withOfficer := policy.Input{Action: policy.ActionRead, Time: "2026-11-21T10:00:00Z", Record: &full}
	withOfficer.Subject.AgencyID = "rocu-nw"
	withOfficer.Subject.Officer = &policy.Officer{ID: "dc-77", Clearance: "SC", Roles: []string{}}
	withOfficer.Request.Purpose = "investigation"
	noRecord := policy.Input{Action: policy.ActionDecide, Time: "2026-11-21T10:00:00Z"}
	var empty record.Meta
	emptyRecord := policy.Input{Action: policy.ActionPublish, Record: &empty}
	share := policy.Input{Action: policy.ActionShare, Time: "2026-11-21T10:00:00Z", Record: &full,
		Share:   &policy.Share{Recipients: []string{"nca"}},
		Consent: &policy.Consent{ID: "con_1", RequestedBy: "rocu-nw", ApprovedBy: "met-police", Recipients: []string{"nca"}}}

	type custom struct {
		When    time.Time       `json:"when"`
		Bytes   []byte          `json:"bytes"`
		Skip    string          `json:"-"`
		hidden  string          //nolint:unused // unexported: never encoded
		Zero    time.Time       `json:"zero,omitzero"`
		Float   float64         `json:"float"`
		Small   float32         `json:"small,omitempty"`
		Big     uint64          `json:"big"`
		Any     any             `json:"any"`
		Map     map[string]int  `json:"map"`
		NilMap  map[string]int  `json:"nil_map"`
		NilList []string        `json:"nil_list"`
		Raw     json.RawMessage `json:"raw"`
		NoRaw   json.RawMessage `json:"no_raw,omitempty"`
		Nested  map[string]any  `json:"nested"`
		IntKeys map[int]string  `json:"int_keys"`
		Arr     [2]bool         `json:"arr"`
		Untag   string
		Ptrs    []*record.Handling `json:"ptrs"`
	}
	c := custom{When: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), Bytes: []byte("hi"), Skip: "x", hidden: "y",
		Float: 1e21, Small: 0.1, Big: math.MaxUint64, Any: []any{1, "a", map[string]any{"b": nil}},
		Map: map[string]int{"a": 1}, Raw: json.RawMessage(`{"k": [1, 2.5e3]}`), Nested: map[string]any{"x": &full.Grading},
		IntKeys: map[int]string{1: "one"}, Untag: "u", Ptrs: []*record.Handling{nil, &full.Handling}}
	type embedded struct {
		record.Originator
		Extra string `json:"extra"`
	}
	return map[string]any{
		"gateway input with officer and full record": withOfficer,
		"gateway input without record":               noRecord,
		"gateway share input with consent":           share,
		"gateway input with an empty record":         emptyRecord,
		"pointer to the input":                       &withOfficer,
		"record meta alone":                          full,
		"every kind of field":                        c,
		"plain kinds of field":                       plainKinds(&full),
		"embedded struct (falls back)":               embedded{Originator: record.Originator{OrgID: "nca"}, Extra: "e"},
		"map with struct values":                     map[string]any{"record": full, "n": json.Number("1.50")},
	}
}

// TestToValueMatchesJSON: the direct conversion gives exactly what OPA's
// JSON round trip gives.
func TestToValueMatchesJSON(t *testing.T) {
	for name, in := range gatewayInputs(t) {
		t.Run(name, func(t *testing.T) {
			want, werr := ast.InterfaceToValue(in)
			got, gerr := regoinput.Value(in)
			if (werr != nil) != (gerr != nil) {
				t.Fatalf("errors differ: %v vs %v", gerr, werr)
			}
			if werr == nil && got.Compare(want) != 0 {
				t.Fatalf("\n got %v\nwant %v", got, want)
			}
		})
	}
	t.Run("typed nil pointer is null (OPA's own conversion panics)", func(t *testing.T) {
		if v, err := regoinput.Value((*policy.Input)(nil)); err != nil || v.Compare(ast.Null{}) != 0 {
			t.Fatalf("toValue = %v, %v", v, err)
		}
	})
	t.Run("invalid raw JSON fails", func(t *testing.T) {
		bad := struct {
			R json.RawMessage `json:"r"`
		}{json.RawMessage(`{`)}
		if _, err := regoinput.Value(bad); err == nil {
			t.Fatal("invalid RawMessage accepted")
		}
	})
	t.Run("channel fails as JSON does", func(t *testing.T) {
		if _, err := regoinput.Value(struct{ C chan int }{make(chan int)}); err == nil {
			t.Fatal("channel accepted")
		}
	})
	t.Run("fallback is taken only when needed", func(t *testing.T) {
		in := gatewayInputs(t)
		for _, name := range []string{"gateway input with officer and full record", "gateway share input with consent", "plain kinds of field"} {
			if _, err := regoinput.ReflectValue(reflectOf(in[name])); errors.Is(err, regoinput.ErrFallback) {
				t.Errorf("%s falls back to the JSON round trip", name)
			}
		}
		for _, name := range []string{"every kind of field", "embedded struct (falls back)"} {
			if _, err := regoinput.ReflectValue(reflectOf(in[name])); !errors.Is(err, regoinput.ErrFallback) {
				t.Errorf("%s does not fall back", name)
			}
		}
	})
}

func reflectOf(v any) reflect.Value { return reflect.ValueOf(v) }

// plainKinds has every kind of field the direct conversion handles itself.
func plainKinds(m *record.Meta) any {
	type inner struct {
		A string `json:"a,omitempty"`
		B int    `json:"b,omitzero"`
	}
	return struct {
		Skip    string          `json:"-"`
		hidden  string          //nolint:unused // unexported: never encoded
		Float   float64         `json:"float"`
		Tiny    float64         `json:"tiny"`
		Small   float32         `json:"small,omitempty"`
		Neg     int8            `json:"neg"`
		Big     uint64          `json:"big"`
		Any     any             `json:"any"`
		NilAny  any             `json:"nil_any"`
		Map     map[string]int  `json:"map"`
		NilMap  map[string]int  `json:"nil_map"`
		Empty   map[string]int  `json:"empty,omitempty"`
		NilList []string        `json:"nil_list"`
		Raw     json.RawMessage `json:"raw"`
		NoRaw   json.RawMessage `json:"no_raw,omitempty"`
		Nested  map[string]any  `json:"nested"`
		Arr     [2]bool         `json:"arr"`
		Untag   string
		Ptrs    []*record.Handling `json:"ptrs"`
		Inner   inner              `json:"inner"`
		Zero    inner              `json:"zero,omitzero"`
	}{Skip: "x", hidden: "y", Float: 1e21, Tiny: 1e-7, Small: 0.1, Neg: -3, Big: math.MaxUint64,
		Any: []any{1, "a", map[string]any{"b": nil}}, Map: map[string]int{"a": 1, "b": 2}, Empty: map[string]int{},
		Raw: json.RawMessage(`{"k": [1, 2.5e3]}`), Nested: map[string]any{"x": &m.Grading}, Untag: "u",
		Ptrs: []*record.Handling{nil, &m.Handling}, Inner: inner{B: 0}}
}

// BenchmarkDecideGatewayInput decides the gateway's input struct (a read
// with a full record) converted the old way, through OPA's JSON round trip,
// and directly; the two run in the same process, so their numbers compare.
func BenchmarkDecideGatewayInput(b *testing.B) {
	e, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var full record.Meta
	if err := json.Unmarshal([]byte(sampleMeta), &full); err != nil {
		b.Fatal(err)
	}
	// A P-handled record that the demo federation lets rocu-nw read.
	full.Handling = record.Handling{Code: "P"}
	full.Grading.Legacy5x5x5, full.Grading.Europol = "", nil
	full.SourceType, full.Classification.Foreign = "", nil
	in := policy.Input{Action: policy.ActionRead, Time: "2026-11-21T10:00:00Z", Record: &full}
	in.Subject.AgencyID = "rocu-nw"
	in.Subject.Officer = &policy.Officer{ID: "dc-77", Clearance: "SC", Vetting: "MV", Roles: []string{"analyst"}, Nationality: "GBR"}
	in.Request.Purpose, in.Request.Justification = "investigation", "Operation KINGFISHER lead 42"
	defer e.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		decide func() (policy.Decision, error)
	}{
		// The same input as JSON text, parsed on every decision.
		{"convert=json", func() (policy.Decision, error) {
			raw, err := json.Marshal(in)
			if err != nil {
				b.Fatal(err)
			}
			return e.DecideJSON(ctx, raw)
		}},
		{"convert=direct", func() (policy.Decision, error) { return e.Decide(ctx, in) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := tc.decide()
				if err != nil || !d.Allow {
					b.Fatalf("Decide = %v %v, %v", d.Allow, d.Codes(), err)
				}
			}
		})
	}
	b.Run("conversion-only/json-roundtrip", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = ast.InterfaceToValue(in)
		}
	})
	b.Run("conversion-only/direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = regoinput.Value(in)
		}
	})
}

// panicky panics when it is converted to JSON.
type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("boom with secret content") }

// TestValueRecoversPanics: a marshaler that panics is an error that does
// not quote the panic (which may carry input), never a crash.
func TestValueRecoversPanics(t *testing.T) {
	for name, in := range map[string]any{
		"value":             panicky{},
		"field of a struct": struct{ P panicky }{},
		"in a map":          map[string]any{"p": panicky{}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := regoinput.Value(in)
			if !errors.Is(err, regoinput.ErrPanic) || strings.Contains(err.Error(), "secret") {
				t.Fatalf("err = %v, want ErrPanic without the panic value", err)
			}
		})
	}
}
