package policy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/liaison-project/liaison/policy"
)

// reloadEngine is an engine on a copy of the bundle that does not watch
// (reloads are manual) and records every reload event.
func reloadEngine(t testing.TB) (*policy.Engine, string, func() []policy.ReloadEvent) {
	t.Helper()
	dir := copyBundle(t)
	var mu sync.Mutex
	var events []policy.ReloadEvent
	e, err := newEngine(t, context.Background(), policy.Options{Dir: dir, ReloadInterval: -1,
		OnReload: func(ev policy.ReloadEvent) { mu.Lock(); events = append(events, ev); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, dir, func() []policy.ReloadEvent {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(events)
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestDataOnlyReloadSkipsRegoSuite: suspending a DSA is a data-only change.
// It goes live on Reload without waiting for the Rego suite (the suite
// runs in the background afterwards), it is checked against the schemas
// and samples first, and the reload event names the DSA, its old and new
// status and the file digest (issue 9 item 22).
func TestDataOnlyReloadSkipsRegoSuite(t *testing.T) {
	e, dir, events := reloadEngine(t)
	ctx := context.Background()
	read := input(t, baseRead, nil)
	if d, err := e.DecideJSON(ctx, js(t, read)); err != nil || !d.Allow {
		t.Fatalf("before: %+v %v", d, err)
	}
	oldSHA := fileSHA(t, filepath.Join(dir, "data", "dsas.json"))
	runs := policy.SyncSuiteRuns(e)

	// dsa-uk-soc is the first DSA of the file. An earlier run in this
	// process (-count=N) may have passed the suite on these very files.
	policy.ForgetPassedSuites()
	edit(t, dir, "data/dsas.json", `"status": "active"`, `"status": "suspended"`)
	if err := e.Reload(ctx); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if n := policy.SyncSuiteRuns(e); n != runs {
		t.Fatalf("a data-only reload waited for the Rego suite (%d runs, %d before)", n, runs)
	}
	d, err := e.DecideJSON(ctx, js(t, read))
	if err != nil || d.Allow || d.Revision != e.Revision() {
		t.Fatalf("after suspension: %+v %v; want a deny by the new revision", d, err)
	}
	evs := events()
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	ev := evs[0]
	if !ev.Applied || ev.Kind != policy.ReloadData || ev.Suite != policy.SuitePending {
		t.Fatalf("event %+v; want an applied data reload with the suite pending", ev)
	}
	want := []policy.DataChange{{Kind: "dsa", ID: "dsa-uk-soc", Change: "status", OldStatus: "active", NewStatus: "suspended"}}
	if !slices.Equal(ev.Changes, want) {
		t.Fatalf("changes %+v, want %+v", ev.Changes, want)
	}
	wantFiles := []policy.FileChange{{Path: "data/dsas.json", OldSHA256: oldSHA, NewSHA256: fileSHA(t, filepath.Join(dir, "data", "dsas.json"))}}
	if !slices.Equal(ev.Files, wantFiles) {
		t.Fatalf("files %+v, want %+v", ev.Files, wantFiles)
	}
	// The demo samples read under dsa-uk-soc: they are skipped, not failed.
	if len(ev.SkippedSamples) == 0 {
		t.Fatal("no sample skipped for the suspended DSA")
	}

	// The suite ran in the background and its verdict is reported.
	policy.WaitSuite(e)
	evs = events()
	if len(evs) != 2 || evs[1].Kind != policy.ReloadSuite || evs[1].Suite != policy.SuitePassed || evs[1].NewRevision != ev.NewRevision {
		t.Fatalf("suite verdict: %+v", evs[1:])
	}

	// A change to the Rego modules still waits for the whole suite.
	edit(t, dir, "liaison/audit.rego", "package liaison.authz", "package liaison.authz\n\n# edited")
	if err := e.Reload(ctx); err != nil {
		t.Fatalf("policy reload: %v", err)
	}
	if n := policy.SyncSuiteRuns(e); n != runs+1 {
		t.Fatalf("a Rego change ran the suite %d times synchronously, want 1", n-runs)
	}
	if ev := events()[2]; ev.Kind != policy.ReloadPolicy || ev.Suite != policy.SuitePassed || len(ev.Files) != 1 || ev.Files[0].Path != "liaison/audit.rego" {
		t.Fatalf("policy reload event %+v", ev)
	}
}

// TestDataOnlyReloadStillValidated: a data-only change that breaks the
// schema is refused synchronously, as before; the old data stays in force.
func TestDataOnlyReloadStillValidated(t *testing.T) {
	e, dir, _ := reloadEngine(t)
	rev := e.Revision()
	edit(t, dir, "data/dsas.json", `"status": "active"`, `"status": "paused"`)
	if err := e.Reload(context.Background()); err == nil || e.Revision() != rev {
		t.Fatalf("reload = %v (revision %s, was %s); want a refusal", err, e.Revision(), rev)
	}
}

// BenchmarkReload compares a data-only reload (a DSA status flip) with a
// full reload (a Rego change: compile, samples and the whole suite).
func BenchmarkReload(b *testing.B) {
	ctx := context.Background()
	b.Run("data-only", func(b *testing.B) {
		e, dir, _ := reloadEngine(b)
		from, to := `"status": "active"`, `"status": "suspended"`
		for b.Loop() {
			edit(b, dir, "data/dsas.json", from, to)
			if err := e.Reload(ctx); err != nil {
				b.Fatal(err)
			}
			from, to = to, from
		}
		b.StopTimer()
		policy.WaitSuite(e)
	})
	b.Run("full", func(b *testing.B) {
		e, dir, _ := reloadEngine(b)
		i := 0
		for b.Loop() {
			// A new comment each time, so that the suite cache never hits.
			i++
			edit(b, dir, "liaison/audit.rego", "package liaison.authz", "package liaison.authz\n# "+string(rune('a'+i%26))+hex.EncodeToString([]byte{byte(i), byte(i >> 8)}))
			if err := e.Reload(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCountTestsLikeOPA: a table test counts once per case and a plain test
// once, as `opa test` counts them (here 3 + 1 = 4, where opa test says
// "PASS: 4/4"); the table rule itself is a heading (issue 9 item 25:
// `liaison policy test` said 590 where opa test said 539).
func TestCountTestsLikeOPA(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "x/x.rego", "package x\n\ndouble(n) := 2 * n\n")
	write(t, dir, "x/x_test.rego", `package x_test

import data.x

test_double[name] if {
	some name, tc in {"one": [1, 2], "two": [2, 4], "three": [3, 6]}
	x.double(tc[0]) == tc[1]
}

test_plain if x.double(0) == 0
`)
	results, err := policy.RunTests(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	pass, fail, skip := policy.CountTests(results)
	if pass != 4 || fail != 0 || skip != 0 {
		t.Fatalf("counted %d/%d/%d (pass/fail/skip) in %+v; opa test counts 4 passing", pass, fail, skip, results)
	}
	for _, r := range results {
		if strings.HasSuffix(r.Name, "test_double") && r.Cases != 3 {
			t.Fatalf("table rule %+v: want Cases 3", r)
		}
	}
}
