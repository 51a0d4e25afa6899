package httpapi

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
)

// FuzzParseStatsQuery: the query string of GET /v1/audit/stats is
// untrusted. Parsing never panics, and an accepted window is non-empty and
// at most maxStatsWindow long (the answer is bounded by it).
func FuzzParseStatsQuery(f *testing.F) {
	for _, s := range []string{
		"", "from=2026-01-01", "to=2026-12-31", "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", "dsa=dsa-uk-soc",
		"from=2026-02-01&to=2026-01-01", "from=0001-01-01", "to=9999-12-31", "from=2026-01-01T00:00:00+14:00", "dsa=%00",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for k, vs := range q {
			if len(vs) != 1 || (k != "from" && k != "to" && k != "dsa") {
				return // strictQuery refuses these first
			}
		}
		sq, err := parseStatsQuery(q, now)
		if err != nil {
			return
		}
		if !sq.From.Before(sq.To) || sq.To.Sub(sq.From) > maxStatsWindow {
			t.Fatalf("window %v..%v accepted from %q", sq.From, sq.To, raw)
		}
	})
}

// FuzzParseSeq: the seq of GET /v1/audit/proof. An accepted seq is at
// least 1 and is the decimal text given, nothing more lenient.
func FuzzParseSeq(f *testing.F) {
	for _, s := range []string{"1", "0", "-1", "+1", "01", "18446744073709551615", "18446744073709551616", " 1", "1e3", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		seq, err := parseSeq(url.Values{"seq": {v}})
		if err != nil {
			return
		}
		if seq == 0 || strings.TrimLeft(v, "0123456789") != "" {
			t.Fatalf("seq %d accepted from %q", seq, v)
		}
	})
}

// FuzzEvidenceRequest: the body of POST /v1/audit/evidence. Whatever it
// holds, an accepted request names exactly one of record and dsa, and an
// unknown member (one that could ask for more than the scope) is refused.
func FuzzEvidenceRequest(f *testing.F) {
	for _, s := range []string{
		`{"record":"rec_1"}`, `{"dsa":"dsa-uk-soc"}`, `{"record":"a","dsa":"b"}`, `{}`, `{"scope":{"all":true},"dsa":"x"}`,
		`{"dsa":"x","from":"2026-01-01T00:00:00Z","to":"2025-01-01T00:00:00Z"}`, `{"dsa":"x"}{}`, `{"dsa":"x","dsa":"y"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req api.EvidenceRequest
		if decodeJSON(body, &req, "usage") != nil || req.Validate() != nil {
			return
		}
		if (req.Record == "") == (req.DSA == "") {
			t.Fatalf("accepted %q", body)
		}
		if strings.Contains(string(body), `"scope"`) && !strings.Contains(req.Record+req.DSA, "scope") {
			t.Fatalf("an unknown member was accepted: %q", body)
		}
	})
}
