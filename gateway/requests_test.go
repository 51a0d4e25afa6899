package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/search"
	"github.com/liaison-project/liaison/policies"
)

// Requests for information (docs/requests.md), end to end through the API.

// hitRef issues a hit reference to searcher as the search endpoint would.
func hitRef(t *testing.T, env *gatewaytest.Env, searcher, recordID, holder, dsa string) string {
	t.Helper()
	ref, err := env.GW.SealHitRef(search.Ref{RecordID: recordID, Holder: holder, DSA: dsa, Searcher: searcher, Issued: env.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func requestBody(ref string, mut ...func(b map[string]any)) map[string]any {
	b := map[string]any{"reference": ref, "purpose": "investigation", "justification": "phone number hit, OP-KINGFISHER lead 7",
		"case": "OP-KINGFISHER", "urgency": "normal", "access": "direct", "detail": "subscriber details and linked addresses"}
	for _, m := range mut {
		m(b)
	}
	return b
}

func fileRequest(t *testing.T, c *gatewaytest.Client, body any) api.InfoRequest {
	t.Helper()
	r := c.MustDo("POST", "/v1/requests", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("file: %d %s", r.Status, r.Body)
	}
	rq := decodeAs[api.InfoRequest](t, r)
	if !strings.HasPrefix(rq.ID, "req_") || r.Header.Get("Location") != "/v1/requests/"+rq.ID {
		t.Fatalf("filed %q at %q", rq.ID, r.Header.Get("Location"))
	}
	return rq
}

func getRequest(t *testing.T, c *gatewaytest.Client, id string) (api.InfoRequest, *gatewaytest.Response) {
	t.Helper()
	r := c.MustDo("GET", "/v1/requests/"+id, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("get %s: %d %s", id, r.Status, r.Body)
	}
	return decodeAs[api.InfoRequest](t, r), r
}

func answer(t *testing.T, c *gatewaytest.Client, id string, body map[string]any, want int) (api.InfoRequest, *gatewaytest.Response) {
	t.Helper()
	r := c.MustDo("POST", "/v1/requests/"+id+"/answer", body)
	if r.Status != want {
		t.Fatalf("answer %v: %d %s, want %d", body, r.Status, r.Body, want)
	}
	if want != http.StatusOK {
		return api.InfoRequest{}, r
	}
	return decodeAs[api.InfoRequest](t, r), r
}

func listRequests(t *testing.T, c *gatewaytest.Client, query string) []api.InfoRequest {
	t.Helper()
	var out []api.InfoRequest
	cursor := ""
	for range 100 {
		q := query
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := c.MustDo("GET", "/v1/requests?"+q, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list ?%s: %d %s", q, r.Status, r.Body)
		}
		l := decodeAs[api.InfoRequestList](t, r)
		out = append(out, l.Items...)
		if cursor = l.NextCursor; cursor == "" {
			return out
		}
	}
	t.Fatal("listing never ended")
	return nil
}

func ids(items []api.InfoRequest) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

// requestEntries are the audit entries about request id, in log order.
func requestEntries(env *gatewaytest.Env, id string) []audit.Event {
	var out []audit.Event
	for _, e := range env.Audit() {
		if e.InfoRequestID == id {
			out = append(out, e)
		}
	}
	return out
}

// wantEntry finds an uncorrected entry of the request with this action and
// status, and returns it.
func wantEntry(t *testing.T, evs []audit.Event, action string, op string, status int) audit.Event {
	t.Helper()
	for _, e := range evs {
		if e.Action == action && e.Operation == op && e.Status == status && e.Corrects == 0 {
			return e
		}
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Action+"/"+e.Operation+"/"+strconv.Itoa(e.Status))
	}
	t.Fatalf("no %s %s %d entry among %v", action, op, status, got)
	return audit.Event{}
}

// TestRequestFiledAndAnsweredByShare: the searcher files with a hit
// reference, the holder sees the record id in its queue and answers by
// sharing through the share path; the searcher can then read the record,
// but no answer about the request ever told it the record id.
func TestRequestFiledAndAnsweredByShare(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	t0 := time.Now().UTC().Truncate(time.Second)
	env.SetClock(t0)
	met := env.Client("met-police")
	nca := env.Client("nca")
	recID := publish(t, met, recordBody())
	ref := hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc")

	r := nca.MustDo("POST", "/v1/requests", requestBody(ref))
	if r.Status != http.StatusCreated {
		t.Fatalf("file: %d %s", r.Status, r.Body)
	}
	filed := decodeAs[api.InfoRequest](t, r)
	if bytes.Contains(r.Body, []byte(recID)) {
		t.Fatalf("the requester's answer names the record: %s", r.Body)
	}
	if filed.State != "open" || filed.Role != "requester" || filed.Holder != "met-police" || filed.Requester != "nca" ||
		filed.DSA != "dsa-uk-soc" || filed.Reference != ref || filed.RecordID != "" || filed.DeadlineHours != 168 ||
		filed.Due != t0.Add(168*time.Hour).Format(time.RFC3339) || filed.Overdue || filed.Clock != "running" ||
		filed.DecisionID == "" || len(filed.History) != 1 || filed.History[0].Action != "filed" {
		t.Fatalf("filed: %s", r.Body)
	}

	// The holder's queue has it, with the record id.
	queue := listRequests(t, met, "role=holder&state=open")
	if len(queue) != 1 || queue[0].ID != filed.ID || queue[0].RecordID != recID || queue[0].Role != "holder" || queue[0].Reference != "" {
		t.Fatalf("holder queue: %+v", queue)
	}
	if got := listRequests(t, met, "role=requester"); len(got) != 0 {
		t.Fatalf("the holder lists %v as its own requests", ids(got))
	}
	mine := nca.MustDo("GET", "/v1/requests?role=requester", nil)
	if mine.Status != 200 || bytes.Contains(mine.Body, []byte(recID)) || !bytes.Contains(mine.Body, []byte(filed.ID)) {
		t.Fatalf("requester list: %d %s", mine.Status, mine.Body)
	}
	// Before the answer the requester cannot read the record.
	if r := nca.With(hPurpose, "investigation", hJust, "OP-KINGFISHER lead 7").MustDo("GET", "/v1/records/"+recID, nil); r.Status != 404 {
		t.Fatalf("requester read before the answer: %d", r.Status)
	}

	env.SetClock(t0.Add(2 * time.Hour))
	ans, ar := answer(t, met, filed.ID, map[string]any{"action": "share"}, http.StatusOK)
	if ans.State != "answered" || ans.Version != 2 || ans.RecordID != recID || ans.Clock != "done" || ans.Overdue ||
		len(ans.History) != 2 || ans.History[1].Action != "shared" || ans.History[1].Agency != "met-police" {
		t.Fatalf("answer: %s", ar.Body)
	}
	// Once shared, the requester is a recipient: its view names the record
	// (it could list it anyway), and still carries its reference.
	seen, gr := getRequest(t, nca, filed.ID)
	if seen.State != "answered" || seen.RecordID != recID || seen.Version != 2 || seen.Reference == "" {
		t.Fatalf("requester's view after the answer: %s", gr.Body)
	}
	// The share went through the share path: nca is a recipient, and reads.
	if r := nca.With(hPurpose, "investigation", hJust, "OP-KINGFISHER lead 7").MustDo("GET", "/v1/records/"+recID, nil); r.Status != 200 {
		t.Fatalf("requester read after the answer: %d %s", r.Status, r.Body)
	}
	// Answering twice is a conflict, and changes nothing.
	answer(t, met, filed.ID, map[string]any{"action": "share"}, http.StatusConflict)

	evs := requestEntries(env, filed.ID)
	fe := wantEntry(t, evs, "request.file", audit.OpConsultation, 201)
	if len(fe.RecordIDs) != 0 || fe.Originator != "met-police" || len(fe.DSAIDs) != 1 || fe.DSAIDs[0] != "dsa-uk-soc" ||
		fe.Decision == nil || !fe.Decision.Allow || fe.Purpose != "investigation" || fe.Case != "OP-KINGFISHER" {
		t.Fatalf("filing entry: %+v", fe)
	}
	de := wantEntry(t, evs, "request.answer", audit.OpDisclosure, 200)
	if len(de.Recipients) != 1 || de.Recipients[0] != "nca" || len(de.RecordIDs) != 1 || de.RecordIDs[0] != recID ||
		de.Purpose != "investigation" || de.Justification != "phone number hit, OP-KINGFISHER lead 7" {
		t.Fatalf("share entry: %+v", de)
	}
	ae := wantEntry(t, evs, "request.answer", audit.OpConsultation, 200)
	if !strings.Contains(ae.Error, "shared with the requester") || ae.Agency != "met-police" {
		t.Fatalf("answer entry: %+v", ae)
	}
	wantEntry(t, evs, "request.answer", audit.OpDenial, 409)
	for _, e := range evs {
		if e.Agency == "nca" && len(e.RecordIDs) > 0 {
			t.Fatalf("an entry of the requester names the record: %+v", e)
		}
	}
}

// TestRequestRefused: a refusal needs a reason; the requester sees it.
func TestRequestRefused(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	met, nca := env.Client("met-police"), env.Client("nca")
	recID := publish(t, met, recordBody())
	filed := fileRequest(t, nca, requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc")))

	r := met.MustDo("POST", "/v1/requests/"+filed.ID+"/answer", map[string]any{"action": "refuse"})
	if p := r.Problem(t); r.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Pointer != "/reason" {
		t.Fatalf("refusal without a reason: %d %s", r.Status, r.Body)
	}
	// The requester cannot answer its own request.
	answer(t, nca, filed.ID, map[string]any{"action": "refuse", "reason": "no"}, http.StatusForbidden)
	got, _ := answer(t, met, filed.ID, map[string]any{"action": "refuse", "reason": "the subscriber is a protected witness"}, http.StatusOK)
	if got.State != "refused" || got.Clock != "done" {
		t.Fatalf("refused: %+v", got)
	}
	seen, _ := getRequest(t, nca, filed.ID)
	last := seen.History[len(seen.History)-1]
	if seen.State != "refused" || last.Action != "refused" || last.Text != "the subscriber is a protected witness" || last.Agency != "met-police" {
		t.Fatalf("requester sees: %+v", seen)
	}
	if got := listRequests(t, nca, "state=refused"); len(got) != 1 || got[0].ID != filed.ID {
		t.Fatalf("state=refused: %v", ids(got))
	}
	if got := listRequests(t, nca, "state=open"); len(got) != 0 {
		t.Fatalf("state=open: %v", ids(got))
	}
	wantEntry(t, requestEntries(env, filed.ID), "request.answer", audit.OpConsultation, 200)
	if r := nca.With(hPurpose, "investigation", hJust, "OP-KINGFISHER lead 7").MustDo("GET", "/v1/records/"+recID, nil); r.Status != 404 {
		t.Fatalf("a refused requester reads the record: %d", r.Status)
	}
}

// TestRequestNeedDetailStopsTheClock: need_detail stops the clock; the
// requester's detail restarts it with the time that remained.
func TestRequestNeedDetailStopsTheClock(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	t0 := time.Now().UTC().Truncate(time.Second)
	env.SetClock(t0)
	met, nca := env.Client("met-police"), env.Client("nca")
	recID := publish(t, met, recordBody())
	filed := fileRequest(t, nca, requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc"), func(b map[string]any) { b["urgency"] = "urgent" }))
	if filed.DeadlineHours != 8 || filed.Due != t0.Add(8*time.Hour).Format(time.RFC3339) {
		t.Fatalf("urgent direct: %+v", filed)
	}
	// Detail from the requester before anyone asked: not possible.
	if r := nca.MustDo("POST", "/v1/requests/"+filed.ID+"/detail", map[string]any{"text": "more"}); r.Status != http.StatusConflict {
		t.Fatalf("unasked detail: %d %s", r.Status, r.Body)
	}
	env.SetClock(t0.Add(3 * time.Hour))
	asked, _ := answer(t, met, filed.ID, map[string]any{"action": "need_detail", "question": "Which date range?"}, http.StatusOK)
	if asked.State != "needs_detail" || asked.Clock != "stopped" {
		t.Fatalf("need_detail: %+v", asked)
	}
	// The holder cannot answer while it waits, and the clock stands still.
	answer(t, met, filed.ID, map[string]any{"action": "share"}, http.StatusConflict)
	env.SetClock(t0.Add(20 * time.Hour))
	for _, c := range []*gatewaytest.Client{met, nca} {
		if v, _ := getRequest(t, c, filed.ID); v.Overdue || v.State != "needs_detail" {
			t.Fatalf("while waiting for detail: %+v", v)
		}
	}
	// Only the requester gives detail; 5 h remained, so due is t0+25h.
	if r := met.MustDo("POST", "/v1/requests/"+filed.ID+"/detail", map[string]any{"text": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("holder gives detail: %d", r.Status)
	}
	r := nca.MustDo("POST", "/v1/requests/"+filed.ID+"/detail", map[string]any{"text": "1 March to 30 April 2026"})
	if r.Status != 200 {
		t.Fatalf("detail: %d %s", r.Status, r.Body)
	}
	detailed := decodeAs[api.InfoRequest](t, r)
	wantDue := t0.Add(25 * time.Hour).Format(time.RFC3339)
	if detailed.State != "open" || detailed.Due != wantDue || detailed.Clock != "running" || detailed.History[len(detailed.History)-1].Due != wantDue {
		t.Fatalf("after detail: %s (want due %s)", r.Body, wantDue)
	}
	env.SetClock(t0.Add(25 * time.Hour))
	if v, _ := getRequest(t, met, filed.ID); v.Overdue {
		t.Fatal("overdue at its due time")
	}
	env.SetClock(t0.Add(25*time.Hour + time.Second))
	for _, c := range []*gatewaytest.Client{met, nca} {
		if v, _ := getRequest(t, c, filed.ID); !v.Overdue {
			t.Fatal("not overdue after its restarted due time")
		}
	}
	done, _ := answer(t, met, filed.ID, map[string]any{"action": "share"}, http.StatusOK)
	if done.State != "answered" || done.Overdue {
		t.Fatalf("answered late: %+v", done)
	}
	var actions []string
	for _, h := range done.History {
		actions = append(actions, h.Action)
	}
	if strings.Join(actions, ",") != "filed,need_detail,detail,shared" {
		t.Fatalf("history: %v", actions)
	}
	evs := requestEntries(env, filed.ID)
	for _, a := range []string{"request.file", "request.detail"} {
		e := wantEntry(t, evs, a, audit.OpConsultation, map[string]int{"request.file": 201, "request.detail": 200}[a])
		if e.Agency != "nca" || len(e.RecordIDs) != 0 {
			t.Fatalf("%s entry: %+v", a, e)
		}
	}
	if e := wantEntry(t, evs, "request.answer", audit.OpConsultation, 200); !strings.Contains(e.Error, "more detail") {
		t.Fatalf("first answer entry: %+v", e)
	}
}

// TestRequestWithdrawn: only the requester withdraws, once; the holder
// can no longer answer.
func TestRequestWithdrawn(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	met, nca := env.Client("met-police"), env.Client("nca")
	recID := publish(t, met, recordBody())
	filed := fileRequest(t, nca, requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc")))
	if r := met.MustDo("POST", "/v1/requests/"+filed.ID+"/withdraw", nil); r.Status != http.StatusForbidden {
		t.Fatalf("holder withdraws: %d", r.Status)
	}
	r := nca.MustDo("POST", "/v1/requests/"+filed.ID+"/withdraw", nil)
	if r.Status != 200 || decodeAs[api.InfoRequest](t, r).State != "withdrawn" {
		t.Fatalf("withdraw: %d %s", r.Status, r.Body)
	}
	if r := nca.MustDo("POST", "/v1/requests/"+filed.ID+"/withdraw", nil); r.Status != http.StatusConflict {
		t.Fatalf("withdraw twice: %d", r.Status)
	}
	answer(t, met, filed.ID, map[string]any{"action": "share"}, http.StatusConflict)
	if v, _ := getRequest(t, met, filed.ID); v.State != "withdrawn" || v.History[len(v.History)-1].Action != "withdrawn" {
		t.Fatalf("holder sees: %+v", v)
	}
	wantEntry(t, requestEntries(env, filed.ID), "request.withdraw", audit.OpConsultation, 200)
	if r := nca.With(hPurpose, "investigation", hJust, "OP-KINGFISHER lead 7").MustDo("GET", "/v1/records/"+recID, nil); r.Status != 404 {
		t.Fatalf("withdrawn requester reads: %d", r.Status)
	}
}

// TestRequestPolicyAndReferences: the policy decides who may file (403
// with its public reasons); a reference that does not open for the caller
// is 404, whatever is wrong with it (forged, altered, another agency's,
// expired), so the answer is no oracle; a malformed one is 400.
func TestRequestPolicyAndReferences(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	met, nca, rocu := env.Client("met-police"), env.Client("nca"), env.Client("rocu-nw")
	recID := publish(t, met, recordBody())
	before := storeState(t, env)

	// nca is no party of dsa-selec-ops.
	r := nca.MustDo("POST", "/v1/requests", requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-selec-ops")))
	wantReason(t, r, http.StatusForbidden, "request_party_required")
	// border-force is no party of dsa-uk-soc.
	bf := env.Client("border-force").WithToken(env.OfficerToken("border-force", jose.Officer{ID: "bf-1", Clearance: "SC"}, time.Hour))
	r = bf.MustDo("POST", "/v1/requests", requestBody(hitRef(t, env, "border-force", recID, "met-police", "dsa-uk-soc")))
	wantReason(t, r, http.StatusForbidden, "request_party_required")
	// The holder cannot ask itself.
	r = met.MustDo("POST", "/v1/requests", requestBody(hitRef(t, env, "met-police", recID, "met-police", "dsa-uk-soc")))
	wantReason(t, r, http.StatusForbidden, "request_to_self")
	// A purpose the DSA does not permit.
	r = nca.MustDo("POST", "/v1/requests", requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc"), func(b map[string]any) { b["purpose"] = "public_security" }))
	wantReason(t, r, http.StatusForbidden, "purpose_not_permitted")
	// A justification too short for the policy.
	r = nca.MustDo("POST", "/v1/requests", requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc"), func(b map[string]any) { b["justification"] = "why" }))
	wantReason(t, r, http.StatusForbidden, "justification_required")

	good := hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc")
	// One base64url character of the sealed part changed to another
	// base64url character: well formed, so it reaches the key, and fails
	// authentication there.
	altered := []byte(good)
	if i := len(altered) - 5; altered[i] == 'A' {
		altered[i] = 'B'
	} else {
		altered[i] = 'A'
	}
	for name, ref := range map[string]string{
		"another agency's":      hitRef(t, env, "rocu-nw", recID, "met-police", "dsa-uk-soc"),
		"altered":               string(altered),
		"forged":                "hit_" + strings.Repeat("A", 80),
		"expired":               "",
		"for a gone record":     hitRef(t, env, "nca", "rec_00000000000000000000000000", "met-police", "dsa-uk-soc"),
		"naming a wrong holder": hitRef(t, env, "nca", recID, "hmrc", "dsa-uk-soc"),
	} {
		if name == "expired" {
			old, err := env.GW.SealHitRef(search.Ref{RecordID: recID, Holder: "met-police", DSA: "dsa-uk-soc", Searcher: "nca",
				Issued: env.Now().Add(-search.RefTTL - time.Hour).Unix()})
			if err != nil {
				t.Fatal(err)
			}
			ref = old
		}
		r := nca.MustDo("POST", "/v1/requests", requestBody(ref))
		if r.Status != http.StatusNotFound || r.Problem(t).Type != api.ProblemTypeBase+"not-found" {
			t.Errorf("%s reference: %d %s", name, r.Status, r.Body)
		}
	}
	for name, ref := range map[string]string{"no prefix": strings.TrimPrefix(good, "hit_"), "not base64url": good + "!", "too long": "hit_" + strings.Repeat("A", 2000)} {
		r := nca.MustDo("POST", "/v1/requests", requestBody(ref))
		if p := r.Problem(t); r.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Pointer != "/reference" {
			t.Errorf("%s reference: %d %s", name, r.Status, r.Body)
		}
	}
	// A record id: a stranger learns nothing (404); a recipient may file,
	// and sees the record id it named.
	r = nca.MustDo("POST", "/v1/requests", requestBody("", func(b map[string]any) { delete(b, "reference"); b["record_id"] = recID }))
	if r.Status != http.StatusNotFound {
		t.Fatalf("stranger names the record id: %d %s", r.Status, r.Body)
	}
	if after := storeState(t, env); len(after) != len(before) {
		t.Fatalf("refused filings stored %d objects", len(after)-len(before))
	}
	byID := fileRequest(t, rocu, requestBody("", func(b map[string]any) { delete(b, "reference"); b["record_id"] = recID }))
	if byID.RecordID != recID || byID.Reference != "" {
		t.Fatalf("filed by record id: %+v", byID)
	}
	if e := wantEntry(t, requestEntries(env, byID.ID), "request.file", audit.OpConsultation, 201); len(e.RecordIDs) != 1 || e.RecordIDs[0] != recID {
		t.Fatalf("filing by record id entry: %+v", e)
	}
	// Every refusal was audited with its reason.
	denials := 0
	for _, e := range env.Audit() {
		if e.Action == "request.file" && e.Operation == audit.OpDenial {
			denials++
		}
	}
	if denials != 5+6+3+1 {
		t.Fatalf("%d refused filings audited, want %d", denials, 5+6+3+1)
	}
}

// TestRequestOtherAgencyLearnsNothing: a third agency cannot see, list,
// answer, detail or withdraw a request (404 everywhere, as for a request
// that does not exist).
func TestRequestOtherAgencyLearnsNothing(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	met, nca, hmrc := env.Client("met-police"), env.Client("nca"), env.Client("hmrc")
	recID := publish(t, met, recordBody())
	filed := fileRequest(t, nca, requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc")))
	missing := "req_00000000000000000000000000"
	for _, id := range []string{filed.ID, missing, "req_bad", "rec_" + filed.ID[4:]} {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/requests/" + id, nil},
			{"POST", "/v1/requests/" + id + "/answer", map[string]any{"action": "refuse", "reason": "mine now"}},
			{"POST", "/v1/requests/" + id + "/detail", map[string]any{"text": "x"}},
			{"POST", "/v1/requests/" + id + "/withdraw", nil},
		} {
			r := hmrc.MustDo(c.method, c.path, c.body)
			if r.Status != http.StatusNotFound || r.Problem(t).Detail != "no such request for information, or it does not concern you" {
				t.Errorf("hmrc %s %s: %d %s", c.method, c.path, r.Status, r.Body)
			}
		}
	}
	if got := listRequests(t, hmrc, "limit=10"); len(got) != 0 {
		t.Fatalf("hmrc lists %v", ids(got))
	}
	if v, _ := getRequest(t, met, filed.ID); v.State != "open" || len(v.History) != 1 {
		t.Fatalf("the third agency changed the request: %+v", v)
	}
}

// deadlinePolicy is the bundled policy with dsa-uk-soc setting its own
// deadline for normal requests.
func deadlinePolicy(t *testing.T, hours int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "data", "dsas.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["dsas"]["dsa-uk-soc"]["request_deadlines"] = map[string]any{"normal": hours}
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func scrape(t *testing.T, env *gatewaytest.Env) string {
	t.Helper()
	resp, err := env.AdminGet("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m bytes.Buffer
	if _, err := m.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return m.String()
}

func seriesValue(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRequestDeadlines: each default deadline of the policy data, and a
// DSA's own, runs out on the test clock; overdue shows to both parties, in
// the overdue filter and in the metrics, and only while open.
func TestRequestDeadlines(t *testing.T) {
	cases := []struct {
		name            string
		urgency, access string
		kind            string
		hours           int
	}{
		{"urgent direct (Directive 2023/977 art. 5(1)(a))", "urgent", "direct", "information", 8},
		{"urgent indirect (art. 5(1)(b))", "urgent", "indirect", "information", 72},
		{"normal (art. 5(1)(c))", "normal", "indirect", "information", 168},
		{"Prüm II core data", "urgent", "direct", "prum_core_data", 48},
	}
	t.Run("defaults", func(t *testing.T) {
		env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
		t0 := time.Now().UTC().Truncate(time.Second)
		env.SetClock(t0)
		met, nca := env.Client("met-police"), env.Client("nca")
		recID := publish(t, met, recordBody())
		filed := map[int]string{}
		for _, tc := range cases {
			rq := fileRequest(t, nca, requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc"), func(b map[string]any) {
				b["urgency"], b["access"], b["kind"] = tc.urgency, tc.access, tc.kind
			}))
			if rq.DeadlineHours != tc.hours || rq.Due != t0.Add(time.Duration(tc.hours)*time.Hour).Format(time.RFC3339) || rq.Kind != tc.kind {
				t.Fatalf("%s: deadline %d h, due %s", tc.name, rq.DeadlineHours, rq.Due)
			}
			filed[tc.hours] = rq.ID
		}
		if v := seriesValue(t, scrape(t, env), `liaison_requests_overdue{holder="met-police"}`); v != 0 {
			t.Fatalf("overdue gauge before any deadline: %v", v)
		}
		// Walk the clock past each deadline in turn.
		for n, h := range []int{8, 48, 72, 168} {
			env.SetClock(t0.Add(time.Duration(h) * time.Hour))
			if v, _ := getRequest(t, nca, filed[h]); v.Overdue {
				t.Fatalf("%d h request overdue at its due time", h)
			}
			env.SetClock(t0.Add(time.Duration(h)*time.Hour + time.Second))
			for who, c := range map[string]*gatewaytest.Client{"requester": nca, "holder": met} {
				if v, _ := getRequest(t, c, filed[h]); !v.Overdue {
					t.Fatalf("%d h request not overdue for the %s after its due time", h, who)
				}
				od := listRequests(t, c, "overdue=true")
				if len(od) != n+1 {
					t.Fatalf("%s: overdue=true lists %v after %d h", who, ids(od), h)
				}
			}
			m := scrape(t, env)
			if v := seriesValue(t, m, `liaison_requests_overdue{holder="met-police"}`); v != float64(n+1) {
				t.Fatalf("overdue gauge after %d h: %v", h, v)
			}
			if v := seriesValue(t, m, `liaison_requests_became_overdue_total`); v != float64(n+1) {
				t.Fatalf("became-overdue counter after %d h: %v (counted once per request)", h, v)
			}
		}
		// Answering clears the flag; refusing too; the counter keeps its count.
		answer(t, met, filed[8], map[string]any{"action": "share"}, http.StatusOK)
		answer(t, met, filed[48], map[string]any{"action": "refuse", "reason": "not held in this form"}, http.StatusOK)
		if got := listRequests(t, met, "overdue=true&role=holder"); len(got) != 2 {
			t.Fatalf("overdue after two answers: %v", ids(got))
		}
		if got := listRequests(t, met, "overdue=false"); len(got) != 2 {
			t.Fatalf("overdue=false: %v", ids(got))
		}
		m := scrape(t, env)
		if v := seriesValue(t, m, `liaison_requests_overdue{holder="met-police"}`); v != 2 {
			t.Fatalf("overdue gauge after two answers: %v", v)
		}
		if v := seriesValue(t, m, `liaison_requests_became_overdue_total`); v != 4 {
			t.Fatalf("became-overdue counter: %v", v)
		}
	})
	t.Run("a DSA's own deadline", func(t *testing.T) {
		dir := deadlinePolicy(t, 24)
		env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) { writeIndexAtOnce(c); c.Policy.Dir = dir }})
		t0 := time.Now().UTC().Truncate(time.Second)
		env.SetClock(t0)
		met, nca := env.Client("met-police"), env.Client("nca")
		recID := publish(t, met, recordBody())
		normal := fileRequest(t, nca, requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc")))
		urgent := fileRequest(t, nca, requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc"), func(b map[string]any) { b["urgency"] = "urgent" }))
		if normal.DeadlineHours != 24 || urgent.DeadlineHours != 8 {
			t.Fatalf("with the DSA's own normal deadline: normal %d h, urgent %d h", normal.DeadlineHours, urgent.DeadlineHours)
		}
		env.SetClock(t0.Add(24*time.Hour + time.Second))
		if v, _ := getRequest(t, met, normal.ID); !v.Overdue {
			t.Fatal("not overdue after the DSA's deadline")
		}
	})
}

// TestRequestBadInputRaw: hostile bodies and queries on every request
// endpoint, as raw HTTP: each a 4xx problem+json naming what is wrong,
// and the store unchanged.
func TestRequestBadInputRaw(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	met, nca := env.Client("met-police"), env.Client("nca")
	recID := publish(t, met, recordBody())
	ref := hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc")
	filed := fileRequest(t, nca, requestBody(ref))
	validFile, _ := json.Marshal(requestBody(ref))
	ct := "Content-Type: application/json"

	type rc struct {
		name, agency, method, target string
		headers                      []string
		body                         []byte
		pointer                      string // the field a 400 must name ("" when it names none)
	}
	var cases []rc
	for name, mut := range map[string]func(b map[string]any){
		"no record named":         func(b map[string]any) { delete(b, "reference") },
		"reference and record_id": func(b map[string]any) { b["record_id"] = recID },
		"record_id malformed":     func(b map[string]any) { delete(b, "reference"); b["record_id"] = "rec_../../x" },
		"purpose missing":         func(b map[string]any) { delete(b, "purpose") },
		"purpose not a code":      func(b map[string]any) { b["purpose"] = "Investigation; DROP" },
		"justification missing":   func(b map[string]any) { b["justification"] = "  " },
		"justification RLO":       func(b map[string]any) { b["justification"] = "a\u202eb long enough" },
		"justification too long":  func(b map[string]any) { b["justification"] = strings.Repeat("j", 1025) },
		"case missing":            func(b map[string]any) { delete(b, "case") },
		"case with spaces":        func(b map[string]any) { b["case"] = "OP KING" },
		"urgency unknown":         func(b map[string]any) { b["urgency"] = "asap" },
		"access missing":          func(b map[string]any) { delete(b, "access") },
		"kind unknown":            func(b map[string]any) { b["kind"] = "everything" },
		"detail U+2028":           func(b map[string]any) { b["detail"] = "a\u2028b" },
		"detail too long":         func(b map[string]any) { b["detail"] = strings.Repeat("d", 4097) },
		"unknown member":          func(b map[string]any) { b["deadline_hours"] = 1000 },
	} {
		b, _ := json.Marshal(requestBody(ref, mut))
		ptr := map[string]string{"no record named": "/reference", "reference and record_id": "/reference", "record_id malformed": "/record_id",
			"purpose missing": "/purpose", "purpose not a code": "/purpose", "justification missing": "/justification",
			"justification RLO": "/justification", "justification too long": "/justification", "case missing": "/case",
			"case with spaces": "/case", "urgency unknown": "/urgency", "access missing": "/access", "kind unknown": "/kind",
			"detail U+2028": "/detail", "detail too long": "/detail"}[name]
		cases = append(cases, rc{name: "file " + name, agency: "nca", method: "POST", target: "/v1/requests", headers: []string{ct}, body: b, pointer: ptr})
	}
	for name, b := range map[string][]byte{
		"trailing data":     append(append([]byte{}, validFile...), '}'),
		"invalid utf-8":     []byte(strings.Replace(string(validFile), "subscriber", "sub\xffscriber", 1)),
		"lone surrogate":    []byte(strings.Replace(string(validFile), "subscriber", `sub\ud800scriber`, 1)),
		"array":             []byte(`[]`),
		"duplicate member":  []byte(`{"urgency":"normal","urgency":"urgent"}`),
		"purpose in header": validFile,
	} {
		h := []string{ct}
		if name == "purpose in header" {
			h = append(h, "Liaison-Purpose: prevention")
		}
		cases = append(cases, rc{name: "file " + name, agency: "nca", method: "POST", target: "/v1/requests", headers: h, body: b})
	}
	cases = append(cases, rc{name: "file as text/plain", agency: "nca", method: "POST", target: "/v1/requests", headers: []string{"Content-Type: text/plain"}, body: validFile})
	for name, b := range map[string]string{
		"no action":          `{}`,
		"unknown action":     `{"action":"ignore"}`,
		"refuse no reason":   `{"action":"refuse"}`,
		"refuse NUL reason":  `{"action":"refuse","reason":"a\u0000b"}`,
		"share with reason":  `{"action":"share","reason":"x"}`,
		"question too long":  `{"action":"need_detail","question":"` + strings.Repeat("q", 4097) + `"}`,
		"need_detail reason": `{"action":"need_detail","question":"q","reason":"r"}`,
	} {
		cases = append(cases, rc{name: "answer " + name, agency: "met-police", method: "POST", target: "/v1/requests/" + filed.ID + "/answer", headers: []string{ct}, body: []byte(b)})
	}
	for name, b := range map[string]string{"empty text": `{"text":""}`, "no text": `{}`, "bidi text": `{"text":"a\u202eb"}`} {
		cases = append(cases, rc{name: "detail " + name, agency: "nca", method: "POST", target: "/v1/requests/" + filed.ID + "/detail", headers: []string{ct}, body: []byte(b)})
	}
	for _, q := range []string{"role=both", "state=pending", "overdue=yes", "limit=0", "limit=abc", "cursor=rec_00000000000000000000000000", "cursor=%zz", "state=open;role=holder", "state=open&state=refused", "colour=red"} {
		cases = append(cases, rc{name: "list " + q, agency: "met-police", method: "GET", target: "/v1/requests?" + q})
	}
	for _, p := range []string{"/v1/requests/req_..", "/v1/requests/%00", "/v1/requests/" + filed.ID + "/..", "/v1/requests/" + filed.ID + "/answer/x"} {
		cases = append(cases, rc{name: "path " + p, agency: "met-police", method: "GET", target: p})
	}

	before := storeState(t, env)
	for _, c := range cases {
		r, err := env.Raw(c.agency, env.RawRequest(c.method, c.target, c.headers, c.body))
		if err != nil {
			t.Errorf("%s: no answer: %v", c.name, err)
			continue
		}
		if r.Status < 400 || r.Status > 499 || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s: %.200s", c.name, r.Status, r.Header.Get("Content-Type"), r.Body)
			continue
		}
		if c.pointer != "" {
			var p api.Problem
			if err := json.Unmarshal(r.Body, &p); err != nil || r.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Pointer != c.pointer {
				t.Errorf("%s: want a 400 naming %s: %d %s", c.name, c.pointer, r.Status, r.Body)
			}
		}
	}
	if after := storeState(t, env); len(after) != len(before) {
		t.Fatalf("bad input changed the store: %d objects before, %d after", len(before), len(after))
	} else {
		for k, v := range before {
			if after[k] != v {
				t.Fatalf("bad input changed %s", k)
			}
		}
	}
	if v, _ := getRequest(t, met, filed.ID); v.State != "open" || len(v.History) != 1 {
		t.Fatalf("bad input changed the request: %+v", v)
	}
	t.Logf("%d hostile requests, each refused with a problem, the store unchanged", len(cases))
}

// TestRequestFilingIdempotent: a filing retried with the same
// Idempotency-Key answers the first filing; nothing new is filed.
func TestRequestFilingIdempotent(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	met := env.Client("met-police")
	nca := env.Client("nca").With("Idempotency-Key", "rfi-7f3a")
	recID := publish(t, met, recordBody())
	body := requestBody(hitRef(t, env, "nca", recID, "met-police", "dsa-uk-soc"))
	first := fileRequest(t, nca, body)
	r := nca.MustDo("POST", "/v1/requests", body)
	if r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "true" || decodeAs[api.InfoRequest](t, r).ID != first.ID {
		t.Fatalf("retry: %d %v %s", r.Status, r.Header, r.Body)
	}
	if got := listRequests(t, met, "role=holder"); len(got) != 1 || got[0].ID != first.ID {
		t.Fatalf("holder queue after a retried filing: %v", ids(got))
	}
}

// TestRequestAfterSearchHit is the whole Prüm-style flow: a search by an
// agency that cannot read the record answers only "hit: held by X under
// Y" with a reference; the searcher files a request for information with
// that reference; the holder shares; the searcher reads.
func TestRequestAfterSearchHit(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: writeIndexAtOnce})
	met := env.Client("met-police")
	nca := env.Client("nca").With(hPurpose, "investigation", hJust, "phone number from a seized handset, OP-KINGFISHER", "Liaison-Case", "OP-KINGFISHER")
	recID := publish(t, met, recordBody(func(m map[string]any) {
		m["selectors"] = []any{map[string]any{"type": "phone", "value": "020 7946 0018"}}
	}))
	r := nca.MustDo("POST", "/v1/search", map[string]any{"selectors": []any{map[string]any{"type": "phone", "value": "+44 20 7946 0018"}}})
	if r.Status != http.StatusOK {
		t.Fatalf("search: %d %s", r.Status, r.Body)
	}
	res := decodeAs[api.SearchResult](t, r)
	if len(res.Selectors) != 1 || res.Selectors[0].Outcome != api.SearchHit || len(res.Selectors[0].Records) != 0 || len(res.Selectors[0].Hits) != 1 {
		t.Fatalf("search result: %s", r.Body)
	}
	hit := res.Selectors[0].Hits[0]
	if hit.Holder != "met-police" || hit.DSA != "dsa-uk-soc" || bytes.Contains(r.Body, []byte(recID)) {
		t.Fatalf("hit: %s", r.Body)
	}
	// The body's context must agree with the headers this client sends.
	filed := fileRequest(t, nca, requestBody(hit.Reference, func(b map[string]any) {
		b["justification"], b["case"], b["kind"], b["urgency"] = "phone number from a seized handset, OP-KINGFISHER", "OP-KINGFISHER", "prum_core_data", "urgent"
	}))
	if filed.Holder != "met-police" || filed.DSA != "dsa-uk-soc" || filed.DeadlineHours != 48 || filed.RecordID != "" {
		t.Fatalf("filed after the hit: %+v", filed)
	}
	if q := listRequests(t, met, "role=holder"); len(q) != 1 || q[0].RecordID != recID {
		t.Fatalf("holder queue: %+v", q)
	}
	answer(t, met, filed.ID, map[string]any{"action": "share"}, http.StatusOK)
	if r := nca.MustDo("GET", "/v1/records/"+recID, nil); r.Status != http.StatusOK {
		t.Fatalf("read after the answer: %d %s", r.Status, r.Body)
	}
}
