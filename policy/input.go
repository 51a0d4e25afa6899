package policy

import (
	"bytes"
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policy/regoinput"
)

// Action is what a decision is asked about (input.action). The policy
// knows exactly these; anything else is denied as unknown_action.
type Action string

// The actions of policies/liaison (known_actions in authz.rego).
const (
	ActionPublish    Action = "record.publish"
	ActionRead       Action = "record.read"
	ActionList       Action = "record.list"
	ActionRecall     Action = "record.recall"
	ActionShare      Action = "record.share"
	ActionAuditQuery Action = "audit.query"
	ActionDecide     Action = "policy.decide" // the /v1/decisions dry-run
	// ActionPolicyInspect: reading the policy in force, its reload history
	// and the shadow report (GET /v1/policy…), for policy administrators.
	ActionPolicyInspect Action = "policy.inspect"
	// ActionDeliver: the sending gateway asks whether it may deliver a
	// record to agencies hosted by a peer gateway (docs/federation.md).
	ActionDeliver Action = "federation.deliver"
	// ActionAccept: the receiving gateway asks whether it accepts a record
	// a peer gateway delivers to agencies it hosts.
	ActionAccept Action = "federation.accept"
	// ActionDiscover: may a search report that a record the caller cannot
	// read exists (hit/no-hit, policies/liaison/search.rego)?
	ActionDiscover Action = "record.discover"
	// ActionReview: the originator's MoPI review of its record (retain
	// with a new review date, or dispose), docs/review.md.
	ActionReview Action = "record.review"
	// ActionFileRequest: an agency files a request for information with the
	// agency that holds a record (docs/requests.md); an allowed decision
	// carries the answer deadline (Obligations.DeadlineHours).
	ActionFileRequest Action = "request.file"
	// ActionRegistryRead and ActionRegistryChange: reading and changing
	// the gateway's registry of agencies and agreements (docs/registry.md,
	// policies/liaison/registry.rego); input.registry names the change.
	ActionRegistryRead   Action = "registry.read"
	ActionRegistryChange Action = "registry.change"
)

// Input is the policy input the gateway builds for every decision, as
// documented in policies/README.md ("Input"). The JSON tags are the
// contract with the Rego policy: renaming one changes what the policy
// sees, so decisions (and the golden file) would change.
type Input struct {
	Action  Action       `json:"action"`
	Time    string       `json:"time"`
	Subject Subject      `json:"subject"`
	Request Request      `json:"request"`
	Record  *record.Meta `json:"record,omitempty"`
	// Share is the onward share asked for (record.share).
	Share *Share `json:"share,omitempty"`
	// Consent is the originator's approval being executed (record.share).
	Consent *Consent `json:"consent,omitempty"`
	// Federation is the cross-gateway context (federation.deliver,
	// federation.accept).
	Federation *Federation `json:"federation,omitempty"`
	// Review is the review asked for (record.review).
	Review *Review `json:"review,omitempty"`
	// InfoRequest is the request for information being filed (request.file).
	InfoRequest *InfoRequest `json:"info_request,omitempty"`
	// Registry is the registry change asked for (registry.change).
	Registry *RegistryChange `json:"registry,omitempty"`
}

// RegistryChange is a change to the gateway's registry as registry.change
// sees it.
type RegistryChange struct {
	// Kind is "agency", "dsa" or "enumeration".
	Kind string `json:"kind"`
	// ID is the agency, agreement or enumeration (agency_types,
	// recipient_types) changed.
	ID string `json:"id"`
	// Change is add, suspend, activate or remove (agency); activate,
	// suspend, terminate or renew (dsa); add (enumeration).
	Change string `json:"change"`
}

// Review is an originator's MoPI review of a record (record.review).
type Review struct {
	// Decision is "retain" or "dispose".
	Decision string `json:"decision"`
	// ReviewDue is the next review date asked for (retain), YYYY-MM-DD.
	ReviewDue string `json:"review_due,omitempty"`
}

// InfoRequest is a request for information as request.file sees it. The
// subject is the requesting agency; input.record is set only when the
// requester named a record id it can already see (not when it came from a
// search hit reference, whose DSA the reference fixes).
type InfoRequest struct {
	// Holder is the agency asked: the record's originator.
	Holder string `json:"holder"`
	// DSAIDs are the agreements the request may travel under: the one the
	// hit reference names, or the record's own.
	DSAIDs []string `json:"dsa_ids"`
	// Urgency is "urgent" or "normal".
	Urgency string `json:"urgency"`
	// Access is "direct" or "indirect": whether the information is directly
	// accessible to the holder (Directive (EU) 2023/977 art. 5).
	Access string `json:"access"`
	// Kind is "information" or "prum_core_data" (core data after a
	// confirmed Prüm match).
	Kind string `json:"kind"`
}

// Federation is the cross-gateway context of federation.deliver and
// federation.accept. For deliver the subject is the agency whose publish or
// share sends the record; for accept it is the sending agency named in the
// peer's signed message (the peer is known to host it).
type Federation struct {
	// PeerGateway is the receiving gateway (deliver) or the sending
	// gateway (accept).
	PeerGateway string `json:"peer_gateway"`
	// PeerAgencies are the agencies the peer gateway hosts.
	PeerAgencies []string `json:"peer_agencies"`
	// Recipients are the recipients of the record this message carries it
	// to: agencies hosted by the receiving gateway.
	Recipients []string `json:"recipients"`
	// Provenance lists the gateways the record passed through before the
	// receiving one, the originator's first.
	Provenance []string `json:"provenance"`
}

// Subject is who asks: the calling agency (from its certificate) and,
// when it presented one, the officer of its token.
type Subject struct {
	AgencyID        string   `json:"agency_id"`
	Officer         *Officer `json:"officer,omitempty"`
	CertFingerprint string   `json:"cert_fingerprint,omitempty"`
}

// Officer is the officer named by a verified officer token. Roles is never
// null: the policy reads it as a set.
type Officer struct {
	ID          string   `json:"id"`
	Clearance   string   `json:"clearance,omitempty"`
	Vetting     string   `json:"vetting,omitempty"`
	Roles       []string `json:"roles"`
	Nationality string   `json:"nationality,omitempty"`
}

// Request is why the subject asks (the request headers).
type Request struct {
	Purpose       string `json:"purpose"`
	Justification string `json:"justification"`
	Case          string `json:"case"`
}

// Share is an onward share asked for.
type Share struct {
	Recipients []string `json:"recipients"`
}

// Consent is an originator's approval of an onward share.
type Consent struct {
	ID          string   `json:"id"`
	RequestedBy string   `json:"requested_by"`
	ApprovedBy  string   `json:"approved_by"`
	Recipients  []string `json:"recipients"`
}

// value converts a typed input to the AST value OPA evaluates, by the
// reflection fast path (regoinput), without a JSON round trip.
func (in *Input) value() (ast.Value, error) { return regoinput.Value(in) }

// jsonValue parses a policy input written as JSON, exactly as written.
//
// Why inputs are not always an Input: some come from people, not from the
// gateway — an officer's dry run (POST /v1/decisions), `liaison policy
// eval`, the inputs a shadow recorded for replay, the policy's samples,
// the golden corpus. Those must be evaluated as they are: fields Input has
// no field for, fields left out and values of the wrong type are exactly
// what a policy author checks that the policy denies (invalid_input), and
// decoding them into Input would fill in or drop fields and so change the
// decision. Numbers keep their text (json.Number), as OPA's own parser does.
func jsonValue(raw []byte) (ast.Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrEvaluation)
	}
	var x any
	if err := util.UnmarshalJSON(raw, &x); err != nil {
		return nil, fmt.Errorf("%w: input is not JSON", ErrEvaluation)
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return nil, fmt.Errorf("%w: input is not JSON-compatible", ErrEvaluation)
	}
	return v, nil
}

// Prepared is an input converted once for evaluation, to be decided by
// several engines (shadow mode and replay compare a candidate policy with
// the live one). It is immutable: it may be decided after the caller has
// reused its Input.
type Prepared struct{ v ast.Value }

// Prepare converts the gateway's typed input.
func Prepare(in Input) (Prepared, error) {
	v, err := in.value()
	if err != nil {
		return Prepared{}, fmt.Errorf("%w: input is not JSON-compatible", ErrEvaluation)
	}
	return Prepared{v}, nil
}

// PrepareJSON parses an input written as JSON, as written (see
// DecideJSON).
func PrepareJSON(raw []byte) (Prepared, error) {
	v, err := jsonValue(raw)
	if err != nil {
		return Prepared{}, err
	}
	return Prepared{v}, nil
}

// JSON returns the input as plain JSON values (maps, slices, strings,
// json.Number, booleans, nil), to record or digest it.
func (p Prepared) JSON() (any, error) {
	if p.v == nil {
		return nil, fmt.Errorf("%w: no input", ErrEvaluation)
	}
	return ast.JSON(p.v)
}

// DecidePrepared is Decide for a prepared input. The zero Prepared is
// denied with an error, like any input that could not be converted.
func (e *Engine) DecidePrepared(ctx context.Context, p Prepared) (Decision, error) {
	if p.v == nil {
		return e.decideValue(ctx, nil, fmt.Errorf("%w: no input", ErrEvaluation))
	}
	return e.decideValue(ctx, p.v, nil)
}
