package api

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/policy/shadow"
)

// The oversight endpoints serve the people who check the gateway rather
// than use it: auditors and data protection officers (proofs, statistics,
// evidence packs) and security officers (the policy in force, its reload
// history, the shadow report). The console (docs/console.md) is built on
// them, and so can any other tool: they are ordinary agency-API endpoints,
// decided by the policy and audited like every other call.

// AuditProof is the 200 body of GET /v1/audit/proof?seq=N: the inclusion
// proof of one entry in this node's log against its latest signed
// checkpoint. The client checks it itself (the console does so with Web
// Crypto): the proof carries the entry's exact bytes, the audit path, the
// compact JWS of the checkpoint and the public audit key set.
type AuditProof = audit.InclusionProof

// EvidenceRequest is the body of POST /v1/audit/evidence: which entries
// the signed evidence pack holds. Exactly one of Record and DSA is set.
type EvidenceRequest struct {
	Record string `json:"record,omitempty"`
	DSA    string `json:"dsa,omitempty"`
	// From and To bound the entries' times (RFC 3339; optional).
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
}

// EvidencePack is the 200 body of POST /v1/audit/evidence: the entries in
// the caller's scope that match, each with its inclusion proof, signed by
// the gateway (`liaison audit check-pack` verifies it offline).
type EvidencePack = audit.EvidencePack

// AuditStats is the 200 body of GET /v1/audit/stats: counts over the
// entries of this node's log in the caller's scope, for the console's
// charts. Query parameters: from, to (RFC 3339 or YYYY-MM-DD; default the
// last 30 days), dsa.
type AuditStats struct {
	Gateway string    `json:"gateway"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	// Entries is how many entries in scope fell in [From, To).
	Entries int `json:"entries"`
	// PerDSADay counts disclosures (allowed reads, shares, deliveries) and
	// denials per agreement per UTC day, oldest day first.
	PerDSADay []DSADayCount `json:"per_dsa_day"`
	// DenialsByReason counts denials by reason code, most frequent first,
	// with the reason's plain-language message.
	DenialsByReason []ReasonCount `json:"denials_by_reason"`
	// TopAgencies counts requests per acting agency, most first (at most 10).
	TopAgencies []AgencyCount `json:"top_agencies"`
	// OverdueReviews and OverdueRequests count the records whose review
	// date has passed and the requests for information past their deadline,
	// within the caller's scope.
	OverdueReviews  int `json:"overdue_reviews"`
	OverdueRequests int `json:"overdue_requests"`
}

// DSADayCount is one bar of the disclosures-per-DSA-per-day chart.
type DSADayCount struct {
	DSA         string `json:"dsa"` // "" when the entry names none
	Day         string `json:"day"` // YYYY-MM-DD (UTC)
	Disclosures int    `json:"disclosures"`
	Denials     int    `json:"denials"`
}

// ReasonCount is one bar of the denials-by-reason chart.
type ReasonCount struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Count   int    `json:"count"`
}

// AgencyCount is one bar of the top-requesting-agencies chart.
type AgencyCount struct {
	Agency string `json:"agency"`
	Count  int    `json:"count"`
}

// PolicyStatus is the 200 body of GET /v1/policy: the policy in force.
type PolicyStatus struct {
	Gateway  string    `json:"gateway"`
	Revision string    `json:"revision"`
	LoadedAt time.Time `json:"loaded_at"`
	// Source is where it was loaded from: "embedded", a directory or a bundle.
	Source string `json:"source"`
	// Shadow is set when a candidate policy runs in shadow mode.
	Shadow *ShadowStatus `json:"shadow,omitempty"`
}

// ShadowStatus says which candidate policy runs in shadow mode.
type ShadowStatus struct {
	CandidateRevision string    `json:"candidate_revision"`
	Since             time.Time `json:"since"`
}

// PolicyReloads is the 200 body of GET /v1/policy/reloads: the history of
// policy and policy-data reloads, accepted and rejected, newest first,
// read from the audit log (where every reload is evidence).
type PolicyReloads struct {
	Gateway string         `json:"gateway"`
	Items   []PolicyReload `json:"items"`
}

// PolicyReload is one reload attempt.
type PolicyReload struct {
	Seq         uint64    `json:"seq"` // the audit entry
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"` // "policy", "data" or "suite"
	Applied     bool      `json:"applied"`
	OldRevision string    `json:"old_revision,omitempty"`
	NewRevision string    `json:"new_revision,omitempty"`
	Trigger     string    `json:"trigger"`
	// Reasons are the entry's reasons in words: what changed (DSA, file
	// digests) or, for a rejected change, each problem as file:line: message.
	Reasons []audit.Reason `json:"reasons"`
}

// ShadowReport is the 200 body of GET /v1/policy/shadow: every decision the
// candidate policy would have made differently from the live one since
// shadow mode started, grouped by action and by reason code. Inputs, when
// the gateway records them (policy.shadow_inputs), are keyed by
// Change.InputDigest, so that a security officer can replay one in the
// decision explorer; 404 problem "shadow-off" when no candidate runs.
type ShadowReport struct {
	Gateway string                     `json:"gateway"`
	Report  shadow.ReplayReport        `json:"report"`
	Inputs  map[string]json.RawMessage `json:"inputs,omitempty"`
}

// Validate says what is wrong with a request the gateway refuses with 400:
// it needs exactly one of record and dsa, and a time range not reversed.
func (e *EvidenceRequest) Validate() error {
	switch {
	case (e.Record == "") == (e.DSA == ""):
		return errors.New(`give exactly one of "record" and "dsa"`)
	case e.From != nil && e.To != nil && e.To.Before(*e.From):
		return errors.New(`"from" must not be after "to"`)
	}
	return nil
}

func (*AuditStats) bodyName() string { return "audit statistics" }

// Check implements Response.
func (a *AuditStats) Check() error {
	switch {
	case a.Gateway == "":
		return missing("gateway")
	case a.PerDSADay == nil:
		return missing("per_dsa_day")
	case a.DenialsByReason == nil:
		return missing("denials_by_reason")
	case a.TopAgencies == nil:
		return missing("top_agencies")
	}
	return nil
}

func (*PolicyStatus) bodyName() string { return "policy status" }

// Check implements Response.
func (p *PolicyStatus) Check() error {
	switch {
	case p.Gateway == "":
		return missing("gateway")
	case p.Revision == "":
		return missing("revision")
	case p.Source == "":
		return missing("source")
	}
	return nil
}

func (*PolicyReloads) bodyName() string { return "policy reload history" }

// Check implements Response.
func (p *PolicyReloads) Check() error {
	switch {
	case p.Gateway == "":
		return missing("gateway")
	case p.Items == nil:
		return missing("items")
	}
	return nil
}

func (*ShadowReport) bodyName() string { return "shadow report" }

// Check implements Response.
func (s *ShadowReport) Check() error {
	if s.Gateway == "" {
		return missing("gateway")
	}
	return nil
}
