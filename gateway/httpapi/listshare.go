package httpapi

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/liaison-project/liaison/policies"
	"github.com/liaison-project/liaison/policy"
)

// Sharing record.list decisions on a page.
//
// A listing page decides record.list for up to a hundred candidates, and
// at about 1 ms a decision that is most of the page's time. Candidates of
// one page usually differ only in what identifies them — their id, version
// and creation time — while everything a listing decision is made of (the
// caller, purpose, time, and the record's markings, agreements, recipients
// and review date) is the same for many of them. If the policy cannot see
// the identifying fields, two inputs that differ only there get the same
// decision, and one evaluation can serve them all.
//
// Whether the policy can see them is a property of its Rego code, which is
// known only for the bundled policy: a gateway configured with a policy
// directory or bundle runs code the operator wrote and decides every
// candidate (the reference path). For the bundled code, listShareSafe
// checks it when the server is built (conservatively: anything it cannot
// prove, it refuses), so a change to the Rego that reads an identifying
// field turns sharing off rather than making it wrong; TestListShareSafe
// keeps the bundled policy provable.

// listIdentityFields are the record fields that distinguish the
// candidates of one page and that a shared decision assumes the policy
// never reads (their JSON names in input.record).
var listIdentityFields = map[string]bool{"record_id": true, "version": true, "created": true}

// bundledListShareSafe is listShareSafe of the bundled policy, checked
// once.
var bundledListShareSafe = sync.OnceValue(func() bool { return listShareSafe(policies.FS()) })

// SetListReference makes listing pages decide every candidate (the
// reference path) instead of sharing decisions, or back: for the test that
// proves both return the same pages, and the benchmark that compares them
// in one run.
func (s *Server) SetListReference(on bool) { s.listReference.Store(on) }

// listShareKey is the part of a candidate's policy input that its
// record.list decision may depend on: the whole input with the identifying
// fields blanked. Candidates with equal keys get equal decisions from a
// policy that listShareSafe accepts (the decision is a function of the
// input, the policy and its data; the time is in the key).
func listShareKey(in policy.Input) (string, error) {
	if in.Record != nil {
		m := *in.Record
		m.RecordID, m.Version, m.Created = "", 0, ""
		in.Record = &m
	}
	b, err := json.Marshal(in)
	return string(b), err
}

// listShareSafe reports whether the Rego modules of fsys (the non-test
// *.rego files under liaison/, as package policy loads them) provably
// never read input.record's identifying fields and use no builtin whose
// result may change from one evaluation to the next. It is conservative:
// anything it cannot follow answers false — the input read whole,
// input.record read whole except where the bundled policy does it
// (is_object(input.record), and the rule record := input.record), the
// record (the rule record, or a function parameter it is passed to) used
// other than by a constant key, passed to a builtin other than is_object
// and object.get with a constant key, or to a function this check cannot
// find, and a module that does not parse.
func listShareSafe(fsys fs.FS) bool {
	ok, _ := listShareWhy(fsys)
	return ok
}

// listShareWhy is listShareSafe with what it refused, for tests.
func listShareWhy(fsys fs.FS) (bool, string) {
	c := &shareCheck{funcs: map[string][]shareRule{}, tainted: map[shareTaint]bool{}}
	err := fs.WalkDir(fsys, "liaison", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		c.mods = append(c.mods, m)
		return nil
	})
	if err != nil {
		return false, err.Error()
	}
	if len(c.mods) == 0 {
		return false, "no modules"
	}
	return c.run()
}

type shareRule struct {
	mod  *ast.Module
	rule *ast.Rule
}

// shareTaint is a function parameter the record is passed to.
type shareTaint struct {
	fn  string
	arg int
}

type shareCheck struct {
	mods    []*ast.Module
	funcs   map[string][]shareRule // full path of a function -> its definitions
	tainted map[shareTaint]bool
	queue   []shareTaint
	why     string
	at      *ast.Location // of the term visited last, for why
}

func (c *shareCheck) fail(why string) {
	if c.why == "" {
		c.why = why
		if c.at != nil {
			c.why += fmt.Sprintf(" (%s:%d)", c.at.File, c.at.Row)
		}
	}
}

func (c *shareCheck) run() (bool, string) {
	for _, m := range c.mods {
		for _, imp := range m.Imports {
			// An import of the input, or of data above or at the record
			// rule, would make an alias this check does not follow.
			r, isRef := imp.Path.Value.(ast.Ref)
			if !isRef {
				return false, "import " + imp.Path.String()
			}
			if v, _ := r[0].Value.(ast.Var); v == "input" {
				return false, "import " + imp.Path.String()
			}
			if s := r.String(); s == "data" || s == "data.liaison" || s == "data.liaison.authz" || strings.HasPrefix(s, "data.liaison.authz.") {
				return false, "import " + s
			}
		}
		for _, r := range m.Rules {
			if len(r.Head.Args) > 0 {
				fn := m.Package.Path.String() + "." + r.Head.Ref().String()
				c.funcs[fn] = append(c.funcs[fn], shareRule{m, r})
			}
		}
	}
	for _, m := range c.mods {
		c.walk(m, m, map[ast.Var]bool{"record": true})
	}
	for len(c.queue) > 0 && c.why == "" {
		t := c.queue[0]
		c.queue = c.queue[1:]
		for _, d := range c.funcs[t.fn] {
			if t.arg >= len(d.rule.Head.Args) {
				c.fail(t.fn + ": arity")
				break
			}
			param, isVar := d.rule.Head.Args[t.arg].Value.(ast.Var)
			if !isVar {
				c.fail(t.fn + ": the record matched against a pattern")
				break
			}
			if param.IsWildcard() {
				continue
			}
			names := map[ast.Var]bool{"record": true, param: true}
			for r := d.rule; r != nil; r = r.Else {
				c.walk(d.mod, r.Body, names)
				if r.Head.Value != nil {
					c.walk(d.mod, r.Head.Value, names)
				}
			}
		}
	}
	return c.why == "", c.why
}

// resolve names the function a call's operator refers to (its full data
// path) if the check knows it.
func (c *shareCheck) resolve(m *ast.Module, op *ast.Term) (string, bool) {
	r, isRef := op.Value.(ast.Ref)
	if !isRef {
		return "", false
	}
	head, isVar := r[0].Value.(ast.Var)
	if !isVar {
		return "", false
	}
	s := r.String()
	for _, imp := range m.Imports {
		alias := imp.Alias
		ir := imp.Path.Value.(ast.Ref)
		if alias == "" {
			if last, isStr := ir[len(ir)-1].Value.(ast.String); isStr {
				alias = ast.Var(last)
			}
		}
		if alias == head {
			s = ir.String() + strings.TrimPrefix(s, string(head))
			_, known := c.funcs[s]
			return s, known
		}
	}
	if head != "data" {
		s = m.Package.Path.String() + "." + s
	}
	_, known := c.funcs[s]
	return s, known
}

// walk checks x, in module m, where names are the variables that hold the
// record.
func (c *shareCheck) walk(m *ast.Module, x any, names map[ast.Var]bool) {
	isRoot := func(t *ast.Term) bool {
		switch v := t.Value.(type) {
		case ast.Var:
			return names[v]
		case ast.Ref:
			return recordRefKeyAt(v, names) == len(v)
		}
		return false
	}
	constKey := func(t *ast.Term) bool {
		s, isStr := t.Value.(ast.String)
		return isStr && !listIdentityFields[string(s)]
	}
	var visit func(x any) bool
	sub := func(x any) { ast.NewGenericVisitor(visit).Walk(x) }
	// call checks a call's operator and operands; it returns true when it
	// has visited them itself.
	call := func(op *ast.Term, args []*ast.Term) bool {
		name := op.String()
		if b, known := ast.BuiltinMap[name]; known && b.Nondeterministic {
			c.fail("nondeterministic builtin " + name)
			return true
		}
		handled := false
		for i, a := range args {
			if isWholeInput(a) {
				// is_object(input) and its kind: the type of the whole
				// input, not what it holds.
				handled = true
				if !typeOnly[name] || len(args) != 1 {
					c.fail("the input passed whole to " + name)
				}
				continue
			}
			if !isRoot(a) {
				continue
			}
			handled = true
			switch {
			case typeOnly[name] && len(args) == 1:
			case name == "object.get" && i == 0 && len(args) >= 2:
				if !constKey(args[1]) {
					c.fail("object.get of the record by " + args[1].String())
				}
			default:
				if _, builtin := ast.BuiltinMap[name]; builtin {
					c.fail("the record passed to " + name)
					break
				}
				fn, known := c.resolve(m, op)
				if !known {
					c.fail("the record passed to " + name)
					break
				}
				if t := (shareTaint{fn, i}); !c.tainted[t] {
					c.tainted[t] = true
					c.queue = append(c.queue, t)
				}
			}
		}
		if !handled {
			return false
		}
		for _, a := range args {
			if !isRoot(a) && !isWholeInput(a) {
				sub(a)
			}
		}
		return true
	}
	visit = func(x any) bool {
		if c.why != "" {
			return true
		}
		switch v := x.(type) {
		case *ast.Term:
			c.at = v.Location
		case *ast.Package:
			return true // its path names the package, it reads nothing
		case *ast.Import:
			return true // checked in run
		case *ast.Rule:
			// The rule record := input.record (else := …): the one place
			// the bundled policy takes the record whole; its uses are
			// checked wherever record appears.
			if v.Head.Ref().String() == "record" && len(v.Head.Args) == 0 && v.Head.Value != nil {
				if r, isRef := v.Head.Value.Value.(ast.Ref); isRef && len(r) == 2 && recordRefKeyAt(r, nil) == 2 {
					for r := v; r != nil; r = r.Else {
						sub(r.Body)
						if r != v {
							sub(r.Head.Value)
						}
					}
					return true
				}
			}
			// A function's parameters are its own names (checked when the
			// record is passed to it): visit what it computes.
			if len(v.Head.Args) > 0 {
				sub(v.Body)
				if v.Head.Value != nil {
					sub(v.Head.Value)
				}
				if v.Else != nil {
					sub(v.Else)
				}
				return true
			}
		case *ast.Expr:
			if terms, isCall := v.Terms.([]*ast.Term); isCall && len(terms) > 0 && call(terms[0], terms[1:]) {
				for _, w := range v.With {
					sub(w)
				}
				return true
			}
		case ast.Call:
			if len(v) > 0 && call(v[0], v[1:]) {
				return true
			}
		case ast.Ref:
			if v[0].Value.Compare(ast.Var("input")) == 0 && (len(v) == 1 || !isStringTerm(v[1])) {
				c.fail("the input read whole or by a variable: " + v.String())
				return true
			}
			if dataReachesRecord(v) {
				c.fail("a document holding the record rule read whole or by a variable: " + v.String())
				return true
			}
			if k := recordRefKeyAt(v, names); k >= 0 {
				if k >= len(v) || !constKey(v[k]) {
					c.fail("the record read whole or by a variable or identifying key: " + v.String())
					return true
				}
				for _, t := range v[k+1:] {
					sub(t)
				}
				return true
			}
			// Only the ref's operands (and a head that is not a
			// variable, such as a call) can hold further reads.
			if _, isVar := v[0].Value.(ast.Var); !isVar {
				sub(v[0])
			}
			for _, t := range v[1:] {
				sub(t)
			}
			return true
		case ast.Var:
			if v == "input" || names[v] {
				c.fail("the record bound, iterated or compared whole: " + string(v))
				return true
			}
		}
		return false
	}
	sub(x)
}

// recordRefKeyAt returns the index in r of the key read from the record
// when r starts at the record (input.record…, one of names…,
// data.liaison.authz.record…), else -1.
func recordRefKeyAt(r ast.Ref, names map[ast.Var]bool) int {
	if len(r) == 0 {
		return -1
	}
	head, isVar := r[0].Value.(ast.Var)
	if !isVar {
		return -1
	}
	is := func(i int, s string) bool {
		if i >= len(r) {
			return false
		}
		str, isStr := r[i].Value.(ast.String)
		return isStr && string(str) == s
	}
	switch {
	case names[head]:
		return 1
	case head == "input" && is(1, "record"):
		return 2
	case head == "data" && is(1, "liaison") && is(2, "authz") && is(3, "record"):
		return 4
	}
	return -1
}

// dataReachesRecord reports whether r, a reference into data, may name a
// document that holds the rule data.liaison.authz.record without reading
// a constant key of it: data, data.liaison or data.liaison.authz whole,
// or a variable where the path to the record goes on (data[x]…).
func dataReachesRecord(r ast.Ref) bool {
	if r[0].Value.Compare(ast.Var("data")) != 0 {
		return false
	}
	path := []string{"liaison", "authz", "record"}
	for i, want := range path {
		if 1+i >= len(r) {
			return true // stops above the record: the whole document
		}
		s, isStr := r[1+i].Value.(ast.String)
		if !isStr {
			return true // a variable key on the way
		}
		if string(s) != want {
			return false // another document
		}
	}
	return false // data.liaison.authz.record…: checked as the record
}

// typeOnly are the builtins whose result on a value is its type alone.
var typeOnly = map[string]bool{"is_object": true, "is_string": true, "is_number": true, "is_boolean": true,
	"is_array": true, "is_set": true, "is_null": true, "type_name": true}

func isWholeInput(t *ast.Term) bool {
	switch v := t.Value.(type) {
	case ast.Var:
		return v == "input"
	case ast.Ref:
		return len(v) == 1 && v[0].Value.Compare(ast.Var("input")) == 0
	}
	return false
}

func isStringTerm(t *ast.Term) bool {
	_, isStr := t.Value.(ast.String)
	return isStr
}
