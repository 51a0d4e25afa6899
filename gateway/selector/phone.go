package selector

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// phoneRegions is the set of regions libphonenumber has a numbering plan
// for (ISO 3166-1 alpha-2, plus XK); Country uses it as the list of
// current countries.
var phoneRegions = phonenumbers.GetSupportedRegions()

// normalizePhone returns the number in E.164 (ITU-T E.164: "+", country
// code, national significant number; at most 15 digits), e.g.
// "+442079460018".
//
// The number is read with libphonenumber (github.com/nyaruka/phonenumbers),
// in the selector's Country if given, else in the record's jurisdiction; a
// number with an international prefix ("+", or "00" — the ITU-T E.164
// Annex recommended international prefix, used across Europe — written
// even where the region's own prefix differs, e.g. "011" in the US, which
// libphonenumber also reads) needs no region. The national trunk prefix
// ("0" in "020 7946 0018", and "(0)" in "+44 (0)20 7946 0018") is dropped.
//
// Only numbers libphonenumber calls valid (IsValidNumber: a length and a
// leading-digits range allocated in the country's numbering plan) are
// accepted, not merely possible ones: a number one digit short is
// refused rather than blind-indexed as a selector nobody else writes.
// Letters are refused: vanity numbers ("0800 FLOWERS") and extensions
// ("ext. 12") are not selectors the index can match reliably, and an
// extension would otherwise silently be dropped.
func normalizePhone(v, country, jurisdiction string) (string, *Error) {
	if v == "" {
		return "", fail(TypePhone, "value", dRequired)
	}
	region := ""
	if country != "" {
		a2, e := countryField(TypePhone, country)
		if e != nil {
			return "", e
		}
		region = a2
	} else if jurisdiction != "" {
		// The record's jurisdiction comes from the agency registry, not
		// the client: an unknown one is a registry fault, and the number
		// is then read as if there were none.
		if a2, ok := Country(jurisdiction); ok {
			region = a2
		}
	}

	var b strings.Builder
	b.Grow(len(v))
	plus := false
	digits := 0
	for _, c := range strings.TrimSpace(v) {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
			digits++
		case c == '+' || c == '＋':
			// Only before the first digit: "(+44) 20 ..." is written, "44+20" is not a number.
			if plus || digits > 0 {
				return "", fail(TypePhone, "value", dPhoneChars)
			}
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')' ||
			c == '\u00a0' || c == '\u2010' || c == '\u2011' || c == '\u2012' || c == '\u2013':
		default:
			// Other scripts' decimal digits (Arabic-Indic, fullwidth, ...)
			// are read as their values, as libphonenumber does.
			if d := phonenumbers.NormalizeDigitsOnly(string(c)); len(d) == 1 {
				b.WriteString(d)
				digits++
				continue
			}
			return "", fail(TypePhone, "value", dPhoneChars)
		}
	}
	num := b.String()
	if digits == 0 {
		return "", fail(TypePhone, "value", dPhoneParse)
	}
	if !plus && strings.HasPrefix(num, "00") {
		plus, num = true, num[2:]
	}
	parseRegion := region
	if plus {
		num = "+" + num
		parseRegion = "ZZ"
	} else if region == "" {
		return "", fail(TypePhone, "value", dRegion)
	}
	p, err := phonenumbers.Parse(num, parseRegion)
	if err != nil {
		// err is libphonenumber's; it is not returned because its text is
		// not part of this package's fixed details.
		return "", fail(TypePhone, "value", dPhoneParse)
	}
	if p.GetExtension() != "" || !phonenumbers.IsValidNumber(p) {
		return "", fail(TypePhone, "value", dPhoneInvalid)
	}
	return phonenumbers.Format(p, phonenumbers.E164), nil
}
