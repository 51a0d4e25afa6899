package federation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/gateway/record"
)

// Message types (docs/federation.md, "Messages").
const (
	// TypeShare delivers a record (metadata and content) to agencies the
	// receiver hosts.
	TypeShare = "share"
	// TypeRecall is the originator's tombstone: every copy of the record,
	// at every version, is deleted with its key material. Never expires,
	// never blocked.
	TypeRecall = "recall"
	// TypeRecallAck carries, upstream towards the originator, the signed
	// receipts of gateways further downstream that applied a recall.
	TypeRecallAck = "recall-ack"
	// TypeConsentRequest asks the originator's gateway for the
	// originator's consent to an onward share by an agency of the sender.
	TypeConsentRequest = "consent-request"
	// TypeConsentDecision carries the originator's decision back, with its
	// signed receipt when approved.
	TypeConsentDecision = "consent-decision"
)

// Receipt outcomes.
const (
	OutcomeAccepted     = "accepted"     // share stored, readable by its recipients
	OutcomeRefused      = "refused"      // the receiver's policy refused it; Reasons say why
	OutcomeRecalled     = "recalled"     // recall applied (or share dropped: the record was recalled)
	OutcomeAcknowledged = "acknowledged" // recall-ack or consent message recorded
)

const (
	envelopeFormat = "liaison.fed.message/v1"
	receiptFormat  = "liaison.fed.receipt/v1"
	// maxBody bounds a message body (a record's metadata and content).
	maxBody = 64 << 20
)

// Envelope is the signed header of a message between gateways: a compact
// JWS under the sender's gateway signing key over this JSON. It never holds
// content: a share's body travels beside it and is bound by PayloadDigest,
// so both sides can keep the envelope in their audit logs.
type Envelope struct {
	Format      string   `json:"format"`
	ID          string   `json:"id"`
	Type        string   `json:"type"`
	FromGateway string   `json:"from_gateway"`
	ToGateway   string   `json:"to_gateway"`
	FromAgency  string   `json:"from_agency"`
	ToAgencies  []string `json:"to_agencies"`
	// OfficerRef is a pseudonymous reference to the officer whose request
	// caused the message (never the officer id).
	OfficerRef string `json:"officer_ref,omitempty"`
	DSAID      string `json:"dsa_id,omitempty"`
	RecordID   string `json:"record_id"`
	// RecordVersion: a share carries this version; a recall covers every
	// version up to it (and, as records are recalled for good, any later).
	RecordVersion int `json:"record_version"`
	// Provenance lists the gateways the record passed through before the
	// receiver, the originator's first; a receiver already on it refuses
	// the message (no loops).
	Provenance []string `json:"provenance"`
	// Seq is the sender's sequence number for this receiver.
	Seq     uint64 `json:"seq"`
	Created string `json:"created"`
	// Expires is empty for recalls and recall-acks, which never expire.
	Expires string `json:"expires,omitempty"`
	// PayloadDigest is "sha256:<hex>" of the body (share), empty otherwise.
	PayloadDigest string `json:"payload_digest,omitempty"`
	// Handling summarises the record's handling codes (no content).
	Handling json.RawMessage `json:"handling,omitempty"`
	// Ref is, for a recall-ack, the id of the recall it acknowledges.
	Ref string `json:"ref,omitempty"`
	// Acks are, for a recall-ack, the downstream receipts (compact JWS).
	Acks []ForwardedAck `json:"acks,omitempty"`
	// Consent is the consent request or decision (consent-request,
	// consent-decision).
	Consent *ConsentMessage `json:"consent,omitempty"`
	// ConsentReceipts are, for an onward share, the originator's signed
	// consent receipts (compact JWS, signed by the originator's gateway)
	// for the consents the record's metadata names: the receiver verifies
	// the chain before accepting.
	ConsentReceipts []string `json:"consent_receipts,omitempty"`
}

// ConsentMessage is a consent request (state pending) or the originator's
// decision on it (approved, with Receipt; or refused).
type ConsentMessage struct {
	ID            string `json:"id"`
	State         string `json:"state"`
	Purpose       string `json:"purpose,omitempty"`
	Justification string `json:"justification,omitempty"`
	Note          string `json:"note,omitempty"`
	Expires       string `json:"expires,omitempty"`
	Receipt       string `json:"receipt,omitempty"`
}

// ForwardedAck is a downstream gateway's signed recall receipt, relayed
// towards the originator by the gateway that forwarded the recall.
type ForwardedAck struct {
	Gateway string `json:"gateway"`
	Receipt string `json:"receipt"`
}

// Receipt is the receiver's signed answer to a message: its decision and
// public reasons, and where its evidence is (the seq of its audit entry).
// The sender keeps it in its audit log: two-sided evidence.
type Receipt struct {
	Format string `json:"format"`
	// MessageID and EnvelopeDigest name the message answered.
	MessageID      string         `json:"message_id"`
	EnvelopeDigest string         `json:"envelope_digest"`
	From           string         `json:"from"` // the receiver
	To             string         `json:"to"`   // the sender
	RecordID       string         `json:"record_id"`
	Outcome        string         `json:"outcome"`
	Reasons        []PublicReason `json:"reasons,omitempty"`
	// Downstream lists, for a recall, the gateways this receiver forwarded
	// it to (their acknowledgements follow as recall-acks).
	Downstream []string `json:"downstream,omitempty"`
	AuditSeq   uint64   `json:"audit_seq"`
	Time       string   `json:"time"`
}

// PublicReason is a reason the receiver's policy gave that may be shown to
// the sender.
type PublicReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ShareBody is the body of a share: the record as the originator's gateway
// holds it. The receiver seals it under its own keys.
type ShareBody struct {
	Meta    record.Meta `json:"meta"`
	Content []byte      `json:"content"`
}

// Wire is what travels in POST /fed/v1/messages: the signed envelope and,
// for a share, the body it digests.
type Wire struct {
	Envelope string `json:"envelope"`
	Body     []byte `json:"body,omitempty"`
}

// WireReceipt is the answer to a message.
type WireReceipt struct {
	Receipt string `json:"receipt"`
}

// Digest is "sha256:<hex>" of b.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// errMalformed: a message, body or receipt that does not parse or breaks
// the envelope rules. The receiver answers 400 and changes nothing.
var errMalformed = errors.New("federation: malformed message")

// parseEnvelope decodes a verified envelope payload strictly and checks
// what can be checked without knowing the peers: format, ids, type,
// timestamps. FuzzParseEnvelope exercises it.
func parseEnvelope(payload []byte) (*Envelope, error) {
	var e Envelope
	if err := strictJSON(payload, &e); err != nil {
		return nil, err
	}
	if e.Format != envelopeFormat {
		return nil, fmt.Errorf("%w: format", errMalformed)
	}
	if !record.ValidMessageID(e.ID) {
		return nil, fmt.Errorf("%w: id", errMalformed)
	}
	switch e.Type {
	case TypeShare, TypeRecall, TypeRecallAck, TypeConsentRequest, TypeConsentDecision:
	default:
		return nil, fmt.Errorf("%w: unknown type", errMalformed)
	}
	if !identity.ValidID(e.FromGateway) || !identity.ValidID(e.ToGateway) || !identity.ValidID(e.FromAgency) {
		return nil, fmt.Errorf("%w: gateway or agency id", errMalformed)
	}
	if len(e.ToAgencies) > 64 {
		return nil, fmt.Errorf("%w: too many agencies", errMalformed)
	}
	for _, a := range e.ToAgencies {
		if !identity.ValidID(a) {
			return nil, fmt.Errorf("%w: agency id", errMalformed)
		}
	}
	if !record.ValidID(e.RecordID) || e.RecordVersion < 1 {
		return nil, fmt.Errorf("%w: record id or version", errMalformed)
	}
	if len(e.Provenance) == 0 || len(e.Provenance) > 16 || e.Provenance[len(e.Provenance)-1] != e.FromGateway {
		return nil, fmt.Errorf("%w: provenance must end with the sender", errMalformed)
	}
	for i, g := range e.Provenance {
		if !identity.ValidID(g) || slices.Contains(e.Provenance[:i], g) {
			return nil, fmt.Errorf("%w: provenance", errMalformed)
		}
	}
	if _, err := time.Parse(time.RFC3339, e.Created); err != nil {
		return nil, fmt.Errorf("%w: created", errMalformed)
	}
	if e.Expires != "" {
		if _, err := time.Parse(time.RFC3339, e.Expires); err != nil {
			return nil, fmt.Errorf("%w: expires", errMalformed)
		}
	}
	switch e.Type {
	case TypeShare:
		if e.PayloadDigest == "" || len(e.ToAgencies) == 0 || e.Expires == "" {
			return nil, fmt.Errorf("%w: a share needs a payload digest, recipients and an expiry", errMalformed)
		}
	case TypeRecall:
		if e.PayloadDigest != "" || e.Expires != "" {
			return nil, fmt.Errorf("%w: a recall has no body and never expires", errMalformed)
		}
	case TypeRecallAck:
		if !record.ValidMessageID(e.Ref) || len(e.Acks) == 0 || len(e.Acks) > 64 || e.PayloadDigest != "" {
			return nil, fmt.Errorf("%w: a recall-ack names its recall and carries receipts", errMalformed)
		}
		for _, a := range e.Acks {
			if !identity.ValidID(a.Gateway) || a.Receipt == "" {
				return nil, fmt.Errorf("%w: forwarded ack", errMalformed)
			}
		}
	case TypeConsentRequest, TypeConsentDecision:
		c := e.Consent
		if c == nil || !record.ValidConsentID(c.ID) || e.PayloadDigest != "" || len(e.ToAgencies) == 0 {
			return nil, fmt.Errorf("%w: a consent message names its consent request and the recipients", errMalformed)
		}
		want := map[string]bool{TypeConsentRequest + "/pending": true, TypeConsentDecision + "/approved": true, TypeConsentDecision + "/refused": true}
		if !want[e.Type+"/"+c.State] || (c.State == "approved") != (c.Receipt != "") {
			return nil, fmt.Errorf("%w: consent state", errMalformed)
		}
		if !record.Printable(c.Purpose) || !record.Printable(c.Justification) || !record.Printable(c.Note) ||
			len(c.Justification) > record.MaxJustification || len(c.Note) > 1024 || len(c.Purpose) > 64 {
			return nil, fmt.Errorf("%w: consent text", errMalformed)
		}
	}
	if e.Type != TypeConsentRequest && e.Type != TypeConsentDecision && e.Consent != nil {
		return nil, fmt.Errorf("%w: only consent messages carry a consent", errMalformed)
	}
	if e.Type != TypeShare && len(e.ConsentReceipts) > 0 || len(e.ConsentReceipts) > 16 {
		return nil, fmt.Errorf("%w: consent receipts", errMalformed)
	}
	return &e, nil
}

// parseReceipt decodes a verified receipt payload strictly.
func parseReceipt(payload []byte) (*Receipt, error) {
	var r Receipt
	if err := strictJSON(payload, &r); err != nil {
		return nil, err
	}
	if r.Format != receiptFormat || !record.ValidMessageID(r.MessageID) || !identity.ValidID(r.From) || !identity.ValidID(r.To) {
		return nil, fmt.Errorf("%w: receipt", errMalformed)
	}
	switch r.Outcome {
	case OutcomeAccepted, OutcomeRefused, OutcomeRecalled, OutcomeAcknowledged:
	default:
		return nil, fmt.Errorf("%w: receipt outcome", errMalformed)
	}
	return &r, nil
}

// parseShareBody decodes a share body strictly.
func parseShareBody(b []byte) (*ShareBody, error) {
	var sb ShareBody
	if err := strictJSON(b, &sb); err != nil {
		return nil, err
	}
	return &sb, nil
}

// strictJSON decodes one JSON value, refusing unknown members and trailing
// data: what a peer signs is exactly what both sides read.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data", errMalformed)
	}
	return nil
}
