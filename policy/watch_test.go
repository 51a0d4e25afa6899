package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaison-project/liaison/policy"
)

// watched starts an engine on a copy of the bundle that polls every few
// milliseconds and sends every reload event to the returned channel.
func watched(t *testing.T) (*policy.Engine, string, chan policy.ReloadEvent) {
	t.Helper()
	dir := copyBundle(t)
	events := make(chan policy.ReloadEvent, 16)
	e, err := newEngine(t, context.Background(), policy.Options{
		Dir:            dir,
		ReloadInterval: 10 * time.Millisecond,
		OnReload:       func(ev policy.ReloadEvent) { events <- ev },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = e.Close()
	})
	return e, dir, events
}

func nextEvent(t *testing.T, events <-chan policy.ReloadEvent) policy.ReloadEvent {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(2 * time.Minute): // a bound for a hung watcher, not a latency assertion
		t.Fatal("no reload event")
		return policy.ReloadEvent{}
	}
}

func addAgency(t *testing.T, dir, id string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "data", "agencies.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["agencies"][id] = map[string]any{"name": "Lancashire Constabulary", "org_type": "uk_police", "country": "GBR", "is_competent_authority": true, "system_clearance": "BPSS", "require_officer_token": false}
	bs, _ := json.MarshalIndent(doc, "", "  ")
	write(t, dir, "data/agencies.json", string(bs))
}

func TestWatchAppliesGoodChangeWithoutDroppingRequests(t *testing.T) {
	e, dir, events := watched(t)
	ctx := context.Background()
	oldRev := e.Revision()
	allowIn := input(t, baseRead, nil)
	stranger := input(t, baseRead, map[string]any{"subject.agency_id": "lancs-police"})

	// Deciders run through the reload; every answer must be a correct one
	// from either the old or the new policy, never an error.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var decided atomic.Int64
	revisions := sync.Map{}
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				d, err := e.DecideJSON(ctx, js(t, allowIn))
				if err != nil || !d.Allow {
					t.Errorf("decision during reload: allow=%t err=%v", d.Allow, err)
					return
				}
				revisions.Store(d.Revision, true)
				decided.Add(1)
			}
		})
	}

	before, _ := e.DecideJSON(ctx, js(t, stranger))
	addAgency(t, dir, "lancs-police")
	ev := nextEvent(t, events)
	// Keep deciding a little after the swap, so both revisions are seen.
	for n := decided.Load(); decided.Load() < n+50; {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	if !ev.Applied || ev.Err != nil || ev.OldRevision != oldRev || ev.NewRevision == oldRev || ev.Trigger != "watch" || ev.Source != dir {
		t.Fatalf("event = %+v", ev)
	}
	if e.Revision() != ev.NewRevision {
		t.Fatalf("revision %s, event says %s", e.Revision(), ev.NewRevision)
	}
	after, _ := e.DecideJSON(ctx, js(t, stranger))
	if !slices.Contains(before.Codes(), "unknown_agency") || slices.Contains(after.Codes(), "unknown_agency") || after.Revision != ev.NewRevision {
		t.Fatalf("before %v, after %v (%s): the change did not reach decisions", before.Codes(), after.Codes(), after.Revision)
	}
	revisions.Range(func(k, _ any) bool {
		if k != oldRev && k != ev.NewRevision {
			t.Errorf("a decision carried revision %v", k)
		}
		return true
	})
	if _, ok := revisions.Load(ev.NewRevision); !ok {
		t.Error("no concurrent decision was made by the new policy")
	}
}

func TestWatchRejectsBrokenChanges(t *testing.T) {
	// The watcher's polls are driven by the test (policy.Poll does what a
	// tick does): each change writes two files, and a ticking watcher could
	// see the first alone, or a file half written.
	dir := copyBundle(t)
	events := make(chan policy.ReloadEvent, 16)
	e, err := newEngine(t, context.Background(), policy.Options{
		Dir:            dir,
		ReloadInterval: -1,
		OnReload:       func(ev policy.ReloadEvent) { events <- ev },
	})
	if err != nil {
		t.Fatal(err)
	}
	poll := func(t *testing.T) (policy.ReloadEvent, bool) {
		t.Helper()
		policy.Poll(e)
		select {
		case ev := <-events: // OnReload runs within the poll
			return ev, true
		default:
			return policy.ReloadEvent{}, false
		}
	}
	ctx := context.Background()
	good := input(t, baseRead, nil)
	rev := e.Revision()
	authz, err := os.ReadFile(filepath.Join(dir, "liaison", "authz.rego"))
	if err != nil {
		t.Fatal(err)
	}
	assertServing := func(t *testing.T) {
		t.Helper()
		d, err := e.DecideJSON(ctx, js(t, good))
		if err != nil || !d.Allow || d.Revision != rev || e.Revision() != rev {
			t.Fatalf("after a rejected change: %+v, %v; want the old policy %s allowing", d, err, rev)
		}
	}
	tests := []struct {
		name     string
		edit     func(t *testing.T)
		isErr    error
		file     string // the problem's file, relative to dir
		line     int
		contains string
	}{
		{"syntax error", func(t *testing.T) {
			write(t, dir, "liaison/authz.rego", string(authz)+"\nbroken :=\n")
		}, policy.ErrLoad, "liaison/authz.rego", 0, "parse"},
		{"DSA that breaks the schema", func(t *testing.T) {
			write(t, dir, "liaison/authz.rego", string(authz))
			edit(t, dir, "data/dsas.json", `"status": "active",`, `"status": "activ",`)
		}, policy.ErrLoad, "data/dsas.json", 6, "/dsas/dsa-uk-soc/status"},
		{"change that fails a Rego test", func(t *testing.T) {
			edit(t, dir, "data/dsas.json", `"status": "activ",`, `"status": "active",`)
			edit(t, dir, "liaison/schemes/tlp.rego", `red(l) if l == "RED"`, `red(l) if l == "AMBER"`)
		}, policy.ErrTest, "liaison/authz_test.rego", 0, " / TLP RED to an agency system"}, // in test_read or test_read_2 (authz_test.chunk)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.edit(t)
			ev, ok := poll(t)
			if !ok {
				t.Fatal("the change was not noticed")
			}
			if ev.Applied || !errors.Is(ev.Err, tc.isErr) || ev.OldRevision != rev {
				t.Fatalf("event = %+v; want a rejection with %v", ev, tc.isErr)
			}
			found := false
			for _, p := range ev.Problems {
				if p.File == filepath.Join(dir, filepath.FromSlash(tc.file)) && (tc.line == 0 && p.Line > 0 || p.Line == tc.line) && strings.Contains(p.String(), tc.contains) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no problem at %s:%d with %q in %v", tc.file, tc.line, tc.contains, ev.Problems)
			}
			assertServing(t)
		})
	}
	// A rejected change is reported once, not on every poll; the fix is applied.
	for range 3 {
		if ev, ok := poll(t); ok {
			t.Fatalf("the same broken content was reported again: %+v", ev)
		}
	}
	edit(t, dir, "liaison/schemes/tlp.rego", `red(l) if l == "AMBER"`, `red(l) if l == "RED"`)
	ev, ok := poll(t)
	if !ok || !ev.Applied || ev.NewRevision != rev {
		t.Fatalf("fix: event = %+v (%t); want the original revision %s back", ev, ok, rev)
	}
}

func TestWatchStopsOnClose(t *testing.T) {
	e, dir, events := watched(t)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	rev := e.Revision()
	addAgency(t, dir, "lancs-police")
	select {
	case ev := <-events:
		t.Fatalf("reload after Close: %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
	if e.Revision() != rev {
		t.Fatal("policy changed after Close")
	}
	// A manual reload still works, and is reported.
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); !ev.Applied || ev.Trigger != "manual" || ev.NewRevision == rev {
		t.Fatalf("manual reload event = %+v", ev)
	}
}

func TestStartWithoutSourceIsNoop(t *testing.T) {
	e, err := newEngine(t, context.Background(), policy.Options{ReloadInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
