package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DataChange is one change a reload makes to the agreements or the agency
// registry, for the audit entry: a suspended DSA must be traceable to the
// reload that suspended it.
type DataChange struct {
	// Kind is "dsa" or "agency".
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Change is "added", "removed", "status" (the status changed, perhaps
	// with other attributes) or "modified" (other attributes only).
	Change string `json:"change"`
	// OldStatus and NewStatus are the DSA's status before and after
	// (empty when it did not exist, or for an agency).
	OldStatus string `json:"old_status,omitempty"`
	NewStatus string `json:"new_status,omitempty"`
}

// FileChange is a policy file a reload changed, with its SHA-256 (hex)
// before and after; empty for a file added or removed.
type FileChange struct {
	Path      string `json:"path"`
	OldSHA256 string `json:"old_sha256,omitempty"`
	NewSHA256 string `json:"new_sha256,omitempty"`
}

// diffFiles lists the files whose digest differs, by path.
func diffFiles(old, cur map[string]string) []FileChange {
	var out []FileChange
	for p, d := range cur {
		if old[p] != d {
			out = append(out, FileChange{Path: p, OldSHA256: old[p], NewSHA256: d})
		}
	}
	for p, d := range old {
		if _, ok := cur[p]; !ok {
			out = append(out, FileChange{Path: p, OldSHA256: d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// diffRegistry names the DSAs and agencies a reload added, removed or
// changed; for a DSA, its status before and after.
func diffRegistry(old, cur *registry) []DataChange {
	if old == nil || cur == nil {
		return nil
	}
	var out []DataChange
	for _, id := range unionKeys(old.dsas, cur.dsas) {
		o, inOld := old.dsas[id]
		n, inNew := cur.dsas[id]
		c := DataChange{Kind: "dsa", ID: id, OldStatus: dsaStatus(o), NewStatus: dsaStatus(n)}
		switch {
		case !inOld:
			c.Change = "added"
		case !inNew:
			c.Change = "removed"
		case c.OldStatus != c.NewStatus:
			c.Change = "status"
		case !jsonEqual(o, n):
			c.Change = "modified"
		default:
			continue
		}
		out = append(out, c)
	}
	for _, id := range unionKeys(old.agencyRaw, cur.agencyRaw) {
		o, inOld := old.agencyRaw[id]
		n, inNew := cur.agencyRaw[id]
		c := DataChange{Kind: "agency", ID: id}
		switch {
		case !inOld:
			c.Change = "added"
		case !inNew:
			c.Change = "removed"
		case !jsonEqual(o, n):
			c.Change = "modified"
		default:
			continue
		}
		out = append(out, c)
	}
	return out
}

func unionKeys(a, b map[string]json.RawMessage) []string {
	m := make(map[string]json.RawMessage, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return sortedKeys(m)
}

// jsonEqual compares two JSON documents as values (both were produced by
// json.Marshal of decoded data, so key order is already canonical).
func jsonEqual(a, b json.RawMessage) bool { return string(a) == string(b) }

func dsaStatus(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var d struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(raw, &d) // validated against the schema already
	return d.Status
}

// suiteRunner runs the Rego suite in the background after a data-only
// reload. One run at a time: a newer data change cancels the run on older
// content (its verdict would be about data no longer in force), and a
// policy change cancels it before running the suite synchronously itself.
type suiteRunner struct {
	mu      sync.Mutex
	ctx     context.Context // ends at Close
	stopAll context.CancelFunc
	stopRun context.CancelFunc // the run in progress, if any
	done    chan struct{}      // closed when that run ends
	// runs counts background runs started (for tests).
	runs int
}

func (r *suiteRunner) init() {
	r.ctx, r.stopAll = context.WithCancel(context.Background())
}

// start runs b's Rego suite in the background and reports its verdict on
// revision rev through the engine's log and OnReload (Kind ReloadSuite).
func (r *suiteRunner) start(e *Engine, b *bundle, rev string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopRun != nil {
		// Superseded: stop it without waiting, so that this reload (and
		// the next DSA suspension) does not wait for the old run.
		r.stopRun()
	}
	if r.ctx.Err() != nil {
		return // closed
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	r.stopRun, r.done = cancel, done
	r.runs++
	go func() {
		defer close(done)
		defer cancel()
		start := time.Now()
		results, err := runTests(ctx, b)
		if ctx.Err() != nil {
			return // superseded or closed: no verdict
		}
		if err == nil {
			err = testsFailed(b, results)
		}
		ev := ReloadEvent{Time: time.Now().UTC(), Trigger: "suite", Kind: ReloadSuite, Source: e.src.String(),
			OldRevision: rev, NewRevision: rev, Applied: true, Suite: SuitePassed}
		if err != nil {
			ev.Suite, ev.Err, ev.Problems = SuiteFailed, err, ProblemsOf(err)
			fields := []zap.Field{zap.String(fieldSource, ev.Source), zap.String(fieldRevision, rev), zap.Error(err)}
			for i, p := range ev.Problems {
				if i == maxLoggedProblems {
					break
				}
				fields = append(fields, zap.String(fmt.Sprintf("problem_%d", i+1), p.String()))
			}
			// The data stays in force: it passed the schemas and samples,
			// and rolling back a suspension would be worse. The next policy
			// (Rego) change runs the suite on this data and is refused
			// until it passes.
			e.log.Error("Rego suite fails on the data in force; the next policy change will be refused until it passes", fields...)
		} else {
			pass, _, _ := CountTests(results)
			passedTests.put(b.digest(), pass)
			e.log.Info("Rego suite passed on the data in force", zap.String(fieldRevision, rev),
				zap.Int(fieldTests, pass), zap.Duration("policy_suite_duration", time.Since(start)))
		}
		e.notify(ev)
	}()
}

// cancel stops the run in progress, if any, and waits for it to end.
func (r *suiteRunner) cancel() {
	r.mu.Lock()
	stop, done := r.stopRun, r.done
	r.stopRun, r.done = nil, nil
	r.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// wait waits for the run in progress, if any, to end (for tests and
// benchmarks).
func (r *suiteRunner) wait() {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done != nil {
		<-done
	}
}

// stop cancels the run in progress and any later start (Close).
func (r *suiteRunner) stop() {
	r.mu.Lock()
	if r.stopAll != nil {
		r.stopAll()
	}
	r.mu.Unlock()
	r.cancel()
}
