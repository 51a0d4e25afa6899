package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	good := map[string][]step{
		"source_details":  {{key: "source_details", index: -1}},
		"subject.iban":    {{key: "subject", index: -1}, {key: "iban", index: -1}},
		"accounts.*.iban": {{key: "accounts", index: -1}, {wild: true, index: -1}, {key: "iban", index: -1}},
		"a.0.b":           {{key: "a", index: -1}, {key: "0", index: 0}, {key: "b", index: -1}},
		"a.01":            {{key: "a", index: -1}, {key: "01", index: -1}},
		"dotted~1key.x":   {{key: "dotted.key", index: -1}, {key: "x", index: -1}},
		"t~0ilde.~2":      {{key: "t~ilde", index: -1}, {key: "*", index: -1}},
		"naïve key":       {{key: "naïve key", index: -1}},
	}
	for in, want := range good {
		p, err := ParsePath(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if !reflect.DeepEqual(p.steps, want) || p.String() != in {
			t.Errorf("%q: steps %+v, want %+v", in, p.steps, want)
		}
	}
	for _, in := range []string{"", ".", "a.", ".a", "a..b", "a*", "a.b*c", "~", "a~", "a~3", "a\x00b", "a\nb", "a\u2028b", "\xff",
		strings.Repeat("a", MaxPathLen+1), strings.Repeat("a.", MaxPathDepth) + "a"} {
		if _, err := ParsePath(in); !errors.Is(err, ErrPathSyntax) {
			t.Errorf("%q accepted (err %v)", in, err)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name, content string
		paths         []string
		redacted      []string
		out           string
	}{
		{name: "top level", content: `{"a":1,"source_details":"x"}`, paths: []string{"source_details"},
			redacted: []string{"source_details"}, out: `{"a":1}`},
		{name: "nested", content: `{"subject":{"name":"N","iban":"GB33BUKB20201555555555"}}`, paths: []string{"subject.iban"},
			redacted: []string{"subject.iban"}, out: `{"subject":{"name":"N"}}`},
		{name: "escaped key name in the content", content: `{"subject":{"\u0069ban":"X","n":1}}`, paths: []string{"subject.iban"},
			redacted: []string{"subject.iban"}, out: `{"subject":{"n":1}}`},
		{name: "duplicate keys: every copy goes", content: `{"subject":{"iban":"X"},"subject":{"iban":"Y","n":1}}`, paths: []string{"subject.iban"},
			redacted: []string{"subject.iban"}, out: `{"subject":{"n":1}}`},
		{name: "array wildcard", content: `{"accounts":[{"iban":"A","bank":"b"},{"bic":"c"},{"iban":"B"},null]}`, paths: []string{"accounts.*.iban"},
			redacted: []string{"accounts.*.iban"}, out: `{"accounts":[{"bank":"b"},{"bic":"c"},{},null]}`},
		{name: "array index", content: `{"accounts":[{"iban":"A"},{"iban":"B"}]}`, paths: []string{"accounts.1.iban"},
			redacted: []string{"accounts.1.iban"}, out: `{"accounts":[{"iban":"A"},{}]}`},
		{name: "object wildcard", content: `{"people":{"p1":{"phone":"1","n":"a"},"p2":{"phone":"2"}}}`, paths: []string{"people.*.phone"},
			redacted: []string{"people.*.phone"}, out: `{"people":{"p1":{"n":"a"},"p2":{}}}`},
		{name: "terminal wildcard on an object", content: `{"x":{"a":1,"b":2},"y":3}`, paths: []string{"x.*"},
			redacted: []string{"x.*"}, out: `{"x":{},"y":3}`},
		{name: "escaped dot in a key", content: `{"a.b":{"c":1,"d":2},"a":{"b":{"c":3}}}`, paths: []string{"a~1b.c"},
			redacted: []string{"a~1b.c"}, out: `{"a":{"b":{"c":3}},"a.b":{"d":2}}`},
		{name: "no match removes nothing and keeps the bytes", content: `{"b":1, "c":2}`, paths: []string{"officer_contact", "a.b.c"},
			redacted: []string{}, out: `{"b":1, "c":2}`},
		{name: "null on the way", content: `{"subject":null}`, paths: []string{"subject.iban"},
			redacted: []string{}, out: `{"subject":null}`},
		{name: "fail closed: a scalar where an object was expected", content: `{"subject":"N, IBAN GB33","k":1}`, paths: []string{"subject.iban"},
			redacted: []string{"subject"}, out: `{"k":1}`},
		{name: "fail closed: deep scalar", content: `{"a":{"b":{"c":"iban X"},"k":1}}`, paths: []string{"a.b.c.d"},
			redacted: []string{"a.b.c"}, out: `{"a":{"b":{},"k":1}}`},
		{name: "fail closed: a scalar element under a wildcard withholds the array", content: `{"accounts":[{"iban":"A"},"GB33 B"],"k":1}`, paths: []string{"accounts.*.iban"},
			redacted: []string{"accounts"}, out: `{"k":1}`},
		{name: "fail closed: a member name on an array", content: `{"accounts":[{"iban":"A"}],"k":1}`, paths: []string{"accounts.iban"},
			redacted: []string{"accounts"}, out: `{"k":1}`},
		{name: "fail closed: a path ending at array elements", content: `{"ibans":["A","B"],"k":1}`, paths: []string{"ibans.*"},
			redacted: []string{"ibans"}, out: `{"k":1}`},
		{name: "legacy top-level name with a dot", content: `{"source.details":"x","k":1}`, paths: []string{"source.details"},
			redacted: []string{"source.details"}, out: `{"k":1}`},
		{name: "several paths, sorted and deduplicated", content: `{"s":{"a":1,"b":2},"t":3}`, paths: []string{"t", "s.b", "s.a", "t"},
			redacted: []string{"s.a", "s.b", "t"}, out: `{"s":{}}`},
		{name: "no HTML escaping of what is kept", content: `{"a":"<b>&","x":1}`, paths: []string{"x"},
			redacted: []string{"x"}, out: `{"a":"<b>&"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			red, out, err := Redact([]byte(tc.content), tc.paths)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(red, tc.redacted) {
				t.Errorf("redacted = %q, want %q", red, tc.redacted)
			}
			if string(out) != tc.out {
				t.Errorf("out = %s, want %s", out, tc.out)
			}
		})
	}
}

func TestRedactRefuses(t *testing.T) {
	if _, _, err := Redact([]byte(`{"a":1}`), []string{"a..b"}); !errors.Is(err, ErrPathSyntax) {
		t.Fatalf("a path that does not parse: %v", err)
	}
	if _, _, err := Redact([]byte(`[1]`), []string{"a"}); !errors.Is(err, ErrNotObject) {
		t.Fatalf("content that is not an object: %v", err)
	}
}

func TestCheckPaths(t *testing.T) {
	content := []byte(`{"subject":{"name":"N","iban":"X"},"accounts":[{"iban":"A"},{"bic":"B"}],"note":"n","empty":[],"nil":null}`)
	ok := []string{"subject.iban", "subject", "accounts.*.iban", "accounts.0.iban", "accounts", "note", "subject.*"}
	for i, err := range CheckPaths(content, ok) {
		if err != nil {
			t.Errorf("%q: %v", ok[i], err)
		}
	}
	bad := map[string]string{
		"subject.iban.x":     "steps into a scalar",
		"note.x":             "steps into a scalar",
		"subject.bic":        "matches nothing",
		"nope":               "matches nothing",
		"accounts.5.iban":    "matches nothing",
		"empty.*.iban":       "matches nothing",
		"nil.x":              "matches nothing",
		"accounts.iban":      "is an array",
		"accounts.*":         "ends at array elements",
		"accounts.*.iban.x":  "steps into a scalar",
		"subject..iban":      "segment 2 is empty",
		"subject.ib*":        "whole segment",
		"accounts.*.bic.x.y": "steps into a scalar",
	}
	var paths []string
	for p := range bad {
		paths = append(paths, p)
	}
	for i, err := range CheckPaths(content, paths) {
		if err == nil || !strings.Contains(err.Error(), bad[paths[i]]) || !strings.Contains(err.Error(), paths[i]) {
			t.Errorf("%q: %v, want an error naming the path and saying %q", paths[i], err, bad[paths[i]])
		}
	}
	// A top-level name with a dot gets a hint how to write it.
	if err := CheckPaths([]byte(`{"a.b":1}`), []string{"a.b"})[0]; err == nil || !strings.Contains(err.Error(), `"a~1b"`) {
		t.Errorf("dotted top-level name: %v", err)
	}
	// CheckPaths does not change the content it checks.
	before := bytes.Clone(content)
	CheckPaths(content, []string{"subject.iban", "accounts.*.iban"})
	if !bytes.Equal(before, content) {
		t.Fatal("CheckPaths changed its input")
	}
}

func TestCheckProtectedFields(t *testing.T) {
	b := validBody()
	b["content"] = map[string]any{"subject": map[string]any{"iban": "X"}}
	b["meta"].(map[string]any)["protected_fields"] = []any{"subject.iban", "subject.bic", "subject.iban.x"}
	req, err := ParsePublish(mustJSON(t, b))
	if err != nil {
		t.Fatal(err)
	}
	err = CheckProtectedFields(req)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 2 || ve.Fields[0].Pointer != "/meta/protected_fields/1" || ve.Fields[1].Pointer != "/meta/protected_fields/2" {
		t.Fatalf("got %v", err)
	}
	req.Meta.ProtectedFields = []string{"subject.iban"}
	if err := CheckProtectedFields(req); err != nil {
		t.Fatal(err)
	}
}

// The schema lets through what the path syntax allows (the parser is the
// authority on syntax, and says which path is wrong and why).
func TestSchemaAcceptsNestedProtectedFields(t *testing.T) {
	b := validBody()
	b["content"] = map[string]any{"accounts": []any{map[string]any{"iban": "X"}}, "a.b": 1}
	b["meta"].(map[string]any)["protected_fields"] = []any{"accounts.*.iban", "a~1b", "accounts.0.iban"}
	if _, err := ParsePublish(mustJSON(t, b)); err != nil {
		t.Fatal(err)
	}
}

// FuzzRedact: on any content and paths, Redact does not panic, its output
// is a JSON object, and applying the same paths to its output removes
// nothing more (nothing a path names is left behind).
func FuzzRedact(f *testing.F) {
	f.Add(`{"subject":{"iban":"X","n":1}}`, "subject.iban", "source_details")
	f.Add(`{"accounts":[{"iban":"A"},"B",null,{"iban":{"x":1}}]}`, "accounts.*.iban", "accounts.0")
	f.Add(`{"a.b":{"c":1},"a":{"b":{"c":[1,2]}}}`, "a~1b.c", "a.b.c.*")
	f.Add(`{"p":{"x":{"y":1},"z":"s"}}`, "p.*.y", "p.*")
	f.Add(`{"k":{"k":{"k":"v"}},"k":1}`, "k.k.k", "*.*")
	f.Fuzz(func(t *testing.T, content, p1, p2 string) {
		paths := []string{p1, p2}
		red, out, err := Redact([]byte(content), paths)
		if err != nil {
			return
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(out, &obj); err != nil {
			t.Fatalf("output is not a JSON object: %s (%v)", out, err)
		}
		if len(red) == 0 && !bytes.Equal(out, []byte(content)) {
			t.Fatalf("nothing redacted but the content changed")
		}
		red2, out2, err := Redact(out, paths)
		if err != nil {
			t.Fatalf("redacting the output again: %v", err)
		}
		if len(red2) != 0 || !bytes.Equal(out, out2) {
			t.Fatalf("a second pass still removed %q from %s (first pass removed %q from %s)", red2, out, red, content)
		}
		// What the publish check accepts, the redactor removes.
		for i, cerr := range CheckPaths([]byte(content), paths) {
			if cerr == nil && !containsString(red, paths[i]) {
				t.Fatalf("path %q passes the publish check but redacted only %q", paths[i], red)
			}
		}
	})
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// FuzzParsePath: the parser never panics, and a path it accepts keeps its
// text and has one step per segment.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"a", "a.b", "a.*.b", "a~1b", "~0~1~2", "0.1.2", "a..b", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		if p.String() != s || len(p.steps) != strings.Count(s, ".")+1 {
			t.Fatalf("%q parsed as %+v", s, p.steps)
		}
	})
}
