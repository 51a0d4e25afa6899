package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

func consentItem(cr *recordstore.Consent, viewer string) api.ConsentItem {
	role := "requester"
	if cr.Originator == viewer {
		role = "originator"
	}
	return api.ConsentItem{ConsentID: cr.ID, RecordID: cr.RecordID, State: cr.State, Role: role, RequestedBy: cr.RequestedBy,
		Recipients: cr.Recipients, Purpose: cr.Purpose, Justification: cr.Justification, Note: cr.Note, Created: cr.Created,
		Expires: cr.Expires, DecidedBy: cr.DecidedBy, DecidedAt: cr.DecidedAt,
		Reasons: orEmpty(cr.Reasons), PreviousRefusals: orEmpty(cr.PreviousRefusals)}
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// errSlotEmpty: the slot is claimed but its consent request is not stored
// (a filing in flight, or one that failed or crashed after claiming).
var errSlotEmpty = errors.New("consent slot claimed but its request is not stored")

// slotConsent loads the consent request filed in a slot and checks that it
// is the request the slot belongs to.
func (s *Server) slotConsent(ctx context.Context, sl recordstore.SlotRef, reqKey string) (*recordstore.Consent, *recordstore.ConsentSlot, error) {
	slot, err := s.records.ReadSlot(ctx, sl)
	if errors.Is(err, recordstore.ErrTampered) {
		return nil, nil, errIntegrity(err)
	}
	if err != nil {
		return nil, nil, err
	}
	cr, err := s.loadConsent(ctx, slot.ConsentID)
	if err != nil {
		if p := asProblem(err); p.Status == http.StatusNotFound {
			return nil, slot, errSlotEmpty
		}
		return nil, slot, err
	}
	if recordstore.ConsentRequestKey(cr.RecordID, cr.RequestedBy, cr.Recipients) != reqKey {
		return nil, slot, errIntegrity(fmt.Errorf("consent slot %s names %s, a different request", sl, cr.ID))
	}
	return cr, slot, nil
}

// consentHistory is what the slots say about a request being filed.
type consentHistory struct {
	pending *recordstore.Consent // the request already pending, if any
	nextGen int
	// refusals: the earlier refusals, carried forward from the most recent
	// stored request.
	refusals []api.ConsentRefusal
}

// consentInFlight is how long a claimed slot may wait for its request to
// be stored before a new filing treats it as abandoned: a filing still in
// progress is bounded by the request timeout.
func (s *Server) consentInFlight() time.Duration { return s.cfg.Limits.RequestTimeout + 5*time.Second }

func (s *Server) consentHistory(ctx context.Context, reqKey string, now time.Time) (*consentHistory, error) {
	slots, err := s.records.ConsentSlots(ctx, reqKey)
	if err != nil {
		return nil, backendProblem(err)
	}
	h := &consentHistory{}
	if len(slots) == 0 {
		return h, nil
	}
	h.nextGen = slots[len(slots)-1].Gen + 1
	for i := len(slots) - 1; i >= 0; i-- {
		cr, slot, err := s.slotConsent(ctx, slots[i], reqKey)
		if errors.Is(err, errSlotEmpty) {
			claimed, perr := time.Parse(time.RFC3339, slot.Claimed)
			// A claim without a readable time cannot be in flight (this
			// code always writes one): treat it as abandoned, never as a
			// block on the request for good.
			if i == len(slots)-1 && perr == nil && now.Sub(claimed) < s.consentInFlight() {
				p := problem(http.StatusConflict, "consent-filing-in-progress", "Consent request being filed",
					"the same consent request is being filed by another request; retry shortly")
				p.retryAfter = 2
				return nil, p
			}
			continue // abandoned: look further back for the history
		}
		if errors.Is(err, objstore.ErrNotFound) {
			continue
		}
		if err != nil {
			if _, ok := err.(*Problem); ok {
				return nil, err
			}
			return nil, backendProblem(err)
		}
		if i == len(slots)-1 && cr.State == recordstore.ConsentPending {
			h.pending = cr
			return h, nil
		}
		h.refusals = slices.Clone(cr.PreviousRefusals)
		if cr.State == recordstore.ConsentRefused {
			h.refusals = append(h.refusals, api.ConsentRefusal{ConsentID: cr.ID, RefusedAt: cr.DecidedAt, RefusedBy: cr.DecidedBy})
		}
		return h, nil
	}
	return h, nil
}

// claimConsentSlot creates the slot for gen; objstore.ErrExists when
// another filing claimed it first.
func (s *Server) claimConsentSlot(ctx context.Context, reqKey string, gen int, consentID string, now time.Time) error {
	return s.records.ClaimSlot(ctx, reqKey, gen, consentID, now)
}

func consentFiled(cr *recordstore.Consent, decisionID string, duplicate bool) api.ConsentFiled {
	detail := "the originator's consent is required; the request waits for " + cr.Originator
	if duplicate {
		detail = "the same request is already pending with " + cr.Originator + "; this is that request"
	}
	return api.ConsentFiled{ConsentID: cr.ID, State: cr.State, RecordID: cr.RecordID, Recipients: cr.Recipients, Expires: cr.Expires,
		DecisionID: decisionID, Reasons: orEmpty(cr.Reasons), PreviousRefusals: orEmpty(cr.PreviousRefusals), Duplicate: duplicate,
		Detail: detail}
}

// releaseConsentSlot gives back a slot whose filing failed before its
// request was stored, so that a retry can claim the same gen at once
// rather than wait for the slot to count as abandoned.
func (s *Server) releaseConsentSlot(ctx context.Context, reqKey string, gen int) {
	if err := s.records.ReleaseSlot(ctx, reqKey, gen); err != nil {
		s.log.Warn("consent slot not released; it counts as abandoned after the request timeout", fieldErr(err))
	}
}
