// Package console is the gateway's web console (docs/console.md): the
// embedded application under /console/ on the agency listener, the
// officer's sign-in at the agency's identity provider (OpenID Connect
// authorization code with PKCE, state and nonce), the in-memory sessions
// bound to the browser's client certificate, the CSRF checks, the strict
// security headers, the development identity provider (/dev-idp/, dev
// only), and /console/api/, which hands each call to the agency API's own
// handler with the session's officer token, so that the policy decides and
// the audit log records exactly as for any API client.
//
// Nothing here decides access to data: the console only turns a browser
// session into the same two credentials an API client presents (the
// client certificate, which the TLS layer checked, and an officer token,
// which the API verifies again on every call).
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
)

// embedded is the front end (helper-free: plain ES modules, CSS, HTML).
//
//go:embed assets
var embedded embed.FS

// Verifier checks an officer token as the API does (crypto/jose
// OfficerVerifier: the agency's keys, issuer, audience, expiry, binding).
type Verifier interface {
	Verify(ctx context.Context, raw, agencyID, certThumbprint string, now time.Time) (jose.Officer, error)
}

// Options are what the console needs from the gateway.
type Options struct {
	Config      config.ConsoleConfig
	GatewayID   string
	TrustDomain string
	// Audience is officers.audience: the dev IdP's tokens name it.
	Audience string
	// Verifier verifies the access token at sign-in (nil: no officer
	// tokens, so no sign-in).
	Verifier Verifier
	// Beside wraps the console's own endpoints in the API's outer layers
	// (httpapi.Server.Beside); Handled marks a response as the handler's
	// (httpapi.Server.Handled). nil: identity (unit tests).
	Beside, Handled func(http.Handler) http.Handler
	// Audit appends a complete entry (audit.Writer.Append).
	Audit func(ctx context.Context, ev *audit.Event) error
	// DevKey returns an agency's dev officer-token signing key (dev IdP).
	DevKey func(agency string) (DevSigner, error)
	Now    func() time.Time
	Log    *zap.Logger
	// Assets replaces the embedded front end (tests).
	Assets fs.FS
	// HTTPClient calls production token endpoints (nil: 10 s timeout).
	HTTPClient *http.Client
}

// Console serves the console. Build with New, mount with Wrap.
type Console struct {
	o        Options
	assets   fs.FS
	sessions *sessions
	logins   *pendingLogins
	dev      *devIdP
	idps     map[string]*provider
}

// New builds the console. A production identity provider whose client
// secret cannot be read is an error: the gateway does not start with a
// sign-in that would fail at the first officer.
func New(o Options) (*Console, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Beside == nil {
		o.Beside = func(h http.Handler) http.Handler { return h }
	}
	if o.Handled == nil {
		o.Handled = func(h http.Handler) http.Handler { return h }
	}
	if o.Audit == nil {
		return nil, errors.New("console: an audit writer is required")
	}
	c := &Console{o: o, assets: o.Assets,
		sessions: newSessions(o.Config.MaxSessions, o.Config.IdleTimeout, o.Config.SessionLifetime),
		logins:   newPendingLogins(maxPendingLogins)}
	if c.assets == nil {
		sub, err := fs.Sub(embedded, "assets")
		if err != nil {
			return nil, err
		}
		c.assets = sub
	}
	if o.Config.DevIdP {
		if o.DevKey == nil {
			return nil, errors.New("console: the dev identity provider needs the agencies' dev keys")
		}
		c.dev = newDevIdP(c)
	}
	var err error
	if c.idps, err = c.providers(); err != nil {
		return nil, err
	}
	return c, nil
}

// Wrap returns the agency listener's handler: the console's paths served
// here, everything else by apiH (the agency API).
func (c *Console) Wrap(apiH http.Handler) http.Handler {
	own := c.o.Beside(http.HandlerFunc(c.serveOwn))
	proxy := c.o.Handled(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serveAPI(w, r, apiH) }))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, apiPrefix):
			proxy.ServeHTTP(w, r)
		case p == "/console" || strings.HasPrefix(p, "/console/"), c.dev != nil && strings.HasPrefix(p, devPrefix):
			own.ServeHTTP(w, r)
		default:
			apiH.ServeHTTP(w, r)
		}
	})
}

const (
	apiPrefix = "/console/api/"
	devPrefix = "/dev-idp/"
	// csp is the Content-Security-Policy of every console response
	// (docs/console.md): no inline script or style, nothing from elsewhere.
	csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	headerCSRF = "Liaison-CSRF"
)

// securityHeaders go on every console response, errors included.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
}

// serveOwn routes the console's own endpoints and the dev IdP.
func (c *Console) serveOwn(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	p := r.URL.Path
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case p == "/console":
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	case strings.HasPrefix(p, devPrefix):
		c.dev.serve(w, r)
	case p == "/console/login" && get:
		c.login(w, r)
	case p == "/console/callback" && get:
		c.callback(w, r)
	case p == "/console/session" && get:
		c.sessionInfo(w, r)
	case p == "/console/logout" && r.Method == http.MethodPost:
		c.logout(w, r)
	case p == "/console/login" || p == "/console/callback" || p == "/console/session" || p == "/console/logout":
		w.Header().Set("Allow", map[bool]string{true: "POST", false: "GET, HEAD"}[p == "/console/logout"])
		writeProblem(w, r, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "this console endpoint does not take "+r.Method)
	case get:
		c.static(w, r)
	default:
		writeProblem(w, r, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "console files are read with GET")
	}
}

// contentTypes are the only files served: anything else in assets/ is
// not (a 404), so no file is ever sniffed or served as something else.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".json":  "application/json",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
}

// static serves the application shell at /console/ and its files at
// /console/assets/…; the embedded files only, by an fs.ValidPath name.
func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := ""
	switch p := r.URL.Path; {
	case p == "/console/":
		name = "index.html"
	case strings.HasPrefix(p, "/console/assets/"):
		name = strings.TrimPrefix(p, "/console/assets/")
	}
	ctype, known := contentTypes[path.Ext(name)]
	if name == "" || !fs.ValidPath(name) || !known || strings.Contains(name, "\\") {
		writeProblem(w, r, http.StatusNotFound, "not-found", "Not found", "no such console page or file")
		return
	}
	b, err := fs.ReadFile(c.assets, name)
	if err != nil {
		writeProblem(w, r, http.StatusNotFound, "not-found", "Not found", "no such console page or file")
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	// The files change only with the binary; a revalidation each time is
	// cheap and never serves an old module beside a new one.
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// writeProblem answers an RFC 9457 problem, as the API does.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, slug, title, detail string) {
	p := api.Problem{Type: api.ProblemTypeBase + slug, Title: title, Status: status, Detail: detail,
		RequestID: w.Header().Get("Liaison-Request-Id")}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		// Not a bearer challenge: the console signs in at /console/login.
		w.Header().Set("WWW-Authenticate", `Cookie realm="liaison-console"`)
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(&p)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// peer is who is on the other end of the TLS connection: the verified
// client certificate's agency, fingerprint and RFC 8705 thumbprint.
type peer struct {
	agency, certFP, thumb string
}

// clientCert reads the connection's verified client certificate. The
// agency listener refuses a handshake without one; a request without one
// here is a test or a misconfiguration, answered 401.
func (c *Console) clientCert(r *http.Request) (peer, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return peer{}, errors.New("no verified client certificate")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	agency, err := pki.AgencyFromCert(leaf, c.o.TrustDomain)
	if err != nil {
		return peer{}, err
	}
	return peer{agency: agency, certFP: pki.CertFingerprint(leaf), thumb: pki.CertThumbprintS256(leaf)}, nil
}

// origin is the console's own origin as this request reached it.
func origin(r *http.Request) string { return "https://" + r.Host }

// sameOrigin applies the browser-side checks every state-changing request
// passes: Origin, when sent, is the console's own; Sec-Fetch-Site, when
// sent, is same-origin. (Liaison-CSRF is checked against the session.)
//
// "Origin: null" is what a browser sends on a POST from a page served with
// Referrer-Policy: no-referrer (every console page, the dev identity
// provider's form included; Fetch, "append a request Origin header"). It
// names no other origin, so it is accepted when, and only when, the
// browser also says Sec-Fetch-Site: same-origin — a header no page can set.
func sameOrigin(r *http.Request) error {
	site := r.Header.Values("Sec-Fetch-Site")
	if len(site) > 1 || len(site) == 1 && site[0] != "same-origin" {
		return errors.New("the request was not sent by the console's own page (Sec-Fetch-Site)")
	}
	o := r.Header.Values("Origin")
	switch {
	case len(o) == 0:
	case len(o) > 1:
		return errors.New("the request has more than one Origin")
	case o[0] == "null" && len(site) == 1:
	case o[0] != origin(r):
		return errors.New("the request's Origin is not the console's")
	}
	return nil
}

// audit writes a console entry: sign-in, sign-out, a refused sign-in or
// session. Never a token, code, state or cookie value.
func (c *Console) audit(r *http.Request, w http.ResponseWriter, ev *audit.Event) error {
	ev.Time = c.o.Now().UTC()
	ev.Gateway = c.o.GatewayID
	ev.RequestID = w.Header().Get("Liaison-Request-Id")
	if ev.RequestID == "" {
		ev.RequestID = audit.NewRequestID()
		w.Header().Set("Liaison-Request-Id", ev.RequestID)
	}
	ev.Method = r.Method
	if ev.Route == "" {
		ev.Route = r.URL.Path
		if strings.HasPrefix(ev.Route, apiPrefix) {
			ev.Route = apiPrefix + "…"
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	err := c.o.Audit(ctx, ev)
	if err != nil {
		c.o.Log.Error("console: audit write failed", zap.String("action", ev.Action), zap.String("request_id", ev.RequestID), zap.Error(err))
	}
	return err
}

// refuse audits a refused sign-in or session use and answers the problem.
// If the entry cannot be written the answer is 503: an unaudited refusal
// is not final.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, p peer, action string, status int, slug, title, detail string) {
	ev := &audit.Event{Operation: audit.OpDenial, Action: action, Status: status, Agency: p.agency, CertFingerprint: p.certFP,
		Error: slug + ": " + detail}
	if err := c.audit(r, w, ev); err != nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "the audit log is unavailable; try again")
		return
	}
	writeProblem(w, r, status, slug, title, detail)
}

// Audited console actions.
const (
	actionSignIn  = "console.signin"
	actionSignOut = "console.signout"
	actionSession = "console.session"
	actionDevIdP  = "console.dev_idp"
)
