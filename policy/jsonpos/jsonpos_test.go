package jsonpos

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestLocate(t *testing.T) {
	doc := []byte("{\n  \"a\": {\"b\": [1,\n    {\"c\": true}]},\n  \"d\": 2\n}")
	for _, tc := range []struct {
		ptr       []string
		line, col int
	}{
		{nil, 1, 1},
		{[]string{"a"}, 2, 8},
		{[]string{"a", "b", "1", "c"}, 3, 11},
		{[]string{"d"}, 4, 8},
		{[]string{"a", "missing"}, 2, 8}, // a missing value is reported on its object
	} {
		if line, col := Locate(doc, tc.ptr); line != tc.line || col != tc.col {
			t.Errorf("Locate(%v) = %d:%d, want %d:%d", tc.ptr, line, col, tc.line, tc.col)
		}
	}
	if line, col := Locate([]byte(`{"a": `), []string{"a", "b"}); line != 1 || col != 1 {
		t.Errorf("a truncated document: %d:%d, want the deepest parent found (1:1)", line, col)
	}
}

func TestError(t *testing.T) {
	raw := []byte("{\n  \"a\": x}")
	var v any
	line, col, msg, ok := Error(raw, json.Unmarshal(raw, &v))
	if !ok || line != 2 || !strings.HasPrefix(msg, "malformed JSON: ") || col < 1 {
		t.Fatalf("Error = %d:%d %q %t", line, col, msg, ok)
	}
	if _, _, _, ok := Error(raw, nil); ok {
		t.Fatal("no error located")
	}
}

// FuzzLocate: policy data and samples are files an officer (or a bundle)
// supplies; locating a problem in them must never panic, and any position
// returned lies within the document.
func FuzzLocate(f *testing.F) {
	f.Add([]byte(`{"samples": [{"name": "x"}, {"name": "y"}]}`), "samples/1/name")
	f.Add([]byte("{\n\"a\": [1, 2, {\"b\": null}]}"), "a/2/b")
	f.Add([]byte(`[[[[`), "0/0/0")
	f.Add([]byte(``), "")
	f.Fuzz(func(t *testing.T, raw []byte, ptr string) {
		var tokens []string
		if ptr != "" {
			tokens = strings.Split(ptr, "/")
		}
		line, col := Locate(raw, tokens)
		if line == 0 && col == 0 {
			return
		}
		if line < 1 || col < 1 || line > 1+strings.Count(string(raw), "\n") || col > len(raw)+1 {
			t.Fatalf("Locate = %d:%d outside a document of %d bytes", line, col, len(raw))
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			if l, c, _, ok := Error(raw, err); ok && (l < 1 || c < 1) {
				t.Fatalf("Error = %d:%d", l, c)
			}
		}
	})
}
