package gateway_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

func decodeAs[T any, P interface {
	*T
	api.Response
}](t *testing.T, r *gatewaytest.Response) T {
	t.Helper()
	return *gatewaytest.Decode[T, P](t, r)
}

func consentsOf(t *testing.T, c *gatewaytest.Client, recordID string) []api.ConsentItem {
	t.Helper()
	r := c.MustDo("GET", "/v1/consents?state=all", nil)
	if r.Status != 200 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	var out []api.ConsentItem
	for _, it := range decodeAs[api.ConsentList](t, r).Items {
		if it.RecordID == recordID {
			out = append(out, it)
		}
	}
	return out
}

func pendingOf(items []api.ConsentItem) []api.ConsentItem {
	var out []api.ConsentItem
	for _, it := range items {
		if it.State == "pending" {
			out = append(out, it)
		}
	}
	return out
}

func hasConsentReason(rs []api.ConsentItem) bool {
	for _, it := range rs {
		if len(it.Reasons) == 0 || it.Reasons[0].Code != "originator_consent_required" || it.Reasons[0].Message == "" {
			return false
		}
	}
	return len(rs) > 0
}

// TestConsentDuplicateFilingReturnsThePendingRequest: filing the same share
// again (sequentially or concurrently) while one request is pending answers
// with that request; exactly one is pending.
func TestConsentDuplicateFilingReturnsThePendingRequest(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	id := publish(t, met, recordBody())
	share := map[string]any{"recipients": []string{"nca"}, "note": "NCA leads on the OCG"}

	r := rocu.MustDo("POST", "/v1/records/"+id+"/shares", share)
	if r.Status != http.StatusAccepted {
		t.Fatalf("first filing: %d %s", r.Status, r.Body)
	}
	first := decodeAs[api.ConsentFiled](t, r)
	if first.Duplicate || first.State != "pending" || len(first.PreviousRefusals) != 0 {
		t.Fatalf("first filing: %s", r.Body)
	}
	if len(first.Reasons) == 0 || first.Reasons[0].Code != "originator_consent_required" || first.Reasons[0].Message == "" {
		t.Fatalf("the 202 does not say why consent is required: %s", r.Body)
	}

	// Sequential duplicate (another note: still the same request).
	r = rocu.MustDo("POST", "/v1/records/"+id+"/shares", map[string]any{"recipients": []string{"nca"}, "note": "again"})
	again := decodeAs[api.ConsentFiled](t, r)
	if r.Status != http.StatusAccepted || again.ConsentID != first.ConsentID || !again.Duplicate ||
		r.Header.Get("Location") != "/v1/consents/"+first.ConsentID {
		t.Fatalf("duplicate filing: %d %s (first %s)", r.Status, r.Body, first.ConsentID)
	}
	if len(again.Reasons) == 0 || again.Reasons[0].Code != "originator_consent_required" {
		t.Fatalf("duplicate's reasons: %s", r.Body)
	}

	// Concurrent duplicates on a fresh record: one request, every answer names it.
	id2 := publish(t, met, recordBody())
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := rocu.Do("POST", "/v1/records/"+id2+"/shares", share)
			if err != nil || r.Status != http.StatusAccepted {
				return
			}
			var f api.ConsentFiled
			if api.Decode(r.Body, &f) == nil {
				ids[i] = f.ConsentID
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if ids[i] == "" || ids[i] != ids[0] {
			t.Fatalf("concurrent filings answered %v", ids)
		}
	}

	for rec, want := range map[string]string{id: first.ConsentID, id2: ids[0]} {
		for who, c := range map[string]*gatewaytest.Client{"originator": met, "requester": rocu} {
			items := consentsOf(t, c, rec)
			if len(items) != 1 || len(pendingOf(items)) != 1 || items[0].ConsentID != want {
				t.Fatalf("%s sees %d requests for %s, want one pending %s: %+v", who, len(items), rec, want, items)
			}
			if !hasConsentReason(items) {
				t.Fatalf("%s's list does not say why consent is required: %+v", who, items)
			}
		}
	}
}

// TestConsentRefusedThenRefiledShowsTheRepeat: after a refusal the same
// request may be filed again, and the new request carries the refusals it
// repeats, in the 202 and in the originator's list.
func TestConsentRefusedThenRefiledShowsTheRepeat(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	id := publish(t, met, recordBody())
	share := map[string]any{"recipients": []string{"nca"}}

	file := func() api.ConsentFiled {
		t.Helper()
		r := rocu.MustDo("POST", "/v1/records/"+id+"/shares", share)
		if r.Status != http.StatusAccepted {
			t.Fatalf("filing: %d %s", r.Status, r.Body)
		}
		return decodeAs[api.ConsentFiled](t, r)
	}
	refuse := func(cid string) {
		t.Helper()
		if r := met.MustDo("POST", "/v1/consents/"+cid+"/refuse", nil); r.Status != 200 || decodeAs[api.ConsentDecided](t, r).State != "refused" {
			t.Fatalf("refuse: %d %s", r.Status, r.Body)
		}
	}

	c1 := file()
	refuse(c1.ConsentID)
	c2 := file()
	if c2.ConsentID == c1.ConsentID || c2.Duplicate {
		t.Fatalf("re-filing after a refusal must be a new request: %+v", c2)
	}
	if len(c2.PreviousRefusals) != 1 || c2.PreviousRefusals[0].ConsentID != c1.ConsentID || c2.PreviousRefusals[0].RefusedBy != "met-police" ||
		c2.PreviousRefusals[0].RefusedAt == "" {
		t.Fatalf("the re-filed request does not show the refusal it repeats: %+v", c2)
	}
	refuse(c2.ConsentID)
	c3 := file()
	if len(c3.PreviousRefusals) != 2 || c3.PreviousRefusals[0].ConsentID != c1.ConsentID || c3.PreviousRefusals[1].ConsentID != c2.ConsentID {
		t.Fatalf("second repeat: %+v", c3)
	}

	items := consentsOf(t, met, id)
	pend := pendingOf(items)
	if len(items) != 3 || len(pend) != 1 || pend[0].ConsentID != c3.ConsentID || pend[0].Role != "originator" ||
		len(pend[0].PreviousRefusals) != 2 || pend[0].PreviousRefusals[1].ConsentID != c2.ConsentID || !hasConsentReason(items) {
		t.Fatalf("originator's list: %+v", items)
	}

	// An expired request is no refusal, and the next filing replaces it.
	env.SetClock(time.Now().Add(env.Cfg.Consents.TTL + time.Hour))
	defer env.SetClock(time.Time{})
	c4 := file()
	if c4.ConsentID == c3.ConsentID || c4.Duplicate || len(c4.PreviousRefusals) != 2 {
		t.Fatalf("filing after expiry: %+v (expired %s)", c4, c3.ConsentID)
	}
}

// TestConsentFilingRaceAcrossNodes: two gateway nodes sharing a store are
// not serialised by the record lock; the conditional create of the
// request's slot is. A slot claimed by a filing still in flight on another
// node answers 409 (retry), and nothing new is filed; a slot abandoned by a
// node that crashed mid-filing is skipped once the request timeout is past.
func TestConsentFilingRaceAcrossNodes(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	id := publish(t, met, recordBody())
	share := map[string]any{"recipients": []string{"nca"}}
	r := rocu.MustDo("POST", "/v1/records/"+id+"/shares", share)
	c1 := decodeAs[api.ConsentFiled](t, r)
	if r := met.MustDo("POST", "/v1/consents/"+c1.ConsentID+"/refuse", nil); r.Status != 200 {
		t.Fatalf("refuse: %d %s", r.Status, r.Body)
	}
	// The other node claims the next slot and has not stored its request yet.
	slots, err := filepath.Glob(filepath.Join(env.Cfg.Store.FS.Dir, "consent-slots", "*", "*"))
	if err != nil || len(slots) != 1 {
		t.Fatalf("slots: %v %v", slots, err)
	}
	next := filepath.Join(filepath.Dir(slots[0]), fmt.Sprintf("%010d", 1))
	claim := fmt.Sprintf(`{"consent_id":"con_00000000000000000000000000","claimed":%q}`, env.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(next, []byte(claim), 0o600); err != nil {
		t.Fatal(err)
	}
	r = rocu.MustDo("POST", "/v1/records/"+id+"/shares", share)
	if r.Status != http.StatusConflict || r.Header.Get("Retry-After") == "" {
		t.Fatalf("filing while another node files the same request: %d %s", r.Status, r.Body)
	}
	if items := consentsOf(t, met, id); len(pendingOf(items)) != 0 {
		t.Fatalf("a request was filed beside the one in flight: %+v", items)
	}
	// That node crashed: after the request timeout its claim is abandoned.
	env.SetClock(time.Now().Add(env.Cfg.Limits.RequestTimeout + time.Minute))
	defer env.SetClock(time.Time{})
	r = rocu.MustDo("POST", "/v1/records/"+id+"/shares", share)
	c2 := decodeAs[api.ConsentFiled](t, r)
	if r.Status != http.StatusAccepted || c2.Duplicate || len(c2.PreviousRefusals) != 1 || c2.PreviousRefusals[0].ConsentID != c1.ConsentID {
		t.Fatalf("filing after an abandoned claim: %d %s", r.Status, r.Body)
	}
	if items := consentsOf(t, met, id); len(pendingOf(items)) != 1 {
		t.Fatalf("pending after the abandoned claim: %+v", items)
	}
}
