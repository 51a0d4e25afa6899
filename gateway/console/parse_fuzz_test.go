package console

import (
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzParseCallback: the callback's query (the IdP redirect, attacker-
// controlled) never panics, and what is accepted is bounded printable
// ASCII with a state and a code or an error.
func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{"code=a&state=b", "state=b&error=access_denied", "code=a&code=b&state=c", "state=%zz", "code=%00&state=x", "", "state=" + strings.Repeat("x", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		cp, err := parseCallback(q)
		if err != nil {
			return
		}
		if cp.state == "" || cp.code == "" && cp.idpError == "" {
			t.Fatalf("accepted %q without state and code or error", q)
		}
		for _, v := range []string{cp.state, cp.code, cp.idpError} {
			if len(v) > maxParamLen || !visibleASCII(v) {
				t.Fatalf("accepted %q: %q", q, v)
			}
		}
	})
}

// FuzzCookieKey: a session cookie's value decodes only from exactly 32
// bytes of unpadded base64url.
func FuzzCookieKey(f *testing.F) {
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("A", 42) + "B")
	f.Add("%%%")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		_, ok := cookieKey(v)
		if !ok {
			return
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(v)
		if err != nil || len(b) != 32 || base64.RawURLEncoding.EncodeToString(b) != v {
			t.Fatalf("accepted %q", v)
		}
	})
}

// FuzzCheckIDToken: the token endpoint's ID token never panics the
// console, and is accepted only with this sign-in's nonce and client id.
func FuzzCheckIDToken(f *testing.F) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	f.Add("h." + enc(`{"sub":"o","aud":"c","nonce":"n","exp":99999999999}`) + ".s")
	f.Add("h." + enc(`{"sub":"o","aud":["c","d"],"nonce":"n","exp":99999999999}`) + ".s")
	f.Add("h." + enc(`{"sub":1}`) + ".s")
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, raw string) {
		cl, err := checkIDToken(raw, "c", "n", time.Unix(1_700_000_000, 0))
		if err == nil && (cl.Nonce != "n" || cl.Sub == "") {
			t.Fatalf("accepted %q: %+v", raw, cl)
		}
	})
}

// FuzzReadAuthz: the dev IdP's authorization request (query or form,
// attacker-controlled) never panics, and is accepted only for the
// console's client, its callback on this host and PKCE S256.
func FuzzReadAuthz(f *testing.F) {
	f.Add("response_type=code&client_id=liaison-console&redirect_uri=https%3A%2F%2Fgw%2Fconsole%2Fcallback&state=s&nonce=n&code_challenge_method=S256&code_challenge=" + strings.Repeat("A", 43))
	f.Add("response_type=code&response_type=code")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		r := httptest.NewRequest("GET", "https://gw/dev-idp/authorize", nil)
		a, err := readAuthz(r, v)
		if err != nil {
			return
		}
		if a.Redirect != "https://gw/console/callback" || len(a.Challenge) != 43 || a.State == "" || a.Nonce == "" ||
			v.Get("client_id") != devClientID || v.Get("code_challenge_method") != "S256" {
			t.Fatalf("accepted %q: %+v", q, a)
		}
	})
}
