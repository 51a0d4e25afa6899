// Package audit is the gateway's compliance log (DPA 2018 s.62): one entry
// per request, durable before the response is sent, tamper-evident and
// verifiable offline.
//
// Entries are JSON lines in numbered segment files in one directory per
// gateway node. Each line is a leaf of an RFC 6962 Merkle tree (hashing from
// github.com/transparency-dev/merkle), and the writer periodically signs a
// checkpoint — gateway, tree size, root hash, time — with the node's audit key
// (an Ed25519 JWS). Each entry also carries the SHA-256 of its own bytes and
// of its predecessor, so that a verifier can name the first altered entry
// exactly instead of only saying that a root no longer matches.
//
// The package holds the writer (Log: group commit, fsync before
// acknowledgement, fail-closed on I/O errors and stalls), the verifier, the
// inclusion proofs and evidence packs auditors take away, queries, and the
// shipper that copies sealed segments and checkpoints to the object store.
package audit

import (
	"context"
	"encoding/json"
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
	OpCombination  = "combination"  // records were combined (s.62(1)(e))
	OpDenial       = "denial"       // refused by policy or at authentication
)

// Event is one audit entry. Field names are stable: auditors query them.
//
// Prev and Hash must stay the last two fields: the writer and the verifier
// rely on the canonical line ending with the hash, so that the entry's own
// hash is computed over its bytes with that value emptied.
type Event struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Gateway   string    `json:"gateway"`
	RequestID string    `json:"request_id"`
	Operation string    `json:"operation"`
	Action    string    `json:"action"`
	// Method and Route are the HTTP method and the route pattern (never
	// the path itself, which carries identifiers); "other" for a path that
	// matched no route.
	Method string `json:"method,omitempty"`
	Route  string `json:"route,omitempty"`
	Status int    `json:"status"`

	Agency          string `json:"agency,omitempty"`
	Officer         string `json:"officer,omitempty"`
	CertFingerprint string `json:"cert_fingerprint,omitempty"`
	// ControllerID is the controller accountable for the records (s.62 good
	// practice; the originating agency unless a DSA says otherwise).
	ControllerID string `json:"controller_id,omitempty"`

	// InfoRequestID names the request for information the entry is about
	// (req_…, docs/requests.md): its filing, every transition, and the
	// share that answered it.
	InfoRequestID string   `json:"info_request_id,omitempty"`
	RecordIDs     []string `json:"record_ids,omitempty"`
	Originator    string   `json:"originator,omitempty"`
	Recipients    []string `json:"recipient_ids,omitempty"`
	DSAIDs        []string `json:"dsa_ids,omitempty"`
	Purpose       string   `json:"purpose,omitempty"`
	Justification string   `json:"justification,omitempty"`
	Case          string   `json:"case,omitempty"`
	// Handling is the record's handling codes at the time (classification,
	// TLP, caveats), as the policy saw them. Never content.
	Handling json.RawMessage `json:"handling_snapshot,omitempty"`

	// Custody describes a key-custody operation (`liaison keys`).
	Custody *Custody `json:"custody,omitempty"`
	// Peer describes the other end of a connection refused before any
	// endpoint ran (TLS handshake, malformed HTTP).
	Peer *Peer `json:"peer,omitempty"`
	// Federation is the evidence of a message exchanged with a peer
	// gateway: the sender's entry holds the receiver's signed receipt, the
	// receiver's holds the sender's signed envelope.
	Federation *Federation `json:"federation,omitempty"`
	// Search is the evidence of a hit/no-hit search: what was searched
	// for, as blind values only, and what came of it.
	Search *Search `json:"search,omitempty"`
	// Review is what a MoPI review changed (POST /v1/records/{id}/review),
	// or why a record was published with its review date already past.
	Review *Review `json:"review,omitempty"`
	// Registry is what a change to the gateway's registry of agencies and
	// agreements changed (docs/registry.md): the agency or DSA, its state
	// before and after.
	Registry *Registry `json:"registry,omitempty"`

	Decision *Decision `json:"decision,omitempty"`
	// Error is the internal cause for failures, never content or secrets.
	Error string `json:"error,omitempty"`
	// Corrects is the seq of an earlier entry whose outcome this entry
	// corrects (the action failed after its entry was written).
	Corrects uint64 `json:"corrects,omitempty"`
	// HMACFields names the fields whose values are stored as
	// "hmac-sha256:<hex>" instead of in clear (see `liaison audit hmac`).
	HMACFields []string `json:"hmac_fields,omitempty"`

	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// Search records one hit/no-hit search (POST /v1/search). Selectors are
// personal data: the log keeps their blind index values (keyed HMACs of
// the normalised selector), which let an auditor see that two searches
// asked for the same selector without learning it.
type Search struct {
	Selectors []SearchSelector `json:"selectors"`
	// Readable counts matches the caller may read (their ids are in
	// RecordIDs), Hits matches reported as hit-only (ids in HitRecordIDs),
	// Withheld matches nothing was said about.
	Readable     int      `json:"readable"`
	Hits         int      `json:"hits"`
	Withheld     int      `json:"withheld"`
	HitRecordIDs []string `json:"hit_record_ids,omitempty"`
	Truncated    bool     `json:"truncated,omitempty"`
}

// SearchSelector is one searched selector: its type and its blind value
// (lowercase hex) under blind-index key KeyVersion.
type SearchSelector struct {
	Type       string `json:"type"`
	KeyVersion int    `json:"key_version"`
	Blind      string `json:"blind"`
	// Outcome is "hit" (something readable or discoverable matched) or
	// "no_hit".
	Outcome string `json:"outcome"`
}

// Federation is what an entry about a gateway-to-gateway message records
// (docs/federation.md). Envelopes and receipts never hold content: a
// share's body is bound to its envelope by digest only.
type Federation struct {
	// PeerGateway is the other gateway.
	PeerGateway string `json:"peer_gateway"`
	// Direction is "sent" or "received", or "witnessed" for a peer's
	// audit checkpoint this gateway fetched (cross-witnessing), or
	// "reconciled" for a comparison of ledgers that found divergence.
	Direction string `json:"direction"`
	MessageID string `json:"message_id"`
	Type      string `json:"type"`
	Seq       uint64 `json:"seq,omitempty"`
	// Outcome is the receipt's outcome (accepted, refused, recalled,
	// acknowledged), or failed when the sender gave up.
	Outcome string `json:"outcome,omitempty"`
	// Envelope is the sender's signed envelope (compact JWS).
	Envelope string `json:"envelope,omitempty"`
	// Receipt is the receiver's signed receipt (compact JWS).
	Receipt string `json:"receipt,omitempty"`

	// Cross-witnessing (Direction "witnessed", Type "checkpoint"): the
	// peer's audit checkpoint this gateway fetched and checked.
	//
	// Checkpoint is the peer's signed checkpoint note (C2SP form) exactly
	// as served, and TreeSize and RootHash (lowercase hex) what it states.
	// With the peer's audit key anyone can check it, and two gateways' logs
	// holding notes of one peer with the same size and different roots, or
	// that no consistency proof joins, prove that the peer showed them
	// different histories.
	Checkpoint string `json:"checkpoint,omitempty"`
	TreeSize   uint64 `json:"tree_size,omitempty"`
	RootHash   string `json:"root_hash,omitempty"`
	// Previous is the checkpoint note Checkpoint was checked against (the
	// last one witnessed of the peer, or, with Via, this gateway's own view
	// when comparing), and ConsistencyProof the RFC 6962 proof from its
	// size to TreeSize (hex node hashes) that was verified: an auditor can
	// re-check each step offline.
	Previous         string   `json:"previous_checkpoint,omitempty"`
	ConsistencyProof []string `json:"consistency_proof,omitempty"`
	// Via is the gateway that relayed Checkpoint: what it witnessed of
	// PeerGateway, compared with what this gateway witnessed.
	Via string `json:"via,omitempty"`

	// Reconciliation (Direction "reconciled", Type "ledger", Outcome
	// "repaired" or "discrepancy"): a comparison of the messages sent to
	// PeerGateway with what it holds that found them diverging.
	Reconciliation *Reconciliation `json:"reconciliation,omitempty"`
}

// Reconciliation is what a per-peer reconciliation compared and did.
type Reconciliation struct {
	// Ranges are the sequence numbers compared.
	Ranges []SeqRange `json:"ranges"`
	// Repaired are the messages the peer no longer held, queued again
	// (under RepairMessageID).
	Repaired []ReconciledMessage `json:"repaired,omitempty"`
	// Discrepancies are messages the peer holds that this gateway has no
	// record of sending.
	Discrepancies []ReconciledMessage `json:"discrepancies,omitempty"`
	// Answers are the peer's signed ledger digests (compact JWS) of the
	// ranges that diverged.
	Answers []string `json:"answers,omitempty"`
}

// SeqRange is an inclusive range of per-peer sequence numbers.
type SeqRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// ReconciledMessage names one message of a reconciliation.
type ReconciledMessage struct {
	Seq             uint64 `json:"seq"`
	MessageID       string `json:"message_id"`
	Type            string `json:"type,omitempty"`
	RecordID        string `json:"record_id,omitempty"`
	RepairMessageID string `json:"repair_message_id,omitempty"`
}

// Outcomes of a witnessed checkpoint (Federation.Outcome).
const (
	// WitnessConsistent: the checkpoint verified with the peer's pinned
	// audit key and extends the last one witnessed.
	WitnessConsistent = "consistent"
	// WitnessInconsistent: signed by the peer, but not an extension of
	// what was witnessed before (a proof that fails, the same size with
	// another root, a smaller size), or not joinable with what another
	// peer witnessed of it (Via): evidence of a split view.
	WitnessInconsistent = "inconsistent"
	// WitnessInvalid: what the peer served is not a checkpoint signed
	// with its pinned audit key.
	WitnessInvalid = "invalid"
)

// Registry is what a registry change entry records (see Event.Registry).
type Registry struct {
	// Kind is "agency" or "dsa"; ID the agency or agreement.
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Change is add, suspend, activate, remove, terminate or renew.
	Change string `json:"change"`
	// Old and New are its state before and after (for a renewal, the
	// expiry dates); empty in the entry of a refused change that never
	// read them.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Version is the registry version that holds the change.
	Version uint64 `json:"version,omitempty"`
}

// Review is what a MoPI review entry records: the decision, the review
// date before and after (retain), or, for a publish of a record whose
// review date had passed, the import's stated reason and source system.
// The officer's justification is the entry's Justification.
type Review struct {
	// Decision is retain, dispose or import.
	Decision     string `json:"decision"`
	PreviousDue  string `json:"previous_due,omitempty"`
	Due          string `json:"due,omitempty"`
	ImportReason string `json:"import_reason,omitempty"`
	SourceSystem string `json:"source_system,omitempty"`
}

// Custody is what a key-custody entry records: the key acted on (its
// name, never key material), the scope, and how many stored records the
// operation changed or made unreadable.
type Custody struct {
	Key   string `json:"key,omitempty"`
	Scope string `json:"scope"`
	// RecordsAffected counts the records rewrapped (rewrap) or made
	// permanently unreadable (shred, destroy); a rotation changes none.
	RecordsAffected int `json:"records_affected"`
	// LatestVersion and MinDecryptionVersion are the key's versions after
	// the operation, where it sets them.
	LatestVersion        int `json:"latest_version,omitempty"`
	MinDecryptionVersion int `json:"min_decryption_version,omitempty"`
}

// Peer is what a connection-level entry knows of the other end. The
// subject is what the certificate says (cleaned of control and format
// characters); unless SubjectVerified, the chain did not verify and the
// subject is only a claim.
type Peer struct {
	Address         string `json:"address,omitempty"`
	Refusal         string `json:"refusal,omitempty"`
	Subject         string `json:"cert_subject,omitempty"`
	SubjectVerified bool   `json:"cert_verified,omitempty"`
	// Repeats counts identical refusals (same kind, certificate or
	// address) coalesced into this entry within one window.
	Repeats int `json:"repeats,omitempty"`
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
// not disclose or change anything on the strength of it. On success the
// writer has set e.Seq.
type Writer interface {
	Append(ctx context.Context, e *Event) error
}

var (
	// ErrUnavailable: the audit log cannot be written. The gateway answers 503.
	ErrUnavailable = errors.New("audit: log unavailable")
	// ErrTampered: the log, a checkpoint or a proof does not verify.
	ErrTampered = errors.New("audit: verification failed")
	// ErrCorrupt: the log on disk cannot be opened for writing because it is
	// not a valid log (altered, or acknowledged entries are missing).
	ErrCorrupt = errors.New("audit: log is not valid")
)

// Now is the clock used for entries (UTC, to the microsecond).
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
