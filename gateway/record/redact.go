package record

// Redaction paths and the redactor.
//
// A path names values inside a record's content (a JSON object) that a
// recipient must not see. The syntax is dotted, with a whole-segment
// wildcard:
//
//	path    = segment *( "." segment )
//	segment = "*" / 1*( char / escape )
//	escape  = "~0" (a "~") / "~1" (a ".") / "~2" (a "*")
//
// A segment names an object member; on an array, a segment of decimal
// digits (no leading zero) is an element index; "*" is every element of an
// array or every member of an object. A key that contains ".", "~" or "*"
// is written with the escapes (the same idea as RFC 6901's ~0/~1), so every
// key can be named and every path has one meaning. Control characters are
// not allowed. A path must end at an object member: removing array
// elements would renumber the rest, so hide a whole array by naming it, or
// a member of its elements ("accounts.*.iban").
//
// Dotted paths rather than JSON Pointer: "subject.iban" is what originators
// and DSA authors already write (and what the field was documented as),
// top-level names stay valid paths unchanged, and a wildcard needs no
// extension of a standard that has none.
//
// Two ways to apply paths, for two kinds of author:
//
//   - CheckProtectedFields, at publish: the originator's protected_fields
//     must each apply to this content — parse, match at least one value,
//     never step into a scalar or into an array with a member name. Anything
//     else is a 400 naming the path: the originator is told, never left to
//     believe a field is protected when it is not.
//   - Redact, at disclosure: the record's paths and the policy's (DSA
//     redact_fields, written once for every record) are applied. A path that
//     matches nothing removes nothing (a DSA's field is usually absent). A
//     path that cannot be followed — it steps into a string, number or
//     boolean, or names a member of an array — fails closed: the nearest
//     enclosing object member is withheld whole, because the scalar may hold
//     the protected value in another form. A path that does not parse is an
//     error: the caller must refuse the disclosure.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on a redaction path: they bound the redactor's work per path.
const (
	MaxPathLen   = 512
	MaxPathDepth = 32
)

// Path is a parsed redaction path.
type Path struct {
	raw   string
	steps []step
}

type step struct {
	key   string // the member name, unescaped
	wild  bool   // "*"
	index int    // the array index a digits-only segment names; -1 otherwise
}

// String returns the path as written.
func (p Path) String() string { return p.raw }

// ErrPathSyntax is wrapped by every ParsePath error.
var ErrPathSyntax = errors.New("invalid redaction path")

// ParsePath parses a redaction path.
func ParsePath(s string) (Path, error) {
	bad := func(why string) (Path, error) {
		return Path{}, fmt.Errorf("%w %q: %s", ErrPathSyntax, s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > MaxPathLen {
		return bad(fmt.Sprintf("longer than %d bytes", MaxPathLen))
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8")
	}
	segs := strings.Split(s, ".")
	if len(segs) > MaxPathDepth {
		return bad(fmt.Sprintf("more than %d segments", MaxPathDepth))
	}
	p := Path{raw: s, steps: make([]step, 0, len(segs))}
	for i, seg := range segs {
		if seg == "" {
			return bad(fmt.Sprintf("segment %d is empty (a key containing \".\" is written with ~1)", i+1))
		}
		if seg == "*" {
			p.steps = append(p.steps, step{wild: true, index: -1})
			continue
		}
		var b strings.Builder
		for j := 0; j < len(seg); j++ {
			c := seg[j]
			switch {
			case c < 0x20 || c == 0x7f:
				return bad("control character")
			case c == '*':
				return bad(`"*" is a whole segment (the wildcard); a "*" in a key is written ~2`)
			case c == '~':
				if j+1 == len(seg) {
					return bad(`"~" must be followed by 0, 1 or 2`)
				}
				switch seg[j+1] {
				case '0':
					b.WriteByte('~')
				case '1':
					b.WriteByte('.')
				case '2':
					b.WriteByte('*')
				default:
					return bad(`"~" must be followed by 0, 1 or 2`)
				}
				j++
			default:
				b.WriteByte(c)
			}
		}
		for _, r := range b.String() {
			if r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029 {
				return bad("control character")
			}
		}
		p.steps = append(p.steps, step{key: b.String(), index: arrayIndex(seg)})
	}
	return p, nil
}

// arrayIndex is the element index a segment names on an array: decimal
// digits without a leading zero, or -1.
func arrayIndex(seg string) int {
	if seg == "" || len(seg) > 9 || (len(seg) > 1 && seg[0] == '0') {
		return -1
	}
	n, err := strconv.Atoi(seg)
	if err != nil || n < 0 || strings.ContainsAny(seg, "+-") {
		return -1
	}
	return n
}

// render writes the first n steps of p back in path syntax.
func (p Path) render(n int) string {
	if n >= len(p.steps) {
		return p.raw
	}
	// The raw text's segments are exactly the steps (Split on "." never
	// splits an escape), so a prefix is the first n raw segments.
	return strings.Join(strings.Split(p.raw, ".")[:n], ".")
}

// stuck says a path could not be followed: at step depth it met a value
// of the wrong kind.
type stuck struct {
	depth int
	why   string
}

// walk applies steps[depth:] to the value v (already decoded one level by
// the caller as raw JSON) and returns the new value. removed counts values
// removed; a non-nil stuck reports that the path could not be followed
// below v (the caller, an object member, withholds or reports it).
type walker struct {
	p       Path
	removed int
	// withhold: on a stuck path, remove the nearest enclosing object member
	// (disclosure); otherwise stop at the first stuck point (publish check).
	withhold bool
	withheld []string
	stuckAt  *stuck
}

// kind of a raw JSON value, from its first byte.
func kindOf(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	switch v[0] {
	case '{', '[', 'n':
		return v[0]
	default:
		return 's' // string, number, true, false
	}
}

func describe(k byte) string {
	switch k {
	case '[':
		return "an array"
	case '{':
		return "an object"
	default:
		return "a scalar value"
	}
}

// object applies steps[depth:] inside the object members.
func (w *walker) object(members map[string]json.RawMessage, depth int) error {
	st := w.p.steps[depth]
	last := depth == len(w.p.steps)-1
	var keys []string
	if st.wild {
		keys = make([]string, 0, len(members))
		for k := range members {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	} else if _, ok := members[st.key]; ok {
		keys = []string{st.key}
	}
	for _, k := range keys {
		if last {
			delete(members, k)
			w.removed++
			continue
		}
		removed, withheld := w.removed, len(w.withheld)
		nv, s, err := w.value(members[k], depth+1)
		if err != nil {
			return err
		}
		if s != nil {
			if !w.withhold {
				w.stuckAt = s
				return nil
			}
			// Fail closed: the member that holds what the path could not
			// reach is withheld whole (and what was removed inside it is
			// no longer worth naming).
			delete(members, k)
			w.removed, w.withheld = removed, w.withheld[:withheld]
			w.withheld = append(w.withheld, w.p.render(depth+1))
			continue
		}
		members[k] = nv
		if w.stuckAt != nil {
			return nil
		}
	}
	return nil
}

// value applies steps[depth:] to v, which is the value reached by the
// first depth steps. depth < len(steps).
func (w *walker) value(v json.RawMessage, depth int) (json.RawMessage, *stuck, error) {
	st := w.p.steps[depth]
	switch kindOf(v) {
	case 'n': // null holds nothing to hide
		return v, nil, nil
	case '{':
		var members map[string]json.RawMessage
		if err := json.Unmarshal(v, &members); err != nil {
			return nil, nil, err
		}
		before, withheld := w.removed, len(w.withheld)
		if err := w.object(members, depth); err != nil {
			return nil, nil, err
		}
		if w.removed == before && len(w.withheld) == withheld {
			return v, nil, nil // untouched: keep the bytes
		}
		out, err := encodeJSON(members)
		return out, nil, err
	case '[':
		if !st.wild && st.index < 0 {
			return nil, &stuck{depth, fmt.Sprintf("%q names a member but the value there is an array", w.p.render(depth+1))}, nil
		}
		if depth == len(w.p.steps)-1 {
			return nil, &stuck{depth, fmt.Sprintf("%q ends at array elements; name the array itself, or a member of its elements", w.p.raw)}, nil
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(v, &elems); err != nil {
			return nil, nil, err
		}
		before, withheld := w.removed, len(w.withheld)
		for i := range elems {
			if !st.wild && i != st.index {
				continue
			}
			nv, s, err := w.value(elems[i], depth+1)
			if err != nil || s != nil {
				return nil, s, err // an element that cannot be followed: the array's member is withheld
			}
			elems[i] = nv
			if w.stuckAt != nil {
				return v, nil, nil
			}
		}
		if w.removed == before && len(w.withheld) == withheld {
			return v, nil, nil
		}
		out, err := encodeJSON(elems)
		return out, nil, err
	default:
		return nil, &stuck{depth, fmt.Sprintf("%q steps into %s", w.p.render(depth+1), describe(kindOf(v)))}, nil
	}
}

func encodeJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// ErrNotObject: the content is not a JSON object (stored content always is).
var ErrNotObject = errors.New("record content is not a JSON object")

// Redact removes what paths name from content, for a disclosure. It
// returns the paths that removed something (as written, sorted; a path
// that could not be followed is listed as the member withheld in its
// place) and the content without them. With no paths the content is
// returned as it is. An error (a path that does not parse, content that is
// not an object) means nothing may be disclosed.
func Redact(content []byte, paths []string) (redacted []string, out []byte, err error) {
	redacted = []string{}
	if len(paths) == 0 {
		return redacted, content, nil
	}
	parsed := make([]Path, 0, len(paths))
	for _, s := range paths {
		p, err := ParsePath(s)
		if err != nil {
			return nil, nil, err
		}
		parsed = append(parsed, p)
	}
	var top map[string]json.RawMessage
	if kindOf(content) != '{' || json.Unmarshal(content, &top) != nil {
		return nil, nil, ErrNotObject
	}
	seen := map[string]bool{}
	for _, p := range parsed {
		w := &walker{p: p, withhold: true}
		if err := w.object(top, 0); err != nil {
			return nil, nil, err
		}
		if w.removed > 0 {
			seen[p.raw] = true
		}
		for _, h := range w.withheld {
			seen[h] = true
		}
		if w.removed == 0 && len(w.withheld) == 0 {
			// Before nested paths, a protected field was a top-level name
			// even when it held a dot: such a record stays protected.
			if _, ok := top[p.raw]; ok {
				delete(top, p.raw)
				seen[p.raw] = true
			}
		}
	}
	if len(seen) == 0 {
		return redacted, content, nil // nothing to hide here: the bytes as stored
	}
	redacted = slices.Sorted(maps.Keys(seen))
	out, err = encodeJSON(top)
	if err != nil {
		return nil, nil, err
	}
	return redacted, out, nil
}

// CheckPaths reports, for each path, why it cannot be applied to content
// (nil entries for those that can): a syntax error, a step into a scalar
// or an array member name, or no value matched at all.
func CheckPaths(content []byte, paths []string) []error {
	return checkPaths(content, paths, false)
}

// checkPaths is CheckPaths; wellFormed says content is already known to be
// well-formed JSON (json.Valid is then not run again: on a large publish
// it was the check's largest cost).
func checkPaths(content []byte, paths []string, wellFormed bool) []error {
	errs := make([]error, len(paths))
	top, ok := topMembers(content, wellFormed)
	if !ok {
		for i := range errs {
			errs[i] = ErrNotObject
		}
		return errs
	}
	for i, s := range paths {
		p, err := ParsePath(s)
		if err != nil {
			errs[i] = err
			continue
		}
		// The walk edits its own copy of each level it descends into; the
		// top level is shared, so give each path a shallow copy.
		w := &walker{p: p}
		if err := w.object(maps.Clone(top), 0); err != nil {
			errs[i] = err
			continue
		}
		switch {
		case w.stuckAt != nil:
			errs[i] = fmt.Errorf("path %q cannot be applied to the content: %s", s, w.stuckAt.why)
		case w.removed == 0:
			hint := ""
			if _, ok := top[s]; ok && strings.Contains(s, ".") {
				hint = fmt.Sprintf(` (a member whose name contains "." is written with ~1: %q)`, strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), ".", "~1"))
			}
			errs[i] = fmt.Errorf("path %q matches nothing in the content%s", s, hint)
		}
	}
	return errs
}

// topMembers decodes content's top-level object into its members; ok is
// false if content is not a JSON object. The members are slices of content,
// not copies (a publish's content can be hundreds of kilobytes, and it is
// only read here); content whose text CheckText refuses (which a publish
// never gets this far with) is decoded by json.Unmarshal as before.
func topMembers(content []byte, wellFormed bool) (top map[string]json.RawMessage, ok bool) {
	if kindOf(content) != '{' || !wellFormed && !json.Valid(content) {
		return nil, false
	}
	if members, fe := splitTopObject(content); fe == nil {
		top = make(map[string]json.RawMessage, len(members))
		for k, v := range members {
			top[k] = v
		}
		return top, true
	}
	return top, json.Unmarshal(content, &top) == nil
}

// CheckProtectedFields checks that every path in req.Meta.ProtectedFields
// applies to req.Content (see CheckPaths). A path that does not is an
// invalid request naming the path: a protected field that would protect
// nothing is never accepted silently.
func CheckProtectedFields(req *PublishRequest) error {
	if len(req.Meta.ProtectedFields) == 0 {
		return nil
	}
	var fields []FieldError
	for i, err := range checkPaths(req.Content, req.Meta.ProtectedFields, req.wellFormed) {
		if err != nil {
			fields = append(fields, FieldError{Pointer: "/meta/protected_fields/" + strconv.Itoa(i), Detail: err.Error()})
		}
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}
