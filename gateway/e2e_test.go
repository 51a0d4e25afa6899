package gateway_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

const (
	hPurpose = "Liaison-Purpose"
	hJust    = "Liaison-Justification"
)

// recordBody is a valid publish body from met-police to rocu-nw under dsa-uk-soc.
// fixtureReviewDue is a year ahead of the real clock: a review date in the
// past is refused at publish (MoPI review), so a fixed date would make
// every fixture fail once it passed.
var fixtureReviewDue = time.Now().UTC().AddDate(1, 0, 0).Format(time.DateOnly)

func recordBody(mut ...func(meta map[string]any)) map[string]any {
	meta := map[string]any{
		"classification":        map[string]any{"tier": "OFFICIAL"},
		"tlp":                   "AMBER",
		"grading":               map[string]any{"source": "1", "intelligence": "B"},
		"handling":              map[string]any{"code": "P"},
		"allowed_purposes":      []any{"investigation", "prevention"},
		"data_subject_category": "suspect",
		"content_basis":         "fact",
		"dsa_ids":               []any{"dsa-uk-soc"},
		"recipients":            []any{"rocu-nw"},
		"protected_fields":      []any{"source_details"},
		"review_due":            fixtureReviewDue,
	}
	for _, m := range mut {
		m(meta)
	}
	return map[string]any{"meta": meta, "content": map[string]any{
		"summary": "Subject A stages consignments in Salford", "source_details": "handler notes: CHIS-7781",
	}}
}

func publish(t *testing.T, c *gatewaytest.Client, body any) string {
	t.Helper()
	r := c.MustDo("POST", "/v1/records", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	id := gatewaytest.Decode[api.Published](t, r).ID
	if !strings.HasPrefix(id, "rec_") {
		t.Fatalf("publish returned id %q", id)
	}
	return id
}

// reasons are the codes of a refusal's public reasons.
func reasons(t *testing.T, r *gatewaytest.Response) []string {
	t.Helper()
	var out []string
	for _, x := range r.Problem(t).Reasons {
		out = append(out, x.Code)
	}
	return out
}

func wantReason(t *testing.T, r *gatewaytest.Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if code == "" {
		return
	}
	for _, c := range reasons(t, r) {
		if c == code {
			return
		}
	}
	t.Fatalf("reason %q not among %v: %s", code, reasons(t, r), r.Body)
}

// storeFiles lists every object the filesystem store holds.
func storeFiles(t *testing.T, env *gatewaytest.Env) []string {
	t.Helper()
	var out []string
	root := env.Cfg.Store.FS.Dir
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "~") {
			return fs.SkipDir // the store's own write locks and temporary files, not objects
		}
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// splitRecordObject parses a stored record object ("LSR2", the length of
// the signed metadata, the metadata JWS, the sealed content) the way an
// attacker holding the store would.
func splitRecordObject(t *testing.T, b []byte) (jws, sealed []byte) {
	t.Helper()
	if len(b) < 8 || string(b[:4]) != "LSR2" {
		t.Fatalf("not a record object: %.16q", b)
	}
	n := binary.BigEndian.Uint32(b[4:8])
	if int(n) > len(b)-8 {
		t.Fatalf("record object frame: length %d > %d", n, len(b)-8)
	}
	return b[8 : 8+n], b[8+n:]
}

func joinRecordObject(jws, sealed []byte) []byte {
	out := append([]byte("LSR2"), binary.BigEndian.AppendUint32(nil, uint32(len(jws)))...)
	return append(append(out, jws...), sealed...)
}

func TestEndToEndRecordLifecycle(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	hmrc := env.Client("hmrc").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")

	id := publish(t, met, recordBody())

	// The content is encrypted at rest: no stored object holds the plaintext.
	for _, f := range storeFiles(t, env) {
		b, _ := os.ReadFile(filepath.Join(env.Cfg.Store.FS.Dir, f))
		if bytes.Contains(b, []byte("Salford")) || bytes.Contains(b, []byte("CHIS-7781")) {
			t.Fatalf("plaintext found in stored object %s", f)
		}
	}

	t.Run("recipient reads with obligations applied", func(t *testing.T) {
		r := rocu.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status != 200 {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
		rec := gatewaytest.Decode[api.Record](t, r)
		var content map[string]any
		if err := json.Unmarshal(rec.Content, &content); err != nil || content["summary"] == nil {
			t.Fatalf("content missing: %s", r.Body)
		}
		if _, ok := content["source_details"]; ok {
			t.Fatalf("protected field not redacted: %s", r.Body)
		}
		h := rec.Handling
		banner := h.Banner
		if !strings.Contains(banner, "OFFICIAL") || !strings.Contains(banner, "TLP:AMBER") {
			t.Fatalf("banner %q lacks classification or TLP", banner)
		}
		if r.Header.Get("Liaison-Handling") == "" || r.Header.Get("Liaison-Decision-Id") == "" {
			t.Fatalf("handling headers missing: %v", r.Header)
		}
		if h.Grading == nil {
			t.Fatalf("grading must travel with the disclosure (DPA s.38(6)(b)): %s", r.Body)
		}
	})
	t.Run("originator reads its own record whole", func(t *testing.T) {
		r := met.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status != 200 {
			t.Fatalf("originator read: %d %s", r.Status, r.Body)
		}
		if r.JSON["content"].(map[string]any)["source_details"] == nil {
			t.Fatalf("originator read: %d %s", r.Status, r.Body)
		}
	})
	t.Run("non-recipient gets 404", func(t *testing.T) {
		r := hmrc.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status != 404 || bytes.Contains(r.Body, []byte("dsa")) {
			t.Fatalf("non-recipient: %d %s", r.Status, r.Body)
		}
	})
	t.Run("purpose outside the record's permitted purposes is 403", func(t *testing.T) {
		r := rocu.With(hPurpose, "prosecution").MustDo("GET", "/v1/records/"+id, nil)
		wantReason(t, r, 403, "purpose_not_permitted")
	})
	t.Run("missing justification is 403", func(t *testing.T) {
		r := env.Client("rocu-nw").With(hPurpose, "investigation").MustDo("GET", "/v1/records/"+id, nil)
		wantReason(t, r, 403, "justification_required")
	})
	t.Run("list shows it to the recipient only", func(t *testing.T) {
		r := env.Client("rocu-nw").MustDo("GET", "/v1/records", nil)
		if r.Status != 200 || !bytes.Contains(r.Body, []byte(id)) {
			t.Fatalf("rocu list: %d %s", r.Status, r.Body)
		}
		r = hmrc.MustDo("GET", "/v1/records", nil)
		if r.Status != 200 || bytes.Contains(r.Body, []byte(id)) {
			t.Fatalf("hmrc list: %d %s", r.Status, r.Body)
		}
	})
	t.Run("only the originator recalls", func(t *testing.T) {
		r := rocu.MustDo("DELETE", "/v1/records/"+id, nil)
		wantReason(t, r, 403, "not_originator")
		r = hmrc.MustDo("DELETE", "/v1/records/"+id, nil)
		if r.Status != 404 {
			t.Fatalf("non-recipient recall: %d", r.Status)
		}
		r = met.MustDo("DELETE", "/v1/records/"+id, nil)
		if r.Status != 200 {
			t.Fatalf("recall: %d %s", r.Status, r.Body)
		}
	})
	t.Run("after recall nobody reads it and the content is gone", func(t *testing.T) {
		if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusGone {
			t.Fatalf("read after recall: %d %s", r.Status, r.Body)
		}
		if r := met.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusGone {
			t.Fatalf("originator read after recall: %d", r.Status)
		}
		if r := hmrc.MustDo("GET", "/v1/records/"+id, nil); r.Status != 404 {
			t.Fatalf("non-recipient after recall: %d", r.Status)
		}
		obj, err := os.ReadFile(filepath.Join(env.Cfg.Store.FS.Dir, "records", id))
		if err != nil {
			t.Fatalf("the signed tombstone must stay: %v", err)
		}
		jws, sealed := splitRecordObject(t, obj)
		if len(sealed) != 0 {
			t.Fatalf("%d bytes of content survive recall", len(sealed))
		}
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(string(jws), ".")[1])
		if err != nil || !bytes.Contains(payload, []byte(`"state":"recalled"`)) || bytes.Contains(payload, []byte("wrapped_key")) {
			t.Fatalf("tombstone: %v %s", err, payload)
		}
	})

	// Every request above left exactly one audit entry, and the chain verifies.
	evs := env.Audit()
	if n, err := audit.VerifyFile(env.Cfg.Audit.Path); err != nil || int(n) != len(evs) {
		t.Fatalf("audit verify: %d %v", n, err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.RequestID]++
		if e.Corrects == 0 && seen[e.RequestID] > 1 {
			t.Fatalf("request %s has %d audit entries", e.RequestID, seen[e.RequestID])
		}
	}
	var disclosure *audit.Event
	for i := range evs {
		if evs[i].Operation == audit.OpDisclosure {
			disclosure = &evs[i]
			break
		}
	}
	if disclosure == nil || disclosure.Agency != "rocu-nw" || disclosure.Justification != "OP-NIGHTJAR tasking 42" ||
		disclosure.Purpose != "investigation" || disclosure.Decision == nil || disclosure.Decision.ID == "" ||
		len(disclosure.Recipients) != 1 || disclosure.Recipients[0] != "rocu-nw" {
		t.Fatalf("disclosure entry incomplete: %+v", disclosure)
	}
}

func TestClearanceAndOfficerTokens(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	met := env.Client("met-police")
	id := publish(t, met, recordBody(func(m map[string]any) {
		m["classification"] = map[string]any{"tier": "SECRET"}
	}))
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")

	// An agency system without an officer token has only BPSS: not enough for SECRET.
	wantReason(t, rocu.MustDo("GET", "/v1/records/"+id, nil), 403, "clearance_insufficient")

	sc := env.OfficerToken("rocu-nw", jose.Officer{ID: "ds-101", Clearance: "SC", Roles: []string{"analyst"}}, time.Hour)
	if r := rocu.WithToken(sc).MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("SC officer: %d %s", r.Status, r.Body)
	}
	// A token signed by another agency on rocu-nw's connection.
	foreign := env.OfficerToken("met-police", jose.Officer{ID: "pc-1", Clearance: "DV"}, time.Hour)
	r := rocu.WithToken(foreign).MustDo("GET", "/v1/records/"+id, nil)
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("token from another agency: %d %s", r.Status, r.Body)
	}
	if r := rocu.WithToken("not-a-jwt").MustDo("GET", "/v1/records/"+id, nil); r.Status != 401 {
		t.Fatalf("garbage token: %d", r.Status)
	}
	// Border Force must always name the officer.
	if r := env.Client("border-force").MustDo("GET", "/v1/records", nil); r.Status != 401 {
		t.Fatalf("border-force without token: %d %s", r.Status, r.Body)
	}
	// The refusal at authentication is audited with the agency that was known.
	var found bool
	for _, e := range env.Audit() {
		if e.Agency == "rocu-nw" && e.Status == 401 && e.Operation == audit.OpDenial {
			found = true
		}
	}
	if !found {
		t.Fatal("token refusal not audited")
	}
	t.Run("policy dry run is for security officers", func(t *testing.T) {
		in := map[string]any{"input": map[string]any{"action": "record.read", "subject": map[string]any{"agency_id": "hmrc"}}}
		if r := met.MustDo("POST", "/v1/decisions", in); r.Status != 403 {
			t.Fatalf("decisions without role: %d %s", r.Status, r.Body)
		}
		so := env.OfficerToken("met-police", jose.Officer{ID: "so-1", Clearance: "SC", Roles: []string{"security_officer"}}, time.Hour)
		r := met.WithToken(so).MustDo("POST", "/v1/decisions", in)
		if r.Status != 200 {
			t.Fatalf("decisions: %d %s", r.Status, r.Body)
		}
		if d := gatewaytest.Decode[api.DecisionResult](t, r); d.Decision.Allow {
			t.Fatalf("dry run of a bare input must deny: %s", r.Body)
		}
		if r := met.WithToken(so).MustDo("POST", "/v1/decisions", []byte(`{"input": {}, "x": 1}`)); r.Status != 400 {
			t.Fatalf("unknown field in dry run: %d", r.Status)
		}
	})
}

func TestExpiredDSA(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	id := publish(t, env.Client("met-police"), recordBody())
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("before expiry: %d %s", r.Status, r.Body)
	}
	env.SetClock(time.Date(2029, 1, 2, 12, 0, 0, 0, time.UTC)) // dsa-uk-soc expires 2028-12-31
	r := rocu.MustDo("GET", "/v1/records/"+id, nil)
	if r.Status != 403 {
		t.Fatalf("after expiry: %d %s", r.Status, r.Body)
	}
	codes := strings.Join(reasons(t, r), ",")
	if !strings.Contains(codes, "dsa_expired") && !strings.Contains(codes, "dsa_not_active") {
		t.Fatalf("reasons %s do not name the DSA", codes)
	}
	// Publishing under an expired DSA is refused too.
	env.SetClock(time.Time{})
	r = env.Client("met-police").MustDo("POST", "/v1/records", recordBody(func(m map[string]any) {
		m["dsa_ids"] = []any{"dsa-legacy-2023"}
		m["recipients"] = []any{"hmrc"}
	}))
	if r.Status != 403 {
		t.Fatalf("publish under expired DSA: %d %s", r.Status, r.Body)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(c *config.Config) { c.Limits.MaxBodyBytes = 64 << 10 }})
	met := env.Client("met-police")
	before := storeFiles(t, env)
	big := recordBody()
	big["content"] = map[string]any{"blob": strings.Repeat("x", 70<<10)}
	tests := []struct {
		name   string
		body   any
		status int
		ptr    string
	}{
		{"malformed json", []byte(`{"meta": {`), 400, ""},
		{"not json at all", []byte("hello"), 400, ""},
		{"unknown top-level field", func() any { b := recordBody(); b["extra"] = true; return b }(), 400, ""},
		{"unknown meta field", recordBody(func(m map[string]any) { m["colour"] = "red" }), 400, "/meta"},
		{"server-set field", recordBody(func(m map[string]any) { m["originator"] = map[string]any{"org_id": "nca"} }), 400, "/meta"},
		{"wrong tier", recordBody(func(m map[string]any) { m["classification"] = map[string]any{"tier": "RESTRICTED"} }), 400, "/meta/classification/tier"},
		{"TLP 1.0 label", recordBody(func(m map[string]any) { m["tlp"] = "WHITE" }), 400, "/meta/tlp"},
		{"bad handling code", recordBody(func(m map[string]any) { m["handling"] = map[string]any{"code": "X"} }), 400, "/meta/handling/code"},
		{"C without conditions", recordBody(func(m map[string]any) { m["handling"] = map[string]any{"code": "C"} }), 400, "/meta/handling"},
		{"empty content", func() any { b := recordBody(); b["content"] = map[string]any{}; return b }(), 400, "/content"},
		{"hostile recipient", recordBody(func(m map[string]any) { m["recipients"] = []any{"../../etc"} }), 400, "/meta/recipients/0"},
		{"oversized body", big, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := met.MustDo("POST", "/v1/records", tt.body)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if tt.ptr != "" && !bytes.Contains(r.Body, []byte(`"pointer":"`+tt.ptr+`"`)) {
				t.Fatalf("error does not name %s: %s", tt.ptr, r.Body)
			}
		})
	}
	t.Run("hostile ids", func(t *testing.T) {
		for _, p := range []string{"/v1/records/..%2F..%2Fpki%2Fca-key.pem", "/v1/records/rec_..", "/v1/records/REC_01", "/v1/records/%00", "/v1/records/rec_" + strings.Repeat("z", 26) + "%2Fmeta"} {
			r := met.MustDo("GET", p, nil)
			if r.Status != 404 && r.Status != 400 {
				t.Fatalf("%s: %d %s", p, r.Status, r.Body)
			}
			if bytes.Contains(r.Body, []byte("BEGIN")) {
				t.Fatalf("%s leaked a file", p)
			}
		}
	})
	t.Run("bad headers and query", func(t *testing.T) {
		if r := met.With(hJust, "tab\tseparated").MustDo("GET", "/v1/records", nil); r.Status != 400 {
			t.Fatalf("control chars in justification: %d", r.Status)
		}
		if r := met.With(hPurpose, "Investigation; DROP").MustDo("GET", "/v1/records", nil); r.Status != 400 {
			t.Fatalf("bad purpose: %d", r.Status)
		}
		if r := met.MustDo("GET", "/v1/records?limit=100000", nil); r.Status != 400 {
			t.Fatalf("bad limit: %d", r.Status)
		}
		if r := met.MustDo("GET", "/v1/records?cursor=../../x", nil); r.Status != 400 {
			t.Fatalf("bad cursor: %d", r.Status)
		}
	})
	after := storeFiles(t, env)
	if len(after) != len(before) {
		t.Fatalf("bad input changed the store: %v -> %v", before, after)
	}
}

// TestListPaging pages through a listing. Records published while a
// client pages show up in its later pages (record ids sort by creation).
func TestListPaging(t *testing.T) {
	for _, tc := range []struct {
		name string
	}{{"index"}} {
		t.Run(tc.name, func(t *testing.T) {
			env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
			met := env.Client("met-police")
			want := map[string]bool{}
			for i := 0; i < 7; i++ {
				want[publish(t, met, recordBody())] = true
			}
			// One record rocu-nw may not see (not a recipient).
			publish(t, met, recordBody(func(m map[string]any) { m["recipients"] = []any{"nca"} }))
			rocu := env.Client("rocu-nw")
			got := map[string]bool{}
			cursor := ""
			for pages := 0; pages < 20; pages++ {
				path := "/v1/records?limit=3"
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				r := rocu.MustDo("GET", path, nil)
				if r.Status != 200 {
					t.Fatalf("list: %d %s", r.Status, r.Body)
				}
				page := gatewaytest.Decode[api.RecordList](t, r)
				for _, it := range page.Items {
					id := it.ID
					if got[id] {
						t.Fatalf("%s listed twice", id)
					}
					got[id] = true
				}
				if pages == 0 {
					for i := 0; i < 2; i++ {
						want[publish(t, met, recordBody())] = true
					}
				}
				cursor = page.NextCursor
				if cursor == "" {
					break
				}
			}
			if len(got) != len(want) {
				t.Fatalf("paged %d records, want %d", len(got), len(want))
			}
			for id := range got {
				if !want[id] {
					t.Fatalf("listed a record not shared with rocu-nw: %s", id)
				}
			}
			if r := rocu.MustDo("GET", "/v1/records?cursor=rec_01m80fb6hjjarwtr6pn7ztztn7", nil); r.Status != 400 {
				t.Fatalf("a cursor this gateway never issued: %d", r.Status)
			}
		})
	}
}

func TestStorageTamperDetected(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	root := env.Cfg.Store.FS.Dir
	path := func(id string) string { return filepath.Join(root, "records", id) }
	parts := func(t *testing.T, id string) (jws, sealed []byte) {
		b, err := os.ReadFile(path(id))
		if err != nil {
			t.Fatal(err)
		}
		return splitRecordObject(t, b)
	}
	write := func(id string, jws, sealed []byte) {
		if err := os.WriteFile(path(id), joinRecordObject(jws, sealed), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	integrity := func(t *testing.T, id string) {
		t.Helper()
		r := rocu.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status != 500 || !bytes.Contains(r.Body, []byte("integrity")) || bytes.Contains(r.Body, []byte("Salford")) {
			t.Fatalf("tampered read: %d %s", r.Status, r.Body)
		}
	}
	t.Run("flipped ciphertext byte", func(t *testing.T) {
		id := publish(t, met, recordBody())
		jws, sealed := parts(t, id)
		sealed[len(sealed)/2] ^= 0x01
		write(id, jws, sealed)
		integrity(t, id)
	})
	t.Run("swapped ciphertexts", func(t *testing.T) {
		a, b := publish(t, met, recordBody()), publish(t, met, recordBody())
		ja, ca := parts(t, a)
		jb, cb := parts(t, b)
		write(a, ja, cb)
		write(b, jb, ca)
		integrity(t, a)
		integrity(t, b)
	})
	t.Run("content removed", func(t *testing.T) {
		id := publish(t, met, recordBody())
		jws, _ := parts(t, id)
		write(id, jws, nil)
		integrity(t, id)
	})
	t.Run("truncated frame", func(t *testing.T) {
		id := publish(t, met, recordBody())
		b, _ := os.ReadFile(path(id))
		os.WriteFile(path(id), b[:len(b)/3], 0o600)
		integrity(t, id)
	})
	t.Run("edited metadata", func(t *testing.T) {
		id := publish(t, met, recordBody())
		jws, sealed := parts(t, id)
		segs := strings.Split(string(jws), ".")
		if len(segs) != 3 {
			t.Fatalf("metadata is not a compact JWS")
		}
		payload, err := base64.RawURLEncoding.DecodeString(segs[1])
		if err != nil {
			t.Fatal(err)
		}
		edited := bytes.Replace(payload, []byte(`"tier":"OFFICIAL"`), []byte(`"tier":"SECRET"`), 1)
		if bytes.Equal(edited, payload) {
			t.Fatal("edit did not apply")
		}
		segs[1] = base64.RawURLEncoding.EncodeToString(edited)
		write(id, []byte(strings.Join(segs, ".")), sealed)
		integrity(t, id)
	})
	t.Run("record of another record copied over", func(t *testing.T) {
		a, b := publish(t, met, recordBody()), publish(t, met, recordBody())
		ob, _ := os.ReadFile(path(b))
		os.WriteFile(path(a), ob, 0o600)
		integrity(t, a)
	})
}

// failingAudit fails appends while on.
type failingAudit struct {
	audit.Writer
	on atomic.Bool
}

func (f *failingAudit) Append(ctx context.Context, e *audit.Event) error {
	if f.on.Load() {
		return audit.ErrUnavailable
	}
	return f.Writer.Append(ctx, e)
}

// writeIndexAtOnce was needed while listing-index entries lingered in the
// object store; index writes are now synchronous database upserts.
func writeIndexAtOnce(*config.Config) {}

func TestAuditFailureFailsClosed(t *testing.T) {
	fa := &failingAudit{}
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce, BuildOptions: []gateway.Option{
		gateway.WithAuditWrapper(func(w audit.Writer) audit.Writer { fa.Writer = w; return fa }),
	}})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	before := storeFiles(t, env)
	fa.on.Store(true)
	if r := met.MustDo("POST", "/v1/records", recordBody()); r.Status != 503 {
		t.Fatalf("publish without audit: %d %s", r.Status, r.Body)
	}
	r := rocu.MustDo("GET", "/v1/records/"+id, nil)
	if r.Status != 503 || bytes.Contains(r.Body, []byte("Salford")) {
		t.Fatalf("read without audit disclosed: %d %s", r.Status, r.Body)
	}
	if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 503 {
		t.Fatalf("recall without audit: %d", r.Status)
	}
	if after := storeFiles(t, env); len(after) != len(before) {
		t.Fatalf("store changed while audit was down: %d -> %d objects", len(before), len(after))
	}
	fa.on.Store(false)
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("no recovery: %d %s", r.Status, r.Body)
	}
}

// failingStore fails every call while on.
type failingStore struct {
	objstore.Store
	on atomic.Bool
}

func (f *failingStore) Put(ctx context.Context, k string, d []byte, o objstore.PutOptions) error {
	if f.on.Load() {
		return objstore.ErrUnavailable
	}
	return f.Store.Put(ctx, k, d, o)
}

func (f *failingStore) Get(ctx context.Context, k string) ([]byte, error) {
	if f.on.Load() {
		return nil, objstore.ErrUnavailable
	}
	return f.Store.Get(ctx, k)
}

func (f *failingStore) GetVersion(ctx context.Context, k string) ([]byte, string, error) {
	if f.on.Load() {
		return nil, "", objstore.ErrUnavailable
	}
	return f.Store.GetVersion(ctx, k)
}

// failingIndex fails every call of the index database while on.
type failingIndex struct {
	index.Backend
	on atomic.Bool
}

func (f *failingIndex) Upsert(ctx context.Context, e index.Entry) error {
	if f.on.Load() {
		return index.ErrUnavailable
	}
	return f.Backend.Upsert(ctx, e)
}

func (f *failingIndex) Query(ctx context.Context, q index.Query) ([]index.Hit, error) {
	if f.on.Load() {
		return nil, index.ErrUnavailable
	}
	return f.Backend.Query(ctx, q)
}

func (f *failingIndex) Lookup(ctx context.Context, v []index.Blind, limit int) ([]index.Match, error) {
	if f.on.Load() {
		return nil, index.ErrUnavailable
	}
	return f.Backend.Lookup(ctx, v, limit)
}

func (f *failingIndex) Ping(ctx context.Context) error {
	if f.on.Load() {
		return index.ErrUnavailable
	}
	return f.Backend.Ping(ctx)
}

// TestIndexWriteFailure: with the index database down, a publish fails
// closed (503) and leaves no record behind, a listing answers 503 rather
// than an incomplete page, /readyz says why, and the failed writes are
// counted; once the database is back, publishing and listing work again.
func TestIndexWriteFailure(t *testing.T) {
	fi := &failingIndex{}
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, BuildOptions: []gateway.Option{
		gateway.WithIndexWrapper(func(b index.Backend) index.Backend { fi.Backend = b; return fi }),
	}})
	met := env.Client("met-police")
	before := storeFiles(t, env)
	fi.on.Store(true)
	if r := met.MustDo("POST", "/v1/records", recordBody()); r.Status != 503 {
		t.Fatalf("publish with the index down: %d %s", r.Status, r.Body)
	}
	if after := storeFiles(t, env); !slices.Equal(before, after) {
		t.Fatalf("a failed publish left objects behind: %v → %v", before, after)
	}
	if r := met.MustDo("GET", "/v1/records", nil); r.Status != 503 {
		t.Fatalf("listing with the index down: %d %s", r.Status, r.Body)
	}
	resp, err := env.AdminGet("/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var rb bytes.Buffer
	rb.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(rb.String(), "index") {
		t.Fatalf("readyz with the index down: %d %s", resp.StatusCode, rb.String())
	}
	fi.on.Store(false)
	id := publish(t, met, recordBody())
	if r := met.MustDo("GET", "/v1/records", nil); r.Status != 200 || !strings.Contains(string(r.Body), id) {
		t.Fatalf("record not listed after the index recovered: %d %s", r.Status, r.Body)
	}
	resp, err = env.AdminGet("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var m bytes.Buffer
	m.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`liaison_index_writes_total{result="error"}`, `liaison_index_writes_total{result="ok"}`} {
		if !strings.Contains(m.String(), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}

// dropFailingStore writes a replacing object but then fails, once, to drop
// the versions it supersedes: a recall stopped half-way.
type dropFailingStore struct {
	objstore.Store
	failNext atomic.Bool
}

func (f *dropFailingStore) Put(ctx context.Context, k string, d []byte, o objstore.PutOptions) error {
	if err := f.Store.Put(ctx, k, d, o); err != nil {
		return err
	}
	if o.DropOlderVersions && f.failNext.CompareAndSwap(true, false) {
		return fmt.Errorf("%w: delete version", objstore.ErrUnavailable)
	}
	return nil
}

// TestRecallIsIdempotent: a recall that stopped after its tombstone but
// before older versions were dropped answers 503 (and is corrected in the
// audit log); the originator repeats it to finish, and a repeat of a
// finished recall is 200 too, keeping the first recall's record.
func TestRecallIsIdempotent(t *testing.T) {
	ds := &dropFailingStore{}
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, BuildOptions: []gateway.Option{
		gateway.WithStoreWrapper(func(s objstore.Store) objstore.Store { ds.Store = s; return ds }),
	}})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	id := publish(t, met, recordBody())
	ds.failNext.Store(true)
	if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 503 {
		t.Fatalf("recall with a failing version drop: %d %s", r.Status, r.Body)
	}
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusGone {
		t.Fatalf("read after a half-done recall: %d %s", r.Status, r.Body)
	}
	tombstone := func() []byte {
		b, err := os.ReadFile(filepath.Join(env.Cfg.Store.FS.Dir, "records", id))
		if err != nil {
			t.Fatal(err)
		}
		jws, _ := splitRecordObject(t, b)
		p, _ := base64.RawURLEncoding.DecodeString(strings.Split(string(jws), ".")[1])
		return p
	}
	first := tombstone()
	for i := 0; i < 2; i++ {
		if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("repeat %d of the recall: %d %s", i, r.Status, r.Body)
		}
	}
	if !bytes.Equal(first, tombstone()) {
		t.Fatalf("a repeat changed the tombstone:\n%s\n%s", first, tombstone())
	}
	if r := rocu.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != http.StatusGone {
		t.Fatalf("a recipient's recall of a recalled record: %d", r.Status)
	}
	corrected := false
	for _, e := range env.Audit() {
		if e.Operation == audit.OpErasure && e.Corrects != 0 {
			corrected = true
		}
	}
	if !corrected {
		t.Fatal("the half-done recall has no correcting audit entry")
	}
}

func TestStoreFailureIs503(t *testing.T) {
	fs := &failingStore{}
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, BuildOptions: []gateway.Option{
		gateway.WithStoreWrapper(func(s objstore.Store) objstore.Store { fs.Store = s; return fs }),
	}})
	met := env.Client("met-police")
	fs.on.Store(true)
	r := met.MustDo("POST", "/v1/records", recordBody())
	if r.Status != 503 || r.Header.Get("Retry-After") == "" || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("store down: %d %v %s", r.Status, r.Header, r.Body)
	}
	fs.on.Store(false)
	publish(t, met, recordBody())
}

func TestMutualTLSRefusals(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	handshakeFails := func(t *testing.T, c *gatewaytest.Client) {
		t.Helper()
		r, err := c.Do("GET", "/v1/records", nil)
		if err == nil {
			t.Fatalf("request succeeded with status %d: %s", r.Status, r.Body)
		}
	}
	issue := func(t *testing.T, agency string, o pki.ClientCertOptions) ([]byte, []byte) {
		t.Helper()
		c, k, err := env.Fed.IssueClientCert(agency, o)
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	t.Run("no client certificate", func(t *testing.T) { handshakeFails(t, env.ClientWithCert(nil, nil)) })
	t.Run("certificate from another CA", func(t *testing.T) {
		other, err := pki.NewTestCA("Rogue CA")
		if err != nil {
			t.Fatal(err)
		}
		c, k, err := other.Issue(pki.LeafRequest{CommonName: "met-police", URIs: []string{pki.AgencyURI("liaison.dev", "met-police")},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			t.Fatal(err)
		}
		handshakeFails(t, env.ClientWithCert(c, k))
	})
	t.Run("expired certificate", func(t *testing.T) {
		c, k := issue(t, "met-police", pki.ClientCertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		handshakeFails(t, env.ClientWithCert(c, k))
	})
	t.Run("server-auth-only certificate", func(t *testing.T) {
		c, k := issue(t, "met-police", pki.ClientCertOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		handshakeFails(t, env.ClientWithCert(c, k))
	})
	t.Run("revoked certificate, picked up without restart", func(t *testing.T) {
		c, k := issue(t, "met-police", pki.ClientCertOptions{})
		cl := env.ClientWithCert(c, k)
		if r := cl.MustDo("GET", "/v1/records", nil); r.Status != 200 {
			t.Fatalf("before revocation: %d", r.Status)
		}
		env.Revoke(c)
		cl.CloseIdle()
		handshakeFails(t, cl)
		fp := pki.CertFingerprint(mustParse(t, c))
		// Handshake refusals are audited off the handshake path (edge.go).
		waitAudit(t, env, "refused revoked certificate", func(e audit.Event) bool {
			return e.Action == "tls.handshake" && e.CertFingerprint == fp && e.Agency == "met-police" && e.Operation == audit.OpDenial
		})
	})
	t.Run("valid certificate of an unknown agency", func(t *testing.T) {
		c, k := issue(t, "ghost-agency", pki.ClientCertOptions{})
		r := env.ClientWithCert(c, k).MustDo("GET", "/v1/records", nil)
		if r.Status != 403 {
			t.Fatalf("unknown agency: %d %s", r.Status, r.Body)
		}
		var audited bool
		for _, e := range env.Audit() {
			if e.Agency == "ghost-agency" && e.Status == 403 && e.CertFingerprint != "" {
				audited = true
			}
		}
		if !audited {
			t.Fatal("unknown agency not audited")
		}
	})
	t.Run("TLS 1.2 client refused", func(t *testing.T) {
		cfg, err := env.Fed.ClientTLSConfig("met-police", "localhost")
		if err != nil {
			t.Fatal(err)
		}
		cfg.MinVersion, cfg.MaxVersion = 0x0303, 0x0303
		r, err := gatewaytest.ClientFromTLS(env, cfg).Do("GET", "/v1/records", nil)
		if err == nil {
			t.Fatalf("TLS 1.2 accepted: %d", r.Status)
		}
	})
}

func mustParse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	c, err := pki.ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	env := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	id := publish(t, env.Client("met-police"), recordBody())
	env.Stop()
	env2 := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	r := env2.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42").MustDo("GET", "/v1/records/"+id, nil)
	if r.Status != 200 {
		t.Fatalf("after restart: %d %s", r.Status, r.Body)
	}
	if _, err := audit.VerifyFile(env2.Cfg.Audit.Path); err != nil {
		t.Fatal(err)
	}
}

func TestAdminEndpoints(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	publish(t, env.Client("met-police"), recordBody())
	for path, want := range map[string]string{"/healthz": `"ok"`, "/readyz": `"ready":true`, "/metrics": "liaison_policy_decision_duration_seconds"} {
		resp, err := env.AdminGet(path)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(buf.String(), want) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, buf.String())
		}
	}
	// The agency listener does not serve admin endpoints.
	if r := env.Client("met-police").MustDo("GET", "/metrics", nil); r.Status != 404 {
		t.Fatalf("/metrics on the agency listener: %d", r.Status)
	}
}

// TestAuditDiskFaultsFailClosed injects ENOSPC on write and EIO on fsync
// into the real audit log: nothing is acknowledged or disclosed without a
// durable entry, the gateway reports unready, and recovers by itself.
func TestAuditDiskFaultsFailClosed(t *testing.T) {
	var mode atomic.Int32 // 0 ok, 1 ENOSPC on write, 2 EIO on fsync
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce, BuildOptions: []gateway.Option{
		gateway.WithAuditOptions(func(o *audit.Options) {
			o.WriteFn = func(f *os.File, b []byte) (int, error) {
				if mode.Load() == 1 {
					n, _ := f.Write(b[:len(b)/2]) // a partial write, then the disk is full
					return n, syscall.ENOSPC
				}
				return f.Write(b)
			}
			o.SyncFn = func(f *os.File) error {
				if mode.Load() == 2 {
					return syscall.EIO
				}
				return f.Sync()
			}
		}),
	}})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	ready := func() int {
		resp, err := env.AdminGet("/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, m := range []struct {
		name string
		v    int32
	}{{"ENOSPC on write", 1}, {"EIO on fsync", 2}} {
		t.Run(m.name, func(t *testing.T) {
			before := storeFiles(t, env)
			mode.Store(m.v)
			if r := met.MustDo("POST", "/v1/records", recordBody()); r.Status != 503 {
				t.Fatalf("publish: %d %s", r.Status, r.Body)
			}
			if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 503 || bytes.Contains(r.Body, []byte("Salford")) {
				t.Fatalf("read disclosed without audit: %d %s", r.Status, r.Body)
			}
			if ready() != 503 {
				t.Fatal("gateway ready while its audit log cannot be written")
			}
			if after := storeFiles(t, env); len(after) != len(before) {
				t.Fatalf("store changed: %d -> %d objects", len(before), len(after))
			}
			mode.Store(0)
			if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
				t.Fatalf("no recovery: %d %s", r.Status, r.Body)
			}
			if ready() != 200 {
				t.Fatal("not ready after recovery")
			}
		})
	}
	if _, err := audit.VerifyFile(env.Cfg.Audit.Path); err != nil {
		t.Fatalf("log does not verify after the faults: %v", err)
	}
}

func TestAuditAPIForAuditorsOnly(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	env.Client("hmrc").With(hPurpose, "investigation", hJust, "customs check 9").MustDo("GET", "/v1/records/"+id, nil)
	dpo := env.OfficerToken("met-police", jose.Officer{ID: "dpo-1", Clearance: "SC", Roles: []string{"dpo"}}, time.Hour)
	r := met.WithToken(dpo).MustDo("GET", "/v1/audit?record="+id, nil)
	if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"collection"`)) || !bytes.Contains(r.Body, []byte(`"hmrc"`)) {
		t.Fatalf("DPO query: %d %s", r.Status, r.Body)
	}
	if bytes.Contains(r.Body, []byte("Salford")) {
		t.Fatal("audit entries carry record content")
	}
	analyst := env.OfficerToken("met-police", jose.Officer{ID: "an-1", Clearance: "SC", Roles: []string{"analyst"}}, time.Hour)
	wantReason(t, met.WithToken(analyst).MustDo("GET", "/v1/audit", nil), 403, "auditor_required")
	if r := met.MustDo("GET", "/v1/audit", nil); r.Status != 403 {
		t.Fatalf("agency system without an officer: %d", r.Status)
	}
	if r := met.WithToken(dpo).MustDo("GET", "/v1/audit?colour=red", nil); r.Status != 400 {
		t.Fatalf("unknown query parameter: %d", r.Status)
	}
}
