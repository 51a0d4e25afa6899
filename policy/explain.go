package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Explanation puts a decision in words a security officer can read: what
// was asked, the outcome, each check the policy made for that action and
// whether it passed, and what the gateway must do on disclosure.
//
// Checks come from the policy's data (data.explain.checks in
// policies/data/explain.json): each names the reason codes it covers, so a
// check passed exactly when none of its codes is among the reasons. A
// deployment that adds a rule adds its codes there; a code no check covers
// is shown under "other rules", never dropped.
type Explanation struct {
	// Outcome is "allow", "deny" (403, public reasons shown) or "deny_hidden"
	// (404: the caller is not told the record exists).
	Outcome string `json:"outcome"`
	// Summary is one sentence: the outcome and what it means for the caller.
	Summary string `json:"summary"`
	// Request describes the input: action, caller, record, purpose.
	Request string `json:"request"`
	// Facts are what the policy established on the way (role, the DSAs
	// that name the caller, the clearance used); from data.liaison.authz.explain.
	Facts  []string      `json:"facts,omitempty"`
	Checks []CheckResult `json:"checks"`
	// Obligations are the decision's obligations in words.
	Obligations []string `json:"obligations,omitempty"`
}

// CheckResult is one check of the policy for this request.
type CheckResult struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Result is "pass", "fail" or "not_applicable".
	Result string `json:"result"`
	// Details say why: the passing text, or each failing reason.
	Details []string `json:"details,omitempty"`
	// Codes are the failing reason codes.
	Codes []string `json:"codes,omitempty"`
}

// Explainer explains decisions made for inputs written as JSON; the
// Engine and a Shadow (for the live policy) are Explainers. The dry-run
// handler type-asserts its policy to it.
type Explainer interface {
	ExplainJSON(ctx context.Context, d Decision, input []byte) *Explanation
}

var (
	_ Explainer = (*Engine)(nil)
)

// Check results.
const (
	CheckPass          = "pass"
	CheckFail          = "fail"
	CheckNotApplicable = "not_applicable"
)

// checkSpec is one entry of data.explain.checks.
type checkSpec struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Actions the check applies to; empty means every action.
	Actions []string `json:"actions"`
	// Roles of the caller towards the record the check applies to
	// (publisher, sender, originator, recipient, other); empty means any.
	Roles []string `json:"roles"`
	Codes []string `json:"codes"`
	// OnAllow: the check passes only by allowing (the explicit grant); on a
	// denial it is shown as not applicable.
	OnAllow bool `json:"on_allow"`
	// Pass is the text shown when the check passed; {agency}, {officer},
	// {purpose}, {dsa}, {originator}, {record}, {action}, {peer} and
	// {recipients} are replaced.
	Pass string `json:"pass"`
	// PassFor replaces Pass for one action: a check that several actions
	// share may pass for different reasons (federation.accept checks the
	// handling for the recipients it holds the record for, not for the
	// caller).
	PassFor map[string]string `json:"pass_for"`
}

// passText is the text shown when check c passed for action.
func (c checkSpec) passText(action string) string {
	if t, ok := c.PassFor[action]; ok {
		return t
	}
	return c.Pass
}

type explainData struct {
	Checks     []checkSpec       `json:"checks"`
	Conditions map[string]string `json:"conditions"`
}

// explainCatalog reads data.explain; a policy without it still gets
// explanations, made of its reasons alone.
func explainCatalog(data map[string]any) []checkSpec {
	raw, ok := data["explain"]
	if !ok {
		return nil
	}
	var ed explainData
	bs, err := json.Marshal(raw)
	if err != nil || json.Unmarshal(bs, &ed) != nil {
		return nil
	}
	if len(ed.Conditions) > 0 {
		// Carried as a pseudo-check so that state needs one field only.
		ed.Checks = append(ed.Checks, checkSpec{ID: conditionWordsID, Codes: conditionPairs(ed.Conditions)})
	}
	return ed.Checks
}

const conditionWordsID = "\x00conditions"

func conditionPairs(m map[string]string) []string {
	out := make([]string, 0, 2*len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, k, m[k])
	}
	return out
}

// Explain explains decision d, made by this engine for input. It evaluates
// the policy's optional facts document (data.liaison.authz.explain) for
// the same input; errors there only leave the facts out. It is meant for
// the dry-run and the CLI, not for every request.
func (e *Engine) Explain(ctx context.Context, d Decision, in Input) *Explanation {
	v, err := in.value()
	if err != nil {
		v = ast.NewObject()
	}
	return e.cur.Load().explainDecision(ctx, d, v)
}

// ExplainJSON explains decision d, made for an input written as JSON (see
// DecideJSON). An input that is not JSON is explained as an empty one.
func (e *Engine) ExplainJSON(ctx context.Context, d Decision, raw []byte) *Explanation {
	v, err := jsonValue(raw)
	if err != nil {
		v = ast.NewObject()
	}
	return e.cur.Load().explainDecision(ctx, d, v)
}

func (s *state) explainDecision(ctx context.Context, d Decision, input ast.Value) *Explanation {
	in := genericInput(input)
	f := requestFacts(in, d)
	x := &Explanation{Request: f.describe()}
	switch {
	case d.Allow:
		x.Outcome = "allow"
		x.Summary = fmt.Sprintf("ALLOW: the gateway performs %s and applies the obligations.", f.action)
	case d.Visible:
		x.Outcome = "deny"
		x.Summary = fmt.Sprintf("DENY: the caller gets 403 with %d public reason(s); all %d reason(s) are audited.", len(d.PublicReasons()), len(d.Reasons))
	default:
		x.Outcome = "deny_hidden"
		x.Summary = "DENY (hidden): the caller gets 404 and is not told the record exists; the reasons are audited only."
	}
	x.Facts = s.facts(ctx, input)

	byCode := map[string][]Reason{}
	for _, r := range d.Reasons {
		byCode[r.Code] = append(byCode[r.Code], r)
	}
	covered := map[string]bool{}
	var words map[string]string
	for _, c := range s.catalog {
		if c.ID == conditionWordsID {
			words = map[string]string{}
			for i := 0; i+1 < len(c.Codes); i += 2 {
				words[c.Codes[i]] = c.Codes[i+1]
			}
			continue
		}
		res := CheckResult{ID: c.ID, Title: c.Title}
		for _, code := range c.Codes {
			covered[code] = true
			for _, r := range byCode[code] {
				res.Details = append(res.Details, reasonText(r, d.Visible))
				if !slices.Contains(res.Codes, code) {
					res.Codes = append(res.Codes, code)
				}
			}
		}
		applies := (len(c.Actions) == 0 || slices.Contains(c.Actions, f.action)) &&
			(len(c.Roles) == 0 || slices.Contains(c.Roles, f.role))
		switch {
		case len(res.Codes) > 0:
			res.Result = CheckFail
		case !applies:
			res.Result = CheckNotApplicable
		case c.OnAllow && !d.Allow:
			res.Result = CheckNotApplicable
			res.Details = []string{"the request is denied, so no grant applies"}
		case !d.Allow && len(d.Reasons) > 0 && onlyInputReasons(d, s.catalog) && c.ID != "input" && c.ID != "agency":
			// Nothing past a malformed request was meaningfully checked.
			res.Result = CheckNotApplicable
		default:
			res.Result = CheckPass
			if t := c.passText(f.action); t != "" {
				res.Details = []string{f.fill(t)}
			}
		}
		x.Checks = append(x.Checks, res)
	}
	other := CheckResult{ID: "other", Title: "Other rules", Result: CheckPass}
	for _, r := range d.Reasons {
		if !covered[r.Code] {
			other.Result = CheckFail
			other.Details = append(other.Details, reasonText(r, d.Visible))
			if !slices.Contains(other.Codes, r.Code) {
				other.Codes = append(other.Codes, r.Code)
			}
		}
	}
	if other.Result == CheckFail {
		x.Checks = append(x.Checks, other)
	}
	if d.Allow {
		x.Obligations = obligationWords(d, words)
	}
	return x
}

func reasonText(r Reason, visible bool) string {
	s := r.Message + " [" + r.Code + "]"
	if !r.Public || !visible {
		s += " (audit only, not shown to the caller)"
	}
	return s
}

// onlyInputReasons reports whether every reason is about the request
// itself (check "input"), so the other checks never really ran.
func onlyInputReasons(d Decision, catalog []checkSpec) bool {
	for _, c := range catalog {
		if c.ID != "input" {
			continue
		}
		for _, r := range d.Reasons {
			if !slices.Contains(c.Codes, r.Code) {
				return false
			}
		}
		return true
	}
	return false
}

func obligationWords(d Decision, words map[string]string) []string {
	o := d.Obligations
	var out []string
	if len(o.Redact) > 0 {
		out = append(out, "remove these content fields before disclosure: "+strings.Join(o.Redact, ", "))
	}
	if o.Banner != "" {
		out = append(out, "show the handling banner: "+o.Banner)
	}
	if o.AttachGrading {
		out = append(out, "send the intelligence grading with the content (DPA 2018 s.38(6)(b))")
	}
	if o.ForbidEvidentialUse {
		out = append(out, "tell the recipient that the record must not be used as evidence or in judicial proceedings")
	}
	if o.OriginatorConsentRequired {
		out = append(out, "any use beyond reading needs the originator's consent (free-text handling instructions)")
	}
	for _, c := range o.Conditions {
		w, ok := words[c]
		if !ok {
			w = strings.ReplaceAll(c, "_", " ")
		}
		out = append(out, "condition "+c+": "+w)
	}
	if d.DSAID != "" {
		out = append(out, "log the disclosure under DSA "+d.DSAID+" (DPA 2018 s.62)")
	}
	return out
}

// facts evaluates data.liaison.authz.explain.facts, if the policy has it.
func (s *state) facts(ctx context.Context, v ast.Value) []string {
	if len(s.compiler.GetRulesExact(ast.MustParseRef(explainQuery))) == 0 {
		return nil
	}
	pq, err := s.query(ctx, explainQuery)
	if err != nil {
		return nil
	}
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(v))
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil
	}
	obj, _ := rs[0].Expressions[0].Value.(map[string]any)
	var out []string
	for _, f := range asSlice(obj["facts"]) {
		if s, ok := f.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// genericInput turns an input value into plain maps and slices.
func genericInput(v ast.Value) map[string]any {
	g, err := ast.JSON(v)
	if err != nil {
		return map[string]any{}
	}
	m, _ := g.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

// inputFacts are the parts of a request an explanation names.
type inputFacts struct {
	action, agency, officer, purpose, dsa, originator, record, role string
	// peer and recipients: the peer gateway and the recipients of a
	// federation delivery (input.federation), for federation actions.
	peer       string
	recipients []string
}

func requestFacts(in map[string]any, d Decision) inputFacts {
	str := func(v any) string {
		s, _ := v.(string)
		return s
	}
	subject, request, rec := asMap(in["subject"]), asMap(in["request"]), asMap(in["record"])
	f := inputFacts{
		action:     str(in["action"]),
		agency:     str(subject["agency_id"]),
		officer:    str(asMap(subject["officer"])["id"]),
		purpose:    str(request["purpose"]),
		dsa:        d.DSAID,
		originator: str(asMap(rec["originator"])["org_id"]),
		record:     str(rec["record_id"]),
		role:       "other",
	}
	if f.action == string(ActionDeliver) || f.action == string(ActionAccept) {
		fed := asMap(in["federation"])
		f.peer = str(fed["peer_gateway"])
		for _, r := range asSlice(fed["recipients"]) {
			if s := str(r); s != "" {
				f.recipients = append(f.recipients, s)
			}
		}
	}
	switch {
	case f.action == string(ActionPublish):
		f.role = "publisher"
	case f.action == string(ActionDeliver) || f.action == string(ActionAccept):
		// The agency whose record crosses to another gateway, whether it
		// originated the record or shares it onward as a recipient.
		f.role = "sender"
	case f.agency != "" && f.agency == f.originator:
		f.role = "originator"
	case f.agency != "" && slices.Contains(asSlice(rec["recipients"]), any(f.agency)):
		f.role = "recipient"
	}
	return f
}

func (f inputFacts) describe() string {
	var b strings.Builder
	b.WriteString(orPlaceholder(f.action, "(no action)"))
	b.WriteString(" by " + orPlaceholder(f.agency, "(no agency)"))
	if f.officer != "" {
		b.WriteString(" (officer " + f.officer + ")")
	} else {
		b.WriteString(" (no officer token)")
	}
	if f.record != "" || f.originator != "" {
		b.WriteString(" on record " + orPlaceholder(f.record, "(new)") + " of " + orPlaceholder(f.originator, "(unknown originator)"))
		b.WriteString(", caller is " + f.role)
	}
	if f.purpose != "" {
		b.WriteString(", purpose " + f.purpose)
	}
	switch f.action {
	case string(ActionDeliver):
		b.WriteString(", delivered to " + f.recipientList() + " through peer gateway " + orPlaceholder(f.peer, "(none)"))
	case string(ActionAccept):
		b.WriteString(", delivered by peer gateway " + orPlaceholder(f.peer, "(none)") + " to " + f.recipientList())
	}
	return b.String()
}

func (f inputFacts) fill(text string) string {
	return strings.NewReplacer(
		"{agency}", orPlaceholder(f.agency, "the caller"),
		"{officer}", orPlaceholder(f.officer, "no officer"),
		"{purpose}", orPlaceholder(f.purpose, "none"),
		"{dsa}", orPlaceholder(f.dsa, "an agreement"),
		"{originator}", orPlaceholder(f.originator, "the originator"),
		"{record}", orPlaceholder(f.record, "the record"),
		"{action}", orPlaceholder(f.action, "the action"),
		"{peer}", orPlaceholder(f.peer, "the peer gateway"),
		"{recipients}", f.recipientList(),
	).Replace(text)
}

func (f inputFacts) recipientList() string {
	return orPlaceholder(strings.Join(f.recipients, ", "), "no recipient")
}

func orPlaceholder(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// Text renders the explanation for a terminal.
func (x *Explanation) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", x.Summary)
	fmt.Fprintf(&b, "Request: %s\n", x.Request)
	if len(x.Facts) > 0 {
		b.WriteString("\nWhat the policy established:\n")
		for _, f := range x.Facts {
			fmt.Fprintf(&b, "  - %s\n", f)
		}
	}
	b.WriteString("\nChecks:\n")
	width := 0
	for _, c := range x.Checks {
		width = max(width, len(c.Title))
	}
	for _, c := range x.Checks {
		mark := map[string]string{CheckPass: "PASS", CheckFail: "FAIL", CheckNotApplicable: "n/a "}[c.Result]
		first := ""
		if len(c.Details) > 0 {
			first = c.Details[0]
		}
		if c.Result == CheckNotApplicable && first == "" {
			first = "not checked for this request"
		}
		fmt.Fprintf(&b, "  %s  %-*s  %s\n", mark, width, c.Title, first)
		if c.Result != CheckNotApplicable {
			for _, d := range c.Details[min(1, len(c.Details)):] {
				fmt.Fprintf(&b, "        %-*s  %s\n", width, "", d)
			}
		}
	}
	if len(x.Obligations) > 0 {
		b.WriteString("\nObligations:\n")
		for _, o := range x.Obligations {
			fmt.Fprintf(&b, "  - %s\n", o)
		}
	}
	return b.String()
}
