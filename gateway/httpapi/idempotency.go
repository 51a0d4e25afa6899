package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// Idempotency-Key on publish and share. A client that lost its answer (a
// timeout, a reset, the gateway killed before the 201 went out) retries
// with the same key and gets the original answer, instead of publishing a
// second record. The answer is kept in the object store, so every replica
// finds it, for at least store.idempotency_ttl:
//
//	idempotency/<agency>/<sha256(key)>   {"format":"liaison.idempotency/v1", ...}
//
// Keys are per agency (another agency's identical key is another key) and
// stored hashed (the raw key never becomes part of an object name). The
// reservation is created with a conditional PUT before the request does
// anything, so of two concurrent requests with one key only one runs; the
// other gets 409. A reservation whose request was cut off (a crash) stays
// pending; after the request deadline has surely passed, a retry takes it
// over and finishes the request (see publish for how a publish resumes).

const (
	idemHeader    = "Idempotency-Key"
	maxIdemKeyLen = 128
)

// validIdemKey: a printable ASCII token of bounded length (RFC 9110 field
// value characters without spaces), so it can be logged and compared safely.
func validIdemKey(k string) bool {
	if k == "" || len(k) > maxIdemKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idemAttempt is what a handler running under a key needs to know.
type idemAttempt struct {
	recordID string // publish: the reserved record id
	resume   bool   // an earlier attempt under this key was cut off
}

type idemCtxKey struct{}

func idemFrom(ctx context.Context) *idemAttempt {
	a, _ := ctx.Value(idemCtxKey{}).(*idemAttempt)
	return a
}

// idemStale is how long a pending reservation is taken to belong to a
// request still running: past it, the request has surely ended (its
// deadline, the server's write timeout, and the audit write that may
// outlive the request by its own deadline).
func (s *Server) idemStale() time.Duration {
	return 2*s.cfg.Limits.RequestTimeout + 30*time.Second
}

// withIdempotency runs h under the request's Idempotency-Key, if it has
// one: h is called at most once per key (per retry window) unless an
// earlier call failed or was cut off; repeats get the first answer.
// Handlers call it first and return what it returns when handled is true.
func (s *Server) withIdempotency(w http.ResponseWriter, r *http.Request, rc *reqCtx, h handlerFunc) (handled bool, err error) {
	vals := r.Header.Values(idemHeader)
	if len(vals) == 0 || idemFrom(r.Context()) != nil {
		return false, nil
	}
	if len(vals) > 1 {
		return true, errBadRequest("more than one Idempotency-Key header")
	}
	if !validIdemKey(vals[0]) {
		return true, errBadRequest(fmt.Sprintf("Idempotency-Key must be 1 to %d printable ASCII characters without spaces", maxIdemKeyLen))
	}
	body, err := readBody(r)
	if err != nil {
		return true, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h256 := sha256.New()
	fmt.Fprintf(h256, "%s %s\n", r.Method, r.URL.Path)
	h256.Write(body)
	reqHash := "sha256:" + hex.EncodeToString(h256.Sum(nil))
	okey := recordstore.IdemKey(rc.agency, vals[0])
	ctx := r.Context()
	now := s.now().UTC()

	attempt := &idemAttempt{}
	var rec *recordstore.Idem
	for try := 0; rec == nil; try++ {
		cur, err := s.records.LoadIdem(ctx, okey)
		if err != nil {
			return true, backendProblem(err)
		}
		fresh := recordstore.NewIdem(okey)
		fresh.Agency, fresh.RequestHash, fresh.State, fresh.Created, fresh.RequestID = rc.agency, reqHash, recordstore.IdemPending, now, rc.id
		if r.Method == http.MethodPost && r.URL.Path == "/v1/records" {
			fresh.RecordID = record.NewID(now)
		}
		switch {
		case cur == nil || now.Sub(cur.Created) > s.cfg.Store.IdempotencyTTL:
			// New, or past its retry window: reserve it. Conditional, so of
			// two concurrent first requests one wins and the other retries
			// this loop and meets the winner's reservation.
			err := s.records.PutIdem(ctx, fresh, cur == nil)
			if errors.Is(err, objstore.ErrExists) && try == 0 {
				continue
			}
			if err != nil {
				return true, backendProblem(err)
			}
			rec = fresh
		case cur.RequestHash != reqHash:
			return true, problem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency key reused",
				"this Idempotency-Key was used with a different request; use a new key for a new request")
		case cur.State == recordstore.IdemDone:
			return true, s.replayIdem(w, r, rc, cur)
		case now.Sub(cur.Created) < s.idemStale():
			p := problem(http.StatusConflict, "idempotency-in-progress", "Request in progress",
				"a request with this Idempotency-Key is still being processed; retry later")
			p.retryAfter = 5
			return true, p
		default:
			// Cut off (the gateway stopped mid-request): take it over.
			cur.Created, cur.RequestID = now, rc.id
			if err := s.records.PutIdem(ctx, cur, false); err != nil {
				return true, backendProblem(err)
			}
			rec, attempt.resume = cur, true
		}
	}
	attempt.recordID = rec.RecordID

	bw := &bufferedWriter{header: http.Header{}}
	err = h(bw, r.WithContext(context.WithValue(ctx, idemCtxKey{}, attempt)), rc)
	if err == nil && bw.status == 0 {
		bw.status = http.StatusOK // nothing written: what net/http would send
	}
	if err != nil || bw.status < 200 || bw.status > 299 {
		// Nothing was done (or it was undone): a retry runs the request
		// again. A publish keeps its reserved record id, marked ready to be
		// resumed at once, so that whatever this attempt left behind (an
		// object whose removal failed) becomes that same record, never a
		// second one.
		var rerr error
		if rec.RecordID != "" {
			rec.Created = now.Add(-s.idemStale() - time.Second)
			rerr = s.records.PutIdem(context.WithoutCancel(ctx), rec, false)
		} else {
			rerr = s.records.DeleteIdem(ctx, okey)
		}
		if rerr != nil {
			s.log.Warn("idempotency reservation not released", zap.String(fRequestID, rc.id), zap.Error(rerr))
		}
		if err != nil {
			return true, err
		}
	} else {
		rec.State, rec.Status, rec.Location, rec.Body = recordstore.IdemDone, bw.status, bw.header.Get("Location"), json.RawMessage(bytes.TrimSpace(bw.body.Bytes()))
		if perr := s.records.PutIdem(context.WithoutCancel(ctx), rec, false); perr != nil {
			// The request is done and its answer goes out; a retry finds
			// the reservation pending and, once stale, resumes it (a
			// publish adopts its stored record).
			s.log.Warn("idempotency answer not kept", zap.String(fRequestID, rc.id), zap.Error(perr))
		}
	}
	for k, v := range bw.header {
		w.Header()[k] = v
	}
	w.WriteHeader(bw.status)
	_, _ = w.Write(bw.body.Bytes())
	return true, nil
}

// replayIdem answers with the stored result. The repeat is audited like
// any request (it discloses only the caller's own earlier answer).
func (s *Server) replayIdem(w http.ResponseWriter, r *http.Request, rc *reqCtx, rec *recordstore.Idem) error {
	if rec.RecordID != "" {
		rc.recordIDs = []string{rec.RecordID}
	} else if id := r.PathValue("id"); record.ValidID(id) {
		rc.recordIDs = []string{id}
	}
	ev := &audit.Event{Operation: audit.OpConsultation, Status: rec.Status}
	if err := s.recordOutcome(r.Context(), rc, ev); err != nil {
		return err
	}
	if rec.Location != "" {
		w.Header().Set("Location", rec.Location)
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(rec.Status)
	_, _ = w.Write(append(bytes.Clone(rec.Body), '\n'))
	return nil
}

// bufferedWriter holds a handler's answer until its idempotency record is
// stored.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
