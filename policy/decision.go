package policy

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
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
	// Redact lists top-level content keys to remove before disclosure.
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
// that returns anything else is treated as broken, never as an allow.
func parseDecision(v any, d *Decision) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%w: decision is %T, not an object", ErrMalformedDecision, v)
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
	rawReasons, ok := obj["reasons"].([]any)
	if !ok {
		return fmt.Errorf("%w: reasons must be an array", ErrMalformedDecision)
	}
	reasons := make([]Reason, 0, len(rawReasons))
	for i, rr := range rawReasons {
		ro, ok := rr.(map[string]any)
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

	ob, ok := obj["obligations"].(map[string]any)
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

	dsaID := ""
	if raw, present := obj["dsa_id"]; present {
		s, ok := raw.(string)
		if !ok {
			return fmt.Errorf("%w: dsa_id must be a string", ErrMalformedDecision)
		}
		dsaID = s
	}

	d.Allow, d.Visible, d.Reasons, d.Obligations, d.DSAID = allow, visible, reasons, o, dsaID
	return nil
}

func boolField(obj map[string]any, k string) (bool, error) {
	b, ok := obj[k].(bool)
	if !ok {
		return false, fmt.Errorf("%w: %s must be a boolean", ErrMalformedDecision, k)
	}
	return b, nil
}

func stringField(obj map[string]any, k string) (string, error) {
	s, ok := obj[k].(string)
	if !ok {
		return "", fmt.Errorf("%w: %s must be a string", ErrMalformedDecision, k)
	}
	return s, nil
}

func stringsField(obj map[string]any, k string) ([]string, error) {
	arr, ok := obj[k].([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s must be an array", ErrMalformedDecision, k)
	}
	out := make([]string, 0, len(arr))
	for i, v := range arr {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s[%d] must be a string", ErrMalformedDecision, k, i)
		}
		out = append(out, s)
	}
	return out, nil
}
