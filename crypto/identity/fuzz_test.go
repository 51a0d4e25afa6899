package identity_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/liaison-project/liaison/crypto/identity"
)

// byteRule is the rule written out byte by byte, as gateway/config had it
// before there was one package: ValidID (a regexp) must agree with it on
// every input, or one of the two reads the rule differently.
func byteRule(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '-' && i > 0)) {
			return false
		}
	}
	return true
}

// FuzzValidID: ids arrive from untrusted places (share request bodies,
// certificate URI SANs, officer key-set file names, policy data), and
// officer ids from officer tokens.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"met-police", "", "-a", "a-", "A", "a\n", "é", "a/b", "0", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := identity.ValidID(s)
		if ok != byteRule(s) {
			t.Fatalf("ValidID(%q) = %v, the byte rule says %v", s, ok, !ok)
		}
		a, err := identity.ParseAgencyID(s)
		if ok != (err == nil) || (err != nil && !errors.Is(err, identity.ErrInvalid)) {
			t.Fatalf("ParseAgencyID(%q) = %q, %v; ValidID %v", s, a, err, ok)
		}
		if ok && (string(a) != s || !a.Valid()) {
			t.Fatalf("ParseAgencyID(%q) = %q", s, a)
		}
		if _, err := identity.ParseGatewayID(s); ok != (err == nil) {
			t.Fatalf("ParseGatewayID(%q) = %v; ValidID %v", s, err, ok)
		}
		// An officer id that passes can go into a log line as it is.
		if identity.ValidOfficerID(s) {
			if s == "" || len(s) > identity.MaxOfficerIDLen || !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\u0085\u2028\u2029\u202e") {
				t.Fatalf("ValidOfficerID(%q) = true", s)
			}
		}
		if ok && !identity.ValidOfficerID(s) {
			t.Fatalf("agency-id alphabet %q refused as an officer id", s)
		}
	})
}
