package recordstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policy"
)

// Consent request states.
const (
	ConsentPending  = "pending"
	ConsentApproved = "approved"
	ConsentRefused  = "refused"
	ConsentExpired  = "expired"
)

// ConsentFormat names the stored consent format.
const ConsentFormat = "liaison.consent/v1"

// Consent is a stored request for the originator's consent to an onward
// share, signed like record metadata (the store is untrusted).
type Consent struct {
	Format             string   `json:"format"`
	ID                 string   `json:"id"`
	RecordID           string   `json:"record_id"`
	Originator         string   `json:"originator"`
	RequestedBy        string   `json:"requested_by"`
	RequestedByOfficer string   `json:"requested_by_officer,omitempty"`
	Recipients         []string `json:"recipients"`
	Purpose            string   `json:"purpose,omitempty"`
	Justification      string   `json:"justification,omitempty"`
	Note               string   `json:"note,omitempty"`
	Created            string   `json:"created"`
	Expires            string   `json:"expires"`
	State              string   `json:"state"`
	DecidedBy          string   `json:"decided_by,omitempty"`
	DecidedByOfficer   string   `json:"decided_by_officer,omitempty"`
	DecidedAt          string   `json:"decided_at,omitempty"`
	// Receipt is the originator's signed approval (compact JWS).
	Receipt string `json:"receipt,omitempty"`
	// Reasons are the policy's public reasons why consent was required,
	// from the decision taken when the request was filed.
	Reasons []policy.Reason `json:"reasons,omitempty"`
	// PreviousRefusals are the earlier refusals of the same request (same
	// record, requester and recipient set), so that a repeat shows as one.
	PreviousRefusals []api.ConsentRefusal `json:"previous_refusals,omitempty"`
	// RemoteGateway is set when the request crosses gateways: at the
	// requester's gateway, the originator's gateway that decides it; at the
	// originator's, the gateway the request came from (docs/federation.md).
	RemoteGateway string `json:"remote_gateway,omitempty"`

	// tag is the version tag of the stored object this was loaded from:
	// PutConsent with create false replaces only that version.
	tag string
}

// ConsentReceiptType names the originator's signed approval.
const ConsentReceiptType = "liaison.consent-receipt/v1"

// ConsentReceipt is what the originator's approval signs (compact JWS under
// the originator gateway's key). Across gateways it travels with the
// onward share, and every receiving gateway verifies it.
type ConsentReceipt struct {
	Type              string   `json:"type"`
	ConsentID         string   `json:"consent_id"`
	RecordID          string   `json:"record_id"`
	RequestedBy       string   `json:"requested_by"`
	Recipients        []string `json:"recipients"`
	ApprovedBy        string   `json:"approved_by"`
	ApprovedByOfficer string   `json:"approved_by_officer"`
	ApprovedAt        string   `json:"approved_at"`
}

func consentKey(id string) string              { return "consents/" + id }
func consentIndexPrefix(agency string) string  { return "index/consents/" + agency + "/" }
func consentIndexKey(agency, id string) string { return consentIndexPrefix(agency) + id }

// PutConsent signs and stores cr; create stores it only if absent and adds
// it to the originator's and the requester's consent index. Without create
// it replaces the version cr was loaded as (LoadConsent), and fails with
// objstore.ErrConflict if another change (a decision on another replica)
// came first.
func (rs *Store) PutConsent(ctx context.Context, cr *Consent, create bool) error {
	tag, err := replaceTag(cr.tag, create, "consent", cr.ID)
	if err != nil {
		return err
	}
	if err := rs.putSigned(ctx, consentKey(cr.ID), cr, create, tag); err != nil {
		return fmt.Errorf("store consent: %w", err)
	}
	if create {
		for _, a := range []string{cr.Originator, cr.RequestedBy} {
			if err := rs.store.Put(ctx, consentIndexKey(a, cr.ID), nil, objstore.PutOptions{}); err != nil {
				return fmt.Errorf("store consent index: %w", err)
			}
		}
	}
	return nil
}

// LoadConsent reads and verifies consent request id: ErrNotFound if there
// is none, ErrTampered (counted) if it does not verify.
func (rs *Store) LoadConsent(ctx context.Context, id string) (*Consent, error) {
	jws, tag, err := rs.store.GetVersion(ctx, consentKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	cr, err := rs.decodeConsent(id, jws)
	if cr != nil {
		cr.tag = tag
	}
	return cr, rs.checked(err)
}

// decodeConsent verifies a stored consent object (FuzzDecodeConsent).
func (rs *Store) decodeConsent(id string, jws []byte) (*Consent, error) {
	payload, err := rs.signer.Verify(jws)
	if err != nil {
		return nil, fmt.Errorf("%w: consent %s: %v", ErrTampered, id, err)
	}
	var cr Consent
	if err := json.Unmarshal(payload, &cr); err != nil || cr.Format != ConsentFormat || cr.ID != id {
		return nil, fmt.Errorf("%w: consent %s: malformed", ErrTampered, id)
	}
	return &cr, nil
}

// ConsentIDs lists the consent requests agency originated or filed (at
// most the first 1000).
func (rs *Store) ConsentIDs(ctx context.Context, agency string) ([]string, error) {
	keys, err := rs.store.List(ctx, consentIndexPrefix(agency), "", 1000)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if id := strings.TrimPrefix(k, consentIndexPrefix(agency)); record.ValidConsentID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
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

// ConsentRequestKey identifies "the same request": same record, same
// requesting agency, same set of recipients (order does not matter).
func ConsentRequestKey(recordID, requester string, recipients []string) string {
	rs := slices.Clone(recipients)
	slices.Sort(rs)
	h := sha256.New()
	// Agency and record ids cannot contain a newline (the agency id rule,
	// record.ValidID), so the encoding is unambiguous.
	fmt.Fprintf(h, "liaison.consent-request/v1\n%s\n%s\n%s", recordID, requester, strings.Join(rs, "\n"))
	return hex.EncodeToString(h.Sum(nil))
}

func consentSlotKey(reqKey string, gen int) string {
	return fmt.Sprintf("%s%s/%010d", consentSlotPrefix, reqKey, gen)
}

// ConsentSlot is what a slot object holds.
type ConsentSlot struct {
	ConsentID string `json:"consent_id"`
	Claimed   string `json:"claimed"` // RFC 3339
}

// SlotRef names one claimed slot of a request.
type SlotRef struct {
	key string
	Gen int
}

// ConsentSlots lists the slots claimed for reqKey, oldest first.
func (rs *Store) ConsentSlots(ctx context.Context, reqKey string) ([]SlotRef, error) {
	prefix := consentSlotPrefix + reqKey + "/"
	var out []SlotRef
	after := ""
	for {
		keys, err := rs.store.List(ctx, prefix, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			gen, err := strconv.Atoi(strings.TrimPrefix(k, prefix))
			if err != nil || gen < 0 {
				continue
			}
			out = append(out, SlotRef{key: k, Gen: gen})
		}
		if len(keys) < 1000 {
			break
		}
		after = keys[len(keys)-1]
	}
	slices.SortFunc(out, func(a, b SlotRef) int { return a.Gen - b.Gen })
	return out, nil
}

// ReadSlot reads a claimed slot: objstore.ErrNotFound if it was released,
// ErrTampered if it does not parse.
func (rs *Store) ReadSlot(ctx context.Context, sl SlotRef) (*ConsentSlot, error) {
	b, err := rs.store.Get(ctx, sl.key)
	if err != nil {
		return nil, err
	}
	var slot ConsentSlot
	if err := json.Unmarshal(b, &slot); err != nil {
		return nil, rs.checked(fmt.Errorf("%w: consent slot %s: malformed", ErrTampered, sl.key))
	}
	return &slot, nil
}

// ClaimSlot creates the slot for gen; objstore.ErrExists when another
// filing claimed it first.
func (rs *Store) ClaimSlot(ctx context.Context, reqKey string, gen int, consentID string, now time.Time) error {
	b, err := json.Marshal(ConsentSlot{ConsentID: consentID, Claimed: now.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	return rs.store.Put(ctx, consentSlotKey(reqKey, gen), b, objstore.PutOptions{IfAbsent: true, ContentType: "application/json"})
}

// ReleaseSlot gives back a slot whose filing failed before its request
// was stored.
func (rs *Store) ReleaseSlot(ctx context.Context, reqKey string, gen int) error {
	return rs.store.Delete(context.WithoutCancel(ctx), consentSlotKey(reqKey, gen))
}

// String names the slot (for errors and logs; it carries no identifier
// beyond the request key's hash).
func (sl SlotRef) String() string { return sl.key }

// replaceTag is the IfMatch of a signed object's write: none for a
// creation, the loaded version's tag for a replacement (which must have
// one: an unconditional replacement could undo a concurrent change).
func replaceTag(tag string, create bool, what, id string) (string, error) {
	if create {
		return "", nil
	}
	if tag == "" {
		return "", fmt.Errorf("store %s %s: no version tag to replace (it was not loaded from the store)", what, id)
	}
	return tag, nil
}
