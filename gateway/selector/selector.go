// Package selector is Liaison's one versioned normalisation of selectors —
// the phone numbers, IBANs, e-mail addresses, vehicle registrations,
// document numbers and persons (name + date of birth) that records carry in
// their metadata and that a hit/no-hit search asks for — and the blind
// index values made from them.
//
// Two officers at two agencies write the same phone number as
// "+44 20 7946 0018" and "020 7946 0018"; a search finds the record only if
// both become the same canonical string ("phone:+442079460018"). The index
// never stores that string: it stores a keyed HMAC of it (Key.Blind), so a
// copy of the index database discloses which records share a selector but
// not the selector. Canonical forms are therefore a contract with every
// stored blind value: any change to them bumps Version, and the index must
// be rebuilt (blind values made under another version silently stop
// matching otherwise).
//
// Selectors are personal data. Nothing in this package logs them, and no
// error carries the value it rejected: an Error says which field and why,
// in words fixed in this file (see details).
package selector

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// Version is the normalisation version. Bump it when any canonical form
// changes: every stored blind value must then be recomputed (re-index).
const Version = 1

// Selector types.
const (
	TypePhone    = "phone"
	TypeIBAN     = "iban"
	TypeEmail    = "email"
	TypeVehicle  = "vehicle"
	TypeDocument = "document"
	TypePerson   = "person"
)

var types = []string{TypePhone, TypeIBAN, TypeEmail, TypeVehicle, TypeDocument, TypePerson}

// Types returns the selector types, in a fixed order (a new slice).
func Types() []string { return append([]string(nil), types...) }

// Document types (Selector.DocumentType).
const (
	DocPassport        = "passport"
	DocIDCard          = "id_card"
	DocDrivingLicence  = "driving_licence"
	DocResidencePermit = "residence_permit"
	DocOther           = "other"
)

var documentTypes = []string{DocPassport, DocIDCard, DocDrivingLicence, DocResidencePermit, DocOther}

// DocumentTypes returns the document types (a new slice).
func DocumentTypes() []string { return append([]string(nil), documentTypes...) }

// Selector is one typed selector as written in record metadata or a search
// request; its JSON shape is part of the API.
type Selector struct {
	// Type is one of Types().
	Type string `json:"type"`
	// Value is the phone number, IBAN, e-mail address, vehicle plate or
	// document number (unused for person).
	Value string `json:"value,omitempty"`
	// Country is, for a vehicle, the registration country; for a document,
	// the issuing country; for a phone number, the region a number without
	// an international prefix is read in (overriding the record's
	// jurisdiction). ISO 3166-1 alpha-2 or alpha-3.
	Country string `json:"country,omitempty"`
	// DocumentType is, for a document, one of DocumentTypes().
	DocumentType string `json:"document_type,omitempty"`
	// Name is, for a person, the full name in any Latin, Cyrillic or Greek
	// script, in any order.
	Name string `json:"name,omitempty"`
	// DateOfBirth is, for a person, YYYY-MM-DD (required).
	DateOfBirth string `json:"date_of_birth,omitempty"`
}

// Normalized is a validated selector in its canonical form.
type Normalized struct {
	// Type is the selector type (Selector.Type).
	Type string
	// Canonical is Type, ":", and the type's canonical form, e.g.
	// "phone:+442079460018", "vehicle:GB:AB12CDE",
	// "person:IVAN PETROV:1980-02-03". It is personal data.
	Canonical string
}

// Input limits, in bytes of UTF-8.
const (
	// MaxValue bounds Value (and every short field).
	MaxValue = 256
	// MaxName bounds Name.
	MaxName = 256
	// MaxList bounds how many selectors one record or one search carries.
	MaxList = 100
)

// Error is a rejected selector: which field, and why. Detail is one of the
// fixed texts in this file and never contains the rejected value, which is
// personal data; it is safe to show to the client and to log.
type Error struct {
	// Type is the selector type as given ("" if the type itself is bad;
	// never an unknown type's text).
	Type string
	// Field is the JSON member at fault: "type", "value", "country",
	// "document_type", "name" or "date_of_birth".
	Field string
	// Detail says what is wrong, e.g. "not a valid IBAN (checksum)".
	Detail string
}

func (e *Error) Error() string {
	t := e.Type
	if t == "" {
		t = "?"
	}
	return "selector " + t + ": " + e.Field + ": " + e.Detail
}

// FieldError names one invalid selector in a list by JSON pointer. It has
// the shape of record.FieldError, so one converts to the other.
type FieldError struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// Error details. Every Error carries one of these verbatim (the tests hold
// every rejection to this list), so no detail can echo a value.
const (
	dTooLong      = "too long"
	dNotUTF8      = "not valid UTF-8"
	dControl      = "contains control, format or line-separator characters"
	dRequired     = "required"
	dNotUsed      = "not used with this selector type"
	dUnknownType  = "unknown selector type (phone, iban, email, vehicle, document, person)"
	dUnknownDoc   = "unknown document type (passport, id_card, driving_licence, residence_permit, other)"
	dCountry      = "not an ISO 3166-1 alpha-2 or alpha-3 code of a current country"
	dRegion       = "the number has no international prefix and no country or record jurisdiction to read it in"
	dPhoneChars   = "a phone number has only digits, a leading + and the separators space - . / ( )"
	dPhoneParse   = "not a phone number"
	dPhoneInvalid = "not a valid phone number for its country (wrong length or unallocated range)"
	dIBANChars    = "an IBAN has only letters, digits and spaces"
	dIBANCountry  = "not a valid IBAN (unknown country code)"
	dIBANLength   = "not a valid IBAN (wrong length for its country)"
	dIBANChecksum = "not a valid IBAN (checksum)"
	dEmailAt      = "not an e-mail address (needs exactly one @)"
	dEmailLocal   = "not an e-mail address (local part empty, too long, quoted or with characters not allowed)"
	dEmailDomain  = "not an e-mail address (domain is not a valid internet domain name)"
	dEmailLength  = "not an e-mail address (longer than 254 characters)"
	dPlateChars   = "a plate has only letters, digits and the separators space - . ·"
	dPlateLength  = "a plate has 2 to 12 letters and digits"
	dDocChars     = "a document number has only letters, digits and the separators space - . /"
	dDocLength    = "a document number has 4 to 20 letters and digits"
	dNameChars    = "a name has only letters, spaces, hyphens, apostrophes, dots and commas"
	dNameScript   = "a name has letters this version cannot transliterate (it reads Latin, Cyrillic and Greek); give the Latin spelling, as in the passport's machine-readable zone"
	dNameMixed    = "a word of the name mixes Latin with Cyrillic or Greek letters that have no Latin look-alike"
	dNameEmpty    = "a name has at least one letter"
	dDate         = "not a date (YYYY-MM-DD)"
	dDateRange    = "a date of birth is from 1900-01-01 and not in the future"
	dListTooLong  = "too many selectors (at most 100)"
)

func fail(typ, field, detail string) *Error { return &Error{Type: typ, Field: field, Detail: detail} }

// Normalize validates s and returns its canonical form. defaultRegion is
// the record's jurisdiction (ISO 3166-1 alpha-2 or alpha-3, e.g. "GBR" from
// the agency registry; "" for none): the region a phone number without an
// international prefix is read in, unless the selector names its own
// Country. The error, if any, is an *Error.
func Normalize(s Selector, defaultRegion string) (Normalized, error) {
	n, e := normalize(s, defaultRegion)
	if e != nil {
		return Normalized{}, e
	}
	return n, nil
}

func normalize(s Selector, defaultRegion string) (Normalized, *Error) {
	if e := checkField("", "type", s.Type, MaxValue); e != nil {
		return Normalized{}, e
	}
	used, ok := usedFields[s.Type]
	if !ok {
		return Normalized{}, fail("", "type", dUnknownType)
	}
	if e := checkFields(s, used); e != nil {
		return Normalized{}, e
	}
	var canon string
	var e *Error
	switch s.Type {
	case TypePhone:
		canon, e = normalizePhone(s.Value, s.Country, defaultRegion)
	case TypeIBAN:
		canon, e = normalizeIBAN(s.Value)
	case TypeEmail:
		canon, e = normalizeEmail(s.Value)
	case TypeVehicle:
		canon, e = normalizeVehicle(s.Value, s.Country)
	case TypeDocument:
		canon, e = normalizeDocument(s.Value, s.Country, s.DocumentType)
	case TypePerson:
		canon, e = normalizePerson(s.Name, s.DateOfBirth)
	}
	if e != nil {
		return Normalized{}, e
	}
	return Normalized{Type: s.Type, Canonical: s.Type + ":" + canon}, nil
}

// usedFields are the members each type reads.
var usedFields = map[string][]string{
	TypePhone:    {"value", "country"},
	TypeIBAN:     {"value"},
	TypeEmail:    {"value"},
	TypeVehicle:  {"value", "country"},
	TypeDocument: {"value", "country", "document_type"},
	TypePerson:   {"name", "date_of_birth"},
}

// checkFields refuses fields the type does not use (a client that sends a
// country with an e-mail address has misunderstood the shape, and silently
// dropping it would hide that), and checks each used field's text.
func checkFields(s Selector, used []string) *Error {
	fields := [...]struct{ name, v string }{
		{"value", s.Value}, {"country", s.Country}, {"document_type", s.DocumentType},
		{"name", s.Name}, {"date_of_birth", s.DateOfBirth},
	}
	for _, f := range fields {
		isUsed := false
		for _, u := range used {
			if u == f.name {
				isUsed = true
			}
		}
		if !isUsed {
			if f.v != "" {
				return fail(s.Type, f.name, dNotUsed)
			}
			continue
		}
		max := MaxValue
		if f.name == "name" {
			max = MaxName
		}
		if e := checkField(s.Type, f.name, f.v, max); e != nil {
			return e
		}
	}
	return nil
}

// checkField holds every input field to the rule of record.Printable
// (gateway/record, duplicated here because record will depend on this
// package): valid UTF-8, bounded, and free of C0/C1 controls, line and
// paragraph separators and format characters — zero-width spaces, the
// byte order mark and the bidirectional overrides and isolates
// (U+202A–U+202E, U+2066–U+2069) that make one string display as another.
// Zero-width joiner and non-joiner are allowed (Persian and Indic names
// need them); the normalisers drop them as non-letters.
func checkField(typ, field, v string, max int) *Error {
	if len(v) > max {
		return fail(typ, field, dTooLong)
	}
	if !utf8.ValidString(v) {
		return fail(typ, field, dNotUTF8)
	}
	for _, c := range v {
		switch {
		case c < 0x20 || c == 0x7f:
			return fail(typ, field, dControl)
		case c < 0x80:
		case c == 0x200c || c == 0x200d:
		case unicode.IsControl(c) || unicode.In(c, unicode.Cf, unicode.Zl, unicode.Zp):
			return fail(typ, field, dControl)
		}
	}
	return nil
}

// NormalizeAll validates a list of selectors (a record's or a search's) and
// returns one Normalized per element, in order, or — if any is invalid —
// nil and every invalid element's error, each naming its element by JSON
// pointer relative to the document the list is the "selectors" member of:
// "/selectors/2/value: not a valid IBAN (checksum)". A caller whose list
// lives deeper prefixes the pointers (e.g. "/meta"). Equal selectors are
// kept (the index entry deduplicates blind values: Key.IndexValues).
func NormalizeAll(list []Selector, defaultRegion string) ([]Normalized, []FieldError) {
	if len(list) > MaxList {
		return nil, []FieldError{{Pointer: "/selectors", Detail: dListTooLong}}
	}
	out := make([]Normalized, 0, len(list))
	var errs []FieldError
	for i, s := range list {
		n, e := normalize(s, defaultRegion)
		if e != nil {
			errs = append(errs, FieldError{
				Pointer: "/selectors/" + strconv.Itoa(i) + "/" + e.Field,
				Detail:  e.Detail,
			})
			continue
		}
		out = append(out, n)
	}
	if errs != nil {
		return nil, errs
	}
	return out, nil
}

// Country returns the ISO 3166-1 alpha-2 code of code, an alpha-2 or
// alpha-3 code of a current country or territory in any letter case
// ("GBR", "gb" → "GB"). "UK", the exceptionally reserved code that Britain
// uses as its vehicle sign and that officers write, is read as "GB". It
// reports false for anything else: numeric M.49 codes, regions such as
// "EU", withdrawn codes ("SU", "YU"), unknown codes.
func Country(code string) (string, bool) {
	if len(code) != 2 && len(code) != 3 {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return "", false
		}
	}
	r, err := language.ParseRegion(code)
	if err != nil || !r.IsCountry() {
		return "", false
	}
	// Canonicalize maps the deprecated codes x/text knows to their
	// successors (UK → GB); a current country is one that has a telephone
	// numbering plan in libphonenumber's metadata, which drops withdrawn
	// codes (SU, YU, AN) and keeps user-assigned XK (Kosovo), which IBANs
	// and plates use.
	a2 := r.Canonicalize().String()
	if !phoneRegions[a2] {
		return "", false
	}
	return a2, true
}

func countryField(typ, code string) (string, *Error) {
	if code == "" {
		return "", fail(typ, "country", dRequired)
	}
	a2, ok := Country(strings.TrimSpace(code))
	if !ok {
		return "", fail(typ, "country", dCountry)
	}
	return a2, nil
}
