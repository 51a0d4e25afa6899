package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		doc, ptr, detail string // detail "": accepted
	}{
		{`{"a":"x","b":[1,"y",{"c":null}]}`, "", ""},
		{`{"a":"\u00e9\ud83d\ude00 \\ \" \n","k\u0061":true}`, "", ""},
		{`"plain"`, "", ""},
		{`[]`, "", ""},
		{`{"a":{},"b":[]}`, "", ""},
		{"{\"a\":\"\xff\"}", "/a", "not valid UTF-8"},
		{"{\"a\":[1,{\"b\":\"ok\",\"c\":\"\xc3\x28\"}]}", "/a/1/c", "not valid UTF-8"},
		{"{\"a\":\"\xed\xa0\x80\"}", "/a", "not valid UTF-8"}, // a surrogate encoded as UTF-8
		{`{"a":"\ud800"}`, "/a", "surrogate"},
		{`{"a":"\ud800x"}`, "/a", "surrogate"},
		{`{"a":"\udc00\ud800"}`, "/a", "surrogate"},
		{`{"a":"\ud800\u0041"}`, "/a", "surrogate"},
		{`{"a":["ok","\uDFFF"]}`, "/a/1", "surrogate"},
		{`{"x/y~z":"\ud800"}`, "/x~1y~0z", "surrogate"},
		{"{\"a\":{\"\xff\":1}}", "/a", "member name is not valid UTF-8"},
		{`{"a":{"\ud800":1}}`, "/a", "member name"},
		{`{"a":1,"a":2}`, "/a", "duplicate"},
		{`{"a":1,"\u0061":2}`, "/a", "duplicate"},
		{`{"o":[{"k":1},{"k":1,"k":2}]}`, "/o/1/k", "duplicate"},
		{`{"a":1}}`, "", "after the JSON value"},
		{`{"a":1}]`, "", "after the JSON value"},
	} {
		fe := CheckText([]byte(tc.doc))
		if tc.detail == "" {
			if fe != nil {
				t.Errorf("%q: rejected: %+v", tc.doc, fe)
			}
			continue
		}
		if fe == nil {
			t.Errorf("%q: accepted", tc.doc)
			continue
		}
		if fe.Pointer != tc.ptr || !strings.Contains(fe.Detail, tc.detail) {
			t.Errorf("%q: got %q %q, want %q ~%q", tc.doc, fe.Pointer, fe.Detail, tc.ptr, tc.detail)
		}
	}
}

// Many members: the names move from the linear list to a map; duplicates
// are still found on both sides of the switch.
func TestCheckTextLargeObject(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 40 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`"k` + strconv.Itoa(i) + `":1`)
	}
	ok := sb.String() + "}"
	if fe := CheckText([]byte(ok)); fe != nil {
		t.Fatalf("rejected: %+v", fe)
	}
	for _, dup := range []string{"k0", "k15", "k39"} {
		if fe := CheckText([]byte(sb.String() + `,"` + dup + `":2}`)); fe == nil || fe.Pointer != "/"+dup {
			t.Fatalf("duplicate %s: %+v", dup, fe)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	type body struct {
		Recipients []string `json:"recipients"`
		Note       string   `json:"note"`
	}
	var ok body
	if err := DecodeStrict([]byte(` {"recipients":["x"],"note":"n"} `), &ok); err != nil || ok.Recipients[0] != "x" {
		t.Fatalf("valid body: %v %+v", err, ok)
	}
	for _, doc := range []string{
		`{"recipients":["x"]}}`, `{"recipients":["x"]}]`, `{"recipients":["x"]} {}`, `{"recipients":["x"]}x`,
		`{"recipients":["x"],"extra":1}`, `{"recipients":["x"],"recipients":["y"]}`,
		`{"recipients":["x"],"note":"\ud800"}`, "{\"recipients\":[\"x\"],\"note\":\"\xff\"}", ``, `   `,
	} {
		var b body
		if err := DecodeStrict([]byte(doc), &b); err == nil {
			t.Errorf("%q accepted", doc)
		}
	}
	var ve *ValidationError
	if err := DecodeStrict([]byte(`{"recipients":["x","\udc00"]}`), new(body)); !errors.As(err, &ve) || ve.Fields[0].Pointer != "/recipients/1" {
		t.Fatalf("error does not name the field: %v", err)
	}
}

func TestParsePublishRejectsBadText(t *testing.T) {
	valid := string(mustJSON(t, validBody()))
	for _, tc := range []struct{ name, from, to, ptr string }{
		{"lone surrogate in content", `"content":{`, `"content":{"bad":"\ud800",`, "/content/bad"},
		{"raw bytes in content", `"content":{`, "\"content\":{\"bad\":\"\xff\xfe\",", "/content/bad"},
		{"duplicate content member", `"content":{`, `"content":{"x":1,"x":2,`, "/content/x"},
		{"lone surrogate in tags", `"meta":{`, `"meta":{"tags":{"t":"\udfff"},`, "/meta/tags/t"},
		{"trailing brace", ``, `}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(valid, tc.from, tc.to, 1)
			if tc.from == "" {
				body = valid + tc.to
			}
			if body == valid {
				t.Fatal("fixture did not change")
			}
			_, err := ParsePublish([]byte(body))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
			if ve.Fields[0].Pointer != tc.ptr {
				t.Fatalf("pointer %q, want %q: %v", ve.Fields[0].Pointer, tc.ptr, ve)
			}
		})
	}
}

// FuzzDecodeStrict: whatever DecodeStrict accepts is one well-formed JSON
// document whose every string is valid UTF-8 when re-encoded, and CheckText
// never panics on arbitrary bytes.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{"recipients":["x"]}`, `{"recipients":["x"]}}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}",
		`{"a":1,"a":2}`, `[1,[2,[3,{"b":"\ud83d\ude00"}]]]`, `{"input":{"action":"record.read"}}`, `"\u0000"`, `{"a":"\\u"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = CheckText(b)
		var v any
		if err := DecodeStrict(b, &v); err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted malformed JSON %q", b)
		}
		if !utf8.Valid(b) {
			t.Fatalf("accepted invalid UTF-8 %q", b)
		}
	})
}

// FuzzSplitTopObject: on any well-formed JSON object, splitTopObject
// refuses exactly what CheckText refuses, and otherwise returns the
// members json.Unmarshal finds, byte for byte (it replaced an Unmarshal
// into json.RawMessage on the publish path).
func FuzzSplitTopObject(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"meta":{"a":1},"content":{"b":[1,2,{"c":"d"}]}}`, ` {"a" : "x\"y" , "b":null}`,
		`{"a":1,"a":2}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"k":"\u00e9","l":[true,false]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if t0 := bytes.TrimLeft(b, " \t\r\n"); len(t0) == 0 || t0[0] != '{' {
			return
		}
		members, fe := splitTopObject(b)
		if want := CheckText(b); (fe == nil) != (want == nil) {
			t.Fatalf("splitTopObject refused %v, CheckText %v", fe, want)
		}
		if fe != nil {
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(b, &top); err != nil {
			t.Fatalf("json.Unmarshal: %v", err)
		}
		if len(top) != len(members) {
			t.Fatalf("%d members, json.Unmarshal %d", len(members), len(top))
		}
		for k, v := range top {
			if !bytes.Equal(members[k], v) {
				t.Fatalf("member %q: %q, json.Unmarshal %q", k, members[k], v)
			}
		}
	})
}
