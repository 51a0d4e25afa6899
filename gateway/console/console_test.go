package console_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// browser is an HTTP client acting as a browser holding agency's client
// certificate: a cookie jar, redirects followed.
type browser struct {
	t      *testing.T
	env    *gatewaytest.Env
	agency string
	c      *http.Client
}

func newBrowser(t *testing.T, env *gatewaytest.Env, agency string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return withJar(t, env, agency, jar)
}

func withJar(t *testing.T, env *gatewaytest.Env, agency string, jar http.CookieJar) *browser {
	t.Helper()
	cfg, err := env.Fed.ClientTLSConfig(agency, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, env: env, agency: agency,
		c: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}}
}

type resp struct {
	status int
	header http.Header
	body   []byte
	url    *url.URL
}

func (b *browser) do(method, path string, body io.Reader, hdr ...string) resp {
	b.t.Helper()
	u := path
	if !strings.HasPrefix(path, "https://") {
		u = b.env.URL + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	data, _ := io.ReadAll(r.Body)
	return resp{status: r.StatusCode, header: r.Header, body: data, url: r.Request.URL}
}

var (
	formRe  = regexp.MustCompile(`(?s)<form method="post" action="/dev-idp/authorize">(.*?)</form>`)
	inputRe = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
)

// signIn runs the whole sign-in as a browser does: /console/login, the
// dev identity provider's page, the officer's button, the callback, the
// shell.
func (b *browser) signIn(officer string) *api.ConsoleSession {
	b.t.Helper()
	page := b.do("GET", "/console/login", nil)
	if page.status != 200 || !strings.Contains(string(page.body), "<h1>Dev identity provider</h1>") {
		b.t.Fatalf("login → %d at %s: %s", page.status, page.url, page.body)
	}
	checkHeaders(b.t, page.header)
	var form url.Values
	for _, f := range formRe.FindAllStringSubmatch(string(page.body), -1) {
		v := url.Values{}
		for _, in := range inputRe.FindAllStringSubmatch(f[1], -1) {
			v.Set(in[1], html.UnescapeString(in[2]))
		}
		if v.Get("officer") == officer && strings.Contains(f[1], "Sign in as "+officer+"</button>") {
			form = v
		}
	}
	if form == nil {
		b.t.Fatalf("no button \"Sign in as %s\" on the dev IdP page: %s", officer, page.body)
	}
	shell := b.do("POST", "/dev-idp/authorize", strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", "null", "Sec-Fetch-Site", "same-origin") // as Chromium sends it from a no-referrer page
	if shell.status != 200 || shell.url.Path != "/console/" {
		b.t.Fatalf("sign-in ended with %d at %s: %s", shell.status, shell.url, shell.body)
	}
	return b.session()
}

func (b *browser) session() *api.ConsoleSession {
	b.t.Helper()
	r := b.do("GET", "/console/session", nil)
	if r.status != 200 {
		b.t.Fatalf("session: %d %s", r.status, r.body)
	}
	var s api.ConsoleSession
	if err := api.Decode(r.body, &s); err != nil {
		b.t.Fatalf("session: %v: %s", err, r.body)
	}
	return &s
}

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func checkHeaders(t *testing.T, h http.Header) {
	t.Helper()
	if got := h.Get("Content-Security-Policy"); got != wantCSP {
		t.Errorf("CSP = %q", got)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("security headers missing: %v", h)
	}
}

func problemType(t *testing.T, r resp) string {
	t.Helper()
	var p api.Problem
	if err := json.Unmarshal(r.body, &p); err != nil || p.Status != r.status {
		t.Fatalf("not a problem (%d): %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("problem Content-Type %q", ct)
	}
	return strings.TrimPrefix(p.Type, api.ProblemTypeBase)
}

// TestSignInFlow: the whole sign-in over mutual TLS with the dev identity
// provider; the session names the officer of the certificate's agency;
// a console API call is the API's call with the officer's token (same
// decision as the API, audited with the officer); sign-out ends it.
func TestSignInFlow(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	b := newBrowser(t, env, "met-police")
	s := b.signIn("dev-auditor")
	if s.Agency != "met-police" || s.Officer != "dev-auditor" || len(s.Roles) != 1 || s.Roles[0] != "auditor" || len(s.CSRFToken) != 43 {
		t.Fatalf("session %+v", s)
	}
	if !s.IdleExpiresAt.After(env.Now()) || s.IdleExpiresAt.After(s.ExpiresAt) {
		t.Fatalf("idle expiry %v, absolute %v", s.IdleExpiresAt, s.ExpiresAt)
	}
	// The session cookie is what the contract says.
	u, _ := url.Parse(env.URL)
	var found bool
	for _, c := range b.c.Jar.Cookies(u) {
		found = found || c.Name == "__Host-liaison-console"
	}
	if !found {
		t.Fatal("no session cookie in the jar")
	}

	// The audit log through the console is the API's audit log with the
	// officer's token: same status as the API with a token for the same
	// officer, and an entry naming the officer.
	r := b.do("GET", "/console/api/v1/audit?limit=5", nil)
	checkHeaders(t, r.header)
	tok := env.OfficerToken("met-police", jose.Officer{ID: "dev-auditor", Clearance: "SC", Vetting: "NPPV3", Nationality: "GBR", Roles: []string{"auditor"}}, time.Hour)
	direct := env.Client("met-police").WithToken(tok).MustDo("GET", "/v1/audit?limit=5", nil)
	if r.status != 200 || direct.Status != r.status {
		t.Fatalf("console audit %d, API %d: %s", r.status, direct.Status, r.body)
	}
	// An analyst is refused by the policy exactly as through the API.
	an := newBrowser(t, env, "met-police")
	an.signIn("dev-analyst")
	ra := an.do("GET", "/console/api/v1/audit", nil)
	if ra.status != 403 || problemType(t, ra) != "denied" || !strings.Contains(string(ra.body), "auditor_required") {
		t.Fatalf("analyst audit: %d %s", ra.status, ra.body)
	}
	var sawConsoleCall, sawSignIn bool
	reqID := ra.header.Get("Liaison-Request-Id")
	for _, ev := range env.Audit() {
		if ev.RequestID == reqID && ev.Officer == "dev-analyst" && ev.Action == "audit.query" && ev.Route == "/v1/audit" &&
			ev.Decision != nil && !ev.Decision.Allow && ev.Agency == "met-police" {
			sawConsoleCall = true
		}
		if ev.Action == "console.signin" && ev.Officer == "dev-auditor" && ev.Agency == "met-police" && ev.CertFingerprint != "" {
			sawSignIn = true
		}
		if strings.Contains(ev.Error, s.CSRFToken) {
			t.Fatalf("an audit entry holds the CSRF token: %+v", ev)
		}
	}
	if !sawConsoleCall || !sawSignIn {
		t.Fatalf("audit: console call %v, sign-in %v", sawConsoleCall, sawSignIn)
	}

	// Sign-out needs the CSRF header; then the session is gone.
	if r := b.do("POST", "/console/logout", nil); r.status != 403 || problemType(t, r) != "csrf" {
		t.Fatalf("logout without CSRF: %d %s", r.status, r.body)
	}
	if r := b.do("POST", "/console/logout", nil, "Liaison-CSRF", s.CSRFToken); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := b.do("GET", "/console/session", nil); r.status != 401 {
		t.Fatalf("session after logout: %d %s", r.status, r.body)
	}
	if r := b.do("GET", "/console/api/v1/audit", nil); r.status != 401 {
		t.Fatalf("API after logout: %d %s", r.status, r.body)
	}
}
