package identity_test

import (
	"errors"
	"testing"

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
// certificate URI SANs, officer key-set file names, policy data).
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
	})
}
