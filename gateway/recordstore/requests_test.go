package recordstore

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/record"
)

// FuzzDecodeRequest: request-for-information objects come from the
// untrusted store. Any bytes decode without panicking, and only an object
// this gateway signed, for this id, with a readable due time, is accepted.
func FuzzDecodeRequest(f *testing.F) {
	signer, err := jose.LoadOrCreateSigner(filepath.Join(f.TempDir(), "signing.jwk.json"))
	if err != nil {
		f.Fatal(err)
	}
	rs := &Store{signer: signer}
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	id := record.NewRequestID(now)
	good, err := json.Marshal(InfoRequest{Format: RequestFormat, ID: id, RecordID: record.NewID(now), Requester: "nca",
		Holder: "met-police", DSA: "dsa-uk-soc", State: RequestOpen, Due: now.Add(8 * time.Hour).Format(time.RFC3339)})
	if err != nil {
		f.Fatal(err)
	}
	jws, err := signer.Sign(good)
	if err != nil {
		f.Fatal(err)
	}
	other, err := signer.Sign([]byte(`{"format":"liaison.request/v1","id":"` + id + `","due":"tomorrow"}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(jws)
	f.Add(other)
	f.Add(good)
	f.Add(jws[:len(jws)-2])
	f.Fuzz(func(t *testing.T, b []byte) {
		rq, err := rs.decodeRequest(id, b)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("a bad request object is not an integrity failure: %v", err)
			}
			return
		}
		if rq.ID != id || rq.Format != RequestFormat || rq.DueTime().IsZero() {
			t.Fatalf("accepted %+v for %s", rq, id)
		}
		if _, err := signer.Verify(b); err != nil {
			t.Fatalf("accepted an object that does not verify")
		}
	})
}

// TestRequestClock: the clock stands still while the holder waits for
// detail, restarts with the time that remained, and a request is overdue
// only while open.
func TestRequestClock(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	rq := &InfoRequest{State: RequestOpen, Due: t0.Add(8 * time.Hour).Format(time.RFC3339)}
	if rq.Overdue(t0.Add(8*time.Hour)) || !rq.Overdue(t0.Add(8*time.Hour+time.Second)) {
		t.Fatal("overdue is not 'now after due'")
	}
	// Asked for detail after 3 h (5 h remain); the requester answers 10 h later.
	rq.State = RequestNeedsDetail
	rq.StopClock(t0.Add(3 * time.Hour))
	if rq.Overdue(t0.Add(100 * time.Hour)) {
		t.Fatal("a request waiting for detail is overdue")
	}
	rq.State = RequestOpen
	rq.RestartClock(t0.Add(13 * time.Hour))
	if want := t0.Add(18 * time.Hour).Format(time.RFC3339); rq.Due != want || rq.ClockStopped != "" {
		t.Fatalf("due after restart = %s (stopped %q), want %s", rq.Due, rq.ClockStopped, want)
	}
	for _, st := range []string{RequestAnswered, RequestRefused, RequestWithdrawn} {
		rq.State = st
		if rq.Overdue(t0.Add(100 * time.Hour)) {
			t.Fatalf("a %s request is overdue", st)
		}
	}
}
