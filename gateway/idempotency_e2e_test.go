package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/record"
)

func countCollections(env *gatewaytest.Env) int {
	n := 0
	for _, ev := range env.Audit() {
		if ev.Operation == audit.OpCollection && ev.Action == "record.publish" && ev.Status == http.StatusCreated && ev.Corrects == 0 {
			n++
		}
	}
	return n
}

// TestIdempotentPublish is issue 9 item 15: a client that lost its 201
// retries with the same Idempotency-Key and body and gets the original
// answer (same id), and no second record is made; the same key with
// another body is 422; a malformed key is 400. Before the fix the header
// was ignored: the retry published a second record.
func TestIdempotentPublish(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police").With("Idempotency-Key", "pub-7f3a9c")
	body := recordBody()

	first := met.MustDo("POST", "/v1/records", body)
	if first.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", first.Status, first.Body)
	}
	objects := recordObjects(t, env)
	again := met.MustDo("POST", "/v1/records", body)
	if again.Status != http.StatusCreated || again.JSON["id"] != first.JSON["id"] || again.JSON["digest"] != first.JSON["digest"] ||
		again.Header.Get("Location") != first.Header.Get("Location") || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s (first %s)", again.Status, again.Body, first.Body)
	}
	if n := recordObjects(t, env); n != objects {
		t.Fatalf("the retry stored another record object (%d → %d)", objects, n)
	}
	if n := countCollections(env); n != 1 {
		t.Fatalf("%d collection entries, want 1", n)
	}

	// The same key with another body: 422, nothing published.
	other := recordBody(func(m map[string]any) { m["tlp"] = "GREEN" })
	r := met.MustDo("POST", "/v1/records", other)
	if r.Status != http.StatusUnprocessableEntity || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("same key, other body: %d %s", r.Status, r.Body)
	}
	// The same key from another agency is another key.
	hmrc := env.Client("hmrc").With("Idempotency-Key", "pub-7f3a9c")
	hb := recordBody(func(m map[string]any) { m["recipients"] = []any{"rocu-nw"} })
	if r := hmrc.MustDo("POST", "/v1/records", hb); r.Status != http.StatusCreated || r.JSON["id"] == first.JSON["id"] {
		t.Fatalf("another agency's key: %d %s", r.Status, r.Body)
	}
	// Malformed keys: 400, nothing published.
	before := recordObjects(t, env)
	for _, k := range []string{"has space", strings.Repeat("k", 129), "naïve"} {
		r := env.Client("met-police").With("Idempotency-Key", k).MustDo("POST", "/v1/records", body)
		if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("key %q: %d %s", k, r.Status, r.Body)
		}
	}
	if n := recordObjects(t, env); n != before {
		t.Fatalf("a malformed key stored %d records", n-before)
	}

	// A failed publish frees the key: the retry runs again (here: a
	// request the policy refuses, then refuses again; nothing stored).
	bad := env.Client("met-police").With("Idempotency-Key", "pub-denied")
	denied := recordBody(func(m map[string]any) { m["dsa_ids"] = []any{"dsa-nope"} })
	for i := 0; i < 2; i++ {
		if r := bad.MustDo("POST", "/v1/records", denied); r.Status/100 != 4 || r.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("refused publish %d: %d %s", i, r.Status, r.Body)
		}
	}
}

// TestIdempotentPublishConcurrent: duplicates sent at once do not both
// publish: one does, the others get its answer or 409.
func TestIdempotentPublishConcurrent(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police").With("Idempotency-Key", "burst-1")
	body := recordBody()
	var wg sync.WaitGroup
	results := make([]*gatewaytest.Response, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = met.MustDo("POST", "/v1/records", body)
		}()
	}
	wg.Wait()
	ids := map[any]bool{}
	for _, r := range results {
		switch r.Status {
		case http.StatusCreated:
			ids[r.JSON["id"]] = true
		case http.StatusConflict:
		default:
			t.Fatalf("concurrent duplicate: %d %s", r.Status, r.Body)
		}
	}
	if len(ids) != 1 || countCollections(env) != 1 {
		t.Fatalf("%d ids, %d collection entries: want 1 and 1", len(ids), countCollections(env))
	}
}

// TestIdempotentShare: a repeated share with the same key answers as the
// first and makes no further version; another body is 422.
func TestIdempotentShare(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	sh := met.With("Idempotency-Key", "share-1")
	first := sh.MustDo("POST", "/v1/records/"+id+"/shares", map[string]any{"recipients": []any{"hmrc"}})
	if first.Status != http.StatusOK {
		t.Fatalf("share: %d %s", first.Status, first.Body)
	}
	again := sh.MustDo("POST", "/v1/records/"+id+"/shares", map[string]any{"recipients": []any{"hmrc"}})
	if again.Status != http.StatusOK || string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s (first %s)", again.Status, again.Body, first.Body)
	}
	r := met.MustDo("GET", "/v1/records/"+id, nil)
	if v, _ := r.JSON["version"].(float64); v != first.JSON["version"] {
		t.Fatalf("version after the retry: %v, want %v", r.JSON["version"], first.JSON["version"])
	}
	if r := sh.MustDo("POST", "/v1/records/"+id+"/shares", map[string]any{"recipients": []any{"nca"}}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other share: %d %s", r.Status, r.Body)
	}
}

// TestIdempotencyKeyRawHTTP: over raw HTTP/1.1 (Go's client would not send
// these), two Idempotency-Key headers and a key with a control byte are
// 400 problem+json.
func TestIdempotencyKeyRawHTTP(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	body, _ := json.Marshal(recordBody())
	for name, hdr := range map[string]string{
		"two keys":        "Idempotency-Key: a1\r\nIdempotency-Key: a2\r\n",
		"control byte":    "Idempotency-Key: a\x7fb\r\n",
		"space inside":    "Idempotency-Key: a b\r\n",
		"empty after OWS": "Idempotency-Key:  \r\n",
	} {
		req := "POST /v1/records HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" + hdr +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + string(body)
		resp, err := env.Raw("met-police", []byte(req))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: %d %s", name, resp.Status, resp.Header.Get("Content-Type"))
		}
	}
}

// TestIdempotentPublishResumesAfterCrash: a publish under a key that was
// cut off (the gateway stopped) leaves its reservation pending. Once the
// request deadline has surely passed, the retry finishes it under the
// reserved id: adopting the record object if the first attempt stored it
// (one record, with its collection entry), publishing it afresh if not.
func TestIdempotentPublishResumesAfterCrash(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	body := recordBody()
	resFile := func(key string) string {
		sum := sha256.Sum256([]byte(key))
		return filepath.Join(env.Cfg.Store.FS.Dir, "idempotency", "met-police", hex.EncodeToString(sum[:]))
	}
	// The gateway's own signing key (reservations are signed: the store
	// is untrusted).
	signer, err := jose.LoadOrCreateSigner(env.Cfg.Signing.Key)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite a reservation as a crash mid-request leaves it: pending,
	// no answer, older than the request deadline.
	cutOff := func(key, recordID string) {
		t.Helper()
		jws, err := os.ReadFile(resFile(key))
		if err != nil {
			t.Fatal(err)
		}
		b, err := signer.Verify(jws)
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		rec["state"], rec["created"] = "pending", time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339Nano)
		delete(rec, "status")
		delete(rec, "body")
		delete(rec, "location")
		if recordID != "" {
			rec["record_id"] = recordID
		}
		if b, err = json.Marshal(rec); err != nil {
			t.Fatal(err)
		}
		if b, err = signer.Sign(b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(resFile(key), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The object was stored before the crash: the retry adopts it.
	met := env.Client("met-police").With("Idempotency-Key", "resume-stored")
	first := met.MustDo("POST", "/v1/records", body)
	if first.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", first.Status, first.Body)
	}
	cutOff("resume-stored", "")
	objects := recordObjects(t, env)
	again := met.MustDo("POST", "/v1/records", body)
	if again.Status != http.StatusCreated || again.JSON["id"] != first.JSON["id"] || again.JSON["digest"] != first.JSON["digest"] {
		t.Fatalf("resumed: %d %s (first %s)", again.Status, again.Body, first.Body)
	}
	if n := recordObjects(t, env); n != objects {
		t.Fatalf("resuming stored another record object")
	}
	// And the answer is kept now: a further retry replays it.
	if r := met.MustDo("POST", "/v1/records", body); r.Header.Get("Idempotent-Replayed") != "true" || r.JSON["id"] != first.JSON["id"] {
		t.Fatalf("after resuming: %d %s", r.Status, r.Body)
	}

	// The object was never stored: the retry publishes under the reserved id.
	met2 := env.Client("met-police").With("Idempotency-Key", "resume-lost")
	if r := met2.MustDo("POST", "/v1/records", body); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	reserved := record.NewID(time.Now())
	cutOff("resume-lost", reserved)
	r := met2.MustDo("POST", "/v1/records", body)
	if r.Status != http.StatusCreated || r.JSON["id"] != reserved {
		t.Fatalf("resumed: %d %s, want id %s", r.Status, r.Body, reserved)
	}
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	if rr := rocu.MustDo("GET", "/v1/records/"+reserved, nil); rr.Status != http.StatusOK {
		t.Fatalf("read the resumed publish: %d %s", rr.Status, rr.Body)
	}
}

// TestIdempotencyRecordTamperDetected: the store is untrusted; an edited
// reservation (here: an unsigned answer naming another record) is an
// integrity failure, never replayed and never a second publish.
func TestIdempotencyRecordTamperDetected(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police").With("Idempotency-Key", "tamper-1")
	if r := met.MustDo("POST", "/v1/records", recordBody()); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	sum := sha256.Sum256([]byte("tamper-1"))
	f := filepath.Join(env.Cfg.Store.FS.Dir, "idempotency", "met-police", hex.EncodeToString(sum[:]))
	forged := `{"format":"liaison.idempotency/v1","object":"idempotency/met-police/` + hex.EncodeToString(sum[:]) +
		`","agency":"met-police","request_hash":"x","state":"done","status":201,"body":{"id":"rec_forged"}}`
	if err := os.WriteFile(f, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	before := recordObjects(t, env)
	r := met.MustDo("POST", "/v1/records", recordBody())
	if r.Status != http.StatusInternalServerError || strings.Contains(string(r.Body), "rec_forged") {
		t.Fatalf("tampered reservation: %d %s", r.Status, r.Body)
	}
	if recordObjects(t, env) != before {
		t.Fatal("a tampered reservation led to another publish")
	}
}
