package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/policies"
)

// MoPI review (docs/review.md). The tests fix the gateway's clock: the
// review state is a matter of dates, and the policy compares them from the
// time the gateway gives it.

// day returns 10:00 UTC on the given date.
func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }

// officerAt is a client of agency with an officer token issued at the
// gateway's clock (not the real time), so that it is valid whatever date a
// test sets.
func officerAt(t *testing.T, env *gatewaytest.Env, agency, id string) *gatewaytest.Client {
	t.Helper()
	key, err := jose.LoadPrivateJWK(env.Fed.OfficerKeyFile(agency))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.IssueOfficerToken(key, agency, env.Cfg.Officers.Audience,
		jose.Officer{ID: id, Agency: agency, Clearance: "SC", Vetting: "MV", Roles: []string{"analyst"}}, time.Hour, jose.WithIssuedAt(env.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return env.Client(agency).WithToken(tok)
}

// reviewer is a met-police officer (ds-41).
func reviewer(t *testing.T, env *gatewaytest.Env) *gatewaytest.Client {
	return officerAt(t, env, "met-police", "ds-41")
}

func withReviewDue(due string) func(map[string]any) {
	return func(m map[string]any) { m["review_due"] = due }
}

// read reads a record and returns the answer and its Liaison-Review header.
func readRecord(t *testing.T, c *gatewaytest.Client, id string) (api.Record, string) {
	t.Helper()
	r := c.MustDo("GET", "/v1/records/"+id, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("read %s: %d %s", id, r.Status, r.Body)
	}
	return *gatewaytest.Decode[api.Record](t, r), r.Header.Get("Liaison-Review")
}

func listed(t *testing.T, c *gatewaytest.Client, id string) (api.RecordListItem, bool) {
	t.Helper()
	r := c.MustDo("GET", "/v1/records?limit=100", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	for _, it := range gatewaytest.Decode[api.RecordList](t, r).Items {
		if it.ID == id {
			return it, true
		}
	}
	return api.RecordListItem{}, false
}

// lastEntry is the last audit entry of action for record id.
func lastEntry(t *testing.T, env *gatewaytest.Env, action, id string) audit.Event {
	t.Helper()
	evs := env.Audit()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == action && len(evs[i].RecordIDs) == 1 && evs[i].RecordIDs[0] == id {
			return evs[i]
		}
	}
	t.Fatalf("no %s entry for %s", action, id)
	return audit.Event{}
}

const overdueWarning = "Review overdue since 2027-06-01: the originator has not confirmed this record is still needed"

func TestReviewPublishRefusesAPastReviewDate(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.SetClock(day(2026, 11, 21))
	met := env.Client("met-police")
	before := recordObjects(t, env)

	r := met.MustDo("POST", "/v1/records", recordBody(withReviewDue("2026-11-20")))
	if r.Status != http.StatusBadRequest {
		t.Fatalf("past review_due: %d %s", r.Status, r.Body)
	}
	p := r.Problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Pointer != "/meta/review_due" || !strings.Contains(p.Errors[0].Detail, "meta.import") {
		t.Fatalf("past review_due: errors %+v", p.Errors)
	}
	// An import reason that is too short is the schema's 400.
	r = met.MustDo("POST", "/v1/records", recordBody(withReviewDue("2026-11-20"), func(m map[string]any) {
		m["import"] = map[string]any{"reason": "old"}
	}))
	if r.Status != http.StatusBadRequest || len(r.Problem(t).Errors) == 0 || r.Problem(t).Errors[0].Pointer != "/meta/import/reason" {
		t.Fatalf("short import reason: %d %s", r.Status, r.Body)
	}
	// An unknown member of import is refused, not ignored.
	r = met.MustDo("POST", "/v1/records", recordBody(withReviewDue("2026-11-20"), func(m map[string]any) {
		m["import"] = map[string]any{"reason": "migrated from the legacy force system", "why": "x"}
	}))
	if r.Status != http.StatusBadRequest {
		t.Fatalf("unknown import member: %d %s", r.Status, r.Body)
	}
	if after := recordObjects(t, env); after != before {
		t.Fatalf("refused publishes stored %d record objects", after-before)
	}

	// Over raw HTTP: the bytes as a hostile or careless client sends them.
	body, _ := json.Marshal(recordBody(withReviewDue("1999-01-01")))
	raw, err := env.Raw("met-police", env.RawRequest("POST", "/v1/records", []string{"Content-Type: application/json"}, body))
	if err != nil {
		t.Fatal(err)
	}
	if raw.Status != http.StatusBadRequest || !bytes.Contains(raw.Body, []byte(`"pointer":"/meta/review_due"`)) ||
		raw.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("raw past review_due: %d %s %s", raw.Status, raw.Header.Get("Content-Type"), raw.Body)
	}
	body = bytes.Replace(body, []byte(`"review_due":"1999-01-01"`), []byte(`"review_due":"1999-01-01","import":{"reason":"migrated\u0007bell"}`), 1)
	if raw, err = env.Raw("met-police", env.RawRequest("POST", "/v1/records", []string{"Content-Type: application/json"}, body)); err != nil {
		t.Fatal(err)
	}
	if raw.Status != http.StatusBadRequest {
		t.Fatalf("raw import reason with a control character: %d %s", raw.Status, raw.Body)
	}
	if after := recordObjects(t, env); after != before {
		t.Fatalf("refused publishes stored %d record objects", after-before)
	}

	// Today is not past: due today is accepted without a reason.
	publish(t, met, recordBody(withReviewDue("2026-11-21")))

	// With the import's reason, a past date is accepted, signed into the
	// metadata and audited with the collection.
	id := publish(t, met, recordBody(withReviewDue("2026-11-20"), func(m map[string]any) {
		m["import"] = map[string]any{"reason": "migrated from the legacy force system (batch 7)", "source_system": "NICHE RMS"}
	}))
	rec, hdr := readRecord(t, met, id)
	if rec.Meta.Import == nil || rec.Meta.Import.SourceSystem != "NICHE RMS" {
		t.Fatalf("import not kept in the metadata: %+v", rec.Meta.Import)
	}
	if rec.Handling.Review != (api.Review{Due: "2026-11-20", State: api.ReviewOverdue}) || hdr != "overdue; due=2026-11-20" {
		t.Fatalf("imported overdue record: %+v %q", rec.Handling.Review, hdr)
	}
	ev := lastEntry(t, env, "record.publish", id)
	if ev.Operation != audit.OpCollection || ev.Review == nil || ev.Review.Decision != "import" ||
		ev.Review.ImportReason != "migrated from the legacy force system (batch 7)" || ev.Review.SourceSystem != "NICHE RMS" || ev.Review.Due != "2026-11-20" {
		t.Fatalf("collection entry of an import: %+v", ev.Review)
	}
}

func TestReviewStateOnReadsAndListings(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.SetClock(day(2026, 11, 21))
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	id := publish(t, met, recordBody(withReviewDue("2027-06-01"))) // review_due 2027-06-01

	for _, c := range []struct {
		now    time.Time
		state  string
		banner bool
	}{
		{day(2026, 11, 21), api.ReviewOK, false},
		{day(2027, 5, 1), api.ReviewOK, false},       // 31 days ahead: outside the 30-day window
		{day(2027, 5, 2), api.ReviewDue, false},      // 30 days ahead
		{day(2027, 6, 1), api.ReviewDue, false},      // the date itself is due, not overdue
		{day(2027, 6, 2), api.ReviewOverdue, true},   // the day after
		{day(2027, 12, 24), api.ReviewOverdue, true}, // and stays so until reviewed
	} {
		env.SetClock(c.now)
		want := api.Review{Due: "2027-06-01", State: c.state}
		rec, hdr := readRecord(t, rocu, id)
		if rec.Handling.Review != want || hdr != c.state+"; due=2027-06-01" {
			t.Fatalf("%s: recipient sees %+v, header %q; want %s", c.now.Format(time.DateOnly), rec.Handling.Review, hdr, c.state)
		}
		if got := strings.HasSuffix(rec.Handling.Banner, " | "+overdueWarning); got != c.banner {
			t.Fatalf("%s: banner %q, warning wanted: %v", c.now.Format(time.DateOnly), rec.Handling.Banner, c.banner)
		}
		// The originator sees the state but no warning: it is the one to act.
		own, ownHdr := readRecord(t, met, id)
		if own.Handling.Review != want || ownHdr != hdr || strings.Contains(own.Handling.Banner, "Review overdue") {
			t.Fatalf("%s: originator sees %+v %q, banner %q", c.now.Format(time.DateOnly), own.Handling.Review, ownHdr, own.Handling.Banner)
		}
		for _, cl := range []*gatewaytest.Client{met, rocu} {
			it, ok := listed(t, cl, id)
			if !ok || it.Review != want {
				t.Fatalf("%s: listing item %+v (listed %v)", c.now.Format(time.DateOnly), it.Review, ok)
			}
		}
	}
	// Two overdue days above, each read once by the recipient and once by
	// the originator.
	if n := metricValue(t, env, `liaison_review_overdue_disclosures_total{operation="disclosure"} `); n != 2 {
		t.Fatalf("overdue disclosures counted: %d, want 2", n)
	}
	if n := metricValue(t, env, `liaison_review_overdue_disclosures_total{operation="consultation"} `); n != 2 {
		t.Fatalf("overdue consultations counted: %d, want 2", n)
	}
}

// withholdingPolicy writes the bundled policy library to a directory with
// dsa-uk-soc withholding overdue records, and a review window of 7 days.
func withholdingPolicy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	edit := func(name string, f func(doc map[string]any)) {
		p := filepath.Join(dir, "data", name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		f(doc)
		if b, err = json.Marshal(doc); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edit("dsas.json", func(doc map[string]any) {
		doc["dsas"].(map[string]any)["dsa-uk-soc"].(map[string]any)["overdue_review"] = "withhold"
	})
	edit("settings.json", func(doc map[string]any) {
		doc["settings"].(map[string]any)["review_due_window_days"] = 7
	})
	return dir
}

func TestReviewWithheldUntilRetained(t *testing.T) {
	dir := withholdingPolicy(t)
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(c *config.Config) { c.Policy.Dir = dir }})
	env.SetClock(day(2026, 11, 21))
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	id := publish(t, met, recordBody(withReviewDue("2027-06-01")))
	content := readContent(t, met, id)

	// The policy's window (7 days) decides "due".
	env.SetClock(day(2027, 5, 20))
	if rec, _ := readRecord(t, rocu, id); rec.Handling.Review.State != api.ReviewOK {
		t.Fatalf("12 days ahead with a 7-day window: %+v", rec.Handling.Review)
	}
	env.SetClock(day(2027, 5, 26))
	if rec, _ := readRecord(t, rocu, id); rec.Handling.Review.State != api.ReviewDue {
		t.Fatalf("6 days ahead with a 7-day window: %+v", rec.Handling.Review)
	}

	env.SetClock(day(2027, 6, 10))
	wantReason(t, rocu.MustDo("GET", "/v1/records/"+id, nil), http.StatusForbidden, "review_overdue")
	if _, ok := listed(t, rocu, id); ok {
		t.Fatal("a withheld record is listed to the recipient")
	}
	if n := metricValue(t, env, "liaison_review_withheld_total "); n != 1 {
		t.Fatalf("withheld reads counted: %d, want 1", n)
	}
	// The originator still reads, lists and reviews it.
	if rec, hdr := readRecord(t, met, id); rec.Handling.Review.State != api.ReviewOverdue || hdr != "overdue; due=2027-06-01" {
		t.Fatalf("originator: %+v %q", rec.Handling.Review, hdr)
	}
	if it, ok := listed(t, met, id); !ok || it.Review.State != api.ReviewOverdue {
		t.Fatalf("originator's listing: %+v %v", it, ok)
	}

	r := reviewer(t, env).MustDo("POST", "/v1/records/"+id+"/review", api.ReviewRequest{
		Decision: "retain", ReviewDue: "2028-03-01", Justification: "subject still active in OP-NIGHTJAR; reviewed by DS 41"})
	if r.Status != http.StatusOK {
		t.Fatalf("retain: %d %s", r.Status, r.Body)
	}
	got := gatewaytest.Decode[api.Reviewed](t, r)
	if got.Decision != "retain" || got.Version != 2 || got.PreviousDue != "2027-06-01" || got.State != "active" ||
		got.Review == nil || *got.Review != (api.Review{Due: "2028-03-01", State: api.ReviewOK}) {
		t.Fatalf("retain answer: %+v", got)
	}
	// The flag is gone: the recipient reads the new version, unwarned, and
	// the content is byte for byte what was published.
	rec, hdr := readRecord(t, rocu, id)
	if rec.Version != 2 || rec.Meta.ReviewDue != "2028-03-01" || hdr != "ok; due=2028-03-01" || strings.Contains(rec.Handling.Banner, "Review overdue") {
		t.Fatalf("after retain: v%d %s %q %q", rec.Version, rec.Meta.ReviewDue, hdr, rec.Handling.Banner)
	}
	if after := readContent(t, met, id); !bytes.Equal(after, content) {
		t.Fatalf("content changed by the review:\n%s\n%s", after, content)
	}
	if _, ok := listed(t, rocu, id); !ok {
		t.Fatal("the retained record is not listed to the recipient")
	}
	ev := lastEntry(t, env, "record.review", id)
	if ev.Operation != audit.OpAlteration || ev.Status != http.StatusOK || ev.Officer != "ds-41" ||
		ev.Justification != "subject still active in OP-NIGHTJAR; reviewed by DS 41" ||
		ev.Review == nil || *ev.Review != (audit.Review{Decision: "retain", PreviousDue: "2027-06-01", Due: "2028-03-01"}) {
		t.Fatalf("review entry: %+v review %+v", ev, ev.Review)
	}
	if n := metricValue(t, env, `liaison_reviews_total{decision="retain"} `); n != 1 {
		t.Fatalf("reviews counted: %d", n)
	}
}

// readContent is the content the originator reads (unredacted).
func readContent(t *testing.T, c *gatewaytest.Client, id string) []byte {
	t.Helper()
	rec, _ := readRecord(t, c, id)
	return rec.Content
}

func TestReviewDisposeRecalls(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.SetClock(day(2026, 11, 21))
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	id := publish(t, met, recordBody(withReviewDue("2027-06-01")))
	env.SetClock(day(2027, 6, 5))

	r := reviewer(t, env).MustDo("POST", "/v1/records/"+id+"/review", map[string]any{
		"decision": "dispose", "justification": "no longer necessary: subject convicted, case closed"})
	if r.Status != http.StatusOK {
		t.Fatalf("dispose: %d %s", r.Status, r.Body)
	}
	if got := gatewaytest.Decode[api.Reviewed](t, r); got.State != "recalled" || got.PreviousDue != "2027-06-01" || got.Review != nil {
		t.Fatalf("dispose answer: %+v", got)
	}
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusGone {
		t.Fatalf("recipient reads a disposed record: %d", r.Status)
	}
	if r := met.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusGone {
		t.Fatalf("originator reads a disposed record: %d", r.Status)
	}
	ev := lastEntry(t, env, "record.review", id)
	if ev.Operation != audit.OpErasure || ev.Review == nil || ev.Review.Decision != "dispose" || ev.Review.PreviousDue != "2027-06-01" {
		t.Fatalf("dispose entry: %+v %+v", ev, ev.Review)
	}
	// A disposed record cannot be reviewed again.
	r = reviewer(t, env).MustDo("POST", "/v1/records/"+id+"/review", map[string]any{"decision": "dispose", "justification": "second attempt at it"})
	if r.Status != http.StatusGone {
		t.Fatalf("review of a recalled record: %d %s", r.Status, r.Body)
	}
}

func TestReviewRefusals(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.SetClock(day(2026, 11, 21))
	met := env.Client("met-police")
	id := publish(t, met, recordBody(withReviewDue("2027-06-01")))
	env.SetClock(day(2027, 6, 5))
	path := "/v1/records/" + id + "/review"
	retain := func(due string) map[string]any {
		return map[string]any{"decision": "retain", "review_due": due, "justification": "still needed for OP-NIGHTJAR"}
	}
	officerOf := func(agency string) *gatewaytest.Client { return officerAt(t, env, agency, "an-9") }

	// Who: a recipient is told it is not the originator; a stranger learns
	// nothing; the originator's system without an officer is refused.
	wantReason(t, officerOf("rocu-nw").MustDo("POST", path, retain("2027-12-01")), http.StatusForbidden, "not_originator")
	if r := officerOf("nca").MustDo("POST", path, retain("2027-12-01")); r.Status != http.StatusNotFound {
		t.Fatalf("stranger: %d %s", r.Status, r.Body)
	}
	wantReason(t, met.MustDo("POST", path, retain("2027-12-01")), http.StatusForbidden, "review_officer_required")
	// The DSA's review interval (365 days for dsa-uk-soc) bounds the date.
	wantReason(t, reviewer(t, env).MustDo("POST", path, retain("2028-06-06")), http.StatusForbidden, "review_date_too_far")
	// A short justification is the policy's refusal.
	wantReason(t, reviewer(t, env).MustDo("POST", path, map[string]any{"decision": "retain", "review_due": "2027-12-01", "justification": "ok"}),
		http.StatusForbidden, "justification_required")

	// Bad input: 400 naming the field, nothing changed.
	for _, c := range []struct {
		name    string
		body    any
		pointer string
	}{
		{"unknown decision", map[string]any{"decision": "archive", "justification": "still needed for OP-NIGHTJAR"}, "/decision"},
		{"retain without a date", map[string]any{"decision": "retain", "justification": "still needed for OP-NIGHTJAR"}, "/review_due"},
		{"retain until today", retain("2027-06-05"), "/review_due"},
		{"retain until a past date", retain("2027-01-01"), "/review_due"},
		{"not a date", retain("next spring"), "/review_due"},
		{"impossible date", retain("2027-02-30"), "/review_due"},
		{"dispose with a date", map[string]any{"decision": "dispose", "review_due": "2027-12-01", "justification": "no longer needed at all"}, "/review_due"},
		{"no justification", map[string]any{"decision": "dispose"}, "/justification"},
		{"justification with a control character", map[string]any{"decision": "dispose", "justification": "no longer\u001b[2J needed"}, ""},
	} {
		r := reviewer(t, env).MustDo("POST", path, c.body)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", c.name, r.Status, r.Body)
		}
		if c.pointer != "" && (len(r.Problem(t).Errors) != 1 || r.Problem(t).Errors[0].Pointer != c.pointer) {
			t.Fatalf("%s: errors %+v", c.name, r.Problem(t).Errors)
		}
	}
	// A justification in the header and a different one in the body.
	r := reviewer(t, env).With(hJust, "another reason entirely").MustDo("POST", path, retain("2027-12-01"))
	if r.Status != http.StatusBadRequest || r.Problem(t).Errors[0].Pointer != "/justification" {
		t.Fatalf("two justifications: %d %s", r.Status, r.Body)
	}

	// Over raw HTTP: malformed JSON, an unknown member, a duplicate member,
	// a wrong media type.
	tok := reviewer(t, env).Token
	for _, c := range []struct {
		name, ctype, body string
		status            int
	}{
		{"truncated", "application/json", `{"decision":"retain",`, 400},
		{"unknown member", "application/json", `{"decision":"retain","review_due":"2027-12-01","justification":"still needed for it","until":"x"}`, 400},
		{"duplicate member", "application/json", `{"decision":"dispose","decision":"retain","review_due":"2027-12-01","justification":"still needed for it"}`, 400},
		{"not JSON", "text/plain", `decision=dispose`, 415},
		{"an array", "application/json", `[]`, 400},
	} {
		raw, err := env.Raw("met-police", env.RawRequest("POST", path,
			[]string{"Content-Type: " + c.ctype, "Authorization: Bearer " + tok}, []byte(c.body)))
		if err != nil {
			t.Fatal(err)
		}
		if raw.Status != c.status || raw.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("raw %s: %d %s %s", c.name, raw.Status, raw.Header.Get("Content-Type"), raw.Body)
		}
	}
	// A malformed id is 404 without touching the store.
	if r := reviewer(t, env).MustDo("POST", "/v1/records/rec_nope/review", retain("2027-12-01")); r.Status != http.StatusNotFound {
		t.Fatalf("malformed id: %d", r.Status)
	}

	// Nothing above changed the record.
	rec, hdr := readRecord(t, met, id)
	if rec.Version != 1 || rec.Meta.ReviewDue != "2027-06-01" || hdr != "overdue; due=2027-06-01" {
		t.Fatalf("after refusals: v%d %s %q", rec.Version, rec.Meta.ReviewDue, hdr)
	}
	if n := metricValue(t, env, `liaison_reviews_total{decision="retain"} `); n != 0 {
		t.Fatalf("refused reviews counted: %d", n)
	}
}

// A retain reaches the copies other gateways hold: the new version
// replaces the older one there, so a recipient served by a peer sees the
// new review date and no longer the overdue flag.
func TestReviewRetainReachesPeerCopies(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	setClocks := func(now time.Time) {
		for _, g := range f.Gateways {
			g.SetClock(now)
		}
	}
	setClocks(day(2026, 11, 21))
	if f.HostID("met-police") == f.HostID("hmrc") {
		t.Fatal("met-police and hmrc share a gateway: the test needs a peer copy")
	}
	met := f.Client("met-police")
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	id := publish(t, met, recordBody(withReviewDue("2027-06-01"), func(m map[string]any) { m["recipients"] = []string{"hmrc"} }))
	waitStatus(t, hmrc, "/v1/records/"+id, http.StatusOK)

	setClocks(day(2027, 6, 5))
	if rec, hdr := readRecord(t, hmrc, id); hdr != "overdue; due=2027-06-01" || !strings.HasSuffix(rec.Handling.Banner, overdueWarning) {
		t.Fatalf("peer copy before the review: %q %q", hdr, rec.Handling.Banner)
	}
	r := officerAt(t, f.Host("met-police"), "met-police", "ds-41").MustDo("POST", "/v1/records/"+id+"/review",
		api.ReviewRequest{Decision: "retain", ReviewDue: "2027-12-01", Justification: "subject still active in OP-NIGHTJAR"})
	if r.Status != http.StatusOK {
		t.Fatalf("retain: %d %s", r.Status, r.Body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, hdr := readRecord(t, hmrc, id)
		if rec.Version == 2 && rec.Meta.ReviewDue == "2027-12-01" && hdr == "ok; due=2027-12-01" && !strings.Contains(rec.Handling.Banner, "Review overdue") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer copy after the retain: v%d %s %q %q", rec.Version, rec.Meta.ReviewDue, hdr, rec.Handling.Banner)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
