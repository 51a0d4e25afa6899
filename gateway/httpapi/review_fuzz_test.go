package httpapi

import (
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/record"
)

// FuzzParseReview: the body of POST /v1/records/{id}/review is untrusted.
// Whatever it holds, parsing never panics, and what it accepts is a retain
// with a real date after today or a dispose without one, with a printable,
// bounded justification: the policy and the audit entry never see
// anything else.
func FuzzParseReview(f *testing.F) {
	for _, s := range []string{
		`{"decision":"retain","review_due":"2027-12-01","justification":"still needed"}`,
		`{"decision":"dispose","justification":"case closed"}`,
		`{"decision":"retain","review_due":"2026-11-21","justification":"x"}`,
		`{"decision":"retain","review_due":"2027-02-30","justification":"x"}`,
		`{"decision":"dispose","review_due":"2027-12-01","justification":"x"}`,
		`{"decision":"dispose","decision":"retain","justification":"x"}`,
		`{"decision":"dispose","justification":"a\u0000b"}`,
		`{"decision":"archive"}`, `[]`, `null`, `{}`, `{"decision":"dispose","justification":"x"} {}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseReview(body, now)
		if err != nil {
			if req != nil {
				t.Fatalf("a refused body returned a request: %q", body)
			}
			return
		}
		switch req.Decision {
		case "retain":
			d, err := time.Parse(time.DateOnly, req.ReviewDue)
			if err != nil || !d.After(now) || d.Format(time.DateOnly) != req.ReviewDue {
				t.Fatalf("retain accepted with review_due %q from %q", req.ReviewDue, body)
			}
		case "dispose":
			if req.ReviewDue != "" {
				t.Fatalf("dispose accepted with a date from %q", body)
			}
		default:
			t.Fatalf("decision %q accepted from %q", req.Decision, body)
		}
		if req.Justification == "" || len(req.Justification) > record.MaxJustification || !record.Printable(req.Justification) {
			t.Fatalf("justification %q accepted from %q", req.Justification, body)
		}
		if s := reviewStateAt(req.ReviewDue, now, 30); req.Decision == "retain" && s.State == api.ReviewOverdue {
			t.Fatalf("a retained date is overdue at once: %q", body)
		}
	})
}
