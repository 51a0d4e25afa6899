package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// The listing asks the gateway for exactly the caller's overdue records;
// it never filters a full listing itself.
func TestOverdueQuery(t *testing.T) {
	if got := overdueQuery("met-police", 50, ""); got != "/v1/records?limit=50&originator=met-police&review=overdue" {
		t.Fatalf("query: %s", got)
	}
	if got := overdueQuery("met-police", 10, "abc.def"); got != "/v1/records?cursor=abc.def&limit=10&originator=met-police&review=overdue" {
		t.Fatalf("query with cursor: %s", got)
	}
}

func TestReviewFlagsCheckedBeforeSending(t *testing.T) {
	for _, c := range []struct {
		retain  string
		dispose bool
		just    string
		want    string
	}{
		{"", false, "still needed", "--retain-until YYYY-MM-DD or --dispose"},
		{"2027-01-01", true, "still needed", "not both"},
		{"2027-01-01", false, "", "--justification"},
		{"next year", false, "still needed", "not a date"},
	} {
		if _, err := reviewRequest(c.retain, c.dispose, c.just); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	if r, err := reviewRequest("2027-01-01", false, "still needed"); err != nil || r != (api.ReviewRequest{Decision: "retain", ReviewDue: "2027-01-01", Justification: "still needed"}) {
		t.Fatalf("retain: %+v %v", r, err)
	}
}

func TestReviewCLI(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	dir := t.TempDir()
	met := profileFor(t, env, dir, "met-police")
	// Dates relative to today: the officer token `dev token` issues is
	// valid from the real time, so the gateway's clock only moves ahead.
	today := time.Now().UTC()
	due := today.AddDate(0, 0, 10).Format(time.DateOnly)
	example, err := os.ReadFile("../../deploy/examples/record.json")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "record.json")
	if err := os.WriteFile(file, bytes.Replace(example, []byte(`"review_due": "2030-12-31"`), []byte(`"review_due": "`+due+`"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	publishOne := func() string {
		out, err := runCLI(t, "records", "put", "--profile", met, "--file", file, "-o", "json")
		var put api.Published
		if err != nil || api.Decode([]byte(out), &put) != nil {
			t.Fatalf("put: %v %s", err, out)
		}
		return put.ID
	}
	keep, drop := publishOne(), publishOne()
	env.SetClock(today.AddDate(0, 0, 20)) // the review date has passed
	next := today.AddDate(0, 0, 100).Format(time.DateOnly)
	tok, err := runCLI(t, "dev", "token", "--profile", met, "--officer", "ds-41", "--clearance", "SC", "--ttl", "100000h")
	if err != nil {
		t.Fatalf("dev token: %v", err)
	}
	tok = strings.TrimSpace(tok)

	// Without an officer the policy refuses; the CLI exits non-zero with
	// the problem.
	out, err := runCLI(t, "records", "review", "--profile", met, keep, "--retain-until", next, "--justification", "subject still active", "-o", "json")
	if _, ok := err.(exitError); !ok || !strings.Contains(out, "review_officer_required") {
		t.Fatalf("review without an officer: %v %s", err, out)
	}
	out, err = runCLI(t, "records", "review", "--profile", met, "--token", tok, keep, "--retain-until", next, "--justification", "subject still active", "-o", "json")
	var kept api.Reviewed
	if err != nil || api.Decode([]byte(out), &kept) != nil || kept.Version != 2 || kept.Review == nil || kept.Review.Due != next || kept.PreviousDue != due {
		t.Fatalf("retain: %v %s", err, out)
	}
	out, err = runCLI(t, "records", "review", "--profile", met, "--token", tok, drop, "--dispose", "--justification", "case closed, not needed", "-o", "text")
	if err != nil || !strings.Contains(out, "disposed of "+drop+" (recalled; review was due "+due+")") {
		t.Fatalf("dispose: %v %s", err, out)
	}
	out, err = runCLI(t, "records", "get", "--profile", met, drop, "-o", "json")
	if err == nil || !strings.Contains(out, `"status":410`) {
		t.Fatalf("get after dispose: %v %s", err, out)
	}
}
