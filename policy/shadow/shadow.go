// Package shadow tries a candidate policy beside the live one before it
// goes live, and reports every decision it would change: on live traffic
// (Shadow stands in for the engine in the gateway, answers from the live
// policy and compares the candidate off the request path) or on recorded
// inputs (Replay, behind `liaison policy replay`). Reports name requests
// by ids and an input digest, never by their content.
package shadow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/policy"
)

// Change is one decision a candidate policy would make differently from the
// live one, for the same input. It names the request by ids and a digest
// of the input, never by its content (purpose and justification text,
// record metadata), so that the report can be shared with whoever reviews
// the policy change.
type Change struct {
	Time time.Time `json:"time"`
	// Line is the input's line in a replayed file (0 in shadow mode).
	Line int `json:"line,omitempty"`
	// InputDigest is "sha256:" over the input's canonical JSON: the same
	// input always has the same digest, so repeated requests group.
	InputDigest string `json:"input_digest"`
	Action      string `json:"action"`
	Agency      string `json:"agency,omitempty"`
	RecordID    string `json:"record_id,omitempty"`
	// Kinds lists what changed: allow, visible, reasons, obligations,
	// dsa_id, error.
	Kinds        []string        `json:"changes"`
	CodesAdded   []string        `json:"codes_added,omitempty"`
	CodesRemoved []string        `json:"codes_removed,omitempty"`
	Live         DecisionSummary `json:"live"`
	Candidate    DecisionSummary `json:"candidate"`
}

// DecisionSummary is a decision as a Change reports it.
type DecisionSummary struct {
	ID          string             `json:"id"`
	Revision    string             `json:"revision"`
	Allow       bool               `json:"allow"`
	Visible     bool               `json:"visible"`
	Codes       []string           `json:"codes"`
	Obligations policy.Obligations `json:"obligations"`
	DSAID       string             `json:"dsa_id,omitempty"`
	Error       string             `json:"error,omitempty"`
}

// Transition names how the outcome moved: "allow→deny", "deny→allow", or
// "same" when only reasons, obligations or the DSA changed.
func (c *Change) Transition() string {
	switch {
	case c.Live.Allow && !c.Candidate.Allow:
		return "allow→deny"
	case !c.Live.Allow && c.Candidate.Allow:
		return "deny→allow"
	default:
		return "same"
	}
}

func summarize(d policy.Decision, err error) DecisionSummary {
	s := DecisionSummary{ID: d.ID, Revision: d.Revision, Allow: d.Allow, Visible: d.Visible,
		Codes: uniqueSorted(d.Codes()), Obligations: d.Obligations, DSAID: d.DSAID}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// compareDecisions returns the change between two decisions for one input,
// or nil if the candidate decides the same (decision ids aside).
func compareDecisions(p policy.Prepared, live, cand DecisionSummary) *Change {
	var kinds []string
	if live.Allow != cand.Allow {
		kinds = append(kinds, "allow")
	}
	if live.Visible != cand.Visible {
		kinds = append(kinds, "visible")
	}
	if !slices.Equal(live.Codes, cand.Codes) {
		kinds = append(kinds, "reasons")
	}
	lo, _ := json.Marshal(live.Obligations)
	co, _ := json.Marshal(cand.Obligations)
	if string(lo) != string(co) {
		kinds = append(kinds, "obligations")
	}
	if live.DSAID != cand.DSAID {
		kinds = append(kinds, "dsa_id")
	}
	if (live.Error == "") != (cand.Error == "") {
		kinds = append(kinds, "error")
	}
	if len(kinds) == 0 {
		return nil
	}
	c := &Change{Time: time.Now().UTC(), Kinds: kinds, Live: live, Candidate: cand,
		CodesAdded: setDiff(cand.Codes, live.Codes), CodesRemoved: setDiff(live.Codes, cand.Codes)}
	c.InputDigest, c.Action, c.Agency, c.RecordID = describeInput(p)
	return c
}

// setDiff returns the elements of a (sorted, unique) not in b.
func setDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// describeInput returns the digest and the identifiers of an input.
func describeInput(p policy.Prepared) (digest, action, agency, record string) {
	g, err := p.JSON()
	if err != nil {
		return "", "", "", ""
	}
	canon, _ := json.Marshal(g) // map keys sorted: canonical enough to group
	sum := sha256.Sum256(canon)
	digest = "sha256:" + hex.EncodeToString(sum[:])
	m, _ := g.(map[string]any)
	action, _ = m["action"].(string)
	agency, _ = asMap(m["subject"])["agency_id"].(string)
	record, _ = asMap(m["record"])["record_id"].(string)
	return digest, safeID(action), safeID(agency), safeID(record)
}

// safeID keeps an identifier only if it looks like one, so that a report
// never carries free text from an input.
func safeID(s string) string {
	if len(s) > 128 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			return ""
		}
	}
	return s
}

// Compare decides an input written as JSON (see DecideJSON) with both
// engines and returns the change, or nil if the candidate decides the
// same. Input that is not JSON is an error wrapping ErrEvaluation.
func Compare(ctx context.Context, live, candidate *policy.Engine, input []byte) (*Change, error) {
	p, err := policy.PrepareJSON(input)
	if err != nil {
		return nil, err
	}
	return comparePrepared(ctx, live, candidate, p), nil
}

func comparePrepared(ctx context.Context, live, candidate *policy.Engine, p policy.Prepared) *Change {
	ld, lerr := live.DecidePrepared(ctx, p)
	cd, cerr := candidate.DecidePrepared(ctx, p)
	return compareDecisions(p, summarize(ld, lerr), summarize(cd, cerr))
}

// Options configure a Shadow.
type Options struct {
	// Report receives one JSON line (a Change) per decision the candidate
	// would make differently. Writes are serialised.
	Report io.Writer
	// Inputs, if set, receives every compared input as one JSON line
	// ({"input": …}) so that later candidates can be replayed against real
	// traffic (`liaison policy replay`). Inputs hold record metadata and
	// justifications: keep the file as you keep the audit log.
	Inputs io.Writer
	// QueueSize bounds the decisions waiting for the candidate (default
	// 1024). When it is full a comparison is dropped and counted; the live
	// decision is never delayed.
	QueueSize int
	// Timeout bounds one candidate evaluation (default 5s).
	Timeout time.Duration
	// Logger receives dropped-comparison and write-failure events.
	Logger *zap.Logger
}

// RecordedInput is one line of the inputs file (Options.Inputs): a
// compared input and its digest (Change.InputDigest).
type RecordedInput struct {
	InputDigest string `json:"input_digest"`
	Input       any    `json:"input"`
}

// Stats counts a Shadow's work.
type Stats struct {
	Compared uint64 `json:"compared"`
	Changed  uint64 `json:"changed"`
	// Dropped comparisons: the queue was full, or the input could not be
	// converted.
	Dropped uint64 `json:"dropped"`
}

// Shadow runs a candidate policy beside the live one on real traffic. It
// answers every call with the live engine, so it can stand in for the
// engine in the gateway (Decide, Agency, Revision, Explain), and compares
// the candidate's decision for the same input off the request path,
// reporting every difference.
type Shadow struct {
	live, candidate *policy.Engine
	opts            Options
	log             *zap.Logger
	jobs            chan shadowJob
	done            chan struct{}
	closeOnce       sync.Once
	// sendMu orders queueing against Close: Decide sends under the read
	// lock, Close closes the queue under the write lock.
	sendMu   sync.RWMutex
	closed   bool
	writeMu  sync.Mutex
	compared atomic.Uint64
	changed  atomic.Uint64
	dropped  atomic.Uint64
	// since is when the shadow started comparing (GET /v1/policy).
	since time.Time
}

// New starts a shadow of candidate beside live. Close it to flush the
// comparisons still queued (and to stop its goroutine).
func New(live, candidate *policy.Engine, opts Options) *Shadow {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &Shadow{live: live, candidate: candidate, opts: opts, log: log.Named("policy.shadow"),
		jobs: make(chan shadowJob, opts.QueueSize), done: make(chan struct{}), since: time.Now().UTC()}
	go s.work()
	return s
}

// Decide returns the live engine's decision and queues the comparison.
func (s *Shadow) Decide(ctx context.Context, in policy.Input) (policy.Decision, error) {
	p, err := policy.Prepare(in)
	if err != nil {
		s.dropped.Add(1)
		return s.live.Decide(ctx, in)
	}
	return s.decidePrepared(ctx, p)
}

// DecideJSON is DecideJSON of the live engine, compared like Decide.
func (s *Shadow) DecideJSON(ctx context.Context, raw []byte) (policy.Decision, error) {
	p, err := policy.PrepareJSON(raw)
	if err != nil {
		s.dropped.Add(1)
		return s.live.DecideJSON(ctx, raw)
	}
	return s.decidePrepared(ctx, p)
}

func (s *Shadow) decidePrepared(ctx context.Context, p policy.Prepared) (policy.Decision, error) {
	d, err := s.live.DecidePrepared(ctx, p)
	s.sendMu.RLock()
	defer s.sendMu.RUnlock()
	if s.closed {
		return d, err
	}
	select {
	case s.jobs <- shadowJob{p: p, live: summarize(d, err)}:
	default:
		if n := s.dropped.Add(1); n&(n-1) == 0 { // log at 1, 2, 4, 8… drops
			s.log.Warn("shadow comparison queue full; comparisons dropped", zap.Uint64("dropped", n))
		}
	}
	return d, err
}

// shadowJob is a live decision waiting for the candidate's. The input value
// is immutable, so the caller may reuse its own input at once.
type shadowJob struct {
	p    policy.Prepared
	live DecisionSummary
}

// Agency answers from the live policy.
func (s *Shadow) Agency(id string) (policy.Agency, bool) { return s.live.Agency(id) }

// Revision is the live policy's.
func (s *Shadow) Revision() string { return s.live.Revision() }

// Settings returns the live policy's settings data.
func (s *Shadow) Settings() map[string]any { return s.live.Settings() }

// Crosswalk reads a legacy grade through the live policy's cross-walk.
func (s *Shadow) Crosswalk(ctx context.Context, legacy string) (policy.Crosswalk, error) {
	return s.live.Crosswalk(ctx, legacy)
}

// CandidateRevision is the candidate policy's.
func (s *Shadow) CandidateRevision() string { return s.candidate.Revision() }

// Explain explains a live decision.
func (s *Shadow) Explain(ctx context.Context, d policy.Decision, in policy.Input) *policy.Explanation {
	return s.live.Explain(ctx, d, in)
}

// ExplainJSON explains a live decision made by DecideJSON.
func (s *Shadow) ExplainJSON(ctx context.Context, d policy.Decision, raw []byte) *policy.Explanation {
	return s.live.ExplainJSON(ctx, d, raw)
}

// Since is when the shadow started comparing.
func (s *Shadow) Since() time.Time { return s.since }

// Stats returns the counters so far.
func (s *Shadow) Stats() Stats {
	return Stats{Compared: s.compared.Load(), Changed: s.changed.Load(), Dropped: s.dropped.Load()}
}

// Close stops accepting comparisons, finishes the queued ones and returns.
// Decide keeps answering from the live engine afterwards, without
// comparing.
func (s *Shadow) Close() error {
	s.closeOnce.Do(func() {
		s.sendMu.Lock()
		s.closed = true
		close(s.jobs)
		s.sendMu.Unlock()
		<-s.done
	})
	return nil
}

func (s *Shadow) work() {
	defer close(s.done)
	for job := range s.jobs {
		s.compare(job)
	}
}

func (s *Shadow) compare(job shadowJob) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	p := job.p
	cd, cerr := s.candidate.DecidePrepared(ctx, p)
	s.compared.Add(1)
	if s.opts.Inputs != nil {
		// The digest beside the input is the Change's InputDigest, so that
		// a change in the report finds its input (GET /v1/policy/shadow);
		// Replay reads the line as {"input": …} and ignores it.
		if g, err := p.JSON(); err == nil {
			digest, _, _, _ := describeInput(p)
			s.write(s.opts.Inputs, RecordedInput{InputDigest: digest, Input: g})
		}
	}
	c := compareDecisions(p, job.live, summarize(cd, cerr))
	if c == nil {
		return
	}
	s.changed.Add(1)
	if s.opts.Report != nil {
		s.write(s.opts.Report, c)
	}
}

func (s *Shadow) write(w io.Writer, v any) {
	line, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if _, err := w.Write(append(line, '\n')); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		s.log.Error("shadow report write failed", zap.Error(err))
	}
}

var _ policy.Explainer = (*Shadow)(nil)

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func uniqueSorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
