package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Strict JSON for request bodies. encoding/json is lenient where a security
// gateway must not be:
//
//   - a Decoder stops at the end of the first value, so `{"a":1}}` decodes
//     as `{"a":1}` unless the caller checks for trailing data itself;
//   - invalid UTF-8 and unpaired UTF-16 surrogate escapes ("\ud800") are
//     silently replaced by U+FFFD when decoding into a string, but kept
//     byte for byte in a json.RawMessage (record content, tags), so they
//     would be stored and echoed to recipients as invalid JSON;
//   - a member name given twice is accepted and the last one wins, which
//     lets two parsers of the same body disagree about what it says.
//
// DecodeStrict refuses all three; CheckText is the part that looks at the
// raw bytes, for callers (ParsePublish) that decode differently.

// DecodeStrict decodes exactly one JSON value from b into v: unknown object
// members (for struct targets), trailing data, text that is not valid
// Unicode and duplicate member names are errors. A text or duplicate error
// is a *ValidationError naming the offending string by JSON Pointer;
// anything else is a plain error whose message never quotes the input.
func DecodeStrict(b []byte, v any) error {
	if err := strictDecode(b, v); err != nil {
		return err
	}
	// The decoder has seen one complete value and then EOF: b is one
	// well-formed JSON document, which is what CheckText expects.
	if fe := CheckText(b); fe != nil {
		return &ValidationError{Fields: []FieldError{*fe}}
	}
	return nil
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// Token, not More: More reports false for a stray '}' or ']', so
	// `{"a":1}}` would pass.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// CheckText reports the first string (member name or value) of the JSON
// document b that is not valid Unicode text: raw bytes that are not UTF-8,
// or a \u escape of an unpaired UTF-16 surrogate. It also reports a member
// name repeated within one object. The FieldError's pointer is the JSON
// Pointer (RFC 6901) of the offending value; for a bad member name, of the
// object holding it, so the pointer itself is always valid text.
//
// b must already be known to be well-formed JSON (the callers decode it
// first); on anything else CheckText returns an error or nil but never
// panics or loops.
func CheckText(b []byte) *FieldError {
	c := textChecker{b: b, valStart: -1}
	return c.run()
}

type textFrame struct {
	object bool
	index  int      // array: index of the current element
	key    string   // object: name of the current member
	names  []string // object: names seen so far (small objects)
	set    map[string]struct{}
}

// smallObject is how many member names are compared linearly before an
// object's names go into a map.
const smallObject = 16

func (f *textFrame) addName(name string) (dup bool) {
	if f.set != nil {
		if _, ok := f.set[name]; ok {
			return true
		}
		f.set[name] = struct{}{}
		return false
	}
	for _, n := range f.names {
		if n == name {
			return true
		}
	}
	if len(f.names) < smallObject {
		f.names = append(f.names, name)
		return false
	}
	f.set = make(map[string]struct{}, 2*smallObject)
	for _, n := range f.names {
		f.set[n] = struct{}{}
	}
	f.names = nil
	f.set[name] = struct{}{}
	return false
}

type textChecker struct {
	b     []byte
	i     int
	stack []textFrame
	// members, if not nil, receives the top-level object's members: each
	// name and its value's bytes, a slice of b (see splitTopObject).
	members map[string][]byte
	// valStart is where the top-level member value being read began (-1:
	// none).
	valStart int
}

// splitTopObject is CheckText for a document that is an object, which also
// returns the object's members, each value as a slice of b: no value is
// copied (json.Unmarshal into json.RawMessage copies each one, and a
// publish's content is most of its body). b must be well-formed JSON
// (json.Valid) and begin, after white space, with '{'.
func splitTopObject(b []byte) (map[string][]byte, *FieldError) {
	c := textChecker{b: b, members: make(map[string][]byte, 2), valStart: -1}
	if fe := c.run(); fe != nil {
		return nil, fe
	}
	return c.members, nil
}

// pointerTo is the JSON Pointer of the value being read at nesting depth
// d: pointerTo(len(stack)) is the current value, pointerTo(len(stack)-1)
// the container holding it.
func (c *textChecker) pointerTo(d int) string {
	var sb strings.Builder
	for _, f := range c.stack[:d] {
		sb.WriteByte('/')
		if f.object {
			sb.WriteString(pointerEscaper.Replace(f.key))
		} else {
			sb.WriteString(strconv.Itoa(f.index))
		}
	}
	return sb.String()
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

var errNotJSON = &FieldError{Pointer: "", Detail: "malformed JSON"}

func (c *textChecker) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *textChecker) run() *FieldError {
	// expectKey: inside an object, before a member name.
	expectKey := false
	for {
		c.ws()
		if c.i >= len(c.b) {
			return errNotJSON
		}
		if expectKey {
			if c.b[c.i] != '"' {
				return errNotJSON
			}
			name, bad := c.str(true)
			switch {
			case bad == strBroken:
				return errNotJSON
			case bad != strOK:
				// Point at the object: the name itself is not text.
				return &FieldError{Pointer: c.pointerTo(len(c.stack) - 1), Detail: "a member name " + bad.detail()}
			}
			top := &c.stack[len(c.stack)-1]
			if top.addName(name) {
				top.key = name
				return &FieldError{Pointer: c.pointerTo(len(c.stack)), Detail: "duplicate member name"}
			}
			top.key = name
			c.ws()
			if c.i >= len(c.b) || c.b[c.i] != ':' {
				return errNotJSON
			}
			c.i++
			expectKey = false
			continue
		}
		// A value.
		if c.members != nil && len(c.stack) == 1 && c.stack[0].object {
			c.valStart = c.i
		}
		switch ch := c.b[c.i]; ch {
		case '{', '[':
			c.i++
			c.stack = append(c.stack, textFrame{object: ch == '{'})
			c.ws()
			if c.i < len(c.b) && (c.b[c.i] == '}' || c.b[c.i] == ']') {
				c.i++
				c.stack = c.stack[:len(c.stack)-1]
				break
			}
			expectKey = ch == '{'
			continue
		case '"':
			if _, bad := c.str(false); bad == strBroken {
				return errNotJSON
			} else if bad != strOK {
				return &FieldError{Pointer: c.pointerTo(len(c.stack)), Detail: "the string " + bad.detail()}
			}
		default:
			// A number or literal: the caller has checked its syntax.
			start := c.i
			for c.i < len(c.b) && !strings.ContainsRune(",}] \t\n\r", rune(c.b[c.i])) {
				c.i++
			}
			if c.i == start {
				return errNotJSON
			}
		}
		// After a value: end of document, next element, or end of container.
		for {
			if c.valStart >= 0 && len(c.stack) == 1 {
				c.members[c.stack[0].key] = c.b[c.valStart:c.i:c.i]
				c.valStart = -1
			}
			c.ws()
			if len(c.stack) == 0 {
				if c.i != len(c.b) {
					return &FieldError{Pointer: "", Detail: "unexpected data after the JSON value"}
				}
				return nil
			}
			if c.i >= len(c.b) {
				return errNotJSON
			}
			top := &c.stack[len(c.stack)-1]
			switch c.b[c.i] {
			case ',':
				c.i++
				if top.object {
					expectKey = true
				} else {
					top.index++
				}
			case '}', ']':
				c.i++
				c.stack = c.stack[:len(c.stack)-1]
				continue
			default:
				return errNotJSON
			}
			break
		}
	}
}

type strProblem int

const (
	strOK strProblem = iota
	strBroken
	strBadUTF8
	strSurrogate
)

func (p strProblem) detail() string {
	switch p {
	case strBadUTF8:
		return "is not valid UTF-8"
	case strSurrogate:
		return `holds an unpaired UTF-16 surrogate escape (\uD800-\uDFFF)`
	}
	return "is malformed"
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, ch := range b[:4] {
		r <<= 4
		switch {
		case ch >= '0' && ch <= '9':
			r |= rune(ch - '0')
		case ch >= 'a' && ch <= 'f':
			r |= rune(ch-'a') + 10
		case ch >= 'A' && ch <= 'F':
			r |= rune(ch-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}

// str reads the string at c.i (its opening quote) and reports what is wrong
// with it; with value, it also returns the decoded string (member names are
// compared decoded: "a" and "\u0061" are the same name).
func (c *textChecker) str(value bool) (string, strProblem) {
	b := c.b
	start := c.i + 1
	j := start
	escaped := false
	for {
		if j >= len(b) {
			return "", strBroken
		}
		ch := b[j]
		switch {
		case ch == '"':
			c.i = j + 1
			if !value {
				return "", strOK
			}
			if !escaped {
				return string(b[start:j]), strOK
			}
			var s string
			if err := json.Unmarshal(b[start-1:j+1], &s); err != nil {
				return "", strBroken
			}
			return s, strOK
		case ch == '\\':
			escaped = true
			if j+1 >= len(b) {
				return "", strBroken
			}
			if b[j+1] != 'u' {
				j += 2
				continue
			}
			r, ok := hex4(b[j+2:])
			if !ok {
				return "", strBroken
			}
			j += 6
			switch {
			case r >= 0xDC00 && r <= 0xDFFF: // a low surrogate first
				return "", strSurrogate
			case r >= 0xD800 && r <= 0xDBFF: // a high one: a low must follow
				if j+1 >= len(b) || b[j] != '\\' || b[j+1] != 'u' {
					return "", strSurrogate
				}
				lo, ok := hex4(b[j+2:])
				if !ok {
					return "", strBroken
				}
				if lo < 0xDC00 || lo > 0xDFFF {
					return "", strSurrogate
				}
				j += 6
			}
		case ch < 0x20:
			return "", strBroken
		case ch < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size <= 1 {
				return "", strBadUTF8
			}
			j += size
		}
	}
}
