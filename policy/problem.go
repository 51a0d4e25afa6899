package policy

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/liaison-project/liaison/policy/jsonpos"
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
	if line, col, msg, ok := jsonpos.Error(raw, err); ok {
		p.Line, p.Col, p.Message = line, col, msg
	}
	return p
}
