package selector

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzNormalize: Normalize never panics; it either returns a canonical
// form free of control and format characters that normalises to itself
// when taken apart again (idempotence: a stored canonical form and a
// search for it always meet), or an *Error with one of the fixed details
// (so no rejection can carry the value).
func FuzzNormalize(f *testing.F) {
	for _, v := range loadGolden(f) {
		s := v.Selector
		f.Add(s.Type, s.Value, s.Country, s.DocumentType, s.Name, s.DateOfBirth, v.Region)
	}
	known := map[string]bool{}
	for _, d := range allDetails {
		known[d] = true
	}
	f.Fuzz(func(t *testing.T, typ, value, country, docType, name, dob, region string) {
		s := Selector{Type: typ, Value: value, Country: country, DocumentType: docType, Name: name, DateOfBirth: dob}
		checkNormalize(t, s, region, known)
	})
}

// FuzzNormalizeText puts one fuzzed text through every type's normaliser
// with the other fields fixed and valid, so that each execution reaches
// the type-specific code (FuzzNormalize mostly fails on a field it did not
// mean to fuzz).
func FuzzNormalizeText(f *testing.F) {
	for _, v := range loadGolden(f) {
		f.Add(v.Selector.Value)
		f.Add(v.Selector.Name)
	}
	known := map[string]bool{}
	for _, d := range allDetails {
		known[d] = true
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, s := range []Selector{
			{Type: TypePhone, Value: text},
			{Type: TypeIBAN, Value: text},
			{Type: TypeEmail, Value: text},
			{Type: TypeVehicle, Value: text, Country: "RU"},
			{Type: TypeDocument, Value: text, Country: "GR", DocumentType: DocPassport},
			{Type: TypePerson, Name: text, DateOfBirth: "1980-02-03"},
		} {
			checkNormalize(t, s, "GBR", known)
		}
	})
}

func checkNormalize(t *testing.T, s Selector, region string, known map[string]bool) {
	t.Helper()
	typ := s.Type
	n, err := Normalize(s, region)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T %v is not an *Error", err, err)
		}
		if !known[e.Detail] {
			t.Fatalf("detail %q is not a fixed detail", e.Detail)
		}
		if n != (Normalized{}) {
			t.Fatalf("error %v with result %+v", err, n)
		}
		return
	}
	if n.Type != typ || !strings.HasPrefix(n.Canonical, typ+":") {
		t.Fatalf("type %q, canonical %q", n.Type, n.Canonical)
	}
	if !utf8.ValidString(n.Canonical) {
		t.Fatalf("canonical %q is not UTF-8", n.Canonical)
	}
	for _, c := range n.Canonical {
		if unicode.IsControl(c) || unicode.In(c, unicode.Cf, unicode.Zl, unicode.Zp) {
			t.Fatalf("canonical %q has control or format character %U", n.Canonical, c)
		}
		if c >= utf8.RuneSelf && typ != TypeEmail {
			t.Fatalf("canonical %q of a %s is not ASCII", n.Canonical, typ)
		}
	}
	again, ok := parseCanonical(n.Canonical)
	if !ok {
		t.Fatalf("canonical %q does not take apart", n.Canonical)
	}
	n2, err := Normalize(again, "")
	if err != nil {
		t.Fatalf("canonical %q does not normalise again: %v", n.Canonical, err)
	}
	if n2 != n {
		t.Fatalf("not idempotent: %q then %q", n.Canonical, n2.Canonical)
	}
}
