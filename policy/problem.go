package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a policy source, located in a file so
// that a security officer (or an editor) can jump to it.
type Problem struct {
	// File is the file as the source names it: a path under the policy
	// directory, "bundle.tar.gz!data/dsas.json", or "embedded/…".
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
	// Kind is the stage that found it: parse, compile, strict, format,
	// data, schema, sample, test, bundle.
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// String renders "file:line:col: kind: message", the form compilers use.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
			if p.Col > 0 {
				b.WriteString(":" + strconv.Itoa(p.Col))
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Kind + ": " + p.Message)
	return b.String()
}

// ProblemsError carries located problems. It wraps Kind (ErrLoad,
// ErrSample or ErrTest), so errors.Is keeps working, and errors.As gives
// the list.
type ProblemsError struct {
	Kind     error
	Problems []Problem
}

// maxErrorProblems bounds Error(); Problems has them all.
const maxErrorProblems = 5

func (e *ProblemsError) Error() string {
	lines := make([]string, 0, min(len(e.Problems), maxErrorProblems+1))
	for i, p := range e.Problems {
		if i == maxErrorProblems {
			lines = append(lines, fmt.Sprintf("and %d more", len(e.Problems)-i))
			break
		}
		lines = append(lines, p.String())
	}
	return fmt.Sprintf("%v: %s", e.Kind, strings.Join(lines, "; "))
}

func (e *ProblemsError) Unwrap() error { return e.Kind }

// ProblemsOf returns the located problems behind err, or one problem with
// the error's text if err carries none.
func ProblemsOf(err error) []Problem {
	if err == nil {
		return nil
	}
	var pe *ProblemsError
	if errors.As(err, &pe) {
		return pe.Problems
	}
	return []Problem{{Kind: "load", Message: err.Error()}}
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Col < ps[j].Col
	})
}

// jsonSyntaxProblem locates a JSON syntax error. The message names the
// offset, never the content.
func jsonSyntaxProblem(file string, raw []byte, err error) Problem {
	p := Problem{File: file, Kind: "data", Message: "malformed JSON"}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		p.Line, p.Col = lineCol(raw, int(se.Offset))
		p.Message = "malformed JSON: " + se.Error()
		return p
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		p.Line, p.Col = lineCol(raw, int(te.Offset))
		p.Message = "unexpected JSON type: " + te.Error()
	}
	return p
}

// locate returns the 1-based line and column where the value at pointer
// (a JSON pointer split into unescaped tokens) starts in raw, or where the
// deepest existing parent starts if the value is missing (a missing
// required field is reported on its object). 0, 0 if raw does not parse.
func locate(raw []byte, pointer []string) (line, col int) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	off, ok := walkTo(dec, raw, pointer)
	if !ok && off < 0 {
		return 0, 0
	}
	return lineCol(raw, off)
}

// walkTo consumes tokens up to the value at ptr and returns its offset. If
// the value does not exist it returns the offset of the closest parent and
// false; -1 on a syntax error.
func walkTo(dec *json.Decoder, raw []byte, ptr []string) (int, bool) {
	start := skipSeparators(raw, int(dec.InputOffset()))
	if len(ptr) == 0 {
		return start, true
	}
	tok, err := dec.Token()
	if err != nil {
		return -1, false
	}
	delim, isDelim := tok.(json.Delim)
	switch {
	case isDelim && delim == '{':
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return -1, false
			}
			if key, _ := kt.(string); key == ptr[0] {
				off, ok := walkTo(dec, raw, ptr[1:])
				if off < 0 {
					return start, false
				}
				return off, ok
			}
			if !skipValue(dec) {
				return -1, false
			}
		}
	case isDelim && delim == '[':
		for i := 0; dec.More(); i++ {
			if strconv.Itoa(i) == ptr[0] {
				off, ok := walkTo(dec, raw, ptr[1:])
				if off < 0 {
					return start, false
				}
				return off, ok
			}
			if !skipValue(dec) {
				return -1, false
			}
		}
	}
	return start, false
}

func skipValue(dec *json.Decoder) bool {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
		if depth == 0 {
			return true
		}
	}
}

// skipSeparators moves past whitespace, ':' and ',' to the next value.
func skipSeparators(raw []byte, off int) int {
	for off < len(raw) {
		switch raw[off] {
		case ' ', '\t', '\r', '\n', ':', ',':
			off++
		default:
			return off
		}
	}
	return off
}

func lineCol(raw []byte, off int) (int, int) {
	if off > len(raw) {
		off = len(raw)
	}
	if off < 0 {
		off = 0
	}
	line := 1 + bytes.Count(raw[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(raw[:off], '\n')
	return line, col
}
