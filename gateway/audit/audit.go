// Package audit records what the gateway did for whom: one entry per
// request, written durably before the response is sent (DPA 2018 s.62
// logging of collection, consultation, disclosure and erasure). The writer
// sits behind the Writer interface so that the tamper-evident Merkle log can
// replace the hash-chained JSON-lines file without touching the request path.
package audit

import (
	"context"
	"errors"
	"time"
)

// Operations, as DPA 2018 s.62(1) names them, plus the ones a gateway adds.
const (
	OpCollection   = "collection"   // a record was published
	OpConsultation = "consultation" // metadata was listed or a decision was dry-run
	OpDisclosure   = "disclosure"   // record content was given to another agency
	OpErasure      = "erasure"      // a record was recalled
	OpAlteration   = "alteration"   // a record or its sharing was changed
	OpDenial       = "denial"       // refused by policy or at authentication
)

// Event is one audit entry. Field names are stable: auditors query them.
type Event struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Gateway   string    `json:"gateway"`
	RequestID string    `json:"request_id"`
	Operation string    `json:"operation"`
	Action    string    `json:"action"`
	Method    string    `json:"method,omitempty"`
	Route     string    `json:"route,omitempty"`
	Status    int       `json:"status"`

	Agency          string `json:"agency,omitempty"`
	Officer         string `json:"officer,omitempty"`
	CertFingerprint string `json:"cert_fingerprint,omitempty"`

	RecordIDs     []string `json:"record_ids,omitempty"`
	Originator    string   `json:"originator,omitempty"`
	Recipients    []string `json:"recipient_ids,omitempty"`
	DSAIDs        []string `json:"dsa_ids,omitempty"`
	Purpose       string   `json:"purpose,omitempty"`
	Justification string   `json:"justification,omitempty"`
	Case          string   `json:"case,omitempty"`

	Decision *Decision `json:"decision,omitempty"`
	// Error is the internal cause for failures, never content or secrets.
	Error string `json:"error,omitempty"`
	// Corrects is the seq of an earlier entry whose outcome this entry
	// corrects (the action failed after its entry was written).
	Corrects uint64 `json:"corrects,omitempty"`

	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// Decision is the policy decision as the audit log keeps it: every reason, public or not.
type Decision struct {
	ID       string   `json:"id"`
	Revision string   `json:"revision"`
	Allow    bool     `json:"allow"`
	Reasons  []Reason `json:"reasons,omitempty"`
}

// Reason is one reason of a decision.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	Public  bool   `json:"public,omitempty"`
}

// Writer appends events durably. Append returns only after the event is on
// stable storage; an error means the event may not be, and the caller must
// not disclose or change anything on the strength of it.
type Writer interface {
	Append(ctx context.Context, e *Event) error
}

// ErrUnavailable: the audit log cannot be written. The gateway answers 503.
var ErrUnavailable = errors.New("audit: log unavailable")
