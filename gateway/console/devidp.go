package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"

	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/audit"
)

// The development identity provider: /dev-idp/authorize shows the dev
// officers of the client certificate's agency, one button each, and
// /dev-idp/token exchanges a code for an officer token signed with the
// agency's dev officer-token key (the dev federation's), exactly the kind
// of token `liaison dev token` prints. It runs only with console.dev_idp,
// which the gateway accepts only over a dev federation PKI (gateway
// console wiring). The console reaches its token endpoint in-process.

// DevSigner is an agency's dev officer-token signing key (a private JWK).
type DevSigner = jwk.Key

// DevOfficer is one officer the dev identity provider signs in.
type DevOfficer struct {
	ID    string
	Roles []string
}

// DevOfficers are the dev officers of every dev agency (docs/console.md):
// clearance SC, vetting NPPV3, nationality GBR.
func DevOfficers() []DevOfficer {
	return []DevOfficer{
		{ID: "dev-analyst", Roles: []string{"analyst"}},
		{ID: "dev-auditor", Roles: []string{"auditor"}},
		{ID: "dev-dpo", Roles: []string{"dpo"}},
		{ID: "dev-security", Roles: []string{"security_officer"}},
		{ID: "dev-registry", Roles: []string{"registry_admin", "security_officer"}},
	}
}

func devOfficer(id string) (jose.Officer, bool) {
	for _, d := range DevOfficers() {
		if d.ID == id {
			return jose.Officer{ID: d.ID, Roles: d.Roles, Clearance: "SC", Vetting: "NPPV3", Nationality: "GBR"}, true
		}
	}
	return jose.Officer{}, false
}

const (
	devClientID = "liaison-console"
	// devTokenURL is never dialled: the console's client for the dev IdP
	// serves it in-process (devIdP.client).
	devTokenURL  = "https://dev-idp.invalid/dev-idp/token"
	devCodeTTL   = 60 * time.Second
	devTokenTTL  = time.Hour
	maxDevCodes  = 1000
	maxIdPFormSz = 16 << 10
)

type devCode struct {
	agency, thumb       string
	officer             jose.Officer
	challenge, redirect string
	nonce               string
	expires             time.Time
}

type devIdP struct {
	c     *Console
	mu    sync.Mutex
	codes map[string]*devCode
}

func newDevIdP(c *Console) *devIdP { return &devIdP{c: c, codes: map[string]*devCode{}} }

func (d *devIdP) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == devPrefix+"authorize" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		d.authorizePage(w, r)
	case r.URL.Path == devPrefix+"authorize" && r.Method == http.MethodPost:
		d.authorize(w, r)
	case r.URL.Path == devPrefix+"token" && r.Method == http.MethodPost:
		d.token(w, r)
	default:
		writeProblem(w, r, http.StatusNotFound, "not-found", "Not found", "no such dev identity provider endpoint")
	}
}

// authzParams are the authorization request's parameters.
type authzParams struct {
	State, Nonce, Challenge, Redirect string
}

// readAuthz checks an authorization request (query or form) as a strict
// provider would: the console's client id and callback on this host,
// response_type code, PKCE S256.
func readAuthz(r *http.Request, v url.Values) (authzParams, error) {
	one := func(k string) string {
		if len(v[k]) != 1 || len(v[k][0]) > maxParamLen || !visibleASCII(v[k][0]) {
			return ""
		}
		return v[k][0]
	}
	a := authzParams{State: one("state"), Nonce: one("nonce"), Challenge: one("code_challenge"), Redirect: one("redirect_uri")}
	switch {
	case one("response_type") != "code":
		return a, errors.New("response_type must be code")
	case one("client_id") != devClientID:
		return a, errors.New("client_id must be " + devClientID)
	case a.Redirect != origin(r)+"/console/callback":
		return a, errors.New("redirect_uri must be this console's /console/callback")
	case one("code_challenge_method") != "S256" || len(a.Challenge) != 43:
		return a, errors.New("PKCE is required: code_challenge_method S256 and a 43-character code_challenge")
	case a.State == "" || a.Nonce == "":
		return a, errors.New("state and nonce are required")
	}
	return a, nil
}

var devPage = template.Must(template.New("dev-idp").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev identity provider</title></head>
<body><main>
<h1>Dev identity provider</h1>
<p>Development only. Signing in to <strong>{{.Agency}}</strong> (the agency of your client certificate) as one of its dev officers (clearance SC, vetting NPPV3, nationality GBR):</p>
<ul>
{{- range .Officers}}
<li><form method="post" action="/dev-idp/authorize">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="client_id" value="{{$.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{$.Authz.Redirect}}">
<input type="hidden" name="state" value="{{$.Authz.State}}">
<input type="hidden" name="nonce" value="{{$.Authz.Nonce}}">
<input type="hidden" name="code_challenge" value="{{$.Authz.Challenge}}">
<input type="hidden" name="code_challenge_method" value="S256">
<input type="hidden" name="officer" value="{{.ID}}">
<button type="submit">Sign in as {{.ID}}</button> roles: {{range $i, $r := .Roles}}{{if $i}}, {{end}}{{$r}}{{end}}
</form></li>
{{- end}}
</ul>
</main></body></html>
`))

// authorizePage is GET /dev-idp/authorize.
func (d *devIdP) authorizePage(w http.ResponseWriter, r *http.Request) {
	p, err := d.c.clientCert(r)
	if err != nil {
		writeProblem(w, r, http.StatusUnauthorized, "no-client-certificate", "Client certificate required", "connect with your agency's client certificate")
		return
	}
	a, err := readAuthz(r, r.URL.Query())
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "bad-request", "Bad authorization request", err.Error())
		return
	}
	var buf bytes.Buffer
	if err := devPage.Execute(&buf, map[string]any{"Agency": p.agency, "Officers": DevOfficers(), "ClientID": devClientID, "Authz": a}); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "internal", "Internal error", "the page could not be drawn")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// authorize is POST /dev-idp/authorize: the officer chosen, a code bound
// to the PKCE challenge, redirect URI, nonce, agency and certificate, and
// a 303 back to the console's callback.
func (d *devIdP) authorize(w http.ResponseWriter, r *http.Request) {
	p, err := d.c.clientCert(r)
	if err != nil {
		writeProblem(w, r, http.StatusUnauthorized, "no-client-certificate", "Client certificate required", "connect with your agency's client certificate")
		return
	}
	if err := sameOrigin(r); err != nil {
		writeProblem(w, r, http.StatusForbidden, "csrf", "Cross-site request refused", err.Error())
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "bad-request", "Bad authorization request", err.Error())
		return
	}
	a, err := readAuthz(r, form)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "bad-request", "Bad authorization request", err.Error())
		return
	}
	o, ok := devOfficer(form.Get("officer"))
	if !ok || len(form["officer"]) != 1 {
		writeProblem(w, r, http.StatusBadRequest, "bad-request", "Bad authorization request", "officer must be one of the dev officers")
		return
	}
	o.Agency = p.agency
	code := randomToken()
	d.mu.Lock()
	now := d.c.o.Now()
	for k, v := range d.codes {
		if !now.Before(v.expires) {
			delete(d.codes, k)
		}
	}
	if len(d.codes) >= maxDevCodes {
		d.mu.Unlock()
		writeProblem(w, r, http.StatusServiceUnavailable, "busy", "Too many sign-ins", "too many sign-ins are in progress; try again in a minute")
		return
	}
	d.codes[code] = &devCode{agency: p.agency, thumb: p.thumb, officer: o, challenge: a.Challenge, redirect: a.Redirect, nonce: a.Nonce,
		expires: now.Add(devCodeTTL)}
	d.mu.Unlock()
	q := url.Values{"code": {code}, "state": {a.State}}
	http.Redirect(w, r, a.Redirect+"?"+q.Encode(), http.StatusSeeOther)
}

// readForm reads a bounded urlencoded body.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, errors.New("the body must be application/x-www-form-urlencoded")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxIdPFormSz))
	if err != nil {
		return nil, errors.New("the body is too large or unreadable")
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, errors.New("the body is not a valid form")
	}
	return v, nil
}

// tokenError is an RFC 6749 5.2 error answer.
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// token is POST /dev-idp/token: a code, used once within 60 s, by the
// client certificate it was issued to, with the same redirect URI and the
// PKCE verifier of its challenge, becomes an officer token bound to that
// certificate (RFC 8705 cnf) and an ID token carrying the nonce.
func (d *devIdP) token(w http.ResponseWriter, r *http.Request) {
	p, ok := peerFrom(r.Context())
	if !ok {
		var err error
		if p, err = d.c.clientCert(r); err != nil {
			tokenError(w, http.StatusUnauthorized, "invalid_client", "connect with your agency's client certificate")
			return
		}
	}
	form, err := readForm(w, r)
	if err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	one := func(k string) string {
		if len(form[k]) != 1 {
			return ""
		}
		return form[k][0]
	}
	if one("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	d.mu.Lock()
	code := d.codes[one("code")]
	delete(d.codes, one("code")) // single use, even when what follows fails
	d.mu.Unlock()
	now := d.c.o.Now()
	sum := sha256.Sum256([]byte(one("code_verifier")))
	switch {
	case code == nil || !now.Before(code.expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code is unknown, used or expired")
		return
	case code.agency != p.agency || code.thumb != p.thumb:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client certificate")
		return
	case one("redirect_uri") != code.redirect || one("client_id") != devClientID:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri or client_id differ from the authorization request's")
		return
	case subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(code.challenge)) != 1:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code_verifier does not match the code_challenge")
		return
	}
	key, err := d.c.o.DevKey(code.agency)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "the agency has no dev officer key")
		return
	}
	access, err := jose.IssueOfficerToken(key, code.agency, d.c.o.Audience, code.officer, devTokenTTL,
		jose.WithCertBinding(code.thumb), jose.WithIssuedAt(now))
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "the token could not be issued")
		return
	}
	idt, err := jwt.NewBuilder().Issuer(code.agency).Subject(code.officer.ID).Audience([]string{devClientID}).
		IssuedAt(now).Expiration(now.Add(devTokenTTL)).Claim("nonce", code.nonce).Build()
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "the ID token could not be issued")
		return
	}
	alg := jwa.ES256
	if a := key.Algorithm().String(); a != "" {
		alg = jwa.SignatureAlgorithm(a)
	}
	signed, err := jwt.Sign(idt, jwt.WithKey(alg, key))
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "the ID token could not be signed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer",
		"expires_in": int(devTokenTTL / time.Second), "id_token": string(signed), "scope": "openid"})
}

type peerKey struct{}

// withPeer tells the in-process token endpoint which client certificate
// the browser presented (there is no TLS connection in-process).
func withPeer(ctx context.Context, p peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

func peerFrom(ctx context.Context) (peer, bool) {
	p, ok := ctx.Value(peerKey{}).(peer)
	return p, ok
}

// client is the HTTP client the console exchanges codes with: the dev
// token endpoint served in-process, so the gateway does not connect to
// itself (it has no client certificate of an agency).
func (d *devIdP) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: inProcess(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != devPrefix+"token" {
			tokenError(w, http.StatusNotFound, "invalid_request", "no such endpoint")
			return
		}
		d.token(w, r)
	})}
}

type inProcess func(http.ResponseWriter, *http.Request)

func (f inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{h: http.Header{}, status: http.StatusOK}
	if req.Body == nil {
		req.Body = http.NoBody
	}
	f(rec, req)
	return &http.Response{StatusCode: rec.status, Status: http.StatusText(rec.status), Header: rec.h, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), ContentLength: int64(rec.body.Len()), Request: req}, nil
}

type recorder struct {
	h      http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(s int) {
	if !r.wrote {
		r.status, r.wrote = s, true
	}
}
func (r *recorder) Write(b []byte) (int, error) { r.wrote = true; return r.body.Write(b) }

// AuditDevIdP records that the dev identity provider is on (at start):
// anyone holding a dev agency's certificate can sign in as its officers.
func (c *Console) AuditDevIdP(ctx context.Context) error {
	ev := &audit.Event{Time: c.o.Now().UTC(), Gateway: c.o.GatewayID, RequestID: audit.NewRequestID(), Operation: audit.OpConsultation,
		Action: actionDevIdP, Route: "console:start", Status: http.StatusOK,
		Error: "the development identity provider is on: any holder of a dev agency certificate can sign in as its dev officers"}
	return c.o.Audit(ctx, ev)
}
