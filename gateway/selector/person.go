package selector

import (
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizePerson returns "TOKENS:YYYY-MM-DD": the name transliterated to
// A–Z words, sorted and joined by single spaces, and the date of birth,
// e.g. "IVAN PETROV:1980-02-03" for "Петров Иван", 1980-02-03.
//
// A person selector is a compound key: it matches only records with the
// same date of birth and the same words of the name after transliteration,
// in any order. A name alone is never a selector (too many people share
// one), and nothing here is fuzzy: one name has many Latin spellings
// (Юлия is IULIIA in a Russian passport and YULIYA or JULIA elsewhere;
// Müller is MULLER here and MUELLER in a German passport's machine-readable
// zone), and a missing middle name or a maiden name is a different key.
// Fuzzy matching of names belongs to the follow-up request, where a person
// compares the records (FEDERATION.md §7, Prüm step 2).
//
// Steps:
//  1. Unicode compatibility decomposition (NFKD) and removal of the
//     combining marks it splits off (unicode.Mn, as
//     runes.Remove(runes.In(unicode.Mn)) would), so é → E, Ł stays, Й → I.
//     The Greek diaeresis is looked at before it is dropped: it keeps ϋ
//     out of a digraph (ELOT 743).
//  2. Words are split at spaces, hyphens, dots and commas; apostrophes and
//     the Catalan middle dot join (O'Brien → OBRIEN, as ICAO Doc 9303 Part
//     3 omits them in the machine-readable zone).
//  3. Each word is transliterated by its script: Latin letters with the
//     table latinSpecial (ß → SS, Æ → AE, Ø → O, Ł → L, ...); Cyrillic by
//     ICAO Doc 9303 Part 3 §6 (the table in Russian, Ukrainian, Belarusian,
//     Serbian and Macedonian passports since 2013; close to BGN/PCGN but
//     Й → I, Ю → IU, Я → IA); Greek by ELOT 743:2001 (ISO 843 type 2, the
//     Greek passport's system): Η → I, Υ → Y, Χ → CH, ΟΥ → OU, ΑΥ/ΕΥ/ΗΥ →
//     AV/EV/IV or AF/EF/IF, ΓΓ → NG, ΓΞ → NX, ΓΧ → NCH.
//  4. A word that mixes Latin with Cyrillic or Greek letters is a
//     homoglyph — a Cyrillic "Р" typed into "Рetrov" — or an attack (UTS
//     #39 mixed-script confusables); its non-Latin letters are read by
//     shape (lookAlike: Р → P), and a letter with no Latin twin refuses the
//     name. Letters of other scripts (Arabic, Han, ...) refuse the name: no
//     transliteration of them is good enough to key on, and the officer has
//     the Latin spelling from the document.
//
// The date of birth is a real calendar date from 1900-01-01 to today (UTC,
// plus one day so that a date already current east of UTC is accepted).
func normalizePerson(name, dob string) (string, *Error) {
	if strings.TrimSpace(name) == "" {
		return "", fail(TypePerson, "name", dRequired)
	}
	if dob == "" {
		return "", fail(TypePerson, "date_of_birth", dRequired)
	}
	words, e := nameWords(name)
	if e != nil {
		return "", e
	}
	if e := checkDOB(dob); e != nil {
		return "", e
	}
	slices.Sort(words)
	return strings.Join(words, " ") + ":" + dob, nil
}

// now is the clock for the date-of-birth bound (tests move it).
var now = time.Now

func checkDOB(dob string) *Error {
	t, err := time.Parse(time.DateOnly, dob)
	if err != nil || len(dob) != len(time.DateOnly) || t.Format(time.DateOnly) != dob {
		return fail(TypePerson, "date_of_birth", dDate)
	}
	min := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	max := now().UTC().AddDate(0, 0, 1)
	if t.Before(min) || t.After(max) {
		return fail(TypePerson, "date_of_birth", dDateRange)
	}
	return nil
}

// letter is one upper-case letter of a word, and whether a diaeresis
// followed it (Greek digraphs).
type letter struct {
	r     rune
	diaer bool
}

const (
	scriptLatin = 1 << iota
	scriptCyrillic
	scriptGreek
)

func nameWords(name string) ([]string, *Error) {
	var words []string
	var cur []letter
	scripts := 0
	var err *Error
	flush := func() {
		if len(cur) == 0 || err != nil {
			cur, scripts = cur[:0], 0
			return
		}
		w, e := transliterateWord(cur, scripts)
		if e != nil {
			err = e
		} else if w != "" {
			words = append(words, w)
		}
		cur, scripts = cur[:0], 0
	}
	for _, c := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, c):
			if c == 0x0308 && len(cur) > 0 {
				cur[len(cur)-1].diaer = true
			}
		case c == '\'' || c == '\u2019' || c == '\u2018' || c == '\u02bc' || c == '\u02bb' || c == '`' || c == '\u00b7' || c == 0x200c || c == 0x200d:
			// joins: O'Brien, Uzbek Oʻ (U+02BB), Catalan Paral·lel;
			// ZWJ/ZWNJ are invisible
		case unicode.IsSpace(c) || c == ',' || c == '.' || isDash(c):
			flush()
		case unicode.IsLetter(c):
			u := unicode.ToUpper(c)
			switch {
			case unicode.Is(unicode.Latin, u):
				scripts |= scriptLatin
			case unicode.Is(unicode.Cyrillic, u):
				scripts |= scriptCyrillic
			case unicode.Is(unicode.Greek, u):
				scripts |= scriptGreek
			default:
				return nil, fail(TypePerson, "name", dNameScript)
			}
			cur = append(cur, letter{r: u})
		default:
			return nil, fail(TypePerson, "name", dNameChars)
		}
		if err != nil {
			return nil, err
		}
	}
	flush()
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fail(TypePerson, "name", dNameEmpty)
	}
	return words, nil
}

func transliterateWord(w []letter, scripts int) (string, *Error) {
	var b strings.Builder
	switch scripts {
	case scriptLatin:
		for _, l := range w {
			if !latinLetter(&b, l.r) {
				return "", fail(TypePerson, "name", dNameScript)
			}
		}
	case scriptCyrillic:
		for _, l := range w {
			s, ok := cyrillicICAO[l.r]
			if !ok {
				return "", fail(TypePerson, "name", dNameScript)
			}
			b.WriteString(s)
		}
	case scriptGreek:
		if !greekELOT(&b, w) {
			return "", fail(TypePerson, "name", dNameScript)
		}
	default: // mixed scripts in one word: read by shape
		for _, l := range w {
			if unicode.Is(unicode.Latin, l.r) {
				if !latinLetter(&b, l.r) {
					return "", fail(TypePerson, "name", dNameScript)
				}
				continue
			}
			t, ok := lookAlike[l.r]
			if !ok {
				return "", fail(TypePerson, "name", dNameMixed)
			}
			b.WriteRune(t)
		}
	}
	return b.String(), nil
}

// latinSpecial spells the Latin letters that have no decomposition to
// A–Z, as ICAO Doc 9303 Part 3 §6 does for the machine-readable zone
// (except Ø → O, which the MRZ writes OE: here it is treated like the
// accented letters, whose marks are dropped, so that Ø and O match as Ö
// and O do).
var latinSpecial = map[rune]string{
	'ß': "SS", 'ẞ': "SS", 'Æ': "AE", 'Ø': "O", 'Ł': "L", 'Đ': "D", 'Ð': "D",
	'Þ': "TH", 'Œ': "OE", 'Ħ': "H", 'Ŧ': "T", 'Ŋ': "N", 'ĸ': "K",
	// Azerbaijani schwa: Əliyev is Aliyev in Azerbaijani passports.
	'Ə': "A",
}

func latinLetter(b *strings.Builder, r rune) bool {
	if r >= 'A' && r <= 'Z' {
		b.WriteRune(r)
		return true
	}
	if s, ok := latinSpecial[r]; ok {
		b.WriteString(s)
		return true
	}
	return false
}

// cyrillicICAO is ICAO Doc 9303 Part 3 §6 (Transliteration of Cyrillic
// characters), on the base letters left after NFKD and mark removal (so Й
// arrives as И → I, Ё as Е → E, Ї as І → I, Ў as У → U, Ѓ as Г → G, Ќ as К →
// K, exactly the table's values for them).
var cyrillicICAO = map[rune]string{
	'А': "A", 'Б': "B", 'В': "V", 'Г': "G", 'Д': "D", 'Е': "E", 'Ж': "ZH",
	'З': "Z", 'И': "I", 'К': "K", 'Л': "L", 'М': "M", 'Н': "N", 'О': "O",
	'П': "P", 'Р': "R", 'С': "S", 'Т': "T", 'У': "U", 'Ф': "F", 'Х': "KH",
	'Ц': "TS", 'Ч': "CH", 'Ш': "SH", 'Щ': "SHCH", 'Ъ': "IE", 'Ы': "Y",
	'Ь': "", 'Э': "E", 'Ю': "IU", 'Я': "IA",
	// Ukrainian
	'Ґ': "G", 'Є': "IE", 'І': "I",
	// Serbian and Macedonian
	'Ђ': "D", 'Ѕ': "DZ", 'Ј': "J", 'Љ': "LJ", 'Њ': "NJ", 'Ћ': "C", 'Џ': "DZ",
}

// greekELOT1 is ELOT 743:2001 letter by letter; greekELOT adds its
// digraphs.
var greekELOT1 = map[rune]string{
	'Α': "A", 'Β': "V", 'Γ': "G", 'Δ': "D", 'Ε': "E", 'Ζ': "Z", 'Η': "I",
	'Θ': "TH", 'Ι': "I", 'Κ': "K", 'Λ': "L", 'Μ': "M", 'Ν': "N", 'Ξ': "X",
	'Ο': "O", 'Π': "P", 'Ρ': "R", 'Σ': "S", 'Τ': "T", 'Υ': "Y", 'Φ': "F",
	'Χ': "CH", 'Ψ': "PS", 'Ω': "O",
}

// greekVoiced: after ΑΥ, ΕΥ, ΗΥ, a vowel or one of these makes Υ a V;
// anything else (a voiceless consonant, the end of the word) an F.
func greekVoiced(r rune) bool {
	switch r {
	case 'Α', 'Ε', 'Η', 'Ι', 'Ο', 'Υ', 'Ω', 'Β', 'Γ', 'Δ', 'Ζ', 'Λ', 'Μ', 'Ν', 'Ρ':
		return true
	}
	return false
}

func greekELOT(b *strings.Builder, w []letter) bool {
	for i := 0; i < len(w); i++ {
		c := w[i].r
		if c == 'ς' { // final sigma has no capital of its own
			c = 'Σ'
		}
		var next rune
		nextPlain := false // next letter without a diaeresis
		if i+1 < len(w) {
			next, nextPlain = w[i+1].r, !w[i+1].diaer
		}
		switch {
		case c == 'Ο' && next == 'Υ' && nextPlain:
			b.WriteString("OU")
			i++
			continue
		case (c == 'Α' || c == 'Ε' || c == 'Η') && next == 'Υ' && nextPlain:
			b.WriteString(greekELOT1[c])
			if i+2 < len(w) && greekVoiced(w[i+2].r) {
				b.WriteByte('V')
			} else {
				b.WriteByte('F')
			}
			i++
			continue
		case c == 'Γ' && (next == 'Γ' || next == 'Ξ' || next == 'Χ'):
			b.WriteByte('N')
			continue
		}
		s, ok := greekELOT1[c]
		if !ok {
			return false
		}
		b.WriteString(s)
	}
	return true
}
