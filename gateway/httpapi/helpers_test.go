package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
)

// Direct tests of the request path's pure helpers, which the end-to-end
// tests reach only through a TLS round trip.

func TestParseShare(t *testing.T) {
	many := make([]string, 17)
	for i := range many {
		many[i] = `"agency-` + string(rune('a'+i)) + `"`
	}
	for _, tc := range []struct {
		name, body string
		want       []string // nil: refused
		wantNote   string
		wantDetail string
	}{
		{"one", `{"recipients":["rocu-nw"]}`, []string{"rocu-nw"}, "", ""},
		{"with note", `{"recipients":["rocu-nw","nca"],"note":"for op x"}`, []string{"rocu-nw", "nca"}, "for op x", ""},
		{"none", `{"recipients":[]}`, nil, "", "1 to 16"},
		{"missing", `{}`, nil, "", "1 to 16"},
		{"seventeen", `{"recipients":[` + strings.Join(many, ",") + `]}`, nil, "", "1 to 16"},
		{"not an agency id", `{"recipients":["Rocu NW"]}`, nil, "", "not an agency id"},
		{"path in id", `{"recipients":["../x"]}`, nil, "", "not an agency id"},
		{"twice", `{"recipients":["nca","nca"]}`, nil, "", "listed twice"},
		{"control in note", `{"recipients":["nca"],"note":"a\u0007b"}`, nil, "", "note must be printable"},
		{"long note", `{"recipients":["nca"],"note":"` + strings.Repeat("x", 1025) + `"}`, nil, "", "note must be printable"},
		{"unknown member", `{"recipients":["nca"],"to":["x"]}`, nil, "", ""},
		{"not json", `recipients=nca`, nil, "", ""},
		{"trailing data", `{"recipients":["nca"]} {}`, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parseShare([]byte(tc.body))
			if tc.want == nil {
				var p *Problem
				if !errors.As(err, &p) || p.Status != http.StatusBadRequest {
					t.Fatalf("got %+v, %v; want a 400 problem", req, err)
				}
				if tc.wantDetail != "" && !strings.Contains(p.Detail, tc.wantDetail) {
					t.Fatalf("detail %q does not say %q", p.Detail, tc.wantDetail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Recipients, tc.want) || req.Note != tc.wantNote {
				t.Fatalf("got %+v", req)
			}
		})
	}
}

func TestParseAuditQuery(t *testing.T) {
	from := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		query     string
		want      audit.Filter
		wantLimit int
		bad       string // substring of the 400's detail; "" when accepted
	}{
		{"", audit.Filter{}, 100, ""},
		{"record=rec_1&dsa=dsa-uk-soc&limit=5", audit.Filter{RecordID: "rec_1", DSA: "dsa-uk-soc"}, 5, ""},
		{"agency=met-police&recipient=nca&officer=o-1&operation=disclosure&action=record.read&request_id=req_x",
			audit.Filter{Agency: "met-police", Recipient: "nca", Officer: "o-1", Operation: "disclosure", Action: "record.read", RequestID: "req_x"}, 100, ""},
		{"from=2026-01-31T00:00:00Z&after=41", audit.Filter{From: from, AfterSeq: 41}, 100, ""},
		{"to=2026-01-31T00:00:00Z", audit.Filter{To: from}, 100, ""},
		{"limit=0", audit.Filter{}, 0, "limit must be 1..100"},
		{"limit=101", audit.Filter{}, 0, "limit must be 1..100"},
		{"limit=ten", audit.Filter{}, 0, "limit must be 1..100"},
		{"from=yesterday", audit.Filter{}, 0, "RFC 3339"},
		{"after=-1", audit.Filter{}, 0, "after must be"},
		{"record=a&record=b", audit.Filter{}, 0, "given once"},
		{"officer=%00", audit.Filter{}, 0, "printable"},
		{"scope=all", audit.Filter{}, 0, "unknown query parameter scope"},
		{"colour=red", audit.Filter{}, 0, "unknown query parameter colour"},
		{"outcome=denied", audit.Filter{Outcome: audit.OutcomeDenied}, 100, ""},
		{"outcome=failed&operation=disclosure", audit.Filter{Outcome: audit.OutcomeFailed, Operation: "disclosure"}, 100, ""},
		{"outcome=deny", audit.Filter{}, 0, "outcome must be allowed, denied or failed"},
		{"outcome=", audit.Filter{}, 0, "outcome must be"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			f, limit, err := parseAuditQuery(q, 100)
			if tc.bad != "" {
				var p *Problem
				if !errors.As(err, &p) || p.Status != http.StatusBadRequest || !strings.Contains(p.Detail, tc.bad) {
					t.Fatalf("got %+v %d %v; want a 400 saying %q", f, limit, err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f, tc.want) || limit != tc.wantLimit {
				t.Fatalf("got %+v limit %d; want %+v limit %d", f, limit, tc.want, tc.wantLimit)
			}
		})
	}
}

func TestRedactHelper(t *testing.T) {
	content := []byte(`{"subject":{"name":"A","iban":"GB00"},"notes":"n"}`)
	t.Run("originator sees its record whole", func(t *testing.T) {
		red, out, err := redact(content, false, []string{"subject.iban"})
		if err != nil || len(red) != 0 || string(out) != string(content) {
			t.Fatalf("got %q %s %v", red, out, err)
		}
	})
	t.Run("recipient gets the named paths removed", func(t *testing.T) {
		red, out, err := redact(content, true, []string{"subject.iban"})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(red, []string{"subject.iban"}) || strings.Contains(string(out), "GB00") || !strings.Contains(string(out), `"name":"A"`) {
			t.Fatalf("got %q %s", red, out)
		}
	})
	t.Run("a path the redactor cannot parse refuses the disclosure", func(t *testing.T) {
		_, out, err := redact(content, true, []string{"subject..iban"})
		var p *Problem
		if !errors.As(err, &p) || p.Status != http.StatusInternalServerError || p.Type != api.ProblemTypeBase+"policy-error" || out != nil {
			t.Fatalf("got %s %v; want a 500 policy-error and no content", out, err)
		}
		if !errors.Is(err, record.ErrPathSyntax) {
			t.Fatalf("cause %v is not the path syntax error", err)
		}
	})
	t.Run("content that is not JSON is an integrity failure, not a disclosure", func(t *testing.T) {
		_, out, err := redact([]byte(`not json`), true, []string{"a"})
		var p *Problem
		if !errors.As(err, &p) || p.Status != http.StatusInternalServerError || out != nil {
			t.Fatalf("got %s %v", out, err)
		}
	})
}
