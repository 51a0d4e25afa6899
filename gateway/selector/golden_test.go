package selector

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// golden is one reviewed test vector of testdata/golden.json. The file is
// written and reviewed by hand; no flag regenerates it, because a vector
// rewritten from the code's own output tests nothing.
type golden struct {
	Note     string   `json:"note"`
	Selector Selector `json:"selector"`
	Region   string   `json:"region"`
	// Canonical is the expected Normalized.Canonical, or Error the expected
	// error as "field: detail".
	Canonical string `json:"canonical"`
	Error     string `json:"error"`
}

func loadGolden(t testing.TB) []golden {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var vs []golden
	if err := dec.Decode(&vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// fixedNow pins the date-of-birth bound so that the vectors do not age.
func fixedNow(t testing.TB) {
	old := now
	now = func() time.Time { return time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { now = old })
}

func TestGolden(t *testing.T) {
	fixedNow(t)
	vs := loadGolden(t)
	perType := map[string]int{}
	for _, v := range vs {
		perType[v.Selector.Type]++
		if (v.Canonical == "") == (v.Error == "") {
			t.Errorf("%s: vector needs exactly one of canonical and error", v.Note)
			continue
		}
		n, err := Normalize(v.Selector, v.Region)
		if v.Error != "" {
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%s: got %q, %v; want error %q", v.Note, n.Canonical, err, v.Error)
				continue
			}
			if got := e.Field + ": " + e.Detail; got != v.Error {
				t.Errorf("%s: error %q, want %q", v.Note, got, v.Error)
			}
			if n != (Normalized{}) {
				t.Errorf("%s: error with a result %+v", v.Note, n)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v; want %q", v.Note, err, v.Canonical)
			continue
		}
		if n.Canonical != v.Canonical || n.Type != v.Selector.Type {
			t.Errorf("%s: got %s %q, want %q", v.Note, n.Type, n.Canonical, v.Canonical)
		}
	}
	for _, typ := range Types() {
		if perType[typ] < 15 {
			t.Errorf("%d golden vectors of type %s, want at least 15", perType[typ], typ)
		}
	}
}

// TestGoldenIdempotent: every canonical form, taken apart into a selector
// again, normalises to itself (what the fuzz target checks on random
// input, here on every reviewed vector).
func TestGoldenIdempotent(t *testing.T) {
	fixedNow(t)
	for _, v := range loadGolden(t) {
		if v.Canonical == "" {
			continue
		}
		s, ok := parseCanonical(v.Canonical)
		if !ok {
			t.Errorf("%s: canonical %q does not parse", v.Note, v.Canonical)
			continue
		}
		n, err := Normalize(s, "")
		if err != nil || n.Canonical != v.Canonical {
			t.Errorf("%s: renormalised %q to %q, %v", v.Note, v.Canonical, n.Canonical, err)
		}
	}
}

// allDetails is every text an Error may carry.
var allDetails = []string{
	dTooLong, dNotUTF8, dControl, dRequired, dNotUsed, dUnknownType, dUnknownDoc,
	dCountry, dRegion, dPhoneChars, dPhoneParse, dPhoneInvalid, dIBANChars,
	dIBANCountry, dIBANLength, dIBANChecksum, dEmailAt, dEmailLocal, dEmailDomain,
	dEmailLength, dPlateChars, dPlateLength, dDocChars, dDocLength, dNameChars,
	dNameScript, dNameMixed, dNameEmpty, dDate, dDateRange, dListTooLong,
}

// TestErrorsNeverEchoValues: every rejection in the vectors carries a
// fixed detail, and its Error() text contains no field's value.
func TestErrorsNeverEchoValues(t *testing.T) {
	fixedNow(t)
	known := map[string]bool{}
	for _, d := range allDetails {
		known[d] = true
	}
	for _, v := range loadGolden(t) {
		_, err := Normalize(v.Selector, v.Region)
		var e *Error
		if !errors.As(err, &e) {
			continue
		}
		if !known[e.Detail] {
			t.Errorf("%s: detail %q is not one of the fixed details", v.Note, e.Detail)
		}
		s := v.Selector
		for _, f := range []string{s.Value, s.Name, s.DateOfBirth} {
			if len(f) >= 4 && strings.Contains(err.Error(), f) {
				t.Errorf("%s: error %q echoes a value", v.Note, err)
			}
		}
		if e.Type != "" && !isType(e.Type) {
			t.Errorf("%s: error names type %q, not a known type", v.Note, e.Type)
		}
	}
}

func isType(s string) bool {
	for _, t := range types {
		if t == s {
			return true
		}
	}
	return false
}

// parseCanonical takes a canonical form apart into the selector that
// writes it (tests and the fuzz target).
func parseCanonical(c string) (Selector, bool) {
	typ, rest, ok := strings.Cut(c, ":")
	if !ok {
		return Selector{}, false
	}
	switch typ {
	case TypePhone, TypeIBAN, TypeEmail:
		return Selector{Type: typ, Value: rest}, true
	case TypeVehicle:
		cc, plate, ok := strings.Cut(rest, ":")
		return Selector{Type: typ, Country: cc, Value: plate}, ok
	case TypeDocument:
		parts := strings.Split(rest, ":")
		if len(parts) != 3 {
			return Selector{}, false
		}
		return Selector{Type: typ, Country: parts[0], DocumentType: parts[1], Value: parts[2]}, true
	case TypePerson:
		name, dob, ok := strings.Cut(rest, ":")
		return Selector{Type: typ, Name: name, DateOfBirth: dob}, ok
	}
	return Selector{}, false
}
