package console_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// fakeIdP is an agency's OpenID Connect provider as the console sees it:
// /authorize answers at once with a code (the officer "signed in"),
// /token checks the client secret, the redirect URI and the PKCE
// verifier and answers with an access token minted by mint and an ID
// token carrying the authorization request's nonce (or idNonce).
type fakeIdP struct {
	srv     *httptest.Server
	mu      sync.Mutex
	auth    map[string]url.Values
	mint    func() string
	idNonce string
	secret  string
	seen    url.Values // the last authorization request
}

func newFakeIdP(t *testing.T) *fakeIdP {
	f := &fakeIdP{auth: map[string]url.Values{}, secret: "s3cret"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		f.seen = q
		code := "code-" + q.Get("state")[:8]
		f.auth[code] = q
		f.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		_ = r.ParseForm()
		f.mu.Lock()
		q := f.auth[r.PostForm.Get("code")]
		delete(f.auth, r.PostForm.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if q == nil || id != "liaison-gw" || secret != f.secret || r.PostForm.Get("redirect_uri") != q.Get("redirect_uri") ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		nonce := q.Get("nonce")
		if f.idNonce != "" {
			nonce = f.idNonce
		}
		idt, _ := jwt.NewBuilder().Subject("ds-7").Audience([]string{"liaison-gw"}).Expiration(time.Now().Add(time.Hour)).Claim("nonce", nonce).Build()
		signed, _ := jwt.Sign(idt, jwt.WithKey(jwa.HS256, []byte("unchecked-over-tls")))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": f.mint(), "token_type": "Bearer", "expires_in": 3600, "id_token": string(signed)})
	})
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// TestProductionIdP: sign-in at a configured provider (PKCE, client
// secret, nonce); a token of another agency than the certificate's, an ID
// token with another nonce and an invalid token are refused and audited.
func TestProductionIdP(t *testing.T) {
	idp := newFakeIdP(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(idp.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true,
		BuildOptions: []gateway.Option{gateway.WithConsoleHTTPClient(idp.srv.Client())},
		Configure: func(c *config.Config) {
			c.Console.IdentityProviders = []config.IdentityProvider{{Agency: "met-police", AuthorizationEndpoint: idp.srv.URL + "/authorize",
				TokenEndpoint: idp.srv.URL + "/token", ClientID: "liaison-gw", ClientSecretFile: secretFile, Scopes: []string{"openid", "profile"}}}
		}})
	b := newBrowser(t, env, "met-police")
	tr := b.c.Transport.(*http.Transport)
	tr.TLSClientConfig.RootCAs.AddCert(idp.srv.Certificate())
	tr.TLSClientConfig.ServerName = "" // from each URL: the gateway is localhost, the provider 127.0.0.1
	officer := jose.Officer{ID: "ds-7", Clearance: "SC", Roles: []string{"dpo"}}

	try := func() resp {
		jar, _ := cookiejar.New(nil)
		b.c.Jar = jar
		return b.do("GET", "/console/login", nil)
	}
	idp.mint = func() string { return env.OfficerToken("met-police", officer, time.Hour) }
	if r := try(); r.status != 200 || r.url.Path != "/console/" {
		t.Fatalf("sign-in: %d at %s: %s", r.status, r.url, r.body)
	}
	if q := idp.seen; q.Get("code_challenge_method") != "S256" || q.Get("response_type") != "code" || q.Get("scope") != "openid profile" ||
		len(q.Get("nonce")) < 43 || len(q.Get("state")) < 43 || !strings.HasSuffix(q.Get("redirect_uri"), "/console/callback") {
		t.Fatalf("authorization request: %v", q)
	}
	if s := b.session(); s.Officer != "ds-7" || s.Agency != "met-police" {
		t.Fatalf("session %+v", s)
	}

	for _, c := range []struct {
		name, slug string
		status     int
		setup      func()
	}{
		{"another agency's token", "wrong-agency", 403, func() { idp.mint = func() string { return env.OfficerToken("rocu-nw", officer, time.Hour) } }},
		{"expired token", "invalid-officer-token", 401, func() {
			idp.mint = func() string {
				key, err := jose.LoadPrivateJWK(env.Fed.OfficerKeyFile("met-police"))
				if err != nil {
					t.Fatal(err)
				}
				tok, err := jose.IssueOfficerToken(key, "met-police", env.Cfg.Officers.Audience, officer, time.Minute, jose.WithIssuedAt(time.Now().Add(-time.Hour)))
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
		}},
		{"another sign-in's nonce", "invalid-id-token", 401, func() {
			idp.mint = func() string { return env.OfficerToken("met-police", officer, time.Hour) }
			idp.idNonce = strings.Repeat("n", 43)
		}},
	} {
		c.setup()
		r := try()
		if r.status != c.status || problemType(t, r) != c.slug {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
		if r := b.do("GET", "/console/session", nil); r.status != 401 {
			t.Errorf("%s: a session exists: %d", c.name, r.status)
		}
	}
	var refused int
	for _, ev := range env.Audit() {
		if ev.Action == "console.signin" && ev.Operation == "denial" && ev.Agency == "met-police" {
			refused++
			for _, secret := range []string{idp.secret, "code-"} {
				if strings.Contains(ev.Error, secret) {
					t.Errorf("audit entry holds a secret: %+v", ev)
				}
			}
		}
	}
	if refused != 3 {
		t.Fatalf("%d refused sign-ins audited, want 3", refused)
	}
}
