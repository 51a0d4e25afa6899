package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// storeState is every stored object and a digest of its bytes: a request
// that changes nothing leaves it equal (a share rewrites an object in place,
// so names alone would not show it).
func storeState(t *testing.T, env *gatewaytest.Env) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := env.Cfg.Store.FS.Dir
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "~") {
			return fs.SkipDir // the store's own write locks and temporary files, not objects
		}
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rawCase is one hostile request of the bad-input corpus.
type rawCase struct {
	class, name string
	agency      string // "" = no client certificate
	method      string
	target      string
	headers     []string
	body        []byte
	raw         []byte // the whole request, when the builder cannot express it
}

// TestRawHTTPBadInputCorpus sends the outside testers' classes of bad input
// as raw HTTP/1.1 bytes (Go's client would normalise most of them away) and
// requires, for every case: a 4xx answer, rendered as problem+json, and an
// unchanged store. It logs the tally the issue asks for.
func TestRawHTTPBadInputCorpus(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	so := env.OfficerToken("met-police", jose.Officer{ID: "so-1", Clearance: "SC", Roles: []string{"policy_admin"}}, time.Hour)
	dpo := env.OfficerToken("met-police", jose.Officer{ID: "dpo-1", Clearance: "SC", Roles: []string{"dpo"}}, time.Hour)
	valid, _ := json.Marshal(recordBody())
	ctJSON := "Content-Type: application/json"
	ctx := []string{"Liaison-Purpose: investigation", "Liaison-Justification: corpus run"}

	var cases []rawCase
	add := func(c rawCase) {
		if c.agency == "" && c.class != "tls" {
			c.agency = "met-police"
		}
		cases = append(cases, c)
	}
	// Bodies: malformed JSON, trailing data, invalid UTF-8, on every JSON endpoint.
	bodies := map[string][]byte{
		"trailing brace":        nil, // filled per endpoint below
		"trailing bracket":      nil,
		"second value":          nil,
		"trailing garbage":      nil,
		"truncated":             []byte(`{"meta": {`),
		"empty":                 []byte(``),
		"not json":              []byte(`hello`),
		"array not object":      []byte(`[]`),
		"deep nesting":          []byte(strings.Repeat("[", 100000) + strings.Repeat("]", 100000)),
		"raw invalid utf-8":     nil,
		"lone surrogate escape": nil,
		"NUL byte":              []byte("{\"recipients\":[\"rocu-nw\x00\"]}"),
	}
	endpoints := []struct {
		path, token string
		valid       []byte
	}{
		{"/v1/records", "", valid},
		{"/v1/records/" + id + "/shares", "", []byte(`{"recipients":["nca"]}`)},
		{"/v1/decisions", so, []byte(`{"input":{"action":"record.read"}}`)},
	}
	for _, ep := range endpoints {
		for name, b := range bodies {
			switch name {
			case "trailing brace":
				b = append(append([]byte{}, ep.valid...), '}')
			case "trailing bracket":
				b = append(append([]byte{}, ep.valid...), ']')
			case "second value":
				b = append(append([]byte{}, ep.valid...), ep.valid...)
			case "trailing garbage":
				b = append(append([]byte{}, ep.valid...), []byte(" x")...)
			case "raw invalid utf-8":
				b = []byte(strings.Replace(string(ep.valid), `"`, "\"\xff\xfe", 2))
			case "lone surrogate escape":
				b = []byte(strings.Replace(string(ep.valid), `"`, `"\ud800`, 2))
			}
			h := append([]string{ctJSON}, ctx...)
			if ep.token != "" {
				h = append(h, "Authorization: Bearer "+ep.token)
			}
			add(rawCase{class: "body", name: ep.path + " " + name, method: "POST", target: ep.path, headers: h, body: b})
		}
		for _, ct := range []string{"", "Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded", "Content-Type: multipart/form-data; boundary=x", "Content-Type: application/xml"} {
			h := append([]string{}, ctx...)
			if ct != "" {
				h = append(h, ct)
			}
			if ep.token != "" {
				h = append(h, "Authorization: Bearer "+ep.token)
			}
			add(rawCase{class: "content-type", name: ep.path + " " + ct, method: "POST", target: ep.path, headers: h, body: ep.valid})
		}
	}
	// Invalid UTF-8 and surrogates inside content and metadata of a publish.
	for name, b := range map[string]string{
		"content invalid utf-8":  strings.Replace(string(valid), "Salford", "Salf\xc3\x28rd", 1),
		"content lone surrogate": strings.Replace(string(valid), "Salford", `Salf\udc00rd`, 1),
		"meta invalid utf-8":     strings.Replace(string(valid), fixtureReviewDue, fixtureReviewDue+"\xed\xa0\x80", 1),
		"meta lone surrogate":    strings.Replace(string(valid), `"fact"`, `"fa\ud83dct"`, 1),
	} {
		add(rawCase{class: "utf-8", name: name, method: "POST", target: "/v1/records", headers: append([]string{ctJSON}, ctx...), body: []byte(b)})
	}
	// Queries.
	for _, q := range []string{"cursor=%zz", "limit=1;cursor=x", "cursor=" + strings.Repeat("A", 43), "cursor=eyJhZnRlciI6InJlY18wMSJ9", "limit=-1", "limit=abc", "limit=100000", "limit=1&limit=2", "colour=red", "%"} {
		add(rawCase{class: "query", name: q, method: "GET", target: "/v1/records?" + q, headers: ctx})
	}
	for _, q := range []string{"from=yesterday", "limit=0", "record=%00", "operation=" + strings.Repeat("x", 300), "record=%zz", "limit=1;record=x", "limit=1&limit=2", "colour=red", "outcome=DENIED", "outcome=allowed&outcome=denied"} {
		add(rawCase{class: "query", name: "audit " + q, method: "GET", target: "/v1/audit?" + q, headers: []string{"Authorization: Bearer " + dpo}})
	}
	for _, q := range []string{"state=%zz", "state=pending;state=all", "state=pending&state=all", "state=maybe", "colour=red"} {
		add(rawCase{class: "query", name: "consents " + q, method: "GET", target: "/v1/consents?" + q, headers: ctx})
	}
	// Officer tokens and context headers.
	for name, h := range map[string][]string{
		"two Authorization headers":   {"Authorization: Bearer " + dpo, "Authorization: Bearer " + so},
		"empty bearer":                {"Authorization: Bearer "},
		"basic auth":                  {"Authorization: Basic YTpi"},
		"garbage token":               {"Authorization: Bearer a.b.c"},
		"purpose not a code":          {"Liaison-Purpose: Investigation; DROP"},
		"purpose 60 KB":               {"Liaison-Purpose: " + strings.Repeat("x", 60<<10) + "!"},
		"justification U+0085":        {"Liaison-Justification: a\u0085b"},
		"justification U+2028":        {"Liaison-Justification: a\u2028b"},
		"justification RLO":           {"Liaison-Justification: a\u202eb"},
		"justification too long":      {"Liaison-Justification: " + strings.Repeat("j", 1025)},
		"case with spaces":            {"Liaison-Case: OP NIGHT"},
		"justification invalid utf-8": {"Liaison-Justification: a\xffb"},
	} {
		add(rawCase{class: "headers", name: name, method: "GET", target: "/v1/records", headers: h})
	}
	// Paths and methods.
	for _, p := range []string{"/v1/records/../audit", "/v1//records", "/./v1/records", "/v1/records/%2e%2e", "/v1/records/" + id + "/..", "/v1/records/rec_..", "/v1/records/%00"} {
		add(rawCase{class: "path", name: p, method: "GET", target: p, headers: ctx})
	}
	for _, m := range []string{"PUT", "PATCH", "TRACE", "BREW"} {
		add(rawCase{class: "method", name: m, method: m, target: "/v1/records", headers: ctx})
	}
	// What net/http parses before any handler: header bytes and size.
	add(rawCase{class: "wire", name: "NUL in a header value", raw: []byte("GET /v1/records HTTP/1.1\r\nHost: localhost\r\nLiaison-Case: a\x00b\r\nConnection: close\r\n\r\n")})
	add(rawCase{class: "wire", name: "ESC in a header value", raw: []byte("GET /v1/records HTTP/1.1\r\nHost: localhost\r\nLiaison-Case: a\x1bb\r\nConnection: close\r\n\r\n")})
	add(rawCase{class: "wire", name: "oversized headers", raw: []byte("GET /v1/records HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("b", 2<<20) + "\r\nConnection: close\r\n\r\n")})
	add(rawCase{class: "wire", name: "space in header name", raw: []byte("GET /v1/records HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\nConnection: close\r\n\r\n")})

	before := storeState(t, env)
	tally := map[string][3]int{} // class → tried, 4xx, 4xx problem+json
	var notProblem []string
	for _, c := range cases {
		req := c.raw
		if req == nil {
			req = env.RawRequest(c.method, c.target, c.headers, c.body)
		}
		r, err := env.Raw(c.agency, req)
		n := tally[c.class]
		n[0]++
		if err != nil {
			t.Errorf("%s/%s: no answer: %v", c.class, c.name, err)
			tally[c.class] = n
			continue
		}
		if r.Status < 400 || r.Status > 499 {
			t.Errorf("%s/%s: status %d, want 4xx: %.200s", c.class, c.name, r.Status, r.Body)
		} else {
			n[1]++
			if r.Header.Get("Content-Type") == "application/problem+json" && json.Valid(r.Body) {
				n[2]++
			} else {
				notProblem = append(notProblem, c.class+"/"+c.name)
			}
		}
		tally[c.class] = n
	}
	total := [3]int{}
	for class, n := range tally {
		t.Logf("%-13s tried %3d  4xx %3d  problem+json %3d", class, n[0], n[1], n[2])
		for i := range total {
			total[i] += n[i]
		}
	}
	t.Logf("%-13s tried %3d  4xx %3d  problem+json %3d", "all", total[0], total[1], total[2])
	for _, n := range notProblem {
		t.Errorf("not answered with problem+json: %s", n)
	}
	after := storeState(t, env)
	changed := 0
	for k, v := range after {
		if before[k] != v {
			changed++
			t.Errorf("bad input changed the store: %s", k)
		}
	}
	t.Logf("store objects changed or added by the corpus: %d", changed)
}
