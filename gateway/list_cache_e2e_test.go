package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestListCachedEqualsUncached: listing pages loaded through the cache of
// verified record metadata (recordstore.LoadListed) are byte for byte the
// pages loaded without it — with the cache cold and warm, for recipients,
// originators, parties that are neither and an officer, several purposes,
// page sizes and filters — and stay so after records that the cache holds
// are recalled (DELETE) or altered in the store: a recalled record is not
// listed, an altered one is refused and counted as an integrity failure,
// as without the cache.
func TestListCachedEqualsUncached(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	published, attempted, _ := publishListVariants(t, env)
	t.Logf("%d of %d records published", published, attempted)
	env.SetClock(time.Now().UTC())

	officer := env.OfficerToken("nca", jose.Officer{ID: "nca-1", Clearance: "BPSS", Roles: []string{"analyst"}}, time.Hour)
	type caller struct {
		name string
		c    *gatewaytest.Client
	}
	var callers []caller
	for _, who := range []string{"rocu-nw", "met-police", "hmrc", "selec", "nca/officer"} {
		for _, purpose := range []string{"", "investigation", "detection"} {
			agency, _, _ := strings.Cut(who, "/")
			c := env.Client(agency)
			if who == "nca/officer" {
				c.Headers["Authorization"] = "Bearer " + officer
			}
			if purpose != "" {
				c.Headers["Liaison-Purpose"] = purpose
			}
			callers = append(callers, caller{fmt.Sprintf("%s/%q", who, purpose), c})
		}
	}
	queries := []string{"limit=100", "limit=7", "limit=25&ocg=ocg-2291"}
	compare := func(name string, got, want [][]byte) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %d pages, without the cache %d", name, len(got), len(want))
			return
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: page %d differs from the page without the cache:\n got %s\nwant %s", name, i, got[i], want[i])
			}
		}
	}
	// every walks every caller's listings with the cache off, then on
	// (cold, as SetListCache empties it), then on again (warm), and
	// compares; it returns the pages without the cache.
	every := func(stage string) map[string][][]byte {
		uncached := map[string][][]byte{}
		for _, cl := range callers {
			for _, q := range queries {
				name := stage + "/" + cl.name + "/" + q
				env.GW.SetListCache(false)
				want, _ := walkList(t, cl.c, q)
				uncached[name] = want
				env.GW.SetListCache(true)
				cold, _ := walkList(t, cl.c, q)
				compare(name+" (cold)", cold, want)
				warm, _ := walkList(t, cl.c, q)
				compare(name+" (warm)", warm, want)
			}
		}
		return uncached
	}
	every("before")
	hits, misses, entries := env.GW.ListCacheStats()
	if hits == 0 {
		t.Fatalf("the cache served nothing (%d hits, %d misses, %d entries): the test does not exercise it", hits, misses, entries)
	}
	t.Logf("cache: %d hits, %d misses", hits, misses)

	// Fill the cache with what rocu-nw lists, then recall some of those
	// records and alter others in the store.
	rocu := env.Client("rocu-nw")
	pages, _ := walkList(t, rocu, "limit=100")
	type listedItem struct {
		ID   string `json:"id"`
		Meta struct {
			Originator struct {
				OrgID string `json:"org_id"`
			} `json:"originator"`
		} `json:"meta"`
	}
	var listed []listedItem
	for _, p := range pages {
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(p, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			var item listedItem
			if err := json.Unmarshal(it, &item); err != nil {
				t.Fatal(err)
			}
			listed = append(listed, item)
		}
	}
	if len(listed) < 8 {
		t.Fatalf("rocu-nw lists %d records: too few to recall and alter some", len(listed))
	}
	listed = listed[:min(len(listed), 20)]
	walkList(t, rocu, "limit=100") // every listed record is now a hit
	var recalled, altered []string
	for i, it := range listed {
		if i%2 == 0 {
			if r := env.Client(it.Meta.Originator.OrgID).MustDo("DELETE", "/v1/records/"+it.ID, nil); r.Status != 200 {
				t.Fatalf("recall %s: %d %s", it.ID, r.Status, r.Body)
			}
			recalled = append(recalled, it.ID)
			continue
		}
		path := filepath.Join(env.Cfg.Store.FS.Dir, "records", it.ID)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		jws, sealed := splitRecordObject(t, b)
		jws[len(jws)/2] ^= 0x01 // in the payload: its signature no longer verifies
		if err := os.WriteFile(path, joinRecordObject(jws, sealed), 0o600); err != nil {
			t.Fatal(err)
		}
		altered = append(altered, it.ID)
	}
	// With the cache as it was filled: none of them is listed.
	failures := integrityFailures(t, env)
	pages, _ = walkList(t, rocu, "limit=100")
	for _, p := range pages {
		for _, id := range append(append([]string(nil), recalled...), altered...) {
			if bytes.Contains(p, []byte(id)) {
				t.Errorf("%s was listed after it was recalled or altered in the store", id)
			}
		}
	}
	if got := integrityFailures(t, env) - failures; got < len(altered) {
		t.Errorf("%d integrity failures counted for %d altered records", got, len(altered))
	}
	every("after")
}
