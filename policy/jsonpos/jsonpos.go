// Package jsonpos finds where things are in a JSON document, as a 1-based
// line and column, so that a problem in a policy's data or samples can be
// reported as file:line:col — a JSON pointer's value, or a decoding error.
// Positions only: messages never quote the document.
package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Error locates a decoding error of raw (a syntax error, or a value of the
// wrong type) and describes it; ok is false for any other error.
func Error(raw []byte, err error) (line, col int, msg string, ok bool) {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col = lineCol(raw, int(se.Offset))
		return line, col, "malformed JSON: " + se.Error(), true
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		line, col = lineCol(raw, int(te.Offset))
		return line, col, "unexpected JSON type: " + te.Error(), true
	}
	return 0, 0, "", false
}

// Locate returns the 1-based line and column where the value at pointer
// (a JSON pointer split into unescaped tokens) starts in raw, or where the
// deepest existing parent starts if the value is missing (a missing
// required field is reported on its object). 0, 0 if raw does not parse.
func Locate(raw []byte, pointer []string) (line, col int) {
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
