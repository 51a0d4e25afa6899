package console_test

import (
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestBadInputRaw: hostile bytes Go's client would not send, over raw
// HTTP: each is a 4xx problem (checked against the contract by Raw) that
// creates no session, and none is a 5xx.
func TestBadInputRaw(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	long := strings.Repeat("a", 5000)
	cases := []struct {
		name, method, target string
		hdr                  []string
		body                 []byte
		want                 int
	}{
		{"callback without state", "GET", "/console/callback?code=x", nil, nil, 400},
		{"callback twice state", "GET", "/console/callback?code=x&state=a&state=b", []string{"Cookie: __Host-liaison-login=a"}, nil, 400},
		{"callback overlong code", "GET", "/console/callback?state=a&code=" + long, []string{"Cookie: __Host-liaison-login=a"}, nil, 400},
		{"callback control byte", "GET", "/console/callback?state=a&code=%00x", []string{"Cookie: __Host-liaison-login=a"}, nil, 400},
		{"callback bad escape", "GET", "/console/callback?state=%zz&code=x", nil, nil, 400},
		{"callback unknown state", "GET", "/console/callback?state=abc&code=x", []string{"Cookie: __Host-liaison-login=abc"}, nil, 400},
		{"callback state not the cookie's", "GET", "/console/callback?state=abc&code=x", []string{"Cookie: __Host-liaison-login=abd"}, nil, 400},
		{"callback IdP error", "GET", "/console/callback?state=abc&error=access_denied", []string{"Cookie: __Host-liaison-login=abc"}, nil, 400},
		{"session garbage cookie", "GET", "/console/session", []string{"Cookie: __Host-liaison-console=%%%"}, nil, 401},
		{"session short cookie", "GET", "/console/session", []string{"Cookie: __Host-liaison-console=AAAA"}, nil, 401},
		{"session two cookies", "GET", "/console/session", []string{"Cookie: __Host-liaison-console=" + strings.Repeat("A", 43) + "; __Host-liaison-console=" + strings.Repeat("B", 43)}, nil, 401},
		{"api without session", "GET", "/console/api/v1/audit", []string{"Authorization: Bearer x"}, nil, 401},
		{"api not v1", "GET", "/console/api/v2/audit", nil, nil, 400},
		{"logout by GET", "GET", "/console/logout", nil, nil, 405},
		{"login by POST", "POST", "/console/login", nil, []byte("x"), 405},
		{"dev idp no params", "GET", "/dev-idp/authorize", nil, nil, 400},
		{"dev idp no PKCE", "GET", "/dev-idp/authorize?response_type=code&client_id=liaison-console&redirect_uri=https%3A%2F%2Flocalhost%2Fconsole%2Fcallback&state=a&nonce=b", nil, nil, 400},
		{"dev idp form not urlencoded", "POST", "/dev-idp/authorize", []string{"Content-Type: application/json"}, []byte("{}"), 400},
		{"dev idp cross-origin post", "POST", "/dev-idp/authorize", []string{"Origin: https://evil.example", "Content-Type: application/x-www-form-urlencoded"}, []byte("officer=dev-dpo"), 403},
		{"dev idp null origin, no fetch metadata", "POST", "/dev-idp/authorize", []string{"Origin: null", "Content-Type: application/x-www-form-urlencoded"}, []byte("officer=dev-dpo"), 403},
		{"dev idp cross-site fetch", "POST", "/dev-idp/authorize", []string{"Sec-Fetch-Site: cross-site", "Content-Type: application/x-www-form-urlencoded"}, []byte("officer=dev-dpo"), 403},
		{"dev idp unknown path", "GET", "/dev-idp/nope", nil, nil, 404},
	}
	for _, c := range cases {
		r, err := env.Raw("met-police", env.RawRequest(c.method, c.target, c.hdr, c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Status != c.want || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %q %s", c.name, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		if r.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no CSP", c.name)
		}
		if strings.Contains(r.Header.Get("Set-Cookie"), "__Host-liaison-console=") && !strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("%s: a session cookie was set", c.name)
		}
	}
	// The dev token endpoint over the network, with garbage: RFC 6749
	// errors (JSON with "error", as OAuth clients read them), not problems.
	b := newBrowser(t, env, "met-police")
	for _, body := range []string{"grant_type=password", "grant_type=authorization_code&code=nope&code_verifier=x", "%zz"} {
		r := b.do("POST", "/dev-idp/token", strings.NewReader(body), "Content-Type", "application/x-www-form-urlencoded")
		if r.status != 400 || !strings.Contains(string(r.body), `"error":"`) {
			t.Errorf("token %q: %d %s", body, r.status, r.body)
		}
	}
}
