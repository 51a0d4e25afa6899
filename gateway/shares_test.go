package gateway_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

func TestOnwardSharingAndConsent(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	nca := env.Client("nca").With(hPurpose, "investigation", hJust, "NCA tasking 7 for OCG")
	hmrc := env.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	id := publish(t, met, recordBody())

	objPath := filepath.Join(env.Cfg.Store.FS.Dir, "records", id)
	t.Run("originator adds a recipient directly", func(t *testing.T) {
		v1, err := os.ReadFile(objPath)
		if err != nil {
			t.Fatal(err)
		}
		_, sealedV1 := splitRecordObject(t, v1)
		if r := hmrc.MustDo("GET", "/v1/records/"+id, nil); r.Status != 404 {
			t.Fatalf("before the share: %d", r.Status)
		}
		r := met.MustDo("POST", "/v1/records/"+id+"/shares", api.ShareRequest{Recipients: []string{"hmrc"}})
		if r.Status != 200 || gatewaytest.Decode[api.Shared](t, r).Version != 2 {
			t.Fatalf("share: %d %s", r.Status, r.Body)
		}
		if r := hmrc.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 || !strings.Contains(string(r.Body), "Salford") {
			t.Fatalf("new recipient reads version 2: %d %s", r.Status, r.Body)
		}
		if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("existing recipient after the share: %d", r.Status)
		}
		// The superseded version's ciphertext is gone: the object now holds
		// version 2, sealed afresh (its AAD binds the new metadata).
		for _, f := range storeFiles(t, env) {
			b, _ := os.ReadFile(filepath.Join(env.Cfg.Store.FS.Dir, f))
			if bytes.Contains(b, sealedV1) {
				t.Fatalf("version 1 ciphertext survives in %s", f)
			}
		}
	})

	var consentID string
	t.Run("a recipient's onward share waits for the originator", func(t *testing.T) {
		r := rocu.MustDo("POST", "/v1/records/"+id+"/shares", api.ShareRequest{Recipients: []string{"nca"}, Note: "NCA leads on the OCG"})
		if r.Status != http.StatusAccepted {
			t.Fatalf("share: %d %s", r.Status, r.Body)
		}
		consentID = gatewaytest.Decode[api.ConsentFiled](t, r).ConsentID
		if !strings.HasPrefix(consentID, "con_") {
			t.Fatalf("no consent id: %s", r.Body)
		}
		if r := nca.MustDo("GET", "/v1/records/"+id, nil); r.Status != 404 {
			t.Fatalf("nca reads before consent: %d", r.Status)
		}
		r = met.MustDo("GET", "/v1/consents", nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), consentID) || !strings.Contains(string(r.Body), "NCA leads on the OCG") {
			t.Fatalf("originator's pending list: %d %s", r.Status, r.Body)
		}
		if r := rocu.MustDo("POST", "/v1/consents/"+consentID+"/approve", nil); r.Status != 403 {
			t.Fatalf("requester approves its own request: %d", r.Status)
		}
		if r := nca.MustDo("POST", "/v1/consents/"+consentID+"/approve", nil); r.Status != 404 {
			t.Fatalf("a stranger approves: %d", r.Status)
		}
	})
	t.Run("approval adds the recipient and leaves a signed receipt", func(t *testing.T) {
		r := met.MustDo("POST", "/v1/consents/"+consentID+"/approve", nil)
		if r.Status != 200 {
			t.Fatalf("approve: %d %s", r.Status, r.Body)
		}
		if d := gatewaytest.Decode[api.ConsentDecided](t, r); d.State != "approved" || strings.Count(d.Receipt, ".") != 2 {
			t.Fatalf("approve: %d %s", r.Status, r.Body)
		}
		r = nca.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status != 200 {
			t.Fatalf("nca after consent: %d %s", r.Status, r.Body)
		}
		consents := gatewaytest.Decode[api.Record](t, r).Meta.Consents
		if len(consents) != 1 || !strings.HasPrefix(consents[0].ReceiptDigest, "sha256:") {
			t.Fatalf("receipt not in the metadata: %s", r.Body)
		}
		if r := met.MustDo("POST", "/v1/consents/"+consentID+"/approve", nil); r.Status != http.StatusConflict {
			t.Fatalf("second approval: %d", r.Status)
		}
	})
	t.Run("refusal", func(t *testing.T) {
		other := publish(t, met, recordBody())
		r := rocu.MustDo("POST", "/v1/records/"+other+"/shares", api.ShareRequest{Recipients: []string{"nca"}})
		cid := gatewaytest.Decode[api.ConsentFiled](t, r).ConsentID
		if r := met.MustDo("POST", "/v1/consents/"+cid+"/refuse", nil); r.Status != 200 || gatewaytest.Decode[api.ConsentDecided](t, r).State != "refused" {
			t.Fatalf("refuse: %d %s", r.Status, r.Body)
		}
		if r := nca.MustDo("GET", "/v1/records/"+other, nil); r.Status != 404 {
			t.Fatalf("refused share disclosed: %d", r.Status)
		}
		if r := met.MustDo("POST", "/v1/consents/"+cid+"/approve", nil); r.Status != http.StatusConflict {
			t.Fatalf("approve after refusal: %d", r.Status)
		}
	})
	t.Run("pending requests expire", func(t *testing.T) {
		other := publish(t, met, recordBody())
		r := rocu.MustDo("POST", "/v1/records/"+other+"/shares", api.ShareRequest{Recipients: []string{"nca"}})
		cid := gatewaytest.Decode[api.ConsentFiled](t, r).ConsentID
		env.SetClock(time.Now().Add(env.Cfg.Consents.TTL + time.Hour))
		defer env.SetClock(time.Time{})
		if r := met.MustDo("POST", "/v1/consents/"+cid+"/approve", nil); r.Status != http.StatusGone {
			t.Fatalf("approve after expiry: %d %s", r.Status, r.Body)
		}
	})
	t.Run("bad share requests change nothing", func(t *testing.T) {
		for name, body := range map[string]any{
			"no recipients": map[string]any{"recipients": []string{}},
			"hostile id":    map[string]any{"recipients": []string{"../x"}},
			"unknown field": map[string]any{"recipients": []string{"nca"}, "also": 1},
			"duplicate":     map[string]any{"recipients": []string{"nca", "nca"}},
			"malformed":     []byte(`{"recipients": [`),
		} {
			if r := met.MustDo("POST", "/v1/records/"+id+"/shares", body); r.Status != 400 {
				t.Fatalf("%s: %d %s", name, r.Status, r.Body)
			}
		}
		if r := met.MustDo("POST", "/v1/records/"+id+"/shares", map[string]any{"recipients": []string{"selec"}}); r.Status != 403 {
			t.Fatalf("share outside the DSAs: %d %s", r.Status, r.Body)
		}
		if r := env.Client("selec").MustDo("POST", "/v1/records/"+id+"/shares", map[string]any{"recipients": []string{"nca"}}); r.Status != 404 {
			t.Fatalf("stranger's share: %d", r.Status)
		}
	})
	t.Run("recall removes every version", func(t *testing.T) {
		if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("recall: %d", r.Status)
		}
		b, err := os.ReadFile(objPath)
		if err != nil {
			t.Fatalf("the signed tombstone must stay: %v", err)
		}
		if _, sealed := splitRecordObject(t, b); len(sealed) != 0 {
			t.Fatalf("%d bytes of content survive recall", len(sealed))
		}
	})
	var disclosed bool
	for _, e := range env.Audit() {
		if e.Action == "consent.approve" && e.Operation == audit.OpDisclosure && len(e.Recipients) == 1 && e.Recipients[0] == "nca" {
			disclosed = true
		}
	}
	if !disclosed {
		t.Fatal("the approved share is not audited as a disclosure to nca")
	}
}
