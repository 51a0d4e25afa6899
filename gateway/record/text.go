package record

import (
	"unicode"
	"unicode/utf8"
)

// MaxJustification bounds a justification or reason given with a request
// (the Liaison-Justification header, a custodian's reason): it is kept in
// every audit entry.
const MaxJustification = 1024

// Printable reports whether s is valid UTF-8 free of characters that can
// forge or disguise a log line when it is displayed: C0 and C1 controls
// (U+0085 NEL is a line break to many viewers), the Unicode line and
// paragraph separators (U+2028, U+2029) and format characters, among them
// the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069)
// that reorder what an auditor sees. Zero-width joiner and non-joiner are
// kept: scripts such as Persian and the Indic ones need them in names.
func Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		switch {
		case c < 0x20 || c == 0x7f:
			return false
		case c < 0x80:
		case c == 0x200c || c == 0x200d:
		case unicode.IsControl(c) || unicode.In(c, unicode.Cf, unicode.Zl, unicode.Zp):
			return false
		}
	}
	return true
}
