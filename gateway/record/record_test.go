package record

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func validBody() map[string]any {
	return map[string]any{
		"meta": map[string]any{
			"classification":        map[string]any{"tier": "OFFICIAL", "sensitive": true},
			"tlp":                   "AMBER",
			"grading":               map[string]any{"source": "1", "intelligence": "B"},
			"handling":              map[string]any{"code": "P"},
			"allowed_purposes":      []any{"investigation"},
			"data_subject_category": "suspect",
			"content_basis":         "fact",
			"dsa_ids":               []any{"dsa-uk-soc"},
			"recipients":            []any{"rocu-nw"},
			"review_due":            "2027-06-01",
		},
		"content": map[string]any{"summary": "x"},
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePublishValid(t *testing.T) {
	req, err := ParsePublish(mustJSON(t, validBody()))
	if err != nil {
		t.Fatalf("valid body rejected: %v", err)
	}
	if req.Meta.Classification.Tier != "OFFICIAL" || !req.Meta.Classification.Sensitive || req.Meta.Grading.Intelligence != "B" {
		t.Fatalf("decoded wrong: %+v", req.Meta)
	}
	if string(req.Content) != `{"summary":"x"}` {
		t.Fatalf("content = %s", req.Content)
	}
}

func TestParsePublishRejects(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(b map[string]any)
		raw      string
		pointers []string // every one must be named
	}{
		{name: "malformed json", raw: `{"meta": {`, pointers: []string{""}},
		{name: "trailing garbage", raw: string(mustJSON(t, validBody())) + `{}`, pointers: []string{""}},
		{name: "unknown top-level field", mutate: func(b map[string]any) { b["extra"] = 1 }, pointers: []string{""}},
		{name: "unknown meta field", mutate: func(b map[string]any) { b["meta"].(map[string]any)["colour"] = "red" }, pointers: []string{"/meta"}},
		{name: "server-set field", mutate: func(b map[string]any) { b["meta"].(map[string]any)["record_id"] = "rec_x" }, pointers: []string{"/meta"}},
		{name: "bad tier and bad tlp at once", mutate: func(b map[string]any) {
			m := b["meta"].(map[string]any)
			m["classification"] = map[string]any{"tier": "UNCLASSIFIED"}
			m["tlp"] = "WHITE"
		}, pointers: []string{"/meta/classification/tier", "/meta/tlp"}},
		{name: "bad grading", mutate: func(b map[string]any) {
			b["meta"].(map[string]any)["grading"] = map[string]any{"source": "4", "intelligence": "F"}
		}, pointers: []string{"/meta/grading/source", "/meta/grading/intelligence"}},
		{name: "handling C without conditions", mutate: func(b map[string]any) {
			b["meta"].(map[string]any)["handling"] = map[string]any{"code": "C"}
		}, pointers: []string{"/meta/handling"}},
		{name: "handling P with action code", mutate: func(b map[string]any) {
			b["meta"].(map[string]any)["handling"] = map[string]any{"code": "P", "action_code": "A1"}
		}, pointers: []string{"/meta/handling"}},
		{name: "bad purpose", mutate: func(b map[string]any) { b["meta"].(map[string]any)["allowed_purposes"] = []any{"curiosity"} }, pointers: []string{"/meta/allowed_purposes/0"}},
		{name: "bad date", mutate: func(b map[string]any) { b["meta"].(map[string]any)["review_due"] = "next tuesday" }, pointers: []string{"/meta/review_due"}},
		{name: "hostile recipient id", mutate: func(b map[string]any) { b["meta"].(map[string]any)["recipients"] = []any{"../etc"} }, pointers: []string{"/meta/recipients/0"}},
		{name: "empty content", mutate: func(b map[string]any) { b["content"] = map[string]any{} }, pointers: []string{"/content"}},
		{name: "content not an object", mutate: func(b map[string]any) { b["content"] = "text" }, pointers: []string{"/content"}},
		{name: "content an array", mutate: func(b map[string]any) { b["content"] = []any{1} }, pointers: []string{"/content"}},
		{name: "content null", mutate: func(b map[string]any) { b["content"] = nil }, pointers: []string{"/content"}},
		{name: "top-level array", raw: `[1]`, pointers: []string{""}},
		{name: "top-level null", raw: `null`, pointers: []string{""}},
		{name: "content given twice, the last empty", raw: strings.TrimSuffix(string(mustJSON(t, validBody())), "}") + `,"content":{}}`, pointers: []string{"/content"}},
		{name: "missing meta", mutate: func(b map[string]any) { delete(b, "meta") }, pointers: []string{""}},
		{name: "missing required meta fields", mutate: func(b map[string]any) {
			m := b["meta"].(map[string]any)
			delete(m, "tlp")
			delete(m, "dsa_ids")
		}, pointers: []string{"/meta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.raw)
			if tt.mutate != nil {
				b := validBody()
				tt.mutate(b)
				body = mustJSON(t, b)
			}
			_, err := ParsePublish(body)
			// The fast path must answer exactly as the full decode does.
			_, slowErr := parsePublishSlow(body)
			if !reflect.DeepEqual(err, slowErr) {
				t.Errorf("ParsePublish = %v, the full decode says %v", err, slowErr)
			}
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("want *ValidationError, got %T %v", err, err)
			}
			for _, p := range tt.pointers {
				found := false
				for _, f := range ve.Fields {
					if f.Pointer == p {
						found = true
					}
				}
				if !found {
					t.Errorf("no error for %q in %+v", p, ve.Fields)
				}
			}
		})
	}
}

// TestContentSchemaIsWhatParsePublishChecks: ParsePublish checks the
// content's schema rules itself, on the compact form, without decoding
// it; if the schema's content rules change, that check must change too.
func TestContentSchemaIsWhatParsePublishChecks(t *testing.T) {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(PublishSchema(), &s); err != nil {
		t.Fatal(err)
	}
	var content map[string]any
	if err := json.Unmarshal(s.Properties["content"], &content); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"type": "object", "minProperties": float64(1)}; !reflect.DeepEqual(content, want) {
		t.Fatalf("content schema = %v; ParsePublish only checks %v: update it with the schema", content, want)
	}
}

// TestParsePublishFastPathMatchesSlow: valid bodies of several shapes
// parse to the same request through both paths.
func TestParsePublishFastPathMatchesSlow(t *testing.T) {
	for _, content := range []string{
		`{"summary":"x"}`,
		`{ "summary" : "x" , "nested": {"a": [1, 2, {"b": null}]} }`,
		`{"big":"` + strings.Repeat("y", 100000) + `"}`,
		`{"summary":"\u00e9\n"}`,
	} {
		meta := mustJSON(t, validBody()["meta"])
		body := []byte(`{"meta":` + string(meta) + `,"content":` + content + `}`)
		fast, err := ParsePublish(body)
		if err != nil {
			t.Fatalf("%.40s: %v", content, err)
		}
		slow, err := parsePublishSlow(body)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%.40s: fast %+v, slow %+v", content, fast, slow)
		}
	}
}

func TestIDs(t *testing.T) {
	now := time.Now()
	a, b := NewID(now), NewID(now.Add(time.Millisecond))
	if !ValidID(a) || !ValidID(b) {
		t.Fatalf("generated ids invalid: %s %s", a, b)
	}
	if a == b || !(a < b) {
		t.Fatalf("ids must be unique and time-ordered: %s %s", a, b)
	}
	for _, bad := range []string{"", "rec_", "../x", "rec_../../../../etc/passwd", "REC_" + strings.Repeat("0", 26), "rec_" + strings.Repeat("0", 25) + "u", "rec_" + strings.Repeat("0", 27), "rec_" + strings.Repeat("0", 25) + "/"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestDigestBindsEveryField(t *testing.T) {
	req, err := ParsePublish(mustJSON(t, validBody()))
	if err != nil {
		t.Fatal(err)
	}
	m := req.Meta
	d1, _ := m.Digest()
	m.Recipients = append(m.Recipients, "hmrc")
	d2, _ := m.Digest()
	m2 := req.Meta
	m2.Version = 2
	d3, _ := m2.Digest()
	if d1 == d2 || d1 == d3 || !strings.HasPrefix(d1, "sha256:") {
		t.Fatalf("digest does not change with metadata: %s %s %s", d1, d2, d3)
	}
}

func FuzzParsePublish(f *testing.F) {
	f.Add([]byte(`{"meta":{},"content":{}}`))
	f.Add([]byte(`{"meta":{"tlp":"RED"},"content":{"a":1}}`))
	valid := mustJSON(f, validBody())
	f.Add(valid)
	f.Add(append(append([]byte(nil), valid...), '}'))
	f.Add(bytes.Replace(valid, []byte(`"summary":"x"`), []byte(`"summary":"\ud800"`), 1))
	f.Add(bytes.Replace(valid, []byte(`"summary":"x"`), []byte("\"summary\":\"\xff\""), 1))
	f.Add(bytes.Replace(valid, []byte(`"summary":"x"`), []byte(`"summary":"x","summary":"y"`), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParsePublish(b)
		if err != nil {
			return
		}
		if req == nil || len(req.Content) < 2 {
			t.Fatalf("accepted without content")
		}
		// What is stored and echoed is valid JSON text (issue 9 item 17).
		if !utf8.Valid(b) || !json.Valid(req.Content) || CheckText(req.Content) != nil {
			t.Fatalf("accepted invalid text: %q", b)
		}
	})
}
