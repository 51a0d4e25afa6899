package policy

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Decision is the outcome of one policy evaluation.
//
// The gateway acts on it as follows: Allow → proceed and apply Obligations;
// !Allow && Visible → 403 with PublicReasons; !Allow && !Visible → 404.
// Every Reason (public or not) goes to the audit log, with ID and Revision.
type Decision struct {
	// ID identifies this decision in the audit log ("dec_" + 20 base32 chars).
	ID string `json:"id"`
	// Revision identifies the policy and data that produced the decision.
	Revision string `json:"revision"`
	Allow    bool   `json:"allow"`
	// Visible reports whether the caller may learn that the record exists.
	Visible bool     `json:"visible"`
	Reasons []Reason `json:"reasons"`
	// Obligations are set only when Allow is true.
	Obligations Obligations `json:"obligations"`
	// DSAID names the agreement a recipient's read or list was granted under
	// (for the DPA 2018 s.62 log); empty for other decisions.
	DSAID string `json:"dsa_id,omitempty"`
	// AuditScope is, for an allowed audit.query, which audit entries the
	// caller may see; nil otherwise. The gateway filters the log by it.
	AuditScope *AuditScope `json:"audit_scope,omitempty"`
	// Explanation puts the decision in words (Engine.Explain); set only on
	// request: the dry-run and `liaison policy eval`, never on the hot path.
	Explanation *Explanation `json:"explanation,omitempty"`
}

// Reason explains a denial with a stable snake_case code (see
// policies/README.md). Messages carry ids and codes, never record content.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Public reasons may be shown to the caller; all are audited.
	Public bool `json:"public"`
}

// Obligations are what the gateway must do when it discloses a record.
type Obligations struct {
	// Redact lists redaction paths (record.ParsePath: "subject.iban",
	// "accounts.*.iban") of content to remove before disclosure.
	Redact []string `json:"redact"`
	// Banner is the handling banner to show with the record.
	Banner string `json:"banner"`
	// AttachGrading: send the 3x5x2 grading with the content (DPA 2018 s.38(6)(b)).
	AttachGrading bool `json:"attach_grading"`
	// Conditions are the handling conditions binding the recipient.
	Conditions []string `json:"conditions"`
	// OriginatorConsentRequired: the record carries free-text handling
	// instructions; any use beyond reading needs the originator's consent.
	OriginatorConsentRequired bool `json:"originator_consent_required"`
	// ForbidEvidentialUse: the record may not be used as evidence or in
	// judicial proceedings (3x5x2 A2, Europol H1, no_judicial_use,
	// intelligence_use_only); the gateway says so with the disclosure.
	ForbidEvidentialUse bool `json:"forbid_evidential_use"`
	// DeadlineHours is, for an allowed request.file, how long the holder
	// has to answer (policy data: settings.request_deadlines, or the DSA's
	// own request_deadlines); 0 for every other action.
	DeadlineHours int `json:"deadline_hours,omitempty"`
}

// AuditScope is the part of the audit log an auditor may see
// (policies/liaison/audit.rego): every entry for a federation auditor;
// otherwise the entries where Agency acted, originated or controls the
// record, or received it, and the entries under one of DSAs.
type AuditScope struct {
	Federation bool     `json:"federation"`
	Agency     string   `json:"agency"`
	DSAs       []string `json:"dsas"`
}

// PublicReasons returns the reasons that may be shown to the caller: none
// when the record is not visible, whatever the policy marked.
func (d *Decision) PublicReasons() []Reason {
	out := []Reason{}
	if !d.Visible {
		return out
	}
	for _, r := range d.Reasons {
		if r.Public {
			out = append(out, r)
		}
	}
	return out
}

// Codes returns the reason codes in order, for logs and metrics labels.
func (d *Decision) Codes() []string {
	out := make([]string, 0, len(d.Reasons))
	for _, r := range d.Reasons {
		out = append(out, r.Code)
	}
	return out
}

// deny is the decision returned whenever the policy could not decide.
func deny(id, revision string) Decision {
	return Decision{
		ID:          id,
		Revision:    revision,
		Reasons:     []Reason{},
		Obligations: Obligations{Redact: []string{}, Conditions: []string{}},
	}
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns "dec_" + 20 base32 characters (100 random bits).
func newID() string {
	var b [13]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go ≥ 1.24).
	return "dec_" + strings.ToLower(idEncoding.EncodeToString(b[:]))[:20]
}

// parseDecision checks the shape of the policy's result strictly: a policy
// that returns anything else is treated as broken, never as an allow. It
// reads the AST value the evaluation produced, without converting it to Go
// maps first.
func parseDecision(v ast.Value, d *Decision) error {
	obj, ok := v.(ast.Object)
	if !ok {
		return fmt.Errorf("%w: decision is %s, not an object", ErrMalformedDecision, ast.ValueName(v))
	}
	allow, err := boolField(obj, "allow")
	if err != nil {
		return err
	}
	visible, err := boolField(obj, "visible")
	if err != nil {
		return err
	}
	if allow && !visible {
		return fmt.Errorf("%w: allowed but not visible", ErrMalformedDecision)
	}
	rawReasons, ok := field(obj, "reasons").(*ast.Array)
	if !ok {
		return fmt.Errorf("%w: reasons must be an array", ErrMalformedDecision)
	}
	reasons := make([]Reason, 0, rawReasons.Len())
	for i := range rawReasons.Len() {
		ro, ok := rawReasons.Elem(i).Value.(ast.Object)
		if !ok {
			return fmt.Errorf("%w: reasons[%d] must be an object", ErrMalformedDecision, i)
		}
		code, err := stringField(ro, "code")
		if err != nil || code == "" {
			return fmt.Errorf("%w: reasons[%d].code must be a non-empty string", ErrMalformedDecision, i)
		}
		msg, err := stringField(ro, "message")
		if err != nil {
			return err
		}
		public, err := boolField(ro, "public")
		if err != nil {
			return err
		}
		reasons = append(reasons, Reason{Code: code, Message: msg, Public: public})
	}
	if !allow && len(reasons) == 0 {
		// A denial must say why, for the audit log.
		return fmt.Errorf("%w: denied without a reason", ErrMalformedDecision)
	}

	ob, ok := field(obj, "obligations").(ast.Object)
	if !ok {
		return fmt.Errorf("%w: obligations must be an object", ErrMalformedDecision)
	}
	var o Obligations
	if o.Redact, err = stringsField(ob, "redact"); err != nil {
		return err
	}
	if o.Banner, err = stringField(ob, "banner"); err != nil {
		return err
	}
	if o.AttachGrading, err = boolField(ob, "attach_grading"); err != nil {
		return err
	}
	if o.Conditions, err = stringsField(ob, "conditions"); err != nil {
		return err
	}
	if o.OriginatorConsentRequired, err = boolField(ob, "originator_consent_required"); err != nil {
		return err
	}
	// Optional, so that a policy written before the field existed (a shadow
	// candidate, a deployment's own) still loads; absent means false.
	if field(ob, "forbid_evidential_use") != nil {
		if o.ForbidEvidentialUse, err = boolField(ob, "forbid_evidential_use"); err != nil {
			return err
		}
	}

	// Optional too: only request.file carries a deadline.
	if raw := field(ob, "deadline_hours"); raw != nil {
		n, ok := raw.(ast.Number)
		h, isInt := n.Int()
		if !ok || !isInt || h < 0 || h > 10*365*24 {
			return fmt.Errorf("%w: obligations.deadline_hours must be a whole number of hours", ErrMalformedDecision)
		}
		o.DeadlineHours = h
	}

	dsaID := ""
	if raw := field(obj, "dsa_id"); raw != nil {
		s, ok := raw.(ast.String)
		if !ok {
			return fmt.Errorf("%w: dsa_id must be a string", ErrMalformedDecision)
		}
		dsaID = string(s)
	}

	var scope *AuditScope
	if raw := field(obj, "audit_scope"); raw != nil {
		if scope, err = parseAuditScope(raw); err != nil {
			return err
		}
	}

	d.Allow, d.Visible, d.Reasons, d.Obligations, d.DSAID, d.AuditScope = allow, visible, reasons, o, dsaID, scope
	return nil
}

// parseAuditScope reads the optional audit_scope (null: none). A scope
// that is neither federation-wide nor names an agency is malformed: it
// could only be read as "everything" or "nothing", and guessing either is
// wrong.
func parseAuditScope(v ast.Value) (*AuditScope, error) {
	if _, ok := v.(ast.Null); ok {
		return nil, nil
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("%w: audit_scope must be an object or null", ErrMalformedDecision)
	}
	var s AuditScope
	var err error
	if s.Federation, err = boolField(obj, "federation"); err != nil {
		return nil, err
	}
	if s.Agency, err = stringField(obj, "agency"); err != nil {
		return nil, err
	}
	if s.DSAs, err = stringsField(obj, "dsas"); err != nil {
		return nil, err
	}
	if !s.Federation && s.Agency == "" {
		return nil, fmt.Errorf("%w: audit_scope names no agency", ErrMalformedDecision)
	}
	return &s, nil
}

// field returns obj[k], or nil if absent.
func field(obj ast.Object, k string) ast.Value {
	t := obj.Get(ast.InternedTerm(k))
	if t == nil {
		return nil
	}
	return t.Value
}

func boolField(obj ast.Object, k string) (bool, error) {
	b, ok := field(obj, k).(ast.Boolean)
	if !ok {
		return false, fmt.Errorf("%w: %s must be a boolean", ErrMalformedDecision, k)
	}
	return bool(b), nil
}

func stringField(obj ast.Object, k string) (string, error) {
	s, ok := field(obj, k).(ast.String)
	if !ok {
		return "", fmt.Errorf("%w: %s must be a string", ErrMalformedDecision, k)
	}
	return string(s), nil
}

func stringsField(obj ast.Object, k string) ([]string, error) {
	arr, ok := field(obj, k).(*ast.Array)
	if !ok {
		return nil, fmt.Errorf("%w: %s must be an array", ErrMalformedDecision, k)
	}
	out := make([]string, 0, arr.Len())
	for i := range arr.Len() {
		s, ok := arr.Elem(i).Value.(ast.String)
		if !ok {
			return nil, fmt.Errorf("%w: %s[%d] must be a string", ErrMalformedDecision, k, i)
		}
		out = append(out, string(s))
	}
	return out, nil
}
