package shadow

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/liaison-project/liaison/policy"
)

// maxReplayLine bounds one recorded input (record metadata is small).
const maxReplayLine = 16 << 20

// ReplayReport says which recorded decisions a candidate policy would
// change, and how: per action, per reason code, and each change.
type ReplayReport struct {
	LiveRevision      string `json:"live_revision"`
	CandidateRevision string `json:"candidate_revision"`
	Inputs            int    `json:"inputs"`
	Changed           int    `json:"changed"`
	// Malformed lists input lines that could not be read (skipped).
	Malformed []policy.Problem `json:"malformed,omitempty"`
	ByAction  []ActionChanges  `json:"by_action"`
	ByCode    []CodeChanges    `json:"by_code"`
	Changes   []Change         `json:"changes"`
}

// ActionChanges counts the replayed decisions of one action.
type ActionChanges struct {
	Action      string `json:"action"`
	Inputs      int    `json:"inputs"`
	Changed     int    `json:"changed"`
	AllowToDeny int    `json:"allow_to_deny"`
	DenyToAllow int    `json:"deny_to_allow"`
	// Other: the outcome stayed but reasons, obligations or the DSA changed.
	Other int `json:"other"`
}

// CodeChanges counts the decisions in which a reason code appeared or
// disappeared.
type CodeChanges struct {
	Code    string `json:"code"`
	Added   int    `json:"added"`
	Removed int    `json:"removed"`
}

// Replay decides every recorded input with the live and the candidate
// policy and reports the differences. Inputs are JSON lines, each either a
// policy input or {"input": …} (the body of POST /v1/decisions, and what
// ShadowOptions.Inputs records); blank lines are skipped. Recorded inputs
// carry their own time, so a replay is repeatable.
func Replay(ctx context.Context, live, candidate *policy.Engine, inputs io.Reader, name string) (*ReplayReport, error) {
	r := &ReplayReport{LiveRevision: live.Revision(), CandidateRevision: candidate.Revision(), Changes: []Change{}}
	var t Tally
	sc := bufio.NewScanner(inputs)
	sc.Buffer(make([]byte, 64<<10), maxReplayLine)
	for line := 1; sc.Scan(); line++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		in, err := replayInput(raw)
		if err != nil {
			r.Malformed = append(r.Malformed, policy.Problem{File: name, Line: line, Kind: "input", Message: err.Error()})
			continue
		}
		p, err := prepare(in)
		if err != nil {
			r.Malformed = append(r.Malformed, policy.Problem{File: name, Line: line, Kind: "input", Message: "not a JSON-compatible input"})
			continue
		}
		c := comparePrepared(ctx, live, candidate, p)
		r.Inputs++
		action := actionOf(in)
		t.Input(action)
		if c == nil {
			continue
		}
		c.Line = line
		r.Changed++
		t.Add(action, c)
		r.Changes = append(r.Changes, *c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	r.ByAction, r.ByCode = t.ByAction(), t.ByCode()
	return r, nil
}

// Tally counts changed decisions by action and by reason code, as a
// ReplayReport summarises them; the gateway's report of a shadow run on
// live traffic (GET /v1/policy/shadow) counts with it too, so that the two
// reports mean the same thing.
type Tally struct {
	actions map[string]*ActionChanges
	codes   map[string]*CodeChanges
}

func (t *Tally) action(a string) *ActionChanges {
	if t.actions == nil {
		t.actions = map[string]*ActionChanges{}
	}
	c := t.actions[a]
	if c == nil {
		c = &ActionChanges{Action: a}
		t.actions[a] = c
	}
	return c
}

func (t *Tally) code(code string) *CodeChanges {
	if t.codes == nil {
		t.codes = map[string]*CodeChanges{}
	}
	c := t.codes[code]
	if c == nil {
		c = &CodeChanges{Code: code}
		t.codes[code] = c
	}
	return c
}

// Input counts one compared input of an action.
func (t *Tally) Input(action string) { t.action(action).Inputs++ }

// Add counts one changed decision of an action: its transition and the
// reason codes it gained and lost.
func (t *Tally) Add(action string, c *Change) {
	a := t.action(action)
	a.Changed++
	switch c.Transition() {
	case "allow→deny":
		a.AllowToDeny++
	case "deny→allow":
		a.DenyToAllow++
	default:
		a.Other++
	}
	for _, code := range c.CodesAdded {
		t.code(code).Added++
	}
	for _, code := range c.CodesRemoved {
		t.code(code).Removed++
	}
}

// ByAction is the count per action, by action name (never nil).
func (t *Tally) ByAction() []ActionChanges {
	out := []ActionChanges{}
	for _, k := range slices.Sorted(maps.Keys(t.actions)) {
		out = append(out, *t.actions[k])
	}
	return out
}

// ByCode is the count per reason code, most affected first (never nil).
func (t *Tally) ByCode() []CodeChanges {
	out := []CodeChanges{}
	for _, k := range slices.Sorted(maps.Keys(t.codes)) {
		out = append(out, *t.codes[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Added+out[i].Removed > out[j].Added+out[j].Removed })
	return out
}

func replayInput(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value on the line")
	}
	if m, ok := doc.(map[string]any); ok {
		if in, ok := m["input"]; ok {
			if _, hasAction := m["action"]; !hasAction {
				return in, nil
			}
		}
	}
	return doc, nil
}

// prepare evaluates a recorded input as written (json.Number keeps each
// number's text through the re-encoding).
func prepare(in any) (policy.Prepared, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return policy.Prepared{}, err
	}
	return policy.PrepareJSON(raw)
}

func actionOf(in any) string {
	m, _ := in.(map[string]any)
	a, _ := m["action"].(string)
	if a = safeID(a); a == "" {
		return "(none)"
	}
	return a
}

// Text renders the report for a terminal: the summary, the tables by
// action and by reason code, then up to limit changes (all if limit <= 0).
func (r *ReplayReport) Text(limit int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Replayed %d inputs: live %s, candidate %s\n", r.Inputs, r.LiveRevision, r.CandidateRevision)
	if r.Changed == 0 {
		b.WriteString("No decision would change.\n")
	} else {
		fmt.Fprintf(&b, "%d decision(s) would change (%.1f%%).\n", r.Changed, 100*float64(r.Changed)/float64(max(r.Inputs, 1)))
	}
	if len(r.Malformed) > 0 {
		fmt.Fprintf(&b, "%d input line(s) skipped as malformed.\n", len(r.Malformed))
	}
	b.WriteString("\nBy action:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  action\tinputs\tchanged\tallow→deny\tdeny→allow\tother\t")
	for _, a := range r.ByAction {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t\n", a.Action, a.Inputs, a.Changed, a.AllowToDeny, a.DenyToAllow, a.Other)
	}
	_ = tw.Flush()
	if len(r.ByCode) > 0 {
		b.WriteString("\nBy reason code (decisions where it appears or disappears):\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  code\tadded\tremoved\t")
		for _, c := range r.ByCode {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t\n", c.Code, c.Added, c.Removed)
		}
		_ = tw.Flush()
	}
	if len(r.Changes) > 0 {
		b.WriteString("\nChanges:\n")
		for i, c := range r.Changes {
			if limit > 0 && i == limit {
				fmt.Fprintf(&b, "  … and %d more (use -o json or --report for all)\n", len(r.Changes)-i)
				break
			}
			fmt.Fprintf(&b, "  line %d: %s by %s", c.Line, c.Action, cmp.Or(c.Agency, "?"))
			if c.RecordID != "" {
				fmt.Fprintf(&b, " on %s", c.RecordID)
			}
			fmt.Fprintf(&b, ": %s [%s]", outcome(c.Live.Allow)+"→"+outcome(c.Candidate.Allow), strings.Join(c.Kinds, ", "))
			for _, code := range c.CodesAdded {
				b.WriteString(" +" + code)
			}
			for _, code := range c.CodesRemoved {
				b.WriteString(" -" + code)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func outcome(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}
