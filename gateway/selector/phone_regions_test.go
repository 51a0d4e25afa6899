package selector

import (
	"slices"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestPhoneEveryRegion takes libphonenumber's example fixed-line and
// mobile number of every region it knows, in international, national and
// E.164 format, and checks that all three normalise (read in that region)
// to the number's E.164 form, and that the canonical form normalises to
// itself with no region at all.
func TestPhoneEveryRegion(t *testing.T) {
	regions := make([]string, 0, len(phoneRegions))
	for r := range phoneRegions {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	checked := 0
	for _, r := range regions {
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE} {
			ex := phonenumbers.GetExampleNumberForType(r, typ)
			if ex == nil {
				continue
			}
			want := "phone:" + phonenumbers.Format(ex, phonenumbers.E164)
			for _, f := range []phonenumbers.PhoneNumberFormat{phonenumbers.E164, phonenumbers.INTERNATIONAL, phonenumbers.NATIONAL} {
				in := phonenumbers.Format(ex, f)
				if r == "AR" && typ == phonenumbers.MOBILE && f == phonenumbers.NATIONAL {
					// libphonenumber formats its own example +54 9 11 2345-6789
					// nationally as "09 15-2345-6789", which it then reads
					// as another number; the forms people write ("011 15
					// 2345-6789") are read right (golden vectors).
					continue
				}
				n, err := Normalize(Selector{Type: TypePhone, Value: in}, r)
				if err != nil || n.Canonical != want {
					t.Errorf("%s %v format %v: got %q, %v; want %q", r, typ, f, n.Canonical, err, want)
					continue
				}
				again, err := Normalize(Selector{Type: TypePhone, Value: n.Canonical[len("phone:"):]}, "")
				if err != nil || again != n {
					t.Errorf("%s: canonical %q renormalised to %q, %v", r, n.Canonical, again.Canonical, err)
				}
				checked++
			}
		}
	}
	if checked < 1000 {
		t.Errorf("only %d example numbers checked", checked)
	}
}
