package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

const hCase = "Liaison-Case"

// listIDs walks every page of a filtered listing and returns the ids.
func listIDs(t *testing.T, c *gatewaytest.Client, query string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for pages := 0; pages < 50; pages++ {
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		q.Set("limit", "2")
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := c.MustDo("GET", "/v1/records?"+q.Encode(), nil)
		if r.Status != 200 {
			t.Fatalf("list %s: %d %s", query, r.Status, r.Body)
		}
		page := gatewaytest.Decode[api.RecordList](t, r)
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			slices.Sort(ids)
			return ids
		}
	}
	t.Fatalf("list %s: no end after 50 pages", query)
	return nil
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// TestListFilters: every filter of GET /v1/records, alone and combined,
// narrows the listing to exactly the records that match and the caller may
// see; bad filter values are a 400 that changes nothing.
func TestListFilters(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	today := env.Now().UTC()
	soon := today.AddDate(0, 0, 10).Format(time.DateOnly)
	later := today.AddDate(0, 6, 0).Format(time.DateOnly)

	base := publish(t, met, recordBody(func(m map[string]any) {
		m["ocg_ids"] = []any{"ocg-2291"}
		m["tags"] = map[string]any{"operation": "Operation Kingfisher", "four_p": []any{"PURSUE"}}
		m["review_due"] = later
	}))
	green := publish(t, met, recordBody(func(m map[string]any) {
		m["tlp"] = "GREEN"
		m["ocg_ids"] = []any{"ocg-2291", "ocg-77"}
		m["tags"] = map[string]any{"operation": "Operation Kingfisher", "four_p": []any{"PREVENT", "PURSUE"}}
		m["review_due"] = soon
	}))
	cond := publish(t, met, recordBody(func(m map[string]any) {
		m["handling"] = map[string]any{"code": "C", "action_code": "A2", "sanitisation_code": "S1", "conditions": map[string]any{"no_onward_dissemination": true}}
		m["review_due"] = later
	}))
	selec := publish(t, met, recordBody(func(m map[string]any) {
		m["dsa_ids"] = []any{"dsa-selec-ops"}
		m["recipients"] = []any{"selec"}
		m["review_due"] = later
	}))
	// Published by hmrc to rocu-nw: another originator.
	hm := publish(t, env.Client("hmrc"), recordBody(func(m map[string]any) { m["review_due"] = soon }))
	// Not for rocu-nw at all.
	hidden := publish(t, met, recordBody(func(m map[string]any) {
		m["recipients"] = []any{"nca"}
		m["ocg_ids"] = []any{"ocg-2291"}
	}))

	rocu := env.Client("rocu-nw")
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", sorted(base, green, cond, hm)},
		{"ocg=ocg-2291", sorted(base, green)},
		{"ocg=ocg-77,ocg-none", sorted(green)},
		{"operation=" + url.QueryEscape("Operation Kingfisher"), sorted(base, green)},
		{"four_p=PREVENT", sorted(green)},
		{"tlp=GREEN", sorted(green)},
		{"tlp=AMBER,RED", sorted(base, cond, hm)},
		{"handling_code=C", sorted(cond)},
		{"tier=OFFICIAL", sorted(base, green, cond, hm)},
		{"tier=SECRET", nil},
		{"originator=hmrc", sorted(hm)},
		{"originator=met-police&ocg=ocg-2291&tlp=AMBER", sorted(base)},
		{"dsa=dsa-uk-soc", sorted(base, green, cond, hm)},
		{"dsa=dsa-selec-ops", nil},
		{"recipient=rocu-nw", sorted(base, green, cond, hm)},
		{"review=due", sorted(green, hm)},
		{"review=overdue", nil},
		{"review_from=" + later + "&review_to=" + later, sorted(base, cond)},
		{"created_from=" + today.Add(-time.Hour).Format(time.RFC3339), sorted(base, green, cond, hm)},
		{"created_to=" + today.Add(-time.Hour).Format(time.RFC3339), nil},
	} {
		if got := listIDs(t, rocu, tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("rocu-nw ?%s = %v, want %v", tc.query, got, tc.want)
		}
	}
	// The originator sees its own records under any filter, the recipient
	// only what it may list.
	if got := listIDs(t, met, "ocg=ocg-2291"); !slices.Equal(got, sorted(base, green, hidden)) {
		t.Errorf("met-police ?ocg=ocg-2291 = %v", got)
	}
	if got := listIDs(t, env.Client("selec"), ""); !slices.Equal(got, sorted(selec)) {
		t.Errorf("selec sees %v, want only %s", got, selec)
	}

	// A review date that passes makes the record overdue: the clock moves
	// past the "soon" records' date.
	env.SetClock(today.AddDate(0, 0, 11))
	if got := listIDs(t, rocu, "review=overdue"); !slices.Equal(got, sorted(green, hm)) {
		t.Errorf("rocu-nw ?review=overdue after the date = %v, want %v", got, sorted(green, hm))
	}
	env.SetClock(time.Time{})

	// Bad filters: 400 naming the parameter, over raw HTTP too.
	before := storeFiles(t, env)
	for _, q := range []string{
		"tlp=PURPLE", "tier=official", "four_p=PURSUE,", "ocg=OCG_UPPER", "dsa=" + strings.Repeat("a", 200),
		"review=late", "review_from=2026-02-30", "created_from=yesterday", "created_from=2027-01-01&created_to=2026-01-01",
		"review_from=2027-02-01&review_to=2027-01-01", "operation=", "limit=0", "limit=1e2", "ocg=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,aa,bb,cc,dd,ee,ff,gg",
	} {
		r := rawDo(t, env, "rocu-nw", []string{"GET /v1/records?" + q + " HTTP/1.1"}, nil)
		p := wantProblem(t, q, r, http.StatusBadRequest)
		name, _, _ := strings.Cut(q, "=")
		if d, _ := p["detail"].(string); !strings.Contains(d, name) {
			t.Errorf("?%s: detail %q does not name %s", q, d, name)
		}
	}
	if after := storeFiles(t, env); !slices.Equal(before, after) {
		t.Fatalf("bad filters changed the store: %v → %v", before, after)
	}
}

// TestSearch: hit/no-hit over typed selectors. A recipient finds its
// record; a party of a discovery DSA who may not read it gets a bare hit
// with a reference; TLP:RED and non-parties get nothing; the audit log,
// the store and the index database never hold a selector in clear.
func TestSearch(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	phone := map[string]any{"type": "phone", "value": "020 7946 0018"} // national form, GBR jurisdiction
	iban := map[string]any{"type": "iban", "value": "GB82 WEST 1234 5698 7654 32"}
	shared := publish(t, met, recordBody(func(m map[string]any) { m["selectors"] = []any{phone, iban} }))
	red := publish(t, met, recordBody(func(m map[string]any) {
		m["tlp"] = "RED"
		m["selectors"] = []any{phone}
	}))
	_ = red
	ctxHeaders := []string{hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42", hCase, "OP-NIGHTJAR"}
	search := func(agency string, sels ...map[string]any) api.SearchResult {
		t.Helper()
		list := make([]any, len(sels))
		for i, s := range sels {
			list[i] = s
		}
		r := env.Client(agency).With(ctxHeaders...).MustDo("POST", "/v1/search", map[string]any{"selectors": list})
		if r.Status != 200 {
			t.Fatalf("search as %s: %d %s", agency, r.Status, r.Body)
		}
		return *gatewaytest.Decode[api.SearchResult](t, r)
	}

	// The recipient: the same number written in E.164 finds its record.
	// The TLP:RED record names it too, but the policy does not let it list
	// that one (and never reveals it as a hit).
	got := search("rocu-nw", map[string]any{"type": "phone", "value": "+44 20 7946 0018"})
	if s := got.Selectors[0]; s.Outcome != api.SearchHit || len(s.Hits) != 0 || len(s.Records) != 1 || s.Records[0].ID != shared {
		t.Fatalf("recipient search = %+v", got)
	}
	// nca: a party of dsa-uk-soc (discovery: hit_no_hit) that is not a
	// recipient. It learns that met-police holds one record under
	// dsa-uk-soc (the TLP:RED one is never revealed), and nothing else.
	got = search("nca", phone, map[string]any{"type": "iban", "value": "GB82WEST12345698765432"})
	for i, s := range got.Selectors {
		if s.Outcome != api.SearchHit || len(s.Records) != 0 || len(s.Hits) != 1 {
			t.Fatalf("nca selector %d = %+v", i, s)
		}
		h := s.Hits[0]
		if h.Holder != "met-police" || h.DSA != "dsa-uk-soc" || !strings.HasPrefix(h.Reference, "hit_") || strings.Contains(h.Reference, shared) {
			t.Fatalf("nca hit = %+v", h)
		}
	}
	// selec: a party of no discovery DSA with met-police: no hit. (Its
	// jurisdiction is Romania: a UK number must be written in full.)
	if got := search("selec", map[string]any{"type": "phone", "value": "+44 20 7946 0018"}); got.Selectors[0].Outcome != api.SearchNoHit || len(got.Selectors[0].Hits)+len(got.Selectors[0].Records) != 0 {
		t.Fatalf("selec search = %+v", got)
	}
	// A selector nobody holds.
	if got := search("nca", map[string]any{"type": "email", "value": "nobody@example.org"}); got.Selectors[0].Outcome != api.SearchNoHit {
		t.Fatalf("unknown e-mail = %+v", got)
	}

	// The audit entries keep blind values, counts and the decision.
	var entries []audit.Event
	for _, e := range env.Audit() {
		if e.Search != nil {
			entries = append(entries, e)
		}
	}
	if len(entries) != 4 {
		t.Fatalf("%d search entries, want 4", len(entries))
	}
	ncaEntry := entries[1]
	if ncaEntry.Agency != "nca" || ncaEntry.Search.Hits != 2 || ncaEntry.Search.Readable != 0 || ncaEntry.Search.Withheld != 1 ||
		len(ncaEntry.Search.Selectors) != 2 || len(ncaEntry.Search.Selectors[0].Blind) != 64 || ncaEntry.Purpose != "investigation" {
		t.Fatalf("nca search entry = %+v %+v", ncaEntry, ncaEntry.Search)
	}
	// The same number searched by rocu-nw and nca has the same blind value.
	if entries[0].Search.Selectors[0].Blind != ncaEntry.Search.Selectors[0].Blind {
		t.Fatalf("equal selectors gave different blind values")
	}

	// No selector in clear anywhere at rest: audit log, store, index. The
	// scan sees through base64 (JWS payloads): checked on a sample first.
	for pre := 0; pre < 3; pre++ {
		sample := []byte(`{"format":"x","meta":{"selectors":[{"type":"iban","value":"GB82WEST12345698765432"}]}}`)[pre:]
		if !holdsClear([]byte("eyJ."+base64.RawURLEncoding.EncodeToString(sample)+".sig"), "WEST12345698765432") {
			t.Fatalf("the scan misses a selector inside a JWS payload (offset %d)", pre)
		}
	}
	for _, dir := range []string{filepath.Dir(env.Cfg.Audit.Path), env.Cfg.Store.FS.Dir, filepath.Dir(env.Cfg.Index.SQLite.Path), env.Dir} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			if holdsClear(b, "7946 0018", "442079460018", "79460018", "WEST12345698765432", "WEST 1234") {
				t.Errorf("%s holds a selector in clear", p)
			}
			return nil
		})
	}

	// The record's reader sees its selectors; the stored metadata does not.
	r := env.Client("rocu-nw").With(ctxHeaders...).MustDo("GET", "/v1/records/"+shared, nil)
	if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"selectors"`)) || !bytes.Contains(r.Body, []byte("7946 0018")) {
		t.Fatalf("read lacks the selectors: %d %s", r.Status, r.Body)
	}
}

// TestSearchBadInput: missing context, malformed bodies and invalid
// selectors are a 400 naming what is wrong (never echoing a selector), over
// raw HTTP; a publish with an invalid selector is refused and stores
// nothing; a search past the agency's quota is a 429.
func TestSearchBadInput(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Search.Burst = 3
		c.Search.PerMinute = 0.001
	}})
	ctx := []string{hPurpose + ": investigation", hJust + ": OP-NIGHTJAR tasking 42", hCase + ": OP-NIGHTJAR", "Content-Type: application/json"}
	do := func(headers []string, body string) rawResponse {
		b := []byte(body)
		return rawDo(t, env, "nca", append([]string{"POST /v1/search HTTP/1.1", "Content-Length: " + strconv.Itoa(len(b))}, headers...), b)
	}
	for _, tc := range []struct {
		name, body string
		headers    []string
		pointer    string
	}{
		{"no context", `{"selectors":[{"type":"phone","value":"+442079460018"}]}`, []string{"Content-Type: application/json"}, ""},
		{"no selectors", `{"selectors":[]}`, ctx, ""},
		{"unknown member", `{"selectors":[{"type":"phone","value":"+442079460018"}],"fuzzy":true}`, ctx, ""},
		{"unknown type", `{"selectors":[{"type":"dna","value":"ACGT"}]}`, ctx, "/selectors/0"},
		{"bad IBAN checksum", `{"selectors":[{"type":"phone","value":"+442079460018"},{"type":"iban","value":"GB83WEST12345698765432"}]}`, ctx, "/selectors/1"},
		{"too short phone", `{"selectors":[{"type":"phone","value":"+44207946001"}]}`, ctx, "/selectors/0"},
		{"person without birth date", `{"selectors":[{"type":"person","name":"Ivan Petrov"}]}`, ctx, "/selectors/0"},
		{"not json", `selectors=1`, ctx, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(tc.headers, tc.body)
			p := wantProblem(t, tc.name, r, http.StatusBadRequest)
			if tc.pointer != "" {
				errs, _ := json.Marshal(p["errors"])
				if !strings.Contains(string(errs), tc.pointer) {
					t.Fatalf("errors %s do not name %s", errs, tc.pointer)
				}
			}
			for _, v := range []string{"GB83WEST", "207946001", "ACGT", "Petrov"} {
				if bytes.Contains(r.Body, []byte(v)) {
					t.Fatalf("the error echoes the selector: %s", r.Body)
				}
			}
		})
	}
	before := storeFiles(t, env)
	r := env.Client("met-police").MustDo("POST", "/v1/records", recordBody(func(m map[string]any) {
		m["selectors"] = []any{map[string]any{"type": "iban", "value": "GB83WEST12345698765432"}}
	}))
	if r.Status != 400 || !strings.Contains(string(r.Body), "/meta/selectors/0") || strings.Contains(string(r.Body), "GB83WEST") {
		t.Fatalf("publish with a bad selector: %d %s", r.Status, r.Body)
	}
	if after := storeFiles(t, env); !slices.Equal(before, after) {
		t.Fatalf("a refused publish stored something: %v → %v", before, after)
	}
	// The quota: a burst of 3 (the bad requests above were refused before
	// the quota was spent), then 429.
	good := `{"selectors":[{"type":"phone","value":"+442079460018"}]}`
	for i := 0; i < 3; i++ {
		if r := do(ctx, good); r.Status != 200 {
			t.Fatalf("search %d: %d %s", i, r.Status, r.Body)
		}
	}
	if r := do(ctx, good); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("search past the quota: %d %s", r.Status, r.Body)
	}
	// Another agency has its own quota.
	if r := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42", hCase, "OP-1").MustDo("POST", "/v1/search",
		map[string]any{"selectors": []any{map[string]any{"type": "phone", "value": "+442079460018"}}}); r.Status != 200 {
		t.Fatalf("rocu-nw search: %d %s", r.Status, r.Body)
	}
}

// base64Run is a run of base64 (standard or URL alphabet) long enough to
// hide a selector: JWS payloads and []byte fields in JSON are base64.
var base64Run = regexp.MustCompile(`[A-Za-z0-9_\-+/]{16,}`)

// holdsClear reports whether b holds any of needles, as bytes or inside
// a base64 run (decoded at each of its alignments), so that a selector in
// signed metadata (a JWS payload) or in a JSON []byte is found too.
func holdsClear(b []byte, needles ...string) bool {
	check := func(x []byte) bool {
		for _, n := range needles {
			if bytes.Contains(x, []byte(n)) {
				return true
			}
		}
		return false
	}
	if check(b) {
		return true
	}
	for _, run := range base64Run.FindAll(b, -1) {
		for off := 0; off < 4 && off < len(run); off++ {
			s := string(run[off:])
			s = s[:len(s)-len(s)%4]
			for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
				if d, err := enc.DecodeString(s); err == nil && check(d) {
					return true
				}
			}
		}
	}
	return false
}
