package console_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// codeFor signs in as officer up to the dev IdP's redirect and returns
// the callback URL (code and state) without following it.
func (b *browser) codeFor(officer string) *url.URL {
	b.t.Helper()
	var callback *url.URL
	b.c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/console/callback" {
			callback = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	defer func() { b.c.CheckRedirect = nil }()
	page := b.do("GET", "/console/login", nil)
	var form url.Values
	for _, f := range formRe.FindAllStringSubmatch(string(page.body), -1) {
		v := url.Values{}
		for _, in := range inputRe.FindAllStringSubmatch(f[1], -1) {
			v.Set(in[1], in[2])
		}
		if v.Get("officer") == officer {
			form = v
		}
	}
	if form == nil {
		b.t.Fatalf("no form for %s: %s", officer, page.body)
	}
	r := b.do("POST", "/dev-idp/authorize", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if callback == nil || r.status != http.StatusSeeOther {
		b.t.Fatalf("no redirect to the callback: %d %s", r.status, r.body)
	}
	return callback
}

// TestDevIdPCodes: a dev IdP code is single use, bound to the PKCE
// verifier, lives 60 seconds, and the sign-in it ends is bound to the
// certificate that started it.
func TestDevIdPCodes(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	b := newBrowser(t, env, "met-police")

	// A wrong verifier spends the code: the console's own exchange then fails.
	cb := b.codeFor("dev-dpo")
	tok := b.do("POST", "/dev-idp/token", strings.NewReader(url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {env.URL + "/console/callback"}, "client_id": {"liaison-console"}, "code_verifier": {strings.Repeat("v", 43)}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded")
	if tok.status != 400 || !strings.Contains(string(tok.body), "invalid_grant") {
		t.Fatalf("wrong verifier: %d %s", tok.status, tok.body)
	}
	if r := b.do("GET", cb.String(), nil); r.status != 502 || problemType(t, r) != "idp-exchange-failed" {
		t.Fatalf("spent code: %d %s", r.status, r.body)
	}

	// Replaying a used callback: the state is spent.
	cb = b.codeFor("dev-dpo")
	if r := b.do("GET", cb.String(), nil); r.status != 200 || r.url.Path != "/console/" {
		t.Fatalf("sign-in: %d %s", r.status, r.body)
	}
	if r := b.do("GET", cb.String(), nil); r.status != 400 || problemType(t, r) != "bad-state" {
		t.Fatalf("replayed callback: %d %s", r.status, r.body)
	}
	// Signing in again replaces the session: the old cookie is no session.
	u, _ := url.Parse(env.URL)
	oldJar, _ := cookiejar.New(nil)
	oldJar.SetCookies(u, b.c.Jar.Cookies(u))
	b.signIn("dev-auditor")
	if s := b.session(); s.Officer != "dev-auditor" {
		t.Fatalf("second sign-in: %+v", s)
	}
	if r := withJar(t, env, "met-police", oldJar).do("GET", "/console/session", nil); r.status != 401 {
		t.Fatalf("the replaced session still answers: %d %s", r.status, r.body)
	}

	// 61 seconds later the code has expired.
	cb = b.codeFor("dev-dpo")
	env.SetClock(time.Now().Add(61 * time.Second))
	if r := b.do("GET", cb.String(), nil); r.status != 502 {
		t.Fatalf("expired code: %d %s", r.status, r.body)
	}
	env.SetClock(time.Time{})

	// Started with one certificate, finished with another: refused.
	jar, _ := cookiejar.New(nil)
	met := withJar(t, env, "met-police", jar)
	cb = met.codeFor("dev-dpo")
	other := withJar(t, env, "rocu-nw", jar)
	if r := other.do("GET", cb.String(), nil); r.status != 400 || problemType(t, r) != "bad-state" {
		t.Fatalf("another certificate's callback: %d %s", r.status, r.body)
	}
	if r := other.do("GET", "/console/session", nil); r.status != 401 {
		t.Fatalf("session: %d", r.status)
	}
}
