package main

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/policy"
)

// TestClientRefusesMalformedAnswers: a gateway (or a proxy in front of
// it) that answers with something other than the documented body makes
// the command fail with an error naming the request and what is wrong,
// and prints nothing on standard output, not even with -o json: a script
// reading the output never takes a malformed answer, or zero values
// decoded from one, for the gateway's word.
func TestClientRefusesMalformedAnswers(t *testing.T) {
	fed, err := pki.EnsureDevFederation(t.TempDir(), pki.DevOptions{Agencies: []string{"met-police"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(fed.GatewayCertFile, fed.GatewayKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status      int
		contentType string
		body        string
	}
	answers := map[string]answer{} // by "METHOD path"
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			http.Error(w, "unexpected", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", a.contentType)
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn := []string{"--endpoint", "https://localhost:" + u.Port(), "--cert", fed.AgencyCertFile("met-police"),
		"--key", fed.AgencyKeyFile("met-police"), "--ca", fed.CAFile, "-o", "json"}
	record := filepath.Join(t.TempDir(), "record.json")
	if err := os.WriteFile(record, []byte(`{"meta": {}, "content": {"a": 1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	const js, problemJS, html = "application/json", "application/problem+json", "text/html"
	for _, c := range []struct {
		name   string
		route  string
		answer answer
		args   []string
		want   string // in the error
	}{
		{"publish answer without its members", "POST /v1/records", answer{201, js, `{"id":"rec_x"}`},
			[]string{"records", "put", "--file", record}, `POST /v1/records: the gateway answered 201 with a malformed publish answer: missing "version"`},
		{"record that is not JSON", "GET /v1/records/rec_x", answer{200, html, `<html>ok</html>`},
			[]string{"records", "get", "rec_x"}, "malformed record: not JSON"},
		{"record whose content is not an object", "GET /v1/records/rec_x", answer{200, js, `{"id":"rec_x","content":"secret","decision_id":"dec_x"}`},
			[]string{"records", "get", "rec_x"}, `"content" is not a JSON object`},
		{"listing with items of the wrong type", "GET /v1/records", answer{200, js, `{"items":{"id":"rec_x"},"next_cursor":""}`},
			[]string{"records", "list"}, `malformed record list: field "items" is not a []api.RecordListItem`},
		{"recall answer cut short", "DELETE /v1/records/rec_x", answer{200, js, `{"id":"rec_x","sta`},
			[]string{"records", "recall", "rec_x"}, "malformed recall answer: not JSON"},
		{"share answered 202 with no consent request", "POST /v1/records/rec_x/shares", answer{202, js, `{}`},
			[]string{"records", "share", "rec_x", "--to", "nca"}, `malformed consent request: missing "consent_id"`},
		{"share answered 200 with data after the body", "POST /v1/records/rec_x/shares", answer{200, js, `{"id":"rec_x","version":2,"recipients":["nca"]} {}`},
			[]string{"records", "share", "rec_x", "--to", "nca"}, "malformed share answer: not JSON"},
		{"consent list with null items", "GET /v1/consents", answer{200, js, `{"items":null}`},
			[]string{"consents", "list"}, `malformed consent list: missing "items"`},
		{"consent decision without a state", "POST /v1/consents/con_x/approve", answer{200, js, `{"consent_id":"con_x"}`},
			[]string{"consents", "approve", "con_x"}, `malformed consent decision: missing "state"`},
		{"dry run without a decision", "POST /v1/decisions", answer{200, js, `{"decision":{}}`},
			[]string{"records", "decide", "--file", record}, `malformed decision: missing "decision.id"`},
		{"error that is not a problem (a proxy's page)", "GET /v1/records/rec_x", answer{502, html, `<html>Bad Gateway</html>`},
			[]string{"records", "get", "rec_x"}, "GET /v1/records/rec_x: the gateway answered 502 Bad Gateway with a body that is not a valid problem: not JSON"},
		{"problem without a title", "GET /v1/records/rec_x", answer{404, problemJS, `{"status":404}`},
			[]string{"records", "get", "rec_x"}, `not a valid problem: missing "title"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			clear(answers)
			answers[c.route] = c.answer
			out, err := runCLI(t, append(c.args, conn...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if _, isExit := err.(exitError); isExit {
				t.Fatalf("a malformed answer must be an error that says so, not a bare exit code")
			}
			if out != "" {
				t.Fatalf("printed %q on a malformed answer", out)
			}
		})
	}

	// A well-formed problem is still printed for machines and exits 1.
	clear(answers)
	answers["GET /v1/records/rec_x"] = answer{404, problemJS, `{"type":"https://liaison.dev/problems/not-found","title":"Not found","status":404}`}
	out, err := runCLI(t, append([]string{"records", "get", "rec_x"}, conn...)...)
	if _, ok := err.(exitError); !ok || !strings.Contains(out, `"status":404`) {
		t.Fatalf("problem: err=%v out=%s", err, out)
	}
}

// TestPrintProblem: a refusal is printed for a person with everything the
// problem says: fields by pointer, public reasons, the ids to quote.
func TestPrintProblem(t *testing.T) {
	var p api.Problem
	body := `{"type":"https://liaison.dev/problems/denied","title":"Forbidden","status":403,"detail":"the policy denied the request",
		"request_id":"req_1","decision_id":"dec_1","reasons":[{"code":"dsa_expired","message":"dsa-uk-soc expired","public":true}],
		"errors":[{"pointer":"/meta/tlp","detail":"not a TLP"},{"pointer":"","detail":"trailing data"}]}`
	if err := api.Decode([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printProblem(&b, 403, &p)
	want := `error: 403 Forbidden: the policy denied the request
  /meta/tlp: not a TLP
  (body): trailing data
  reason dsa_expired: dsa-uk-soc expired
  decision id: dec_1 (the decision in the gateway's audit log)
  request id: req_1
`
	if b.String() != want {
		t.Fatalf("printed\n%s\nwant\n%s", b.String(), want)
	}
}

// TestPrintProblemKeepsTheTerminalSafe: escape sequences and other control
// characters in a gateway's answer never reach the operator's terminal.
func TestPrintProblemKeepsTheTerminalSafe(t *testing.T) {
	p := api.Problem{Title: "Forbidden\x1b[2J", Detail: "denied\r\x1b]0;owned\x07 now\u2028x\u202ey",
		Reasons: []policy.Reason{{Code: "c\x00", Message: "m\x9bA"}}, RequestID: "req_\x1b[1A"}
	var b strings.Builder
	printProblem(&b, 403, &p)
	out := b.String()
	for _, bad := range []string{"\x1b", "\r", "\x07", "\x00", "\x9b", "\u2028", "\u202e"} {
		if strings.Contains(out, bad) {
			t.Fatalf("printed a control character %q: %q", bad, out)
		}
	}
	if !strings.Contains(out, "denied") || !strings.Contains(out, "now") || !strings.Contains(out, "req_") {
		t.Fatalf("the text around the control characters was lost: %q", out)
	}
}
