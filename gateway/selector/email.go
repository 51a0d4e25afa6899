package selector

import (
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// normalizeEmail returns the address as local@domain with both parts in
// lower case and the domain in its ASCII (A-label) form, e.g.
// "jane.doe+tips@xn--bcher-kva.de".
//
// What is matched and what is not:
//   - The local part is lowercased. RFC 5321 §2.4 lets a mail server treat
//     it case-sensitively, but no large provider does, and a blind index
//     that told "Jane.Doe@" from "jane.doe@" would miss far more true
//     matches than it would ever wrongly merge.
//   - Dots and "+tags" are kept: "j.doe+x@gmail.com" and "jdoe@gmail.com"
//     are one Gmail mailbox, but on other providers they are different
//     mailboxes, and the provider rules are not ours to guess. A search
//     that wants both asks for both.
//   - The domain is converted by IDNA2008 / UTS #46 (lookup profile), so
//     "bücher.de" and "xn--bcher-kva.de" match.
//
// Accepted shapes: exactly one "@"; a local part of RFC 5322 §3.2.3 atext
// and dots (no leading, trailing or double dot, at most 64 octets, RFC
// 5321 §4.5.3.1.1), UTF-8 letters allowed (RFC 6531); a domain of at least
// two labels (letters, digits, hyphens) whose top level is not numeric; at
// most 254 octets in all (RFC 5321 §4.5.3.1.3 less the angle brackets).
// Quoted local parts and address literals ("user@[192.0.2.1]") are
// refused: they do not occur as investigative selectors.
func normalizeEmail(v string) (string, *Error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fail(TypeEmail, "value", dRequired)
	}
	if len(v) > 254 {
		return "", fail(TypeEmail, "value", dEmailLength)
	}
	at := strings.IndexByte(v, '@')
	if at < 0 || strings.IndexByte(v[at+1:], '@') >= 0 {
		return "", fail(TypeEmail, "value", dEmailAt)
	}
	local, ok := emailLocal(v[:at])
	if !ok {
		return "", fail(TypeEmail, "value", dEmailLocal)
	}
	domain, ok := emailDomain(v[at+1:])
	if !ok {
		return "", fail(TypeEmail, "value", dEmailDomain)
	}
	out := local + "@" + domain
	if len(out) > 254 {
		return "", fail(TypeEmail, "value", dEmailLength)
	}
	return out, nil
}

// atext is RFC 5322 §3.2.3's set of ASCII characters allowed in an atom.
const atext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"

func emailLocal(s string) (string, bool) {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return "", false
	}
	for _, c := range s {
		switch {
		case c == '.':
		case c < 0x80:
			if !strings.ContainsRune(atext, c) {
				return "", false
			}
		case unicode.IsSpace(c) || c == 0x200c || c == 0x200d:
			return "", false
		}
	}
	// NFC before and after lowering, so that one address written with
	// composed or decomposed accents is one canonical form.
	out := norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
	if len(out) > 64 {
		return "", false
	}
	return out, true
}

func emailDomain(s string) (string, bool) {
	if s == "" || len(s) > 253 {
		return "", false
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", false
	}
	// A-labels that do not survive a round trip (malformed punycode that
	// the lookup profile lets through) are refused, so that the canonical
	// form normalises to itself.
	if u, err := idna.Lookup.ToUnicode(a); err != nil {
		return "", false
	} else if a2, err := idna.Lookup.ToASCII(u); err != nil || a2 != a {
		return "", false
	}
	if len(a) > 253 {
		return "", false
	}
	labels := strings.Split(a, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return "", false
			}
		}
	}
	tld := labels[len(labels)-1]
	numeric := true
	for i := 0; i < len(tld); i++ {
		if tld[i] < '0' || tld[i] > '9' {
			numeric = false
		}
	}
	if numeric {
		return "", false
	}
	return a, true
}
