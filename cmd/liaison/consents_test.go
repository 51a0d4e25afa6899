package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestConsentsCLIShowsDuplicatesRepeatsAndReasons: `records share` says
// when a request is already pending and why consent is needed; after a
// refusal, the re-filed request shows as a repeat in `records share` and
// in `consents list`.
func TestConsentsCLIShowsDuplicatesRepeatsAndReasons(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	dir := t.TempDir()
	met, rocu := profileFor(t, env, dir, "met-police"), profileFor(t, env, dir, "rocu-nw")
	out, err := runCLI(t, "records", "put", "--profile", met, "--file", filepath.Join("..", "..", "deploy", "examples", "record.json"), "-o", "json")
	var put api.Published
	if err != nil || api.Decode([]byte(out), &put) != nil {
		t.Fatalf("put: %v %s", err, out)
	}
	share := func() string {
		t.Helper()
		out, err := runCLI(t, "records", "share", "--profile", rocu, "--purpose", "investigation", "--justification", "OP-NIGHTJAR tasking",
			put.ID, "--to", "nca", "-o", "text")
		if err != nil {
			t.Fatalf("share: %v %s", err, out)
		}
		return out
	}
	first := share()
	m := regexp.MustCompile(`consent requested: (con_[0-9a-z]+)`).FindStringSubmatch(first)
	if m == nil || !strings.Contains(first, "why: originator_consent_required: ") {
		t.Fatalf("first share output:\n%s", first)
	}
	cid := m[1]
	if again := share(); !strings.Contains(again, "consent already requested: "+cid+" is pending") || !strings.Contains(again, "why: originator_consent_required") {
		t.Fatalf("duplicate share output:\n%s", again)
	}
	if out, err := runCLI(t, "consents", "refuse", "--profile", met, cid, "-o", "text"); err != nil || !strings.Contains(out, "refused") {
		t.Fatalf("refuse: %v %s", err, out)
	}
	refiled := share()
	if !strings.Contains(refiled, "repeat: the originator refused this request 1 time(s) before: "+cid+" on ") {
		t.Fatalf("re-filed share output:\n%s", refiled)
	}
	out, err = runCLI(t, "consents", "list", "--profile", met, "-o", "text")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !strings.Contains(out, "REPEAT") || !strings.Contains(out, "refused 1x") || !strings.Contains(out, "repeat of refused: "+cid) ||
		!strings.Contains(out, "why: originator_consent_required: ") {
		t.Fatalf("consents list output:\n%s", out)
	}
	out, err = runCLI(t, "consents", "list", "--profile", met, "-o", "json")
	var page api.ConsentList
	if err != nil || api.Decode([]byte(out), &page) != nil || len(page.Items) != 1 || len(page.Items[0].PreviousRefusals) != 1 ||
		len(page.Items[0].Reasons) == 0 {
		t.Fatalf("consents list json: %v %s", err, out)
	}
}
