package policy

import (
	"context"
	"time"
)

// DefaultReloadInterval is how often the watcher looks at the policy source
// when Options.ReloadInterval is zero.
//
// Half a second, so that a DSA suspended or terminated by a data change is
// enforced within a second (issue 9): a poll reads and digests a policy
// tree of a few hundred kilobytes, and a data-only change goes live
// without running the Rego suite first (see Engine.Start).
const DefaultReloadInterval = 500 * time.Millisecond

// ReloadEvent reports one reload attempt, applied or rejected. The gateway
// writes it to the audit log: a policy change is a change to who may see
// what, so it is evidence like any disclosure.
type ReloadEvent struct {
	Time time.Time `json:"time"`
	// Trigger is "watch" (the watcher saw a change), "manual" (Reload) or
	// "registry" (the registry overlay changed, SetOverlay).
	Trigger string `json:"trigger"`
	// Source is the directory or bundle file.
	Source string `json:"source"`
	// OldRevision was in force before the attempt; it still is if Applied
	// is false.
	OldRevision string `json:"old_revision"`
	// NewRevision is the revision of the candidate, empty if it could not
	// even be read.
	NewRevision string `json:"new_revision,omitempty"`
	Applied     bool   `json:"applied"`
	// Err is why the candidate was rejected; Problems locates it
	// (file:line) where possible.
	Err      error     `json:"-"`
	Problems []Problem `json:"problems,omitempty"`
	// Kind is ReloadData when only data/*.json or samples.json changed
	// (validated against the schemas and samples, then applied at once;
	// the Rego suite runs in the background), ReloadPolicy when Rego
	// modules, tests or schemas changed (the whole suite passed first),
	// ReloadSuite for the verdict of a background suite run.
	Kind string `json:"kind,omitempty"`
	// Changes names what a change does to the agreements and the agency
	// registry: which DSA, its status before and after.
	Changes []DataChange `json:"changes,omitempty"`
	// Files are the files the change touched with their SHA-256 before and
	// after (empty for a file added or removed).
	Files []FileChange `json:"files,omitempty"`
	// Suite is the Rego suite's state for the revision: SuitePassed,
	// SuitePending (running in the background) or SuiteFailed.
	Suite string `json:"suite,omitempty"`
	// SkippedSamples are the sample decisions not checked because they are
	// about an agreement the new data suspends, terminates or returns to
	// draft ("name (DSA id is status)").
	SkippedSamples []string `json:"skipped_samples,omitempty"`
}

// Kinds of reload (ReloadEvent.Kind).
const (
	ReloadData   = "data"
	ReloadPolicy = "policy"
	ReloadSuite  = "suite"
)

// States of the Rego suite (ReloadEvent.Suite).
const (
	SuitePassed  = "passed"
	SuitePending = "pending"
	SuiteFailed  = "failed"
)

// Start watches the policy source (Dir or Bundle) and reloads it when its
// content changes, until ctx ends or Close is called. The embedded library
// never changes, so there is nothing to watch; neither is there with a
// negative ReloadInterval. Start returns at once; calling it again does
// nothing.
//
// Watching polls a digest of every policy file rather than using file
// system notifications: polling sees every way a policy is deployed —
// editors that write a temporary file and rename it, `git checkout`,
// Kubernetes ConfigMaps that swap a symlink, network file systems, a
// bundle copied over — where inotify watches miss renames of watched
// directories and do not work on NFS. A policy tree is small, so reading
// it every few seconds costs little, and comparing content (not mtimes)
// never misses a change written within the same second.
//
// A change that touches only data (data/*.json, samples.json) is checked
// synchronously against the schemas and the sample decisions and then
// applied at once: agreements are suspended and terminated by data, and
// that must take effect within a second, not after the Rego suite
// (15 s on a busy two-core machine). The suite then runs in the background on the new content; its
// verdict is logged and reported (Kind ReloadSuite). A change to Rego
// modules, tests or schemas is accepted only after the whole suite passes
// on it (with the data in force), as before: a broken policy never goes
// live, and data that breaks the suite blocks the next policy change until
// it is fixed.
func (e *Engine) Start(ctx context.Context) error {
	if e.opts.Dir == "" && e.opts.Bundle == "" || e.opts.ReloadInterval < 0 {
		return nil
	}
	e.watch.once.Do(func() {
		interval := e.opts.ReloadInterval
		if interval == 0 {
			interval = DefaultReloadInterval
		}
		ctx, cancel := context.WithCancel(ctx)
		e.watch.cancel = cancel
		e.watch.done = make(chan struct{})
		go func() {
			defer close(e.watch.done)
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					// The error is logged and reported through OnReload.
					_ = e.reload(ctx, "watch", true)
				}
			}
		}()
	})
	return nil
}

// Close stops the watcher, the background Rego suite and the decision
// workers, waiting for a reload or decisions in progress to finish. The
// engine still decides with the policy in force, on the caller's
// goroutine.
func (e *Engine) Close() error {
	e.watch.once.Do(func() {}) // a later Start does nothing
	if e.watch.cancel != nil {
		e.watch.cancel()
		<-e.watch.done
	}
	e.suite.stop()
	e.workers.stop()
	return nil
}
