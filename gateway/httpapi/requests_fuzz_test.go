package httpapi

import (
	"testing"

	"github.com/liaison-project/liaison/gateway/record"
)

// FuzzParseRequestFile: the body of POST /v1/requests is untrusted.
// Whatever it holds, parsing never panics, and what it accepts names the
// record exactly one way, in a form that reaches no store or key unchecked,
// with the vocabulary and text rules the API documents.
func FuzzParseRequestFile(f *testing.F) {
	for _, s := range []string{
		`{"reference":"hit_abc","purpose":"investigation","justification":"hit on a phone","case":"OP-K","urgency":"urgent","access":"direct"}`,
		`{"record_id":"rec_00000000000000000000000000","purpose":"investigation","justification":"j","case":"c","urgency":"normal","access":"indirect","kind":"prum_core_data"}`,
		`{"reference":"hit_a","record_id":"rec_00000000000000000000000000"}`,
		`{"reference":"hit_../x","purpose":"p","justification":"j","case":"c","urgency":"normal","access":"direct"}`,
		`{"reference":"hit_a","purpose":"p","justification":"j\u202e","case":"c","urgency":"normal","access":"direct"}`,
		`{"urgency":"normal","urgency":"urgent"}`, `{}`, `[]`, `null`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseRequestFile(b)
		if err != nil {
			if asProblem(err).Status != 400 {
				t.Fatalf("a bad body is not a 400: %v", err)
			}
			return
		}
		if (req.Reference == "") == (req.RecordID == "") {
			t.Fatalf("accepted a body naming the record %q / %q", req.Reference, req.RecordID)
		}
		if req.RecordID != "" && !record.ValidID(req.RecordID) || req.Reference != "" && !wellFormedRef(req.Reference) {
			t.Fatalf("accepted a malformed record name %q / %q", req.Reference, req.RecordID)
		}
		if (req.Urgency != "urgent" && req.Urgency != "normal") || (req.Access != "direct" && req.Access != "indirect") ||
			(req.Kind != "information" && req.Kind != "prum_core_data") {
			t.Fatalf("accepted vocabulary %q %q %q", req.Urgency, req.Access, req.Kind)
		}
		for _, s := range []string{req.Justification, req.Detail, req.Case, req.Purpose} {
			if !record.Printable(s) {
				t.Fatalf("accepted unprintable text %q", s)
			}
		}
		if req.Justification == "" || len(req.Justification) > record.MaxJustification || len(req.Detail) > maxRequestText {
			t.Fatalf("accepted justification/detail of %d/%d bytes", len(req.Justification), len(req.Detail))
		}
	})
}
