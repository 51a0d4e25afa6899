package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/search"
)

// TestRequestsCLI: the searcher files with a hit reference; the holder sees
// it in its queue, asks for detail, gets it, and shares; another request is
// withdrawn; an overdue one shows as OVERDUE to both — text and -o json.
func TestRequestsCLI(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	t0 := time.Now().UTC().Truncate(time.Second)
	env.SetClock(t0)
	dir := t.TempDir()
	met, nca := profileFor(t, env, dir, "met-police"), profileFor(t, env, dir, "nca")
	out, err := runCLI(t, "records", "put", "--profile", met, "--file", filepath.Join("..", "..", "deploy", "examples", "record.json"), "-o", "json")
	var put api.Published
	if err != nil || api.Decode([]byte(out), &put) != nil {
		t.Fatalf("put: %v %s", err, out)
	}
	ref, err := env.GW.SealHitRef(search.Ref{RecordID: put.ID, Holder: "met-police", DSA: "dsa-uk-soc", Searcher: "nca", Issued: t0.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	file := func(extra ...string) api.InfoRequest {
		t.Helper()
		args := append([]string{"requests", "file", "--profile", nca, "--reference", ref, "--purpose", "investigation",
			"--justification", "phone number hit, OP-KINGFISHER", "--case", "OP-KINGFISHER", "-o", "json"}, extra...)
		out, err := runCLI(t, args...)
		var r api.InfoRequest
		if err != nil || api.Decode([]byte(out), &r) != nil {
			t.Fatalf("file: %v %s", err, out)
		}
		if strings.Contains(out, put.ID) {
			t.Fatalf("the requester was told the record id: %s", out)
		}
		return r
	}
	if out, err := runCLI(t, "requests", "file", "--profile", nca, "--reference", ref, "--purpose", "investigation",
		"--justification", "phone number hit", "--case", "OP-K"); err == nil || !strings.Contains(out+err.Error(), "--access") {
		t.Fatalf("file without --access: %v %s", err, out)
	}
	urgent := file("--urgency", "urgent", "--access", "direct", "--detail", "subscriber details")
	if urgent.DeadlineHours != 8 || urgent.State != "open" {
		t.Fatalf("urgent: %+v", urgent)
	}
	other := file("--access", "indirect")

	out, err = runCLI(t, "requests", "list", "--profile", met, "--role", "holder", "-o", "text")
	if err != nil || !strings.Contains(out, urgent.ID) || !strings.Contains(out, other.ID) || !strings.Contains(out, "holder") {
		t.Fatalf("holder queue: %v\n%s", err, out)
	}
	out, err = runCLI(t, "requests", "answer", urgent.ID, "--profile", met, "--need-detail", "Which dates?", "-o", "text")
	if err != nil || !strings.Contains(out, "NEEDS_DETAIL") || !strings.Contains(out, "clock stopped") || !strings.Contains(out, put.ID) {
		t.Fatalf("need-detail: %v\n%s", err, out)
	}
	out, err = runCLI(t, "requests", "detail", urgent.ID, "--profile", nca, "--text", "March and April 2026", "-o", "text")
	if err != nil || !strings.Contains(out, "OPEN") || !strings.Contains(out, "March and April 2026") {
		t.Fatalf("detail: %v\n%s", err, out)
	}
	out, err = runCLI(t, "requests", "answer", urgent.ID, "--profile", met, "--share", "--refuse", "x")
	if err == nil {
		t.Fatalf("two answers at once accepted: %s", out)
	}
	out, err = runCLI(t, "requests", "answer", urgent.ID, "--profile", met, "--share", "-o", "text")
	if err != nil || !strings.Contains(out, "ANSWERED") || !strings.Contains(out, "shared as version 2") {
		t.Fatalf("share: %v\n%s", err, out)
	}
	// Shared: the requester is a recipient now, and its view names the record.
	out, err = runCLI(t, "requests", "show", urgent.ID, "--profile", nca, "-o", "text")
	if err != nil || !strings.Contains(out, "ANSWERED") || !strings.Contains(out, put.ID) || !strings.Contains(out, "reference hit_") {
		t.Fatalf("requester's show: %v\n%s", err, out)
	}
	// The other request runs out (168 h): OVERDUE for both.
	env.SetClock(t0.Add(169 * time.Hour))
	for _, p := range []string{met, nca} {
		out, err = runCLI(t, "requests", "list", "--profile", p, "--overdue", "-o", "text")
		if err != nil || !strings.Contains(out, other.ID) || !strings.Contains(out, "OVERDUE") || strings.Contains(out, urgent.ID) {
			t.Fatalf("overdue list for %s: %v\n%s", p, err, out)
		}
	}
	out, err = runCLI(t, "requests", "withdraw", other.ID, "--profile", nca, "-o", "json")
	var w api.InfoRequest
	if err != nil || api.Decode([]byte(out), &w) != nil || w.State != "withdrawn" || w.Overdue {
		t.Fatalf("withdraw: %v %s", err, out)
	}
	out, err = runCLI(t, "requests", "list", "--profile", nca, "--role", "requester", "-o", "json")
	var page api.InfoRequestList
	if err != nil || api.Decode([]byte(out), &page) != nil || len(page.Items) != 2 {
		t.Fatalf("requester list json: %v %s", err, out)
	}
}
