package gateway_test

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestListSharedDecisionsEqualReference: a listing page that shares one
// record.list decision among candidates whose inputs differ only in their
// id, version and creation time returns exactly the pages (items, order,
// every field, cursors) that deciding every candidate returns
// (SetListReference), for recipients, originators, parties that are
// neither, several purposes, page sizes and filters, over records that
// differ in every marking the policy reads.
func TestListSharedDecisionsEqualReference(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	published, attempted, copies := publishListVariants(t, env)
	if published < 100*copies/3 {
		t.Fatalf("only %d records published: the variants no longer pass the policy", published)
	}
	t.Logf("%d of %d records published", published, attempted)
	env.SetClock(time.Now().UTC())

	walk := func(c *gatewaytest.Client, query string) ([][]byte, int) { return walkList(t, c, query) }
	partial := false
	// Agencies' systems, and officers with their own clearance (a
	// border-force caller must name its officer).
	officers := map[string]string{
		"border-force": env.OfficerToken("border-force", jose.Officer{ID: "bf-1", Clearance: "SC", Roles: []string{"analyst"}}, time.Hour),
		"nca/officer":  env.OfficerToken("nca", jose.Officer{ID: "nca-1", Clearance: "BPSS", Roles: []string{"analyst"}}, time.Hour),
	}
	for _, caller := range []string{"rocu-nw", "nca", "met-police", "hmrc", "selec", "border-force", "nca/officer"} {
		for _, purpose := range []string{"", "investigation", "prevention", "detection"} {
			agency, _, _ := strings.Cut(caller, "/")
			c := env.Client(agency)
			if tok := officers[caller]; tok != "" {
				c.Headers["Authorization"] = "Bearer " + tok
			}
			if purpose != "" {
				c.Headers["Liaison-Purpose"] = purpose
			}
			for _, query := range []string{"limit=100", "limit=7", "limit=25&ocg=ocg-2291"} {
				name := fmt.Sprintf("%s/%q/%s", caller, purpose, query)
				env.GW.SetListReference(true)
				want, n := walk(c, query)
				env.GW.SetListReference(false)
				got, _ := walk(c, query)
				if len(got) != len(want) {
					t.Errorf("%s: %d pages, reference %d", name, len(got), len(want))
					continue
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Errorf("%s: page %d differs from the reference:\n got %s\nwant %s", name, i, got[i], want[i])
					}
				}
				if n > 0 && n < published {
					partial = true
				}
			}
		}
	}
	if !partial {
		t.Error("no caller saw part of the records: the test no longer mixes allowed and refused candidates")
	}
}

// publishListVariants publishes records that differ in every marking a
// listing decision reads — originator, tier, TLP, recipients, DSA and
// purposes, one in four tagged with an organised crime group — three of
// each variant, interleaved (one under -short, the race pass, which still
// mixes decisions on a page). It returns how many the policy accepted, of
// how many, and the copies of each variant.
func publishListVariants(t *testing.T, env *gatewaytest.Env) (published, attempted, copies int) {
	t.Helper()
	type variant struct {
		originator string
		mut        func(map[string]any)
	}
	var variants []variant
	for _, orig := range []string{"met-police", "hmrc"} {
		for _, tier := range []string{"OFFICIAL", "OFFICIAL-SENSITIVE", "SECRET"} {
			for _, tlp := range []string{"GREEN", "AMBER", "RED"} {
				for _, rc := range [][]any{{"rocu-nw"}, {"rocu-nw", "nca"}, {"hmrc", "met-police"}, {"selec"}} {
					for _, purposes := range [][]any{{"investigation"}, {"prevention", "detection"}} {
						variants = append(variants, variant{orig, func(m map[string]any) {
							m["classification"] = map[string]any{"tier": tier}
							m["tlp"] = tlp
							m["recipients"] = rc
							m["allowed_purposes"] = purposes
							if rc[0] == "selec" {
								m["dsa_ids"] = []any{"dsa-selec-ops"}
							}
						}})
					}
				}
			}
		}
	}
	copies = 3
	if testing.Short() {
		copies = 1
	}
	for i := 0; i < copies*len(variants); i++ {
		// Three records of each variant, interleaved, some tagged: pages
		// mix decisions, and each decision serves several records.
		v := variants[i%len(variants)]
		body := recordBody(v.mut, func(m map[string]any) {
			if i%4 == 0 {
				m["ocg_ids"] = []any{"ocg-2291"}
			}
		})
		r, err := env.Client(v.originator).Do("POST", "/v1/records", body)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == 201 {
			published++
		}
	}
	return published, copies * len(variants), copies
}

// walkList walks a listing from its first page to its last, returning
// every page's body and the number of items.
func walkList(t *testing.T, c *gatewaytest.Client, query string) ([][]byte, int) {
	t.Helper()
	var pages [][]byte
	items, cursor := 0, ""
	for {
		p := "/v1/records?" + query
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r, err := c.Do("GET", p, nil)
		if err != nil || r.Status != 200 {
			t.Fatalf("GET %s: %v %v", p, err, r)
		}
		pages = append(pages, r.Body)
		its, _ := r.JSON["items"].([]any)
		items += len(its)
		cursor, _ = r.JSON["next_cursor"].(string)
		if cursor == "" {
			return pages, items
		}
	}
}
