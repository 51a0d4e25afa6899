package gateway_test

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// entryFor is the (first, uncorrected) audit entry of the request that
// answered r.
func entryFor(t *testing.T, env *gatewaytest.Env, r *gatewaytest.Response) audit.Event {
	t.Helper()
	id := r.Header.Get("Liaison-Request-Id")
	for _, e := range env.Audit() {
		if e.RequestID == id && e.Corrects == 0 {
			return e
		}
	}
	t.Fatalf("no audit entry for request %q (status %d)", id, r.Status)
	return audit.Event{}
}

// TestAuditEntriesCarryRequestFields: every entry names its route and
// method — refusals included, which are written before the handler runs —
// and entries about a record name its controller and its handling codes as
// the policy saw them (issue 9, item 4: the route was always empty and the
// other fields were never set).
func TestAuditEntriesCarryRequestFields(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	pub := met.MustDo("POST", "/v1/records", recordBody())
	if pub.Status != 201 {
		t.Fatalf("publish: %d %s", pub.Status, pub.Body)
	}
	var created api.Published
	if err := api.Decode(pub.Body, &created); err != nil {
		t.Fatalf("publish answer: %s", pub.Body)
	}
	read := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42").MustDo("GET", "/v1/records/"+created.ID, nil)
	if read.Status != 200 {
		t.Fatalf("read: %d %s", read.Status, read.Body)
	}
	refused := met.With(hPurpose, "NOT A PURPOSE").MustDo("GET", "/v1/records", nil)
	unknown := met.MustDo("GET", "/v1/nothing-here", nil)

	cases := []struct {
		name          string
		r             *gatewaytest.Response
		method, route string
		controller    bool
	}{
		{"publish", pub, "POST", "/v1/records", true},
		{"read", read, "GET", "/v1/records/{id}", true},
		{"refused before the handler", refused, "GET", "/v1/records", false},
		{"no such route", unknown, "GET", "other", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := entryFor(t, env, c.r)
			if e.Method != c.method || e.Route != c.route {
				t.Fatalf("method %q route %q, want %q %q", e.Method, e.Route, c.method, c.route)
			}
			if !c.controller {
				return
			}
			if e.ControllerID != "met-police" {
				t.Fatalf("controller %q, want met-police", e.ControllerID)
			}
			var h struct {
				Classification struct {
					Tier string `json:"tier"`
				} `json:"classification"`
				TLP string `json:"tlp"`
			}
			if err := json.Unmarshal(e.Handling, &h); err != nil || h.Classification.Tier == "" || h.TLP == "" {
				t.Fatalf("handling snapshot %s: %v", e.Handling, err)
			}
			if strings.Contains(string(e.Handling), "Salford") {
				t.Fatal("the handling snapshot carries content")
			}
		})
	}
}

// TestRejectedContextHeadersStayOutOfTheLog: a refused Liaison-Purpose is
// not copied into the entry of its own refusal (item 7: a 60 KB header made
// a 60 KB entry), and justifications that could forge or disguise a log
// line when displayed are refused like other control characters.
func TestRejectedContextHeadersStayOutOfTheLog(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")

	huge := strings.Repeat("x", 60<<10) + "!"
	r := met.With(hPurpose, huge, hJust, "fine text").MustDo("GET", "/v1/records", nil)
	if r.Status != 400 {
		t.Fatalf("oversized purpose: %d %s", r.Status, r.Body)
	}
	if e := entryFor(t, env, r); e.Purpose != "" || e.Justification != "" {
		t.Fatalf("a refused purpose reached the log (%d bytes)", len(e.Purpose))
	}

	for name, j := range map[string]string{
		"next line U+0085":           "tasking 42\u0085operation: disclosure",
		"line separator U+2028":      "tasking 42\u2028status: 200",
		"paragraph separator U+2029": "tasking 42\u2029x",
		"right-to-left override":     "tasking \u202e24 gnikset",
		"right-to-left isolate":      "tasking \u206742\u2069",
		"left-to-right mark":         "tasking\u200e 42",
		"zero-width no-break space":  "\ufefftasking 42",
	} {
		t.Run(name, func(t *testing.T) {
			r := met.With(hPurpose, "investigation", hJust, j).MustDo("GET", "/v1/records", nil)
			if r.Status != 400 {
				t.Fatalf("justification %q: %d", j, r.Status)
			}
			if e := entryFor(t, env, r); e.Justification != "" {
				t.Fatalf("refused justification logged: %q", e.Justification)
			}
		})
	}
	// Text in other scripts, including the joiners they need, is fine.
	for _, j := range []string{"Операция Ночь 42", "عملية ليل", "می\u200cخواهم", "क्ष\u200dत्र", "Ελέγχος 7"} {
		if r := met.With(hPurpose, "investigation", hJust, j).MustDo("GET", "/v1/records", nil); r.Status != 200 {
			t.Fatalf("justification %q refused: %d %s", j, r.Status, r.Body)
		}
	}
}

// integrityFailures reads liaison_integrity_failures_total from /metrics.
func integrityFailures(t *testing.T, env *gatewaytest.Env) int {
	t.Helper()
	resp, err := env.AdminGet("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "liaison_integrity_failures_total "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			return n
		}
	}
	t.Fatal("no liaison_integrity_failures_total in /metrics")
	return 0
}

// TestIntegrityFailuresCountedOnEveryPath: a tampered record is counted
// whichever request meets it — a read, an onward share, a listing — not
// only on the read path (issue 10 noted that share skipped the metric).
func TestIntegrityFailuresCountedOnEveryPath(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	id := publish(t, met, recordBody())
	path := filepath.Join(env.Cfg.Store.FS.Dir, "records", id)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	jws, sealed := splitRecordObject(t, b)
	jws[len(jws)-5] ^= 0x01 // the metadata signature no longer verifies
	if err := os.WriteFile(path, joinRecordObject(jws, sealed), 0o600); err != nil {
		t.Fatal(err)
	}
	before := integrityFailures(t, env)
	steps := []struct {
		name string
		do   func() *gatewaytest.Response
	}{
		{"read", func() *gatewaytest.Response { return rocu.MustDo("GET", "/v1/records/"+id, nil) }},
		{"share", func() *gatewaytest.Response {
			return met.MustDo("POST", "/v1/records/"+id+"/shares", map[string]any{"recipients": []string{"nca"}})
		}},
		{"list", func() *gatewaytest.Response { return rocu.MustDo("GET", "/v1/records", nil) }},
	}
	for i, st := range steps {
		r := st.do()
		if st.name != "list" && r.Status != 500 {
			t.Fatalf("%s of a tampered record: %d %s", st.name, r.Status, r.Body)
		}
		if got := integrityFailures(t, env) - before; got != i+1 {
			t.Fatalf("after %s: %d integrity failures counted, want %d", st.name, got, i+1)
		}
	}
}
