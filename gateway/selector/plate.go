package selector

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// lookAlike maps the Cyrillic and Greek capitals that have a Latin twin to
// that twin. Registration plates and machine-read document numbers mix
// them up constantly: Russian plates (GOST R 50577) use only the twelve
// Cyrillic letters А В Е К М Н О Р С Т У Х precisely because they read as
// Latin A B E K M H O P C T Y X; Ukrainian (DSTU 4278) and Bulgarian plates
// use the same set (Ukraine adds І); Greek plates use only the fourteen
// capitals Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ that look Latin. An officer copying
// a plate types whichever keyboard is active, so "А123ВС" in Cyrillic and
// "A123BC" in Latin must be one selector. The mapping is by shape, not by
// sound (Cyrillic Р is Latin P here, not R), which is what a plate means.
// Names (person) are transliterated by sound instead (translit.go).
var lookAlike = map[rune]rune{
	// Cyrillic
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O',
	'Р': 'P', 'С': 'C', 'Т': 'T', 'У': 'Y', 'Х': 'X', 'І': 'I', 'Ѕ': 'S',
	'Ј': 'J',
	// Greek
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K',
	'Μ': 'M', 'Ν': 'N', 'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
}

// isDash reports the hyphens and dashes people type between plate and
// document groups (ASCII hyphen-minus, U+2010–U+2015, minus sign).
func isDash(c rune) bool { return c == '-' || (c >= 0x2010 && c <= 0x2015) || c == 0x2212 }

// alnumFold reduces s to A–Z and 0–9: compatibility decomposition (NFKD:
// fullwidth and circled forms to ASCII, accented letters to letter +
// mark), marks dropped (Ü → U), upper case, Cyrillic and Greek look-alikes
// to their Latin twin; runes for which sep is true are dropped. It reports
// false on any other character.
func alnumFold(s string, sep func(rune) bool) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range norm.NFKD.String(s) {
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
			b.WriteRune(c)
		case c >= 'a' && c <= 'z':
			b.WriteRune(c - 'a' + 'A')
		case unicode.Is(unicode.Mn, c):
		case sep(c):
		default:
			u := unicode.ToUpper(c)
			if u >= 'A' && u <= 'Z' { // ı, ſ, ... whose capital is ASCII
				b.WriteRune(u)
			} else if l, ok := lookAlike[u]; ok {
				b.WriteRune(l)
			} else {
				return "", false
			}
		}
	}
	return b.String(), true
}

func plateSep(c rune) bool {
	return c == ' ' || c == '.' || c == 0x00b7 || isDash(c)
}

func documentSep(c rune) bool {
	// '<' is the machine-readable zone's filler (ICAO Doc 9303 Part 3),
	// so a number copied from an MRZ ("L898902C<") matches.
	return c == ' ' || c == '.' || c == '/' || c == '<' || isDash(c)
}

// normalizeVehicle returns "CC:PLATE": the registration country as ISO
// 3166-1 alpha-2 and the plate reduced to A–Z and 0–9 (alnumFold; spaces,
// dashes, dots and middle dots removed), 2 to 12 characters, e.g.
// "GB:AB12CDE". The country is part of the key because the same plate
// text is issued in many countries. Known conflations, accepted because a
// plate is read by eye: "Ü" and "U" are one letter here (German district
// codes), and Cyrillic/Greek look-alikes are their Latin twins. "O" and
// "0" stay different: countries that forbid one on plates do so
// differently, and merging them would merge real plates.
func normalizeVehicle(v, country string) (string, *Error) {
	if v == "" {
		return "", fail(TypeVehicle, "value", dRequired)
	}
	cc, e := countryField(TypeVehicle, country)
	if e != nil {
		return "", e
	}
	p, ok := alnumFold(v, plateSep)
	if !ok {
		return "", fail(TypeVehicle, "value", dPlateChars)
	}
	if len(p) < 2 || len(p) > 12 {
		return "", fail(TypeVehicle, "value", dPlateLength)
	}
	return cc + ":" + p, nil
}

// normalizeDocument returns "CC:type:NUMBER": issuing country as ISO 3166-1
// alpha-2, the document type, and the number reduced like a plate (spaces,
// dashes, dots, slashes and the MRZ filler "<" removed), 4 to 20
// characters, e.g. "GB:passport:123456789". Passport numbers are at most 9
// characters in the MRZ (ICAO Doc 9303) but national identity and
// residence documents run longer. The type is part of the key: a country's
// passport and identity card numbers are separate series.
func normalizeDocument(v, country, docType string) (string, *Error) {
	if v == "" {
		return "", fail(TypeDocument, "value", dRequired)
	}
	cc, e := countryField(TypeDocument, country)
	if e != nil {
		return "", e
	}
	if docType == "" {
		return "", fail(TypeDocument, "document_type", dRequired)
	}
	known := false
	for _, t := range documentTypes {
		if t == docType {
			known = true
		}
	}
	if !known {
		return "", fail(TypeDocument, "document_type", dUnknownDoc)
	}
	n, ok := alnumFold(v, documentSep)
	if !ok {
		return "", fail(TypeDocument, "value", dDocChars)
	}
	if len(n) < 4 || len(n) > 20 {
		return "", fail(TypeDocument, "value", dDocLength)
	}
	return cc + ":" + docType + ":" + n, nil
}
