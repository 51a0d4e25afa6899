package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// rawResponse is what came back for bytes written straight to a TLS
// connection: Go's client would normalise the request (one header per
// name, escaped query, Content-Type as given) and hide what is under test.
type rawResponse = gatewaytest.RawResponse

// rawDo writes one HTTP/1.1 request, exactly as given (head lines without
// CRLF; Host and Connection: close are added), on a connection
// authenticated as agency, and reads the answer.
func rawDo(t *testing.T, env *gatewaytest.Env, agency string, head []string, body []byte) rawResponse {
	t.Helper()
	var req bytes.Buffer
	req.WriteString(head[0] + "\r\nHost: localhost\r\nConnection: close\r\n")
	for _, h := range head[1:] {
		req.WriteString(h + "\r\n")
	}
	if body != nil {
		fmt.Fprintf(&req, "Content-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n")
	req.Write(body)
	r, err := env.Raw(agency, req.Bytes())
	if err != nil {
		t.Fatalf("raw request: %v", err)
	}
	return *r
}

// wantProblem checks status and that the body is an RFC 9457 problem.
func wantProblem(t *testing.T, what string, r rawResponse, status int) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: content type %q: %s", what, ct, r.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(r.Body, &p); err != nil || p["status"] != float64(status) {
		t.Fatalf("%s: not a problem document: %s", what, r.Body)
	}
	return p
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// snapshot is everything a request could have changed: every stored
// object with its bytes, and the audit entries of successful requests.
func snapshot(t *testing.T, env *gatewaytest.Env) (objects map[string]string, okEntries int) {
	t.Helper()
	objects = map[string]string{}
	for _, f := range storeFiles(t, env) {
		b, err := os.ReadFile(filepath.Join(env.Cfg.Store.FS.Dir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		objects[f] = string(b)
	}
	for _, e := range env.Audit() {
		if e.Status < 400 {
			okEntries++
		}
	}
	return objects, okEntries
}

func wantUnchanged(t *testing.T, env *gatewaytest.Env, objects map[string]string, ok int) {
	t.Helper()
	now, nowOK := snapshot(t, env)
	if len(now) != len(objects) {
		t.Fatalf("the store changed: %d objects, was %d", len(now), len(objects))
	}
	for k, v := range objects {
		if now[k] != v {
			t.Fatalf("stored object %s changed", k)
		}
	}
	if nowOK != ok {
		t.Fatalf("%d audit entries of successful requests, was %d", nowOK, ok)
	}
}

// startStrict starts a gateway whose index entries are written before a
// publish returns, so that a snapshot of the store taken afterwards is
// not overtaken by a lingering index write.
func startStrict(t *testing.T, dir string) *gatewaytest.Env {
	return gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
}

const jsonCT = "Content-Type: application/json"

// TestTrailingJSONRefused: issue 9 item 16. A body with data after its JSON
// value (a stray '}' or ']' used to pass: the decoder stopped at the first
// value's end) is 400 problem+json, and nothing changes: no new record
// version, no disclosure or consultation in the audit log.
func TestTrailingJSONRefused(t *testing.T) {
	env := startStrict(t, "")
	id := publish(t, env.Client("met-police"), recordBody())
	so := env.OfficerToken("met-police", jose.Officer{ID: "so-1", Clearance: "SC", Roles: []string{"security_officer"}}, time.Hour)
	objects, ok := snapshot(t, env)
	for _, tc := range []struct{ name, path, body string }{
		{"share, extra brace", "/v1/records/" + id + "/shares", `{"recipients":["hmrc"]}}`},
		{"share, extra bracket", "/v1/records/" + id + "/shares", `{"recipients":["hmrc"]}]`},
		{"share, second object", "/v1/records/" + id + "/shares", `{"recipients":["hmrc"]} {"recipients":["nca"]}`},
		{"share, duplicate member", "/v1/records/" + id + "/shares", `{"recipients":["nca"],"recipients":["hmrc"]}`},
		{"decisions, extra brace", "/v1/decisions", `{"input":{"action":"record.read"}}}`},
		{"decisions, extra bracket", "/v1/decisions", `{"input":{"action":"record.read"}}]`},
		{"publish, extra brace", "/v1/records", string(mustJSON(t, recordBody())) + "}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawDo(t, env, "met-police", []string{"POST " + tc.path + " HTTP/1.1", jsonCT, "Authorization: Bearer " + so}, []byte(tc.body))
			wantProblem(t, tc.name, r, http.StatusBadRequest)
		})
	}
	wantUnchanged(t, env, objects, ok)
	// The same share, well-formed, is acted on (the refusals were not about something else).
	r := rawDo(t, env, "met-police", []string{"POST /v1/records/" + id + "/shares HTTP/1.1", jsonCT}, []byte(`{"recipients":["hmrc"]}`))
	if r.Status != 200 {
		t.Fatalf("well-formed share: %d %s", r.Status, r.Body)
	}
}

// TestInvalidUnicodeRefused: issue 9 item 17. Raw bytes that are not UTF-8
// and escapes of unpaired surrogates, in content or metadata, are 400 with
// the JSON Pointer of the offending string; nothing is stored, and a
// listing stays valid JSON.
func TestInvalidUnicodeRefused(t *testing.T) {
	env := startStrict(t, "")
	publish(t, env.Client("met-police"), recordBody())
	valid := string(mustJSON(t, recordBody()))
	objects, ok := snapshot(t, env)
	for _, tc := range []struct{ name, from, to, ptr string }{
		{"lone high surrogate in content", `"summary":`, `"alias":"\ud800","summary":`, "/content/alias"},
		{"lone low surrogate in content", `"summary":`, `"alias":"x\udc00y","summary":`, "/content/alias"},
		{"raw 0xff in content", `"summary":`, "\"alias\":\"\xff\xfe\",\"summary\":", "/content/alias"},
		{"UTF-8-encoded surrogate in content", `"summary":`, "\"alias\":\"\xed\xa0\x80\",\"summary\":", "/content/alias"},
		{"nested content", `"summary":`, `"subject":{"names":["ok","\ud83d"]},"summary":`, "/content/subject/names/1"},
		{"surrogate in meta tags", `"tlp":`, `"tags":{"operation":"OP-\udfff"},"tlp":`, "/meta/tags/operation"},
		{"raw bytes in a meta string", `"review_due":`, "\"source_type\":\"\xc3\x28\",\"review_due\":", "/meta/source_type"},
		{"invalid member name", `"summary":`, "\"\xff\":1,\"summary\":", "/content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(valid, tc.from, tc.to, 1)
			if body == valid {
				t.Fatal("fixture did not change")
			}
			r := rawDo(t, env, "met-police", []string{"POST /v1/records HTTP/1.1", jsonCT}, []byte(body))
			p := wantProblem(t, tc.name, r, http.StatusBadRequest)
			errs, _ := p["errors"].([]any)
			if len(errs) == 0 || errs[0].(map[string]any)["pointer"] != tc.ptr {
				t.Fatalf("error does not name %s: %s", tc.ptr, r.Body)
			}
		})
	}
	// Shares and the dry run take the same rule.
	so := env.OfficerToken("met-police", jose.Officer{ID: "so-1", Clearance: "SC", Roles: []string{"security_officer"}}, time.Hour)
	r := rawDo(t, env, "met-police", []string{"POST /v1/decisions HTTP/1.1", jsonCT, "Authorization: Bearer " + so}, []byte(`{"input":{"action":"\ud800"}}`))
	wantProblem(t, "decisions", r, http.StatusBadRequest)
	wantUnchanged(t, env, objects, ok)
	l := env.Client("rocu-nw").MustDo("GET", "/v1/records", nil)
	if l.Status != 200 || !json.Valid(l.Body) {
		t.Fatalf("listing: %d %s", l.Status, l.Body)
	}
}

// TestMalformedQueryAndForgedCursors: issue 9 item 18. A query string
// net/url cannot parse strictly, a repeated parameter, and any cursor this
// gateway did not issue to this agency are 400; they used to fall back to
// the first page.
func TestMalformedQueryAndForgedCursors(t *testing.T) {
	dir := t.TempDir()
	env := startStrict(t, dir)
	met := env.Client("met-police")
	for range 3 {
		publish(t, met, recordBody())
	}
	rocu := env.Client("rocu-nw")
	first := rocu.MustDo("GET", "/v1/records?limit=1", nil)
	cursor, _ := first.JSON["next_cursor"].(string)
	if first.Status != 200 || cursor == "" {
		t.Fatalf("first page: %d %s", first.Status, first.Body)
	}
	// Malformed query strings, whatever the cursor.
	for _, tc := range []struct{ name, query string }{
		{"bad escape", "cursor=%zz"},
		{"bad escape in limit", "limit=%4"},
		{"semicolon separator", "limit=1;cursor=x"},
		{"semicolon only", "limit=1;"},
		{"repeated limit", "limit=1&limit=2"},
		{"repeated cursor", "cursor=" + url.QueryEscape(cursor) + "&cursor=" + url.QueryEscape(cursor)},
		{"unknown parameter", "limit=1&offset=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawDo(t, env, "rocu-nw", []string{"GET /v1/records?" + tc.query + " HTTP/1.1"}, nil)
			wantProblem(t, tc.name, r, http.StatusBadRequest)
		})
	}
	parts := strings.Split(cursor, ".")
	if len(parts) != 2 {
		t.Fatalf("cursor %q is not <id>.<mac>", cursor)
	}
	// Another record id, with the old MAC.
	altered := parts[0][:len(parts[0])-1] + string("0123456789abcdefghjkmnpqrstvwxyz"[(strings.IndexByte("0123456789abcdefghjkmnpqrstvwxyz", parts[0][len(parts[0])-1])+1)%32]) + "." + parts[1]
	for _, tc := range []struct{ name, query string }{
		{"bare record id", "cursor=" + parts[0]},
		{"forged MAC", "cursor=" + parts[0] + ".AAAAAAAAAAAAAAAAAAAAAA"},
		{"altered position", "cursor=" + url.QueryEscape(altered)},
		{"truncated MAC", "cursor=" + url.QueryEscape(cursor[:len(cursor)-1])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawDo(t, env, "rocu-nw", []string{"GET /v1/records?" + tc.query + " HTTP/1.1"}, nil)
			wantProblem(t, tc.name, r, http.StatusBadRequest)
		})
	}
	t.Run("another agency's cursor", func(t *testing.T) {
		// met-police reads its own records: a cursor issued to it is not valid for rocu-nw, and vice versa.
		r := rawDo(t, env, "met-police", []string{"GET /v1/records?cursor=" + url.QueryEscape(cursor) + " HTTP/1.1"}, nil)
		wantProblem(t, "cursor of rocu-nw used by met-police", r, http.StatusBadRequest)
	})
	// The genuine cursor works, also after a restart (its key is derived
	// from the signing key, which the restart keeps).
	if r := rawDo(t, env, "rocu-nw", []string{"GET /v1/records?limit=1&cursor=" + url.QueryEscape(cursor) + " HTTP/1.1"}, nil); r.Status != 200 {
		t.Fatalf("genuine cursor: %d %s", r.Status, r.Body)
	}
	env.Stop()
	env2 := startStrict(t, dir)
	r := env2.Client("rocu-nw").MustDo("GET", "/v1/records?limit=1&cursor="+url.QueryEscape(cursor), nil)
	if r.Status != 200 {
		t.Fatalf("cursor after restart: %d %s", r.Status, r.Body)
	}
	if items, _ := r.JSON["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] == first.JSON["items"].([]any)[0].(map[string]any)["id"] {
		t.Fatalf("cursor after restart did not resume: %s", r.Body)
	}
}

// TestContentTypeEnforced: issue 9 item 19. Endpoints that take a JSON
// body answer 415 problem+json to any other declared type, or none.
func TestContentTypeEnforced(t *testing.T) {
	env := startStrict(t, "")
	id := publish(t, env.Client("met-police"), recordBody())
	so := env.OfficerToken("met-police", jose.Officer{ID: "so-1", Clearance: "SC", Roles: []string{"security_officer"}}, time.Hour)
	objects, ok := snapshot(t, env)
	bodies := map[string][]byte{
		"/v1/records":                   mustJSON(t, recordBody()),
		"/v1/records/" + id + "/shares": []byte(`{"recipients":["hmrc"]}`),
		"/v1/decisions":                 []byte(`{"input":{"action":"record.read"}}`),
	}
	for path, body := range bodies {
		for _, ct := range []string{"", "Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded",
			"Content-Type: multipart/form-data; boundary=x", "Content-Type: application/json; charset=latin1",
			"Content-Type: application/json; charset=utf-8; x=1", "Content-Type: application/merge-patch+json",
			"Content-Type: application/jsonx", "Content-Type: application/json\r\nContent-Type: application/json"} {
			head := []string{"POST " + path + " HTTP/1.1", "Authorization: Bearer " + so}
			if ct != "" {
				head = append(head, ct)
			}
			r := rawDo(t, env, "met-police", head, body)
			wantProblem(t, fmt.Sprintf("%s with %q", path, ct), r, http.StatusUnsupportedMediaType)
		}
	}
	wantUnchanged(t, env, objects, ok)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; Charset=\"UTF-8\""} {
		r := rawDo(t, env, "met-police", []string{"POST /v1/records HTTP/1.1", "Content-Type: " + ct}, bodies["/v1/records"])
		if r.Status != http.StatusCreated {
			t.Fatalf("publish with %q: %d %s", ct, r.Status, r.Body)
		}
	}
}

// TestTwoAuthorizationHeaders: issue 9 item 20. Only the first of two
// Authorization headers used to be read; now the request is refused.
func TestTwoAuthorizationHeaders(t *testing.T) {
	env := startStrict(t, "")
	tok := env.OfficerToken("met-police", jose.Officer{ID: "pc-1", Clearance: "SC"}, time.Hour)
	other := env.OfficerToken("met-police", jose.Officer{ID: "pc-2", Clearance: "DV"}, time.Hour)
	for name, head := range map[string][]string{
		"two tokens":        {"Authorization: Bearer " + tok, "Authorization: Bearer " + other},
		"same token twice":  {"Authorization: Bearer " + tok, "Authorization: Bearer " + tok},
		"token and garbage": {"Authorization: Bearer " + tok, "authorization: Basic Zm9vOmJhcg=="},
	} {
		t.Run(name, func(t *testing.T) {
			r := rawDo(t, env, "met-police", append([]string{"GET /v1/records HTTP/1.1"}, head...), nil)
			wantProblem(t, name, r, http.StatusBadRequest)
		})
	}
	if r := rawDo(t, env, "met-police", []string{"GET /v1/records HTTP/1.1", "Authorization: Bearer " + tok}, nil); r.Status != 200 {
		t.Fatalf("one token: %d %s", r.Status, r.Body)
	}
	// The refusal is audited like any other.
	var found bool
	for _, e := range env.Audit() {
		found = found || e.Agency == "met-police" && e.Status == 400 && e.Operation == audit.OpDenial
	}
	if !found {
		t.Fatal("refusal not audited")
	}
}
