package selector

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func testKey(version int, fill byte) Key {
	s := make([]byte, 32)
	for i := range s {
		s[i] = fill + byte(i)
	}
	return Key{Version: version, Secret: s}
}

func mustNormalize(t *testing.T, s Selector, region string) Normalized {
	t.Helper()
	n, err := Normalize(s, region)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return n
}

// TestBlindKnownAnswer pins the blind value formula: a change to it makes
// every stored blind value stale, so it must be a deliberate one (and come
// with a re-index). The expected values were computed outside Go (Python's
// hmac module) from the formula in the package documentation.
func TestBlindKnownAnswer(t *testing.T) {
	k := testKey(1, 0) // secret 00 01 ... 1f
	for _, c := range []struct {
		version int
		n       Normalized
		want    string
	}{
		{1, Normalized{TypePhone, "phone:+442079460018"}, "aad7fbc7c58a7a2674e02502f7d2f128184114a76efe60c21c4574878b7bcf2d"},
		{2, Normalized{TypePhone, "phone:+442079460018"}, "e6b6ab83976e4c06036b1ef6dec1b3f4e7b884f655460166c623d27030069add"},
		{1, Normalized{TypePerson, "person:IVAN PETROV:1980-02-03"}, "990a5fe29dc80a8a8055a63844ca7f5403b0929081ea2ee55b937eca014587bb"},
	} {
		k.Version = c.version
		if got := hex.EncodeToString(k.Blind(c.n)); got != c.want {
			t.Errorf("v%d %s: blind %s, want %s", c.version, c.n.Canonical, got, c.want)
		}
	}
}

func TestBlind(t *testing.T) {
	fixedNow(t)
	k := testKey(1, 0)
	intl := mustNormalize(t, Selector{Type: TypePhone, Value: "+44 20 7946 0018"}, "")
	natl := mustNormalize(t, Selector{Type: TypePhone, Value: "020 7946 0018"}, "GBR")
	other := mustNormalize(t, Selector{Type: TypePhone, Value: "020 7946 0019"}, "GBR")

	b := k.Blind(intl)
	if len(b) != 32 {
		t.Fatalf("blind value of %d bytes, want 32", len(b))
	}
	if !bytes.Equal(b, k.Blind(intl)) {
		t.Error("blind value not deterministic")
	}
	if !bytes.Equal(b, k.Blind(natl)) {
		t.Error("equivalent phone numbers (international and national form) give different blind values")
	}
	if bytes.Equal(b, k.Blind(other)) {
		t.Error("different numbers give one blind value")
	}
	if bytes.Equal(b, testKey(1, 1).Blind(intl)) {
		t.Error("blind value does not depend on the secret")
	}
	if bytes.Equal(b, testKey(2, 0).Blind(intl)) {
		t.Error("blind value does not depend on the key version")
	}
	if bytes.Contains(b, []byte("2079460018")) {
		t.Error("blind value carries the number")
	}

	// Equivalent person selectors: script, case and word order.
	p1 := mustNormalize(t, Selector{Type: TypePerson, Name: "Петров Иван", DateOfBirth: "1980-02-03"}, "")
	p2 := mustNormalize(t, Selector{Type: TypePerson, Name: "ivan PETROV", DateOfBirth: "1980-02-03"}, "")
	p3 := mustNormalize(t, Selector{Type: TypePerson, Name: "Ivan Petrov", DateOfBirth: "1980-02-04"}, "")
	if !bytes.Equal(k.Blind(p1), k.Blind(p2)) {
		t.Error("equivalent person selectors give different blind values")
	}
	if bytes.Equal(k.Blind(p1), k.Blind(p3)) {
		t.Error("different dates of birth give one blind value")
	}
	// The type is part of the canonical form: one string, two types.
	d := mustNormalize(t, Selector{Type: TypeDocument, Value: "AB12CDE", Country: "GB", DocumentType: DocOther}, "")
	v := mustNormalize(t, Selector{Type: TypeVehicle, Value: "AB12CDE", Country: "GB"}, "")
	if bytes.Equal(k.Blind(d), k.Blind(v)) {
		t.Error("a document and a vehicle with one text give one blind value")
	}
}

func TestKeyValidate(t *testing.T) {
	if err := testKey(1, 0).Validate(); err != nil {
		t.Errorf("valid key: %v", err)
	}
	for _, k := range []Key{
		{Version: 0, Secret: make([]byte, 32)},
		{Version: -1, Secret: make([]byte, 32)},
		{Version: 1, Secret: make([]byte, 31)},
		{Version: 1},
	} {
		if err := k.Validate(); !errors.Is(err, ErrKey) {
			t.Errorf("key version %d secret %d bytes: Validate %v, want ErrKey", k.Version, len(k.Secret), err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("key version %d secret %d bytes: Blind did not panic", k.Version, len(k.Secret))
				}
			}()
			k.Blind(Normalized{TypePhone, "phone:+442079460018"})
		}()
	}
}

func TestIndexValues(t *testing.T) {
	fixedNow(t)
	k := testKey(3, 7)
	ns, errs := NormalizeAll([]Selector{
		{Type: TypePhone, Value: "+44 20 7946 0018"},
		{Type: TypeIBAN, Value: "GB82 WEST 1234 5698 7654 32"},
		{Type: TypePhone, Value: "020 7946 0018"}, // same number again
	}, "GBR")
	if errs != nil {
		t.Fatal(errs)
	}
	got := k.IndexValues(ns)
	if len(got) != 2 {
		t.Fatalf("%d index values, want 2 (one per distinct selector)", len(got))
	}
	if got[0].Type != TypePhone || got[1].Type != TypeIBAN {
		t.Errorf("types %s, %s; want phone, iban", got[0].Type, got[1].Type)
	}
	for i, b := range got {
		if b.KeyVersion != 3 {
			t.Errorf("value %d: key version %d, want 3", i, b.KeyVersion)
		}
		if !bytes.Equal(b.Value, k.Blind(ns[i])) {
			t.Errorf("value %d is not the selector's blind value", i)
		}
	}
	if len(k.IndexValues(nil)) != 0 {
		t.Error("values for no selectors")
	}
}

func TestNormalizeAll(t *testing.T) {
	fixedNow(t)
	list := []Selector{
		{Type: TypePhone, Value: "020 7946 0018"},
		{Type: TypeIBAN, Value: "GB82WEST12345698765433"},
		{Type: TypeEmail, Value: "jane@example.com"},
		{Type: TypeVehicle, Value: "AB12CDE"},
		{Type: "imei", Value: "490154203237518"},
	}
	ns, errs := NormalizeAll(list, "GBR")
	if ns != nil {
		t.Errorf("results %v beside errors", ns)
	}
	want := []FieldError{
		{Pointer: "/selectors/1/value", Detail: dIBANChecksum},
		{Pointer: "/selectors/3/country", Detail: dRequired},
		{Pointer: "/selectors/4/type", Detail: dUnknownType},
	}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("errors %+v, want %+v", errs, want)
	}

	ns, errs = NormalizeAll(list[:1], "GBR")
	if errs != nil || len(ns) != 1 || ns[0].Canonical != "phone:+442079460018" {
		t.Errorf("one valid selector: %v, %v", ns, errs)
	}
	ns, errs = NormalizeAll(nil, "GBR")
	if errs != nil || len(ns) != 0 {
		t.Errorf("no selectors: %v, %v", ns, errs)
	}
	long := make([]Selector, MaxList+1)
	for i := range long {
		long[i] = list[2]
	}
	if _, errs := NormalizeAll(long, ""); len(errs) != 1 || errs[0].Pointer != "/selectors" {
		t.Errorf("%d selectors: errors %+v, want one naming /selectors", len(long), errs)
	}
	if ns, errs := NormalizeAll(long[:MaxList], ""); errs != nil || len(ns) != MaxList {
		t.Errorf("%d selectors: %d results, %v", MaxList, len(ns), errs)
	}
}

func TestCountry(t *testing.T) {
	for in, want := range map[string]string{
		"GB": "GB", "GBR": "GB", "gbr": "GB", "UK": "GB", "DEU": "DE", "XK": "XK",
		"RUS": "RU", "GRC": "GR", "BLR": "BY",
		"": "", "G": "", "GBRR": "", "826": "", "EU": "", "ZZ": "", "SU": "", "YU": "",
		"AN": "", "XX": "", "G1": "", " GB": "", "ΓΒ": "",
	} {
		got, ok := Country(in)
		if got != want || ok != (want != "") {
			t.Errorf("Country(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	// The jurisdiction comes from the registry; a bad one reads as none.
	if _, err := Normalize(Selector{Type: TypePhone, Value: "020 7946 0018"}, "XXX"); err == nil {
		t.Error("a national number read in an unknown jurisdiction")
	}
}

func TestDateOfBirthBound(t *testing.T) {
	fixedNow(t) // 2026-12-06 12:00 UTC
	for dob, ok := range map[string]bool{
		"2026-12-06": true, // today
		"2026-12-07": true, // already today east of UTC
		"2026-12-08": false,
		"1900-01-01": true,
		"1899-12-31": false,
	} {
		_, err := Normalize(Selector{Type: TypePerson, Name: "Ivan Petrov", DateOfBirth: dob}, "")
		if (err == nil) != ok {
			t.Errorf("date of birth %s: %v, want ok=%v", dob, err, ok)
		}
	}
	now = func() time.Time { return time.Date(2026, 12, 6, 23, 59, 0, 0, time.FixedZone("UTC-10", -10*3600)) }
	if _, err := Normalize(Selector{Type: TypePerson, Name: "Ivan Petrov", DateOfBirth: "2026-12-08"}, ""); err != nil {
		t.Errorf("2026-12-08 when it is 2026-12-07 09:59 UTC: %v", err)
	}
}

func TestTypesIsACopy(t *testing.T) {
	a := Types()
	a[0] = "x"
	if Types()[0] != TypePhone {
		t.Error("Types returns the package's slice")
	}
	d := DocumentTypes()
	d[0] = "x"
	if DocumentTypes()[0] != DocPassport {
		t.Error("DocumentTypes returns the package's slice")
	}
}

func TestErrorText(t *testing.T) {
	_, err := Normalize(Selector{Type: TypeIBAN, Value: "GB82WEST12345698765433"}, "")
	if err == nil || err.Error() != "selector iban: value: "+dIBANChecksum {
		t.Errorf("error text %q", err)
	}
	_, err = Normalize(Selector{Type: "secret-type-text", Value: "x"}, "")
	if err == nil || strings.Contains(err.Error(), "secret-type-text") {
		t.Errorf("unknown type echoed: %q", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Field != "type" {
		t.Errorf("unknown type: %#v", err)
	}
	_, err = Normalize(Selector{Type: TypeEmail, Value: "a\xffb@example.com"}, "")
	if !errors.As(err, &e) || e.Detail != dNotUTF8 {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

// TestConcurrent: Normalize is safe for concurrent use (the gateway
// normalises in every request); run with -race.
func TestConcurrent(t *testing.T) {
	fixedNow(t)
	vs := loadGolden(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, v := range vs {
				n, err := Normalize(v.Selector, v.Region)
				if (err == nil) != (v.Canonical != "") || n.Canonical != v.Canonical {
					t.Errorf("%s: %q, %v", v.Note, n.Canonical, err)
				}
			}
		}()
	}
	wg.Wait()
}
