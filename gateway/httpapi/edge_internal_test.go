package httpapi

import (
	"path"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"
)

// TestRefusalAuditorIsBounded: a flood of distinct refusals never grows the
// window past refusalKeys nor the queue past refusalQueue; what is
// coalesced or dropped is reported, never silently lost.
func TestRefusalAuditorIsBounded(t *testing.T) {
	s := &Server{metrics: newMetrics(), now: time.Now, log: zap.NewNop()}
	s.edge = newEdgeState(s)
	a := s.edge.auditor
	const n = 10 * refusalKeys
	for i := range n {
		// Distinct certificates: each would be its own key.
		a.record(connRefusal{action: actionTLSHandshake, kind: "unknown-ca", status: 403,
			certFP: strings.Repeat("f", 60) + string(rune('a'+i%26)) + string(rune('a'+(i/26)%26)) + string(rune('a'+(i/676)%26)),
			peer:   "192.0.2.1", detail: "x"})
	}
	if len(a.seen) > refusalKeys+1 {
		t.Fatalf("%d keys in one window, bound is %d (+1 overflow key)", len(a.seen), refusalKeys)
	}
	if len(a.queue) != refusalQueue {
		t.Fatalf("queue holds %d, want it full at %d", len(a.queue), refusalQueue)
	}
	queued, dropped := len(a.queue), a.dropped
	if dropped == 0 {
		t.Fatal("a full queue dropped nothing")
	}
	var coalesced int
	for _, tl := range a.seen {
		coalesced += tl.more
	}
	if queued+dropped+coalesced != n {
		t.Fatalf("queued %d + dropped %d + coalesced %d != %d refusals", queued, dropped, coalesced, n)
	}

	// Drain, then roll the window: the overflow key's repeats get a
	// summary and the drop count an entry of its own.
	for len(a.queue) > 0 {
		<-a.queue
	}
	a.rollWindow(time.Now())
	var summary, drops bool
	for len(a.queue) > 0 {
		en := <-a.queue
		switch {
		case en.dropped == dropped:
			drops = true
		case en.more > 0 && en.r.peer == "*":
			summary = true
		}
	}
	if !summary || !drops {
		t.Fatalf("after the window: overflow summary %v, drop report %v", summary, drops)
	}
	if len(a.seen) != 0 || a.dropped != 0 {
		t.Fatalf("window not reset: %d keys, %d dropped", len(a.seen), a.dropped)
	}
}

func TestCleanRequestPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/v1/records": true, "/v1/records/": true, "/v1/records/abc": true,
		"": false, "*": false, "v1": false, "/v1/../x": false, "/v1/./x": false, "//v1": false, "/v1//x": false, "/..": false, "/v1/records/..": false,
	} {
		if got := CleanPath(p); got != want {
			t.Errorf("CleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzSanitiseName: certificate names of refused (unverified) peers reach
// the audit log; whatever the bytes, the text is bounded and carries no
// control or format characters (newlines, bidi overrides).
func FuzzSanitiseName(f *testing.F) {
	for _, s := range []string{"CN=met-police,O=Met", "CN=a\nb", "CN=\u202egnp.exe", "\xff\xfe", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := sanitiseName(s, 256)
		if len(out) > 256+len("…") {
			t.Fatalf("%d bytes", len(out))
		}
		for _, r := range out {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
				t.Fatalf("%q kept in %q", r, out)
			}
		}
	})
}

// FuzzCleanRequestPath: a path the check lets through is one the ServeMux
// would not redirect (path.Clean leaves it alone) and has no dot segments.
func FuzzCleanRequestPath(f *testing.F) {
	for _, s := range []string{"/", "/v1/records", "/v1/../x", "//", "*", "/a/./b", "/a/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !CleanPath(p) {
			return
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
			t.Fatalf("%q accepted", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q accepted", p)
			}
		}
		c := path.Clean(p)
		if c != strings.TrimSuffix(p, "/") && c != p {
			t.Fatalf("%q cleans to %q", p, c)
		}
	})
}
