package record

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestParsePublishKeepsContentInBody: the content of a publish is a slice
// of the body, not a copy, and parsing a 1 MiB body, or checking its
// protected fields, allocates a small fraction of it (json.Unmarshal into
// json.RawMessage copied the content: more than its size per parse). Duplicate and non-text member
// names and values are still refused, as CheckText refuses them.
func TestParsePublishKeepsContentInBody(t *testing.T) {
	meta := map[string]any{
		"classification": map[string]any{"tier": "OFFICIAL"}, "tlp": "AMBER",
		"grading": map[string]any{"source": "1", "intelligence": "B"}, "handling": map[string]any{"code": "P"},
		"allowed_purposes": []any{"investigation"}, "data_subject_category": "suspect", "content_basis": "fact",
		"dsa_ids": []any{"dsa-uk-soc"}, "recipients": []any{"rocu-nw"}, "review_due": "2027-06-01",
	}
	body, err := json.Marshal(map[string]any{"meta": meta, "content": map[string]any{"summary": strings.Repeat("x", 1<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParsePublish(body)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(body, []byte(`{"summary"`))
	if start < 0 || len(req.Content) == 0 || &req.Content[0] != &body[start] {
		t.Fatal("the content is not a slice of the body")
	}
	if !json.Valid(req.Content) || !bytes.HasSuffix(req.Content, []byte(`"}`)) {
		t.Fatalf("content is not the whole content object: ends %q", req.Content[max(0, len(req.Content)-8):])
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 8
	for range runs {
		if _, err := ParsePublish(body); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > uint64(len(body))/8 {
		t.Errorf("ParsePublish allocated %d bytes for a %d-byte body: the content is copied", per, len(body))
	}
	// The protected-field check reads the same content without copying it.
	req.Meta.ProtectedFields = []string{"summary"}
	runtime.ReadMemStats(&before)
	for range runs {
		if err := CheckProtectedFields(req); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > uint64(len(body))/8 {
		t.Errorf("CheckProtectedFields allocated %d bytes for a %d-byte content: the content is copied", per, len(req.Content))
	}
	req.Meta.ProtectedFields = []string{"missing"}
	if err := CheckProtectedFields(req); err == nil {
		t.Error("a protected field that matches nothing was accepted")
	}
	for _, bad := range []string{
		`{"meta":{},"meta":{},"content":{"a":1}}`,
		`{"meta":{},"content":{"a":"\ud800"}}`,
		"{\"meta\":{},\"content\":{\"a\":\"\xff\"}}",
	} {
		if _, err := ParsePublish([]byte(bad)); err == nil {
			t.Errorf("ParsePublish(%q) accepted", bad)
		}
	}
}

// BenchmarkCheckPaths compares the protected-field check of a 256 KB
// content that must be validated first (CheckPaths) with one that
// ParsePublish has already validated (CheckProtectedFields), in one run:
//
//	go test -run '^$' -bench CheckPaths -benchtime 200x ./gateway/record/
func BenchmarkCheckPaths(b *testing.B) {
	content := []byte(`{"summary":"` + strings.Repeat("x", 256<<10) + `","source_details":"y"}`)
	for _, wf := range []bool{false, true} {
		name := "validate"
		if wf {
			name = "known-well-formed"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(content)))
			for b.Loop() {
				checkPaths(content, []string{"source_details"}, wf)
			}
		})
	}
}
