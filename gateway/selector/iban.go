package selector

// ibanLength is the IBAN length of every country in the SWIFT IBAN
// Registry (the ISO 13616 registration authority's list of IBAN formats,
// release 99, 2025), which covers every SEPA country. Territories that use
// another country's IBAN format write that country's code (French overseas
// departments FR, Åland FI, Jersey/Guernsey/Isle of Man GB) and need no
// entry of their own.
var ibanLength = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16,
	"BG": 22, "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22,
	"CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20,
	"EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22,
	"GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21,
	"HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30,
	"KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
	"LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
	"MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
	"PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
	"RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24,
	"SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26,
	"UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// normalizeIBAN returns the IBAN in its electronic format (ISO 13616-1:
// no spaces, upper case), e.g. "GB82WEST12345698765432", after checking
// the country code against the registry, the country's length, and the
// ISO 7064 MOD 97-10 check digits (ISO 13616-1 §6: moving the first four
// characters to the end and reading letters as 10..35, the number is 1
// mod 97; check digits 00, 01 and 99 never occur). The BBAN's
// per-country structure (which positions are letters) is not checked: the
// checksum already refuses a changed or swapped character with near
// certainty, and an IBAN that passes it is one a bank could have issued.
func normalizeIBAN(v string) (string, *Error) {
	if v == "" {
		return "", fail(TypeIBAN, "value", dRequired)
	}
	b := make([]byte, 0, 34)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ' ':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			// Non-ASCII (fullwidth digits, look-alike letters) is refused:
			// IBANs are ASCII on every bank statement, and a look-alike
			// here is more likely a forgery than a typing habit.
			return "", fail(TypeIBAN, "value", dIBANChars)
		}
		if len(b) == 34 {
			return "", fail(TypeIBAN, "value", dIBANLength)
		}
		b = append(b, c)
	}
	if len(b) < 4 || b[0] < 'A' || b[0] > 'Z' || b[1] < 'A' || b[1] > 'Z' {
		return "", fail(TypeIBAN, "value", dIBANCountry)
	}
	want, ok := ibanLength[string(b[:2])]
	if !ok {
		return "", fail(TypeIBAN, "value", dIBANCountry)
	}
	if len(b) != want {
		return "", fail(TypeIBAN, "value", dIBANLength)
	}
	if b[2] < '0' || b[2] > '9' || b[3] < '0' || b[3] > '9' {
		return "", fail(TypeIBAN, "value", dIBANChecksum)
	}
	if cd := b[2:4]; string(cd) == "00" || string(cd) == "01" || string(cd) == "99" {
		return "", fail(TypeIBAN, "value", dIBANChecksum)
	}
	if ibanMod97(b) != 1 {
		return "", fail(TypeIBAN, "value", dIBANChecksum)
	}
	return string(b), nil
}

// ibanMod97 is ISO 7064 MOD 97-10 over the rearranged IBAN (BBAN, then
// country code and check digits), letters as two digits 10..35, computed
// digit by digit so no big integers are needed.
func ibanMod97(b []byte) int {
	r := 0
	add := func(c byte) {
		if c >= 'A' && c <= 'Z' {
			v := int(c-'A') + 10
			r = (r*100 + v) % 97
			return
		}
		r = (r*10 + int(c-'0')) % 97
	}
	for _, c := range b[4:] {
		add(c)
	}
	for _, c := range b[:4] {
		add(c)
	}
	return r
}
