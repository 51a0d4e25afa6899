package selector

import (
	"math/big"
	"strconv"
	"strings"
	"testing"
)

// sepa is the SEPA scheme's geographical scope (EPC409-09): every one
// must have its IBAN format in the table.
var sepa = []string{
	"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU",
	"IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES",
	"SE", "IS", "LI", "NO", "CH", "GB", "MC", "SM", "VA", "AD", "AL", "MD", "ME", "MK",
}

// ibanWith returns an IBAN of country cc with BBAN bban, its check digits
// computed with math/big (independently of ibanMod97).
func ibanWith(cc, bban string) string {
	var digits strings.Builder
	for _, c := range bban + cc + "00" {
		if c >= 'A' && c <= 'Z' {
			digits.WriteString(strconv.Itoa(int(c-'A') + 10))
		} else {
			digits.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(digits.String(), 10)
	check := 98 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return cc + strconv.FormatInt(check/10, 10) + strconv.FormatInt(check%10, 10) + bban
}

func TestIBANRegistry(t *testing.T) {
	for _, cc := range sepa {
		if _, ok := ibanLength[cc]; !ok {
			t.Errorf("SEPA country %s has no IBAN length", cc)
		}
	}
	for cc, n := range ibanLength {
		if n < 15 || n > 34 {
			t.Errorf("%s: IBAN length %d outside ISO 13616's 15..34", cc, n)
		}
		if a2, ok := Country(cc); !ok || a2 != cc {
			t.Errorf("%s is not a current ISO 3166 country code", cc)
		}
		// A well-formed IBAN of the country's length passes; one
		// character more or less, or a changed digit, does not.
		bban := strings.Repeat("1234567890AB", 3)[:n-4]
		good := ibanWith(cc, bban)
		got, err := Normalize(Selector{Type: TypeIBAN, Value: strings.ToLower(good)}, "")
		if err != nil || got.Canonical != "iban:"+good {
			t.Errorf("%s: %s gives %q, %v", cc, good, got.Canonical, err)
		}
		for _, bad := range []string{ibanWith(cc, bban+"1"), ibanWith(cc, bban[:len(bban)-1])} {
			if _, err := Normalize(Selector{Type: TypeIBAN, Value: bad}, ""); err == nil || err.(*Error).Detail != dIBANLength {
				t.Errorf("%s: %s of wrong length: %v", cc, bad, err)
			}
		}
		changed := []byte(good)
		changed[4] = '0' + (changed[4]-'0'+1)%10
		if _, err := Normalize(Selector{Type: TypeIBAN, Value: string(changed)}, ""); err == nil || err.(*Error).Detail != dIBANChecksum {
			t.Errorf("%s: %s with a changed digit: %v", cc, changed, err)
		}
	}
}
