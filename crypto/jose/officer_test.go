package jose

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/liaison-project/liaison/crypto/pki"
)

const testAudience = "gw-dev"

type officerFixture struct {
	fed      *pki.DevFederation
	verifier *OfficerVerifier
	met      jwk.Key // met-police officer-token key
	hmrc     jwk.Key
}

func newOfficerFixture(t testing.TB) *officerFixture {
	t.Helper()
	fed, err := pki.EnsureDevFederation(t.TempDir(), pki.DevOptions{Agencies: []string{"met-police", "hmrc"}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewOfficerVerifier(fed.JWKSDir, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	met, err := LoadPrivateJWK(fed.OfficerKeyFile("met-police"))
	if err != nil {
		t.Fatal(err)
	}
	hmrc, err := LoadPrivateJWK(fed.OfficerKeyFile("hmrc"))
	if err != nil {
		t.Fatal(err)
	}
	return &officerFixture{fed: fed, verifier: v, met: met, hmrc: hmrc}
}

// signClaims signs an arbitrary claims map with key under alg, for tokens
// that IssueOfficerToken refuses to make.
func signClaims(t testing.TB, key jwk.Key, alg jwa.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key))
	if err != nil {
		t.Fatal(err)
	}
	// Low-S, as Verify requires (TestOfficerVerifyStrict covers high-S).
	tok, err := canonicalECDSA(alg, string(out))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawToken assembles a compact JWS from a header, claims and signature
// without any signing.
func rawToken(t testing.TB, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + enc(sig)
}

func baseClaims(iss string, now time.Time) map[string]any {
	return map[string]any{
		"iss": iss, "sub": "officer-1234", "aud": []string{testAudience},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestOfficerVerify(t *testing.T) {
	f := newOfficerFixture(t)
	now := time.Now().Truncate(time.Second)
	thumb := "AIR5euUR9DYKwBYuHAJmBbQG1COd2KprhsemvReU2qU"
	full := Officer{ID: "PC-4711", Clearance: "SC", Vetting: "MV", Nationality: "GBR", Roles: []string{"analyst", "security-officer"}}
	issue := func(key jwk.Key, agency, aud string, o Officer, opts ...IssueOption) func(t *testing.T) string {
		return func(t *testing.T) string {
			tok, err := IssueOfficerToken(key, agency, aud, o, 10*time.Minute, append([]IssueOption{WithIssuedAt(now)}, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
	}
	signed := func(key func() jwk.Key, claims map[string]any) func(t *testing.T) string {
		return func(t *testing.T) string { return signClaims(t, key(), jwa.ES256, claims) }
	}
	met := func() jwk.Key { return f.met }
	base := baseClaims("met-police", now)

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		agency  string
		thumb   string
		at      time.Time
		wantErr error
		check   func(t *testing.T, o Officer)
	}{
		{name: "valid minimal", token: issue(f.met, "met-police", testAudience, Officer{ID: "PC-1"}), agency: "met-police", at: now,
			check: func(t *testing.T, o Officer) {
				if o.ID != "PC-1" || o.Agency != "met-police" || o.Clearance != "" || len(o.Roles) != 0 || !o.ExpiresAt.Equal(now.Add(10*time.Minute)) {
					t.Fatalf("officer = %+v", o)
				}
			}},
		{name: "valid full", token: issue(f.met, "met-police", testAudience, full), agency: "met-police", at: now,
			check: func(t *testing.T, o Officer) {
				if o.ID != full.ID || o.Clearance != "SC" || o.Vetting != "MV" || o.Nationality != "GBR" || !slices.Equal(o.Roles, full.Roles) {
					t.Fatalf("officer = %+v", o)
				}
			}},
		{name: "eDV clearance and NPPV3", token: signed(met, with(base, "clearance", "eDV", "vetting", "NPPV3")), agency: "met-police", at: now},
		{name: "audience among several", token: signed(met, with(base, "aud", []string{"gw-other", testAudience})), agency: "met-police", at: now},
		{name: "audience as string", token: signed(met, with(base, "aud", testAudience)), agency: "met-police", at: now},
		{name: "expired", token: issue(f.met, "met-police", testAudience, full), agency: "met-police", at: now.Add(10*time.Minute + 31*time.Second), wantErr: ErrExpired},
		{name: "expired within skew", token: issue(f.met, "met-police", testAudience, full), agency: "met-police", at: now.Add(10*time.Minute + 20*time.Second)},
		{name: "not yet valid", token: signed(met, with(base, "nbf", now.Add(time.Minute).Unix())), agency: "met-police", at: now, wantErr: ErrNotYetValid},
		{name: "nbf within skew", token: signed(met, with(base, "nbf", now.Add(20*time.Second).Unix())), agency: "met-police", at: now},
		{name: "issued in the future", token: signed(met, with(base, "iat", now.Add(time.Hour).Unix())), agency: "met-police", at: now, wantErr: ErrNotYetValid},
		{name: "wrong audience", token: issue(f.met, "met-police", "gw-other", full), agency: "met-police", at: now, wantErr: ErrAudience},
		{name: "no audience", token: signed(met, with(base, "aud", nil)), agency: "met-police", at: now, wantErr: ErrAudience},
		{name: "agency X token on agency Y connection", token: issue(f.met, "met-police", testAudience, full), agency: "hmrc", at: now, wantErr: ErrWrongAgency},
		{name: "agency X key claiming agency Y", token: signed(met, with(base, "iss", "hmrc")), agency: "hmrc", at: now, wantErr: ErrBadSignature},
		{name: "agency without key set", token: signed(met, with(base, "iss", "nca")), agency: "nca", at: now, wantErr: ErrUnknownAgency},
		{name: "missing iss", token: signed(met, with(base, "iss", nil)), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "iss not a string", token: signed(met, with(base, "iss", []string{"met-police"})), agency: "met-police", at: now, wantErr: ErrMalformed},
		{name: "missing sub", token: signed(met, with(base, "sub", nil)), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "sub with newline", token: signed(met, with(base, "sub", "PC-1\nforged audit line")), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "missing exp", token: signed(met, with(base, "exp", nil)), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "unknown clearance", token: signed(met, with(base, "clearance", "TOP-SECRET")), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "clearance wrong case", token: signed(met, with(base, "clearance", "sc")), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "clearance not a string", token: signed(met, with(base, "clearance", 3)), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "unknown vetting", token: signed(met, with(base, "vetting", "NPPV4")), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "bad nationality", token: signed(met, with(base, "nationality", "GB")), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "roles not a list", token: signed(met, with(base, "roles", "analyst")), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "empty role", token: signed(met, with(base, "roles", []string{""})), agency: "met-police", at: now, wantErr: ErrClaims},
		{name: "cert binding matches", token: issue(f.met, "met-police", testAudience, full, WithCertBinding(thumb)), agency: "met-police", thumb: thumb, at: now},
		{name: "cert binding mismatch", token: issue(f.met, "met-police", testAudience, full, WithCertBinding(thumb)), agency: "met-police", thumb: "x" + thumb[1:], at: now, wantErr: ErrCertBinding},
		{name: "cert binding without certificate", token: issue(f.met, "met-police", testAudience, full, WithCertBinding(thumb)), agency: "met-police", at: now, wantErr: ErrCertBinding},
		{name: "unsupported cnf method", token: signed(met, with(base, "cnf", map[string]string{"jkt": "abc"})), agency: "met-police", at: now, wantErr: ErrCertBinding},
		{name: "no binding, thumbprint given", token: issue(f.met, "met-police", testAudience, full), agency: "met-police", thumb: thumb, at: now},
		{name: "alg none", token: func(t *testing.T) string {
			return rawToken(t, map[string]any{"alg": "none", "kid": f.met.KeyID()}, base, nil)
		}, agency: "met-police", at: now, wantErr: ErrAlgorithm},
		{name: "HS256 with the public key as secret", token: func(t *testing.T) string {
			pub, _ := f.met.PublicKey()
			secret, _ := json.Marshal(pub)
			payload, _ := json.Marshal(base)
			hdr := jws.NewHeaders()
			_ = hdr.Set(jws.KeyIDKey, f.met.KeyID())
			out, err := jws.Sign(payload, jws.WithKey(jwa.HS256, secret, jws.WithProtectedHeaders(hdr)))
			if err != nil {
				t.Fatal(err)
			}
			return string(out)
		}, agency: "met-police", at: now, wantErr: ErrAlgorithm},
		{name: "header alg swapped to ES384", token: func(t *testing.T) string {
			tok := signClaims(t, f.met, jwa.ES256, base)
			parts := strings.Split(tok, ".")
			h, _ := json.Marshal(map[string]any{"alg": "ES384", "kid": f.met.KeyID()})
			return base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "." + parts[2]
		}, agency: "met-police", at: now, wantErr: ErrAlgorithm},
		{name: "claims altered after signing", token: func(t *testing.T) string {
			tok := signClaims(t, f.met, jwa.ES256, base)
			parts := strings.Split(tok, ".")
			c, _ := json.Marshal(with(base, "clearance", "DV"))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
		}, agency: "met-police", at: now, wantErr: ErrBadSignature},
		{name: "signed by a key the agency does not publish", token: func(t *testing.T) string {
			raw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			k, _ := jwk.FromRaw(raw)
			_ = k.Set(jwk.KeyIDKey, f.met.KeyID()) // even with the right kid
			return signClaims(t, k, jwa.ES256, base)
		}, agency: "met-police", at: now, wantErr: ErrBadSignature},
		{name: "no kid", token: func(t *testing.T) string {
			k, _ := f.met.Clone()
			_ = k.Remove(jwk.KeyIDKey)
			return signClaims(t, k, jwa.ES256, base)
		}, agency: "met-police", at: now, wantErr: ErrBadSignature},
		{name: "empty", token: func(*testing.T) string { return "" }, agency: "met-police", at: now, wantErr: ErrMalformed},
		{name: "two segments", token: func(*testing.T) string { return "eyJhbGciOiJFUzI1NiJ9.e30" }, agency: "met-police", at: now, wantErr: ErrMalformed},
		{name: "JSON serialisation", token: func(t *testing.T) string {
			out, err := jws.Sign([]byte(`{"iss":"met-police"}`), jws.WithKey(jwa.ES256, f.met), jws.WithJSON())
			if err != nil {
				t.Fatal(err)
			}
			return string(out)
		}, agency: "met-police", at: now, wantErr: ErrMalformed},
		{name: "newline inside", token: func(t *testing.T) string {
			tok := issue(f.met, "met-police", testAudience, full)(t)
			return tok[:10] + "\n" + tok[10:]
		}, agency: "met-police", at: now, wantErr: ErrMalformed},
		{name: "too long", token: func(*testing.T) string { return strings.Repeat("a", maxTokenLen) + ".b.c" }, agency: "met-police", at: now, wantErr: ErrMalformed},
		{name: "claims not JSON", token: func(t *testing.T) string {
			out, _ := jws.Sign([]byte("not json"), jws.WithKey(jwa.ES256, f.met))
			return string(out)
		}, agency: "met-police", at: now, wantErr: ErrMalformed},
		{name: "crit header", token: func(t *testing.T) string {
			return rawToken(t, map[string]any{"alg": "ES256", "kid": f.met.KeyID(), "crit": []string{"exp"}}, base, []byte("sig"))
		}, agency: "met-police", at: now, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token(t)
			o, err := f.verifier.Verify(context.Background(), tok, tt.agency, tt.thumb, tt.at)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if tt.check != nil {
					tt.check(t, o)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify err = %v, want %v", err, tt.wantErr)
			}
			t.Logf("rejected: %v", err)
			if o.ID != "" {
				t.Fatalf("officer returned with error: %+v", o)
			}
			// The error must not echo the token.
			for _, seg := range strings.Split(tok, ".") {
				if len(seg) >= 8 && strings.Contains(err.Error(), seg) {
					t.Fatalf("error echoes the token: %v", err)
				}
			}
			for _, sentinel := range []error{ErrMalformed, ErrAlgorithm, ErrWrongAgency, ErrUnknownAgency, ErrBadSignature, ErrExpired, ErrNotYetValid, ErrAudience, ErrClaims, ErrCertBinding} {
				if sentinel != tt.wantErr && errors.Is(err, sentinel) {
					t.Fatalf("error %v also matches %v", err, sentinel)
				}
			}
		})
	}
}

func TestOfficerVerifierReload(t *testing.T) {
	f := newOfficerFixture(t)
	if got := f.verifier.Agencies(); !slices.Equal(got, []string{"hmrc", "met-police"}) {
		t.Fatalf("Agencies = %v", got)
	}
	if _, err := pki.EnsureDevFederation(f.fed.Dir, pki.DevOptions{Agencies: []string{"met-police", "hmrc", "nca"}}); err != nil {
		t.Fatal(err)
	}
	nca, err := LoadPrivateJWK(f.fed.OfficerKeyFile("nca"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := IssueOfficerToken(nca, "nca", testAudience, Officer{ID: "NCA-9", Clearance: "DV"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.verifier.Verify(ctx, tok, "nca", "", time.Now()); !errors.Is(err, ErrUnknownAgency) {
		t.Fatalf("before reload: err = %v, want ErrUnknownAgency", err)
	}
	if err := f.verifier.Reload(); err != nil {
		t.Fatal(err)
	}
	if o, err := f.verifier.Verify(ctx, tok, "nca", "", time.Now()); err != nil || o.ID != "NCA-9" || o.Clearance != "DV" {
		t.Fatalf("after reload: %+v, %v", o, err)
	}

	t.Run("bad key set keeps previous sets", func(t *testing.T) {
		// A "public" set that carries the private key must be refused.
		priv, _ := os.ReadFile(f.fed.OfficerKeyFile("nca"))
		bad := `{"keys":[` + string(priv) + `]}`
		if err := os.WriteFile(f.fed.JWKSFile("nca"), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.verifier.Reload(); err == nil {
			t.Fatal("Reload accepted a key set holding a private key")
		}
		if _, err := f.verifier.Verify(ctx, tok, "nca", "", time.Now()); err != nil {
			t.Fatalf("previous sets lost: %v", err)
		}
	})
	t.Run("file name must be an agency id", func(t *testing.T) {
		pub, _ := os.ReadFile(f.fed.JWKSFile("hmrc"))
		if err := os.WriteFile(f.fed.JWKSDir+"/Bad Name.json", pub, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := NewOfficerVerifier(f.fed.JWKSDir, testAudience); err == nil {
			t.Fatal("accepted a key set file not named after an agency")
		}
	})
}

func TestParsePublicSet(t *testing.T) {
	f := newOfficerFixture(t)
	pub, _ := f.met.PublicKey()
	pubJSON, _ := json.Marshal(pub)
	sym, _ := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	_ = sym.Set(jwk.KeyIDKey, "sym")
	symJSON, _ := json.Marshal(sym)
	enc, _ := pub.Clone()
	_ = enc.Set(jwk.KeyUsageKey, "enc")
	encJSON, _ := json.Marshal(enc)
	hs, _ := pub.Clone()
	_ = hs.Set(jwk.AlgorithmKey, jwa.HS256)
	hsJSON, _ := json.Marshal(hs)
	tests := []struct {
		name string
		data string
		ok   bool
	}{
		{"one public key", `{"keys":[` + string(pubJSON) + `]}`, true},
		{"empty", `{"keys":[]}`, false},
		{"not JSON", `nope`, false},
		{"duplicate kid", `{"keys":[` + string(pubJSON) + `,` + string(pubJSON) + `]}`, false},
		{"symmetric key", `{"keys":[` + string(symJSON) + `]}`, false},
		{"encryption key", `{"keys":[` + string(encJSON) + `]}`, false},
		{"HMAC alg on key", `{"keys":[` + string(hsJSON) + `]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePublicSet([]byte(tt.data))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestIssueOfficerTokenErrors(t *testing.T) {
	f := newOfficerFixture(t)
	pub, _ := f.met.PublicKey()
	tests := []struct {
		name    string
		key     jwk.Key
		agency  string
		o       Officer
		ttl     time.Duration
		wantErr error
	}{
		{"public key", pub, "met-police", Officer{ID: "a"}, time.Minute, ErrKey},
		{"nil key", nil, "met-police", Officer{ID: "a"}, time.Minute, ErrKey},
		{"bad agency", f.met, "Met Police", Officer{ID: "a"}, time.Minute, ErrClaims},
		{"officer of another agency", f.met, "met-police", Officer{ID: "a", Agency: "hmrc"}, time.Minute, ErrClaims},
		{"unknown clearance", f.met, "met-police", Officer{ID: "a", Clearance: "CTC"}, time.Minute, ErrClaims},
		{"no sub", f.met, "met-police", Officer{}, time.Minute, ErrClaims},
		{"no expiry", f.met, "met-police", Officer{ID: "a"}, 0, ErrClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := IssueOfficerToken(tt.key, tt.agency, testAudience, tt.o, tt.ttl); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("ExpiresAt used when ttl is zero", func(t *testing.T) {
		exp := time.Now().Add(time.Hour).Truncate(time.Second)
		tok, err := IssueOfficerToken(f.met, "met-police", testAudience, Officer{ID: "a", ExpiresAt: exp}, 0)
		if err != nil {
			t.Fatal(err)
		}
		o, err := f.verifier.Verify(context.Background(), tok, "met-police", "", time.Now())
		if err != nil || !o.ExpiresAt.Equal(exp) {
			t.Fatalf("ExpiresAt = %v, %v; want %v", o.ExpiresAt, err, exp)
		}
	})
	t.Run("token carries kid, typ and jti", func(t *testing.T) {
		tok, err := IssueOfficerToken(f.met, "met-police", testAudience, Officer{ID: "a"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := jws.ParseString(tok)
		if err != nil {
			t.Fatal(err)
		}
		h := msg.Signatures()[0].ProtectedHeaders()
		if h.KeyID() != f.met.KeyID() || h.Algorithm() != jwa.ES256 {
			t.Fatalf("header kid=%q alg=%v", h.KeyID(), h.Algorithm())
		}
		parsed, err := jwt.ParseInsecure([]byte(tok))
		if err != nil || parsed.JwtID() == "" {
			t.Fatalf("jti missing: %v", err)
		}
	})
}

func TestLoadPrivateJWK(t *testing.T) {
	f := newOfficerFixture(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		ok   bool
	}{
		{"dev officer key", f.fed.OfficerKeyFile("hmrc"), true},
		{"public set", f.fed.JWKSFile("hmrc"), false},
		{"missing", dir + "/none.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadPrivateJWK(tt.path)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && k.KeyID() == "" {
				t.Fatal("no kid")
			}
		})
	}
	t.Run("key without kid gets its thumbprint", func(t *testing.T) {
		raw, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		k, _ := jwk.FromRaw(raw)
		data, _ := json.Marshal(k)
		p := dir + "/nokid.json"
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadPrivateJWK(p)
		if err != nil {
			t.Fatal(err)
		}
		tp, _ := thumbprint(got)
		if got.KeyID() != tp {
			t.Fatalf("kid %q, want thumbprint %q", got.KeyID(), tp)
		}
		if alg, err := signingAlg(got); err != nil || alg != jwa.ES384 {
			t.Fatalf("alg = %v, %v", alg, err)
		}
	})
}

func BenchmarkOfficerVerify(b *testing.B) {
	f := newOfficerFixture(b)
	thumb := "AIR5euUR9DYKwBYuHAJmBbQG1COd2KprhsemvReU2qU"
	tok, err := IssueOfficerToken(f.met, "met-police", testAudience,
		Officer{ID: "PC-4711", Clearance: "SC", Vetting: "MV", Nationality: "GBR", Roles: []string{"analyst"}},
		time.Hour, WithCertBinding(thumb))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(ctx, tok, "met-police", thumb, now); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzOfficerVerify(f *testing.F) {
	fx := newOfficerFixture(f)
	good, err := IssueOfficerToken(fx.met, "met-police", testAudience, Officer{ID: "PC-1"}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	now := time.Now()
	// Issue 9 item 20: each validly signed, each refused.
	hdr := `{"alg":"ES256","kid":"` + fx.met.KeyID() + `"}`
	claims := func(exp, extra string) string {
		return `{"iss":"met-police","sub":"PC-1","aud":["` + testAudience + `"],"exp":` + exp + extra + `}`
	}
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	f.Add(signRawES256(f, fx.met, hdr, claims(`"`+exp+`"`, ""), false))
	f.Add(signRawES256(f, fx.met, hdr, claims(exp, `,"sub":"PC-2"`), false))
	f.Add(signRawES256(f, fx.met, hdr, claims(exp, ""), true))
	f.Add(signRawES256(f, fx.met, `{"alg":"none","alg":"ES256","kid":"`+fx.met.KeyID()+`"}`, claims(exp, ""), false))
	f.Fuzz(func(t *testing.T, tok string) {
		o, err := fx.verifier.Verify(context.Background(), tok, "met-police", "", now)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error does not match ErrInvalidToken: %v", err)
			}
			return
		}
		// Anything accepted must be the one genuine token's content.
		if o.ID != "PC-1" || o.Agency != "met-police" {
			t.Fatalf("accepted a forged token: %+v", o)
		}
	})
}
