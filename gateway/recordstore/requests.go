package recordstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/record"
)

// Request-for-information states (docs/requests.md).
const (
	RequestOpen        = "open"
	RequestNeedsDetail = "needs_detail"
	RequestAnswered    = "answered"
	RequestRefused     = "refused"
	RequestWithdrawn   = "withdrawn"
)

// RequestFormat names the stored request-for-information format.
const RequestFormat = "liaison.request/v1"

// InfoRequest is a stored request for information, signed like consent
// requests (the store is untrusted). It holds the record id even when the
// requester filed it with a hit reference: the gateway hides it from the
// requester when answering (httpapi), never in storage, so that the holder
// can act on it.
type InfoRequest struct {
	Format   string `json:"format"`
	ID       string `json:"id"`
	RecordID string `json:"record_id"`
	// Reference is the hit reference the request was filed with; empty
	// when the requester named the record id. When set, the record id is
	// never shown to the requester.
	Reference        string `json:"reference,omitempty"`
	Requester        string `json:"requester"`
	RequesterOfficer string `json:"requester_officer,omitempty"`
	Holder           string `json:"holder"`
	DSA              string `json:"dsa"`
	Purpose          string `json:"purpose"`
	Justification    string `json:"justification"`
	Case             string `json:"case"`
	Urgency          string `json:"urgency"`
	Access           string `json:"access"`
	Kind             string `json:"kind"`
	Detail           string `json:"detail,omitempty"`
	DeadlineHours    int    `json:"deadline_hours"`
	DecisionID       string `json:"decision_id,omitempty"`
	Created          string `json:"created"`
	// Due is when the holder must have answered (RFC 3339). While the clock
	// is stopped it keeps the value it had when it stopped.
	Due string `json:"due"`
	// ClockStopped is when a need_detail stopped the clock (RFC 3339);
	// empty while it runs.
	ClockStopped string `json:"clock_stopped,omitempty"`
	State        string `json:"state"`
	// ConsentID names the consent request a share answer waits for.
	ConsentID string `json:"consent_id,omitempty"`
	// Version is the record's version after the share answer.
	Version int                `json:"version,omitempty"`
	History []api.RequestEvent `json:"history"`
	// Officers are the officers behind each history entry (same index),
	// kept for the gateway's own audit, never shown to the other agency.
	Officers []string `json:"officers,omitempty"`

	// tag is the version tag of the stored object this was loaded from:
	// PutRequest with create false replaces only that version.
	tag string
}

// Pending reports whether the request still waits on someone: open (the
// holder) or needs_detail (the requester).
func (rq *InfoRequest) Pending() bool {
	return rq.State == RequestOpen || rq.State == RequestNeedsDetail
}

// DueTime is Due parsed (zero if malformed, which decodeRequest refuses).
func (rq *InfoRequest) DueTime() time.Time {
	t, _ := time.Parse(time.RFC3339, rq.Due)
	return t
}

// Overdue reports whether the request is open and its due time has passed
// at now. The clock stands still while the holder waits for detail, so a
// request in needs_detail is never overdue.
func (rq *InfoRequest) Overdue(now time.Time) bool {
	return rq.State == RequestOpen && now.After(rq.DueTime())
}

// StopClock stops the deadline clock at now (need_detail).
func (rq *InfoRequest) StopClock(now time.Time) {
	rq.ClockStopped = now.UTC().Format(time.RFC3339)
}

// RestartClock restarts it at now with the time that remained when it
// stopped: the due time moves on by as long as the clock stood. A request
// already overdue when the holder asked stays overdue.
func (rq *InfoRequest) RestartClock(now time.Time) {
	stopped, err := time.Parse(time.RFC3339, rq.ClockStopped)
	if err == nil && now.After(stopped) {
		rq.Due = rq.DueTime().Add(now.Sub(stopped)).UTC().Format(time.RFC3339)
	}
	rq.ClockStopped = ""
}

// Record appends a transition to the request's history.
func (rq *InfoRequest) Record(now time.Time, action, agency, officer, text string) {
	ev := api.RequestEvent{At: now.UTC().Format(time.RFC3339), Action: action, State: rq.State, Agency: agency, Text: text, Due: rq.Due}
	rq.History = append(rq.History, ev)
	for len(rq.Officers) < len(rq.History)-1 {
		rq.Officers = append(rq.Officers, "")
	}
	rq.Officers = append(rq.Officers, officer)
}

func requestKey(id string) string              { return "requests/" + id }
func requestIndexPrefix(agency string) string  { return "index/requests/" + agency + "/" }
func requestIndexKey(agency, id string) string { return requestIndexPrefix(agency) + id }

// The pending index lists the requests still open or waiting for detail,
// whoever the parties: what the overdue metrics read (one list, not every
// agency's index), cleared when a request is answered, refused or
// withdrawn.
const requestPendingPrefix = "index/requests-pending/"

// The overdue markers: one object per request whose deadline passed while
// it was open, created only if absent, so that "became overdue" is counted
// once per request across restarts and replicas sharing the store.
const requestOverduePrefix = "request-overdue/"

// PutRequest signs and stores rq; create stores it only if absent and adds
// it to the requester's and the holder's index and to the pending index.
// Without create it replaces the version rq was loaded as (LoadRequest),
// and fails with objstore.ErrConflict if another change came first.
func (rs *Store) PutRequest(ctx context.Context, rq *InfoRequest, create bool) error {
	tag, err := replaceTag(rq.tag, create, "request", rq.ID)
	if err != nil {
		return err
	}
	if err := rs.putSigned(ctx, requestKey(rq.ID), rq, create, tag); err != nil {
		return fmt.Errorf("store request: %w", err)
	}
	if create {
		for _, k := range []string{requestIndexKey(rq.Requester, rq.ID), requestIndexKey(rq.Holder, rq.ID), requestPendingPrefix + rq.ID} {
			if err := rs.store.Put(ctx, k, nil, objstore.PutOptions{}); err != nil {
				return fmt.Errorf("store request index: %w", err)
			}
		}
		return nil
	}
	return nil
}

// ClearPending drops request id from the pending index once it is
// answered, refused or withdrawn. A failure leaves a stale entry, which
// costs the overdue metrics one load (they check the state), never a
// wrong count.
func (rs *Store) ClearPending(ctx context.Context, id string) error {
	err := rs.store.Delete(context.WithoutCancel(ctx), requestPendingPrefix+id)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil
	}
	return err
}

// LoadRequest reads and verifies request id: ErrNotFound if there is none,
// ErrTampered (counted) if it does not verify.
func (rs *Store) LoadRequest(ctx context.Context, id string) (*InfoRequest, error) {
	jws, tag, err := rs.store.GetVersion(ctx, requestKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	rq, err := rs.decodeRequest(id, jws)
	if rq != nil {
		rq.tag = tag
	}
	return rq, rs.checked(err)
}

// decodeRequest verifies a stored request object (FuzzDecodeRequest).
func (rs *Store) decodeRequest(id string, jws []byte) (*InfoRequest, error) {
	payload, err := rs.signer.Verify(jws)
	if err != nil {
		return nil, fmt.Errorf("%w: request %s: %v", ErrTampered, id, err)
	}
	var rq InfoRequest
	if err := json.Unmarshal(payload, &rq); err != nil || rq.Format != RequestFormat || rq.ID != id {
		return nil, fmt.Errorf("%w: request %s: malformed", ErrTampered, id)
	}
	if _, err := time.Parse(time.RFC3339, rq.Due); err != nil {
		return nil, fmt.Errorf("%w: request %s: malformed due time", ErrTampered, id)
	}
	return &rq, nil
}

// RequestIDs lists up to limit ids of the requests agency filed or holds,
// oldest first, after the id after (empty: from the start).
func (rs *Store) RequestIDs(ctx context.Context, agency, after string, limit int) ([]string, error) {
	prefix := requestIndexPrefix(agency)
	start := ""
	if after != "" {
		start = prefix + after
	}
	keys, err := rs.store.List(ctx, prefix, start, limit)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if id := strings.TrimPrefix(k, prefix); record.ValidRequestID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// PendingRequestIDs lists the requests still pending (open or waiting for
// detail), at most max of them.
func (rs *Store) PendingRequestIDs(ctx context.Context, max int) ([]string, error) {
	var ids []string
	after := ""
	for {
		n := min(1000, max-len(ids))
		if n <= 0 {
			break
		}
		keys, err := rs.store.List(ctx, requestPendingPrefix, after, n)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if id := strings.TrimPrefix(k, requestPendingPrefix); record.ValidRequestID(id) {
				ids = append(ids, id)
			}
		}
		if len(keys) < n {
			break
		}
		after = keys[len(keys)-1]
	}
	return ids, nil
}

// MarkOverdue records that request id became overdue; first is true only
// for the call that created the marker.
func (rs *Store) MarkOverdue(ctx context.Context, id string, now time.Time) (first bool, err error) {
	err = rs.store.Put(ctx, requestOverduePrefix+id, []byte(now.UTC().Format(time.RFC3339)), objstore.PutOptions{IfAbsent: true, ContentType: "text/plain"})
	if errors.Is(err, objstore.ErrExists) {
		return false, nil
	}
	return err == nil, err
}
