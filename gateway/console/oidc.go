package console

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/audit"
)

// loginCookie carries the sign-in's state from /console/login to
// /console/callback. SameSite=Lax, not Strict: the identity provider
// sends the browser back with a top-level GET from its own site, on which
// a Strict cookie is not sent, and the state check would then refuse
// every sign-in. Lax sends it on exactly that (a top-level GET) and on no
// cross-site subrequest or POST. It holds only the random state (the PKCE
// verifier and nonce stay in the gateway), lives 10 minutes, and is
// cleared by the callback. __Host-: HTTPS only, this host, Path=/.
const loginCookie = "__Host-liaison-login"

const (
	loginTTL         = 10 * time.Minute
	maxPendingLogins = 10000
	// Bounds on what the callback reads from the query (untrusted).
	maxParamLen = 2048
)

// pending is a sign-in started by /console/login, waiting for its callback.
type pending struct {
	state, verifier, nonce string
	certFP, agency         string
	redirect               string
	expires                time.Time
}

// pendingLogins are bounded: when full, the oldest is dropped (its
// callback then fails with bad state and the officer starts again).
type pendingLogins struct {
	mu    sync.Mutex
	m     map[string]*pending
	order []string
	max   int
}

func newPendingLogins(max int) *pendingLogins {
	return &pendingLogins{m: map[string]*pending{}, max: max}
}

func (l *pendingLogins) add(p *pending) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.m) >= l.max && len(l.order) > 0 {
		delete(l.m, l.order[0])
		l.order = l.order[1:]
	}
	l.m[p.state] = p
	l.order = append(l.order, p.state)
	if len(l.order) > 2*l.max { // compact the ids of logins already taken
		l.order = slices.DeleteFunc(l.order, func(s string) bool { return l.m[s] == nil })
	}
}

// take removes and returns the pending login of state: single use, even
// when the callback then fails.
func (l *pendingLogins) take(state string, now time.Time) *pending {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.m[state]
	delete(l.m, state)
	if p == nil || !now.Before(p.expires) {
		return nil
	}
	return p
}

// provider is one agency's identity provider as the OAuth 2.0 client sees
// it (golang.org/x/oauth2 builds the authorization URL with PKCE and
// performs the code exchange).
type provider struct {
	conf oauth2.Config
	// client calls the token endpoint.
	client *http.Client
	// dev: the dev identity provider on this listener (its authorize URL
	// is on the host the browser used).
	dev bool
}

func (c *Console) providers() (map[string]*provider, error) {
	out := map[string]*provider{}
	client := c.o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	for _, ip := range c.o.Config.IdentityProviders {
		secret := ""
		style := oauth2.AuthStyleInParams
		if ip.ClientSecretFile != "" {
			b, err := os.ReadFile(ip.ClientSecretFile)
			if err != nil {
				return nil, fmt.Errorf("console: identity provider of %s: client secret: %w", ip.Agency, err)
			}
			secret, style = strings.TrimSpace(string(b)), oauth2.AuthStyleInHeader
		}
		scopes := ip.Scopes
		if len(scopes) == 0 {
			scopes = []string{"openid"}
		}
		out[ip.Agency] = &provider{client: client, conf: oauth2.Config{ClientID: ip.ClientID, ClientSecret: secret, Scopes: scopes,
			Endpoint: oauth2.Endpoint{AuthURL: ip.AuthorizationEndpoint, TokenURL: ip.TokenEndpoint, AuthStyle: style}}}
	}
	return out, nil
}

// providerFor is the agency's configured provider, else the dev one.
func (c *Console) providerFor(agency string, r *http.Request) *provider {
	if p, ok := c.idps[agency]; ok {
		return p
	}
	if c.dev != nil {
		return &provider{dev: true, client: c.dev.client(), conf: oauth2.Config{ClientID: devClientID, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{AuthURL: origin(r) + devPrefix + "authorize", TokenURL: devTokenURL, AuthStyle: oauth2.AuthStyleInParams}}}
	}
	return nil
}

// login is GET /console/login: a new state, nonce and PKCE verifier, the
// login cookie, and a 302 to the agency's identity provider.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	p, err := c.clientCert(r)
	if err != nil {
		writeProblem(w, r, http.StatusUnauthorized, "no-client-certificate", "Client certificate required", "connect with your agency's client certificate")
		return
	}
	prov := c.providerFor(p.agency, r)
	if prov == nil || c.o.Verifier == nil {
		c.refuse(w, r, p, actionSignIn, http.StatusNotFound, "no-identity-provider", "No identity provider",
			"agency "+p.agency+" has no identity provider configured for the console (console.identity_providers)")
		return
	}
	pl := &pending{state: randomToken(), nonce: randomToken(), verifier: oauth2.GenerateVerifier(), certFP: p.certFP, agency: p.agency,
		redirect: origin(r) + "/console/callback", expires: c.o.Now().Add(loginTTL)}
	c.logins.add(pl)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: pl.state, Path: "/", MaxAge: int(loginTTL / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	conf := prov.conf
	conf.RedirectURL = pl.redirect
	http.Redirect(w, r, conf.AuthCodeURL(pl.state, oauth2.S256ChallengeOption(pl.verifier), oauth2.SetAuthURLParam("nonce", pl.nonce)), http.StatusFound)
}

// callbackParams are what the identity provider sends back.
type callbackParams struct {
	code, state string
	// idpError is the provider's error code (RFC 6749 4.1.2.1), if any.
	idpError string
}

// parseCallback reads the callback's query strictly: each parameter at
// most once, bounded, printable ASCII; code and state, or error.
func parseCallback(rawQuery string) (callbackParams, error) {
	var cp callbackParams
	if len(rawQuery) > 4*maxParamLen {
		return cp, errors.New("the query is too long")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return cp, errors.New("the query is not a valid URL query")
	}
	get := func(name string) (string, error) {
		v := q[name]
		if len(v) > 1 {
			return "", fmt.Errorf("%s is given more than once", name)
		}
		if len(v) == 0 {
			return "", nil
		}
		if len(v[0]) > maxParamLen || !visibleASCII(v[0]) {
			return "", fmt.Errorf("%s must be at most %d printable ASCII characters", name, maxParamLen)
		}
		return v[0], nil
	}
	if cp.state, err = get("state"); err != nil {
		return cp, err
	}
	if cp.code, err = get("code"); err != nil {
		return cp, err
	}
	if cp.idpError, err = get("error"); err != nil {
		return cp, err
	}
	if cp.state == "" {
		return cp, errors.New("state is required")
	}
	if cp.code == "" && cp.idpError == "" {
		return cp, errors.New("code is required")
	}
	return cp, nil
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// callback is GET /console/callback: the state checked against the login
// cookie and the pending sign-in (single use, same certificate), the code
// exchanged with the PKCE verifier, the ID token's nonce checked, the
// access token verified as the API verifies bearer tokens, and the session
// created. Every refusal is audited (never with the code or a token).
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	p, err := c.clientCert(r)
	if err != nil {
		writeProblem(w, r, http.StatusUnauthorized, "no-client-certificate", "Client certificate required", "connect with your agency's client certificate")
		return
	}
	// The login cookie is spent whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	cp, err := parseCallback(r.URL.RawQuery)
	if err != nil {
		c.refuse(w, r, p, actionSignIn, http.StatusBadRequest, "bad-callback", "Bad sign-in callback", err.Error())
		return
	}
	ck, cerr := r.Cookie(loginCookie)
	if cerr != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(cp.state)) != 1 {
		c.logins.take(cp.state, c.o.Now()) // spent: a state is tried once
		c.refuse(w, r, p, actionSignIn, http.StatusBadRequest, "bad-state", "Sign-in refused",
			"the sign-in's state does not match this browser's: start again at /console/login")
		return
	}
	pl := c.logins.take(cp.state, c.o.Now())
	switch {
	case pl == nil:
		c.refuse(w, r, p, actionSignIn, http.StatusBadRequest, "bad-state", "Sign-in refused",
			"the sign-in is unknown, already used or older than 10 minutes: start again at /console/login")
		return
	case pl.certFP != p.certFP:
		c.refuse(w, r, p, actionSignIn, http.StatusBadRequest, "bad-state", "Sign-in refused",
			"the sign-in was started with another client certificate")
		return
	case cp.idpError != "":
		c.refuse(w, r, p, actionSignIn, http.StatusUnauthorized, "idp-refused", "Sign-in refused",
			"the identity provider refused the sign-in: "+sanitize(cp.idpError, 64))
		return
	}
	prov := c.providerFor(p.agency, r)
	if prov == nil || c.o.Verifier == nil {
		c.refuse(w, r, p, actionSignIn, http.StatusNotFound, "no-identity-provider", "No identity provider", "agency "+p.agency+" has no identity provider")
		return
	}
	conf := prov.conf
	conf.RedirectURL = pl.redirect
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), oauth2.HTTPClient, prov.client), 15*time.Second)
	defer cancel()
	if prov.dev {
		ctx = withPeer(ctx, p)
	}
	tok, err := conf.Exchange(ctx, cp.code, oauth2.VerifierOption(pl.verifier))
	if err != nil {
		reason := "the identity provider did not exchange the code"
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			reason += ": " + sanitize(re.ErrorCode, 64)
		}
		c.o.Log.Warn("console: code exchange failed", zap.String("agency", p.agency), zap.String("reason", reason))
		c.refuse(w, r, p, actionSignIn, http.StatusBadGateway, "idp-exchange-failed", "Sign-in failed", reason)
		return
	}
	now := c.o.Now()
	idt, _ := tok.Extra("id_token").(string)
	claims, err := checkIDToken(idt, conf.ClientID, pl.nonce, now)
	if err != nil {
		c.refuse(w, r, p, actionSignIn, http.StatusUnauthorized, "invalid-id-token", "Sign-in refused", err.Error())
		return
	}
	o, err := c.o.Verifier.Verify(ctx, tok.AccessToken, p.agency, p.thumb, now)
	switch {
	case errors.Is(err, jose.ErrWrongAgency):
		c.refuse(w, r, p, actionSignIn, http.StatusForbidden, "wrong-agency", "Sign-in refused",
			"the officer token was issued by another agency than the client certificate's ("+p.agency+")")
		return
	case err != nil:
		c.refuse(w, r, p, actionSignIn, http.StatusUnauthorized, "invalid-officer-token", "Sign-in refused", err.Error())
		return
	case o.ID != claims.Sub:
		c.refuse(w, r, p, actionSignIn, http.StatusUnauthorized, "invalid-id-token", "Sign-in refused",
			"the ID token and the access token name different officers")
		return
	}
	// Signing in again replaces this browser's session, if any.
	if old, err := c.sessions.lookup(r, p, now); err == nil {
		c.sessions.remove(old.key)
	}
	id, x := c.sessions.create(p, o, tok.AccessToken, now)
	ev := &audit.Event{Operation: audit.OpConsultation, Action: actionSignIn, Status: http.StatusSeeOther,
		Agency: p.agency, Officer: o.ID, CertFingerprint: p.certFP}
	if err := c.audit(r, w, ev); err != nil {
		c.sessions.remove(x.key)
		writeProblem(w, r, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "the audit log is unavailable; sign in again later")
		return
	}
	setSessionCookie(w, id)
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// idClaims are the ID token claims the console checks.
type idClaims struct {
	Iss   string          `json:"iss"`
	Sub   string          `json:"sub"`
	Aud   json.RawMessage `json:"aud"`
	Nonce string          `json:"nonce"`
	Exp   float64         `json:"exp"`
}

// checkIDToken checks the ID token of the token response: its nonce is the
// one this sign-in sent, its audience the console's client id, it has not
// expired, and it names a subject. Its signature is not checked: it came
// straight from the token endpoint over TLS, which authenticates the
// issuer (OpenID Connect Core 3.1.3.7 item 6); the officer's identity and
// roles come from the access token, which is verified with the agency's
// keys like any bearer token.
func checkIDToken(raw, clientID, nonce string, now time.Time) (idClaims, error) {
	var cl idClaims
	if raw == "" {
		return cl, errors.New("the identity provider returned no ID token (request the openid scope)")
	}
	if len(raw) > 16<<10 {
		return cl, errors.New("the ID token is too long")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return cl, errors.New("the ID token is not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return cl, errors.New("the ID token's payload is not base64url")
	}
	if err := json.Unmarshal(payload, &cl); err != nil {
		return cl, errors.New("the ID token's claims are not a JSON object of the expected types")
	}
	var auds []string
	if err := json.Unmarshal(cl.Aud, &auds); err != nil {
		var one string
		if json.Unmarshal(cl.Aud, &one) != nil {
			return cl, errors.New("the ID token's aud is not a string or a list of strings")
		}
		auds = []string{one}
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(cl.Nonce), []byte(nonce)) != 1:
		return cl, errors.New("the ID token's nonce is not this sign-in's")
	case !slices.Contains(auds, clientID):
		return cl, errors.New("the ID token was not issued to this console")
	case cl.Sub == "":
		return cl, errors.New("the ID token names no subject")
	case cl.Exp == 0 || now.After(time.Unix(int64(cl.Exp), 0).Add(jose.DefaultSkew)):
		return cl, errors.New("the ID token has expired")
	}
	return cl, nil
}

// sanitize keeps an IdP-supplied word fit for a problem detail and the
// audit log: printable ASCII, bounded.
func sanitize(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if s[i] >= 0x21 && s[i] <= 0x7e {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
