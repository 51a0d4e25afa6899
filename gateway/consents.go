package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/policy"
)

// API bodies of the consent workflow. The server writes them, the CLI and
// the tests read them: one definition, so the three cannot drift apart.

// ConsentFiled is the 202 body of POST /v1/records/{id}/shares when the
// policy's only objection is the originator's consent.
type ConsentFiled struct {
	ConsentID  string   `json:"consent_id"`
	State      string   `json:"state"`
	RecordID   string   `json:"record_id"`
	Recipients []string `json:"recipients"`
	Expires    string   `json:"expires"`
	// DecisionID is the decision taken on this filing (in the audit log).
	DecisionID string `json:"decision_id"`
	// Reasons are the policy's public reasons why consent is required, as
	// recorded when the request was first filed.
	Reasons []policy.Reason `json:"reasons"`
	// PreviousRefusals are the originator's earlier refusals of the same
	// request (same record, requesting agency and recipient set), oldest
	// first: the originator sees that this one is a repeat.
	PreviousRefusals []ConsentRefusal `json:"previous_refusals"`
	// Duplicate is true when the same request was already pending: the
	// answer is that request, and nothing new was filed.
	Duplicate bool   `json:"duplicate"`
	Detail    string `json:"detail"`
}

// ConsentRefusal names one earlier refusal of the same request.
type ConsentRefusal struct {
	ConsentID string `json:"consent_id"`
	RefusedAt string `json:"refused_at"`
	RefusedBy string `json:"refused_by"`
}

// ConsentItem is one entry of GET /v1/consents.
type ConsentItem struct {
	ConsentID        string           `json:"consent_id"`
	RecordID         string           `json:"record_id"`
	State            string           `json:"state"`
	Role             string           `json:"role"` // "originator" (decides) or "requester"
	RequestedBy      string           `json:"requested_by"`
	Recipients       []string         `json:"recipients"`
	Purpose          string           `json:"purpose"`
	Justification    string           `json:"justification"`
	Note             string           `json:"note"`
	Created          string           `json:"created"`
	Expires          string           `json:"expires"`
	DecidedBy        string           `json:"decided_by"`
	DecidedAt        string           `json:"decided_at"`
	Reasons          []policy.Reason  `json:"reasons"`
	PreviousRefusals []ConsentRefusal `json:"previous_refusals"`
}

// ConsentList is the body of GET /v1/consents.
type ConsentList struct {
	Items []ConsentItem `json:"items"`
}

// ConsentDecided is the body of POST /v1/consents/{id}/approve|refuse.
type ConsentDecided struct {
	ConsentID  string   `json:"consent_id"`
	State      string   `json:"state"`
	RecordID   string   `json:"record_id"`
	Version    int      `json:"version,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	Receipt    string   `json:"receipt,omitempty"`
}

func (cr *consentRecord) item(viewer string) ConsentItem {
	role := "requester"
	if cr.Originator == viewer {
		role = "originator"
	}
	return ConsentItem{ConsentID: cr.ID, RecordID: cr.RecordID, State: cr.State, Role: role, RequestedBy: cr.RequestedBy,
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

// One request at a time per (record, requesting agency, recipient set).
//
// Each filing of that request claims a slot: consent-slots/<key>/<gen>,
// created only if absent, naming the consent request filed in it. The last
// slot is the request's current state: a pending consent there answers a
// duplicate with that consent; a decided or expired one lets the next
// filing claim gen+1. Two filers racing (on one node the record lock
// serialises them; across nodes sharing a store it does not) both try the
// same gen and the store lets exactly one create it; the loser reads the
// winner's slot. Slots are never deleted or rewritten, so there is no
// delete-versus-create race, and their history is the request's history.
//
// Consent ids stay random (not derived from the key): an id is shown to
// both agencies, put in Location headers, logs and audit entries, and a
// hash of (record, requester, recipients) would let anyone holding an id
// confirm a guess at who asked to share which record with whom.

const consentSlotPrefix = "consent-slots/"

// consentRequestKey identifies "the same request": same record, same
// requesting agency, same set of recipients (order does not matter).
func consentRequestKey(recordID, requester string, recipients []string) string {
	rs := slices.Clone(recipients)
	slices.Sort(rs)
	h := sha256.New()
	// Agency and record ids cannot contain a newline (identity.ValidID,
	// record.ValidID), so the encoding is unambiguous.
	fmt.Fprintf(h, "liaison.consent-request/v1\n%s\n%s\n%s", recordID, requester, strings.Join(rs, "\n"))
	return hex.EncodeToString(h.Sum(nil))
}

func consentSlotKey(reqKey string, gen int) string {
	return fmt.Sprintf("%s%s/%010d", consentSlotPrefix, reqKey, gen)
}

// consentSlot is what a slot object holds.
type consentSlot struct {
	ConsentID string `json:"consent_id"`
	Claimed   string `json:"claimed"` // RFC 3339
}

type slotRef struct {
	key string
	gen int
}

func (s *Server) consentSlots(ctx context.Context, reqKey string) ([]slotRef, error) {
	prefix := consentSlotPrefix + reqKey + "/"
	var out []slotRef
	after := ""
	for {
		keys, err := s.records.store.List(ctx, prefix, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			gen, err := strconv.Atoi(strings.TrimPrefix(k, prefix))
			if err != nil || gen < 0 {
				continue
			}
			out = append(out, slotRef{key: k, gen: gen})
		}
		if len(keys) < 1000 {
			break
		}
		after = keys[len(keys)-1]
	}
	slices.SortFunc(out, func(a, b slotRef) int { return a.gen - b.gen })
	return out, nil
}

// errSlotEmpty: the slot is claimed but its consent request is not stored
// (a filing in flight, or one that failed or crashed after claiming).
var errSlotEmpty = errors.New("consent slot claimed but its request is not stored")

// slotConsent loads the consent request filed in a slot and checks that it
// is the request the slot belongs to.
func (s *Server) slotConsent(ctx context.Context, sl slotRef, reqKey string) (*consentRecord, *consentSlot, error) {
	b, err := s.records.store.Get(ctx, sl.key)
	if err != nil {
		return nil, nil, err
	}
	var slot consentSlot
	if err := json.Unmarshal(b, &slot); err != nil {
		return nil, nil, errIntegrity(fmt.Errorf("consent slot %s: malformed", sl.key))
	}
	cr, err := s.loadConsent(ctx, slot.ConsentID)
	if err != nil {
		if p := asProblem(err); p.Status == http.StatusNotFound {
			return nil, &slot, errSlotEmpty
		}
		return nil, &slot, err
	}
	if consentRequestKey(cr.RecordID, cr.RequestedBy, cr.Recipients) != reqKey {
		return nil, &slot, errIntegrity(fmt.Errorf("consent slot %s names %s, a different request", sl.key, cr.ID))
	}
	return cr, &slot, nil
}

// consentHistory is what the slots say about a request being filed.
type consentHistory struct {
	pending *consentRecord // the request already pending, if any
	nextGen int
	// refusals: the earlier refusals, carried forward from the most recent
	// stored request.
	refusals []ConsentRefusal
}

// consentInFlight is how long a claimed slot may wait for its request to
// be stored before a new filing treats it as abandoned: a filing still in
// progress is bounded by the request timeout.
func (s *Server) consentInFlight() time.Duration { return s.cfg.Limits.RequestTimeout + 5*time.Second }

func (s *Server) consentHistory(ctx context.Context, reqKey string, now time.Time) (*consentHistory, error) {
	slots, err := s.consentSlots(ctx, reqKey)
	if err != nil {
		return nil, backendProblem(err)
	}
	h := &consentHistory{}
	if len(slots) == 0 {
		return h, nil
	}
	h.nextGen = slots[len(slots)-1].gen + 1
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
		if i == len(slots)-1 && cr.State == consentPending {
			h.pending = cr
			return h, nil
		}
		h.refusals = slices.Clone(cr.PreviousRefusals)
		if cr.State == consentRefused {
			h.refusals = append(h.refusals, ConsentRefusal{ConsentID: cr.ID, RefusedAt: cr.DecidedAt, RefusedBy: cr.DecidedBy})
		}
		return h, nil
	}
	return h, nil
}

// claimConsentSlot creates the slot for gen; objstore.ErrExists when
// another filing claimed it first.
func (s *Server) claimConsentSlot(ctx context.Context, reqKey string, gen int, consentID string, now time.Time) error {
	b, err := json.Marshal(consentSlot{ConsentID: consentID, Claimed: now.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	return s.records.store.Put(ctx, consentSlotKey(reqKey, gen), b, objstore.PutOptions{IfAbsent: true, ContentType: "application/json"})
}

func (cr *consentRecord) filed(decisionID string, duplicate bool) ConsentFiled {
	detail := "the originator's consent is required; the request waits for " + cr.Originator
	if duplicate {
		detail = "the same request is already pending with " + cr.Originator + "; this is that request"
	}
	return ConsentFiled{ConsentID: cr.ID, State: cr.State, RecordID: cr.RecordID, Recipients: cr.Recipients, Expires: cr.Expires,
		DecisionID: decisionID, Reasons: orEmpty(cr.Reasons), PreviousRefusals: orEmpty(cr.PreviousRefusals), Duplicate: duplicate,
		Detail: detail}
}

// releaseConsentSlot gives back a slot whose filing failed before its
// request was stored, so that a retry can claim the same gen at once
// rather than wait for the slot to count as abandoned.
func (s *Server) releaseConsentSlot(ctx context.Context, reqKey string, gen int) {
	if err := s.records.store.Delete(context.WithoutCancel(ctx), consentSlotKey(reqKey, gen)); err != nil {
		s.log.Warn("consent slot not released; it counts as abandoned after the request timeout", fieldErr(err))
	}
}

// consentReceipt is what the originator's approval signs.
type consentReceipt struct {
	Type              string   `json:"type"`
	ConsentID         string   `json:"consent_id"`
	RecordID          string   `json:"record_id"`
	RequestedBy       string   `json:"requested_by"`
	Recipients        []string `json:"recipients"`
	ApprovedBy        string   `json:"approved_by"`
	ApprovedByOfficer string   `json:"approved_by_officer"`
	ApprovedAt        string   `json:"approved_at"`
}
