package console_test

import (
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestSessionBoundToCertificate: the session cookie presented with
// another agency's certificate is no session (401, audited), and the
// owner's session still works.
func TestSessionBoundToCertificate(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	jar, _ := cookiejar.New(nil)
	met := withJar(t, env, "met-police", jar)
	met.signIn("dev-dpo")
	thief := withJar(t, env, "rocu-nw", jar) // the same cookies, another certificate
	for _, p := range []string{"/console/session", "/console/api/v1/consents"} {
		r := thief.do("GET", p, nil)
		if r.status != 401 || problemType(t, r) != "no-session" {
			t.Fatalf("%s with another certificate: %d %s", p, r.status, r.body)
		}
		checkHeaders(t, r.header)
	}
	if s := met.session(); s.Officer != "dev-dpo" {
		t.Fatalf("owner's session: %+v", s)
	}
	var audited bool
	for _, ev := range env.Audit() {
		audited = audited || ev.Action == "console.session" && ev.Agency == "rocu-nw" && ev.Status == 401 &&
			strings.Contains(ev.Error, "another client certificate")
	}
	if !audited {
		t.Fatal("the refused session use is not audited")
	}
}

// TestSessionExpires: idle for longer than console.idle_timeout, the
// session is gone (401, audited); the absolute lifetime ends it even when
// used all along.
func TestSessionExpires(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	b := newBrowser(t, env, "met-police")
	b.signIn("dev-auditor")
	start := time.Now()
	env.SetClock(start.Add(14 * time.Minute))
	if r := b.do("GET", "/console/session", nil); r.status != 200 {
		t.Fatalf("after 14 idle minutes: %d %s", r.status, r.body)
	}
	env.SetClock(start.Add(30 * time.Minute)) // 16 idle minutes
	r := b.do("GET", "/console/api/v1/audit", nil)
	if r.status != 401 || problemType(t, r) != "no-session" {
		t.Fatalf("after 16 idle minutes: %d %s", r.status, r.body)
	}
	var audited bool
	for _, ev := range env.Audit() {
		audited = audited || ev.Action == "console.session" && ev.Status == 401 && strings.Contains(ev.Error, "expired")
	}
	if !audited {
		t.Fatal("the expired session's use is not audited")
	}

	// Absolute: the dev token lives an hour, less than the 8h lifetime;
	// used every 10 minutes, the session still ends with the token.
	env.SetClock(time.Time{})
	b2 := newBrowser(t, env, "met-police")
	s := b2.signIn("dev-auditor")
	if d := s.ExpiresAt.Sub(time.Now()); d > time.Hour+time.Minute || d < 50*time.Minute {
		t.Fatalf("absolute expiry in %v, want the token's hour", d)
	}
	for m := 10; m <= 50; m += 10 {
		env.SetClock(start.Add(time.Duration(m) * time.Minute))
		if r := b2.do("GET", "/console/session", nil); r.status != 200 {
			t.Fatalf("at %d minutes: %d %s", m, r.status, r.body)
		}
	}
	env.SetClock(s.ExpiresAt.Add(time.Second))
	if r := b2.do("GET", "/console/session", nil); r.status != 401 {
		t.Fatalf("past the absolute expiry: %d %s", r.status, r.body)
	}
}

// TestCSRF: a state-changing console call needs the session's CSRF
// token, and is refused from another origin or site even with it.
func TestCSRF(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	b := newBrowser(t, env, "met-police")
	s := b.signIn("dev-security")
	body := func() *strings.Reader { return strings.NewReader(`{}`) }
	for _, c := range []struct {
		name string
		hdr  []string
	}{
		{"no header", nil},
		{"wrong token", []string{"Liaison-CSRF", strings.Repeat("A", 43)}},
		{"other origin", []string{"Liaison-CSRF", s.CSRFToken, "Origin", "https://evil.example"}},
		{"cross-site fetch", []string{"Liaison-CSRF", s.CSRFToken, "Sec-Fetch-Site", "cross-site"}},
		{"same-site fetch", []string{"Liaison-CSRF", s.CSRFToken, "Sec-Fetch-Site", "same-site"}},
		{"null origin without Sec-Fetch-Site", []string{"Liaison-CSRF", s.CSRFToken, "Origin", "null"}},
		{"null origin cross-site", []string{"Liaison-CSRF", s.CSRFToken, "Origin", "null", "Sec-Fetch-Site", "cross-site"}},
	} {
		hdr := append([]string{"Content-Type", "application/json"}, c.hdr...)
		r := b.do("POST", "/console/api/v1/decisions", body(), hdr...)
		if r.status != 403 || problemType(t, r) != "csrf" {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
		if r := b.do("POST", "/console/logout", nil, c.hdr...); r.status != 403 {
			t.Errorf("logout, %s: %d %s", c.name, r.status, r.body)
		}
	}
	// With the token, the same origin and a same-origin fetch the call
	// reaches the API, which judges the body itself.
	r := b.do("POST", "/console/api/v1/decisions", body(), "Content-Type", "application/json", "Liaison-CSRF", s.CSRFToken,
		"Origin", env.URL, "Sec-Fetch-Site", "same-origin")
	if r.status == 403 && problemType(t, r) == "csrf" || r.status == 401 {
		t.Fatalf("a proper call was refused: %d %s", r.status, r.body)
	}
	// A page with Referrer-Policy: no-referrer sends Origin: null with a
	// same-origin Sec-Fetch-Site: accepted.
	r = b.do("POST", "/console/api/v1/decisions", body(), "Content-Type", "application/json", "Liaison-CSRF", s.CSRFToken,
		"Origin", "null", "Sec-Fetch-Site", "same-origin")
	if r.status == 403 && problemType(t, r) == "csrf" || r.status == 401 {
		t.Fatalf("a same-origin call with Origin null was refused: %d %s", r.status, r.body)
	}
	if b.session().Officer != "dev-security" {
		t.Fatal("the session did not survive")
	}
}

// TestStatic: the shell and its files with their content types and the
// CSP; only known file types; no way out of assets/.
func TestStatic(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	b := newBrowser(t, env, "hmrc")
	for _, p := range []string{"/console/", "/console/assets/index.html"} {
		r := b.do("GET", p, nil)
		if r.status != 200 || r.header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(string(r.body), "<html") {
			t.Fatalf("%s: %d %q", p, r.status, r.header.Get("Content-Type"))
		}
		checkHeaders(t, r.header)
	}
	if r := b.do("GET", "/console", nil); r.status != 200 || r.url.Path != "/console/" {
		t.Fatalf("/console: %d at %s", r.status, r.url)
	}
	for _, p := range []string{"/console/assets/nope.js", "/console/assets/", "/console/nope", "/console/assets/index.htm"} {
		r := b.do("GET", p, nil)
		if r.status != 404 || problemType(t, r) != "not-found" {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
		checkHeaders(t, r.header)
	}
	if r := b.do("DELETE", "/console/", nil); r.status != 405 {
		t.Errorf("DELETE /console/: %d", r.status)
	}
	// Traversal, over raw HTTP (Go's client would clean the path).
	for _, target := range []string{"/console/assets/../../go.mod", "/console/assets/%2e%2e/%2e%2e/go.mod", "/console/assets/..%2f..%2fgo.mod",
		"/console/assets//etc/passwd", "/console/api/../v1/audit", "/console/api/v1/../../console/session", "/console/assets/.%2findex.html"} {
		r, err := env.Raw("hmrc", env.RawRequest("GET", target, nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 400 && r.Status != 404 || strings.Contains(string(r.Body), "module github.com") {
			t.Errorf("%s: %d %s", target, r.Status, r.Body)
		}
	}
}
