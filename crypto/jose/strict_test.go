package jose

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// signRawES256 signs header and claims given as exact bytes (so that they
// can hold what a JSON encoder would never write: duplicate members,
// strings for dates) with an ES256 key, and returns the token with a
// low-S or, with highS, the equally valid high-S signature.
func signRawES256(t testing.TB, key jwk.Key, header, claims string, highS bool) string {
	t.Helper()
	var priv ecdsa.PrivateKey
	if err := key.Raw(&priv); err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(header)) + "." + enc([]byte(claims))
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, &priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	n := priv.Curve.Params().N
	half := new(big.Int).Rsh(n, 1)
	if (s.Cmp(half) > 0) != highS {
		s.Sub(n, s)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc(sig)
}

// TestOfficerVerifyStrict: issue 9 item 20. Each token below is validly
// signed by the agency's key and was accepted before; each must be refused
// for the reason named.
func TestOfficerVerifyStrict(t *testing.T) {
	f := newOfficerFixture(t)
	now := time.Now().Truncate(time.Second)
	kid := f.met.KeyID()
	hdr := fmt.Sprintf(`{"alg":"ES256","kid":%q}`, kid)
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":"met-police","sub":"officer-1","aud":[%q],"iat":%d,"nbf":%d,"exp":%d%s}`,
			testAudience, now.Unix(), now.Unix(), now.Add(10*time.Minute).Unix(), extra)
	}
	verify := func(tok string) error {
		_, err := f.verifier.Verify(context.Background(), tok, "met-police", "", now)
		return err
	}
	// The well-formed baseline verifies, in its low-S form.
	if err := verify(signRawES256(t, f.met, hdr, claims(""), false)); err != nil {
		t.Fatalf("baseline token refused: %v", err)
	}
	for _, tc := range []struct {
		name, header, claims string
		highS                bool
		want                 error
	}{
		{name: "exp as a string", header: hdr, claims: strings.Replace(claims(""), fmt.Sprintf(`"exp":%d`, now.Add(10*time.Minute).Unix()),
			fmt.Sprintf(`"exp":"%d"`, now.Add(10*time.Minute).Unix()), 1), want: ErrMalformed},
		{name: "nbf as a string", header: hdr, claims: strings.Replace(claims(""), fmt.Sprintf(`"nbf":%d`, now.Unix()), fmt.Sprintf(`"nbf":"%d"`, now.Unix()), 1), want: ErrMalformed},
		{name: "iat as a string", header: hdr, claims: strings.Replace(claims(""), fmt.Sprintf(`"iat":%d`, now.Unix()), fmt.Sprintf(`"iat":"%d"`, now.Unix()), 1), want: ErrMalformed},
		{name: "duplicate sub", header: hdr, claims: claims(`,"sub":"officer-2"`), want: ErrMalformed},
		{name: "duplicate exp (the later one far away)", header: hdr, claims: claims(`,"exp":4102444800`), want: ErrMalformed},
		{name: "duplicate roles, escaped name", header: hdr, claims: claims(`,"roles":["analyst"],"r\u006fles":["security-officer"]`), want: ErrMalformed},
		{name: "duplicate inside cnf", header: hdr, claims: claims(`,"cnf":{"x5t#S256":"a","x5t#S256":"b"}`), want: ErrMalformed},
		{name: "duplicate alg in header", header: fmt.Sprintf(`{"alg":"none","kid":%q,"alg":"ES256"}`, kid), claims: claims(""), want: ErrMalformed},
		{name: "duplicate kid in header", header: fmt.Sprintf(`{"alg":"ES256","kid":"other","kid":%q}`, kid), claims: claims(""), want: ErrMalformed},
		{name: "high-S signature", header: hdr, claims: claims(""), highS: true, want: ErrBadSignature},
		// Officer ids reach the audit log: a bidi override or a line
		// separator in one would disguise the entry when displayed.
		{name: "sub with a right-to-left override", header: hdr, claims: strings.Replace(claims(""), `"officer-1"`, `"officer-\u202e1"`, 1), want: ErrClaims},
		{name: "sub with a line separator", header: hdr, claims: strings.Replace(claims(""), `"officer-1"`, `"officer-\u20281"`, 1), want: ErrClaims},
		{name: "sub with U+0085", header: hdr, claims: strings.Replace(claims(""), `"officer-1"`, `"officer-\u00851"`, 1), want: ErrClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verify(signRawES256(t, f.met, tc.header, tc.claims, tc.highS))
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify err = %v, want %v", err, tc.want)
			}
		})
	}
}

// Tokens this package issues are always low-S (Go's signer returns either
// half), so they keep verifying.
func TestIssuedTokensAreLowS(t *testing.T) {
	f := newOfficerFixture(t)
	for i := range 32 {
		tok, err := IssueOfficerToken(f.met, "met-police", testAudience, Officer{ID: "PC-1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := strictB64.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
		if err != nil || ecdsaHighS(ecdsaCurve(jwa.ES256), sig) {
			t.Fatalf("token %d: high-S or bad signature encoding (%v)", i, err)
		}
		if _, err := f.verifier.Verify(context.Background(), tok, "met-police", "", time.Now()); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
}

func TestCheckMembers(t *testing.T) {
	for doc, want := range map[string]error{
		`{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}`: nil,
		`{"a":[1,{"b":2}],"c":3}`:                   nil,
		`{"a":1,"a":1}`:                             errDuplicateMember,
		`{"a":{"b":1,"b":2}}`:                       errDuplicateMember,
		`[{"x":[],"x":{}}]`:                         errDuplicateMember,
		`{"a":[1,2],"b":"a","a":0}`:                 errDuplicateMember,
	} {
		if err := checkMembers([]byte(doc)); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", doc, err, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":1}}`, `{} {}`, `{"a":1]`} {
		if checkMembers([]byte(bad)) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The gateway's own JWS (record metadata) is held to the same header rule.
func TestParseCompactRefusesDuplicateHeaderMembers(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"EdDSA","kid":"a","kid":"b"}`)) + "." + enc([]byte(`{}`)) + "." + enc([]byte("sig"))
	if _, err := parseCompact(tok, maxJWSLen); err == nil {
		t.Fatal("duplicate kid accepted")
	}
}

// DeriveKey keys listing cursors: the same signing key file gives the same
// key after a restart (or on a replica holding the file); another label or
// another signing key gives another.
func TestSignerDeriveKey(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateSigner(dir + "/a.jwk.json")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateSigner(dir + "/a.jwk.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateSigner(dir + "/b.jwk.json")
	if err != nil {
		t.Fatal(err)
	}
	k1, err1 := a.DeriveKey("cursor")
	k2, err2 := again.DeriveKey("cursor")
	k3, err3 := a.DeriveKey("other")
	k4, err4 := b.DeriveKey("cursor")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || string(k1) != string(k2) {
		t.Fatal("the same signing key derives different keys")
	}
	if string(k1) == string(k3) || string(k1) == string(k4) {
		t.Fatal("derived keys do not depend on label and signing key")
	}
	if _, err := a.DeriveKey(""); err == nil {
		t.Fatal("empty label accepted")
	}
}
