package httpapi

import (
	"net/url"
	"testing"
)

// FuzzParseAuditQuery: the query string of GET /v1/audit is untrusted.
// Whatever it holds, parsing never panics, never sets the caller's scope
// (only the policy's decision does: a query parameter cannot widen what an
// auditor sees), and an accepted limit is within bounds.
func FuzzParseAuditQuery(f *testing.F) {
	for _, s := range []string{
		"", "record=rec_1", "agency=met-police&dsa=dsa-uk-soc", "limit=0", "limit=100", "after=18446744073709551616",
		"from=2026-01-31T00:00:00Z&to=x", "scope=all", "Scope=all&all=true", "record=a&record=b", "officer=%00", "colour=red",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, limit, err := parseAuditQuery(q, 100)
		if err != nil {
			return
		}
		if flt.Scope != nil {
			t.Fatalf("a query string set the scope: %q", raw)
		}
		if limit < 1 || limit > 100 {
			t.Fatalf("limit %d accepted from %q", limit, raw)
		}
	})
}
