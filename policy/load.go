package policy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/policies"
	"github.com/liaison-project/liaison/policy/jsonpos"
	"github.com/liaison-project/liaison/policy/signedbundle"
)

// Query is the decision every policy must define.
const Query = "data.liaison.authz.decision"

// explainQuery is the optional document of facts behind a decision, used
// only to explain it (Engine.Explain), never to enforce it.
const explainQuery = "data.liaison.authz.explain"

// samplesFile is the optional file of sample decisions, at the policy root.
const samplesFile = "samples.json"

// bundle is the raw content of a policy source, split by role.
type bundle struct {
	modules map[string][]byte // live *.rego, by slash path
	tests   map[string][]byte // *_test.rego
	data    map[string][]byte // data/*.json
	schemas map[string][]byte // schemas/*.json
	samples []byte            // samples.json, nil if absent
	// origin is how file names are shown in messages: a directory, a
	// bundle file or "embedded", so that "file:line" leads to the file.
	origin string
	// manifest is the signed manifest and signers the kids that signed it,
	// when the bundle came signed.
	manifest *signedbundle.Manifest
	signers  []string
}

func newBundle(origin string) *bundle {
	return &bundle{
		modules: map[string][]byte{}, tests: map[string][]byte{},
		data: map[string][]byte{}, schemas: map[string][]byte{}, origin: origin,
	}
}

// display names a bundle file for a human: the directory joined with the
// file for a directory, "bundle.tar.gz!liaison/authz.rego" for a bundle.
func (b *bundle) display(p string) string {
	switch {
	case b.origin == "":
		return p
	case strings.HasSuffix(b.origin, "!"):
		return b.origin + p
	default:
		return filepath.Join(b.origin, filepath.FromSlash(p))
	}
}

// add files one file by its slash path, ignoring files that are not part
// of a policy. It reports whether the file was taken.
func (b *bundle) add(p string, src []byte) bool {
	name := path.Base(p)
	switch {
	case strings.HasSuffix(name, "_test.rego"):
		b.tests[p] = src
	case strings.HasSuffix(name, ".rego"):
		b.modules[p] = src
	case path.Dir(p) == "data" && strings.HasSuffix(name, ".json"):
		b.data[p] = src
	case path.Dir(p) == "schemas" && strings.HasSuffix(name, ".json"):
		b.schemas[p] = src
	case p == samplesFile:
		b.samples = src
	default:
		return false
	}
	return true
}

// files returns every file of the bundle by slash path: what a signed
// bundle carries and what the watcher digests.
func (b *bundle) files() map[string][]byte {
	out := map[string][]byte{}
	for _, m := range []map[string][]byte{b.modules, b.tests, b.data, b.schemas} {
		for p, src := range m {
			out[p] = src
		}
	}
	if b.samples != nil {
		out[samplesFile] = b.samples
	}
	return out
}

// source is where a policy is read from: a directory, the embedded
// library, or a signed bundle file. load returns the bundle and a
// fingerprint of the content read; the fingerprint is set even when the
// content is rejected (a bundle with a bad signature), so that the watcher
// reports a broken change once.
type source interface {
	String() string
	load() (b *bundle, fingerprint string, err error)
}

type fsSource struct {
	fsys   fs.FS
	origin string
}

func (s fsSource) String() string {
	if s.origin == "" {
		return "embedded"
	}
	return s.origin
}

func (s fsSource) load() (*bundle, string, error) {
	b, err := readBundle(s.fsys, s.origin)
	if err != nil {
		return nil, "", err
	}
	return b, b.digest(), nil
}

// sourceFS returns the file tree a policy is read from: Dir, or the
// embedded bundle.
func sourceFS(dir string) fs.FS {
	if dir == "" {
		return policies.FS()
	}
	return os.DirFS(dir)
}

func dirSource(dir string) source { return fsSource{fsys: sourceFS(dir), origin: dir} }

// readBundle collects *.rego anywhere in the tree (hidden directories
// skipped), data/*.json, schemas/*.json and samples.json.
func readBundle(fsys fs.FS, origin string) (*bundle, error) {
	b := newBundle(origin)
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return fs.SkipDir
			}
			return nil
		}
		if !wanted(p) {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		b.add(p, src)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: reading policy files: %w", ErrLoad, err)
	}
	if len(b.modules) == 0 {
		return nil, fmt.Errorf("%w: no policy modules (*.rego) found in %s", ErrLoad, fsSource{origin: origin})
	}
	return b, nil
}

// wanted reports whether a slash path is a policy file (see bundle.add).
func wanted(p string) bool {
	return newBundle("").add(p, nil)
}

// revision is a digest over the files that shape decisions (live modules
// and data, not tests or samples), independent of file order and of where
// the tree lives, so the same files give the same revision after a restart.
func (b *bundle) revision() string {
	h := sha256.New()
	writeFiles(h, "module", b.modules)
	writeFiles(h, "data", b.data)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// codeDigest covers what a data-only change leaves alone: the live
// modules, the Rego tests and the schemas. Two bundles with the same code
// digest differ only in data/*.json and samples.json.
func (b *bundle) codeDigest() string {
	h := sha256.New()
	writeFiles(h, "module", b.modules)
	writeFiles(h, "test", b.tests)
	writeFiles(h, "schema", b.schemas)
	return hex.EncodeToString(h.Sum(nil))
}

// fileDigests is the SHA-256 (hex) of every file of the bundle by slash
// path, so that a reload can name the files it changed and their content.
func (b *bundle) fileDigests() map[string]string {
	out := map[string]string{}
	for p, src := range b.files() {
		sum := sha256.Sum256(src)
		out[p] = hex.EncodeToString(sum[:])
	}
	return out
}

// digest covers every file of the bundle (tests, samples and schemas too):
// the watcher reloads when it changes.
func (b *bundle) digest() string {
	h := sha256.New()
	writeFiles(h, "file", b.files())
	return hex.EncodeToString(h.Sum(nil))
}

func writeFiles(h interface{ Write([]byte) (int, error) }, kind string, files map[string][]byte) {
	for _, p := range sortedKeys(files) {
		for _, part := range [][]byte{[]byte(kind), []byte(p), files[p]} {
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(len(part)))
			_, _ = h.Write(n[:])
			_, _ = h.Write(part)
		}
	}
}

// parseModules parses Rego v1 modules. Every parse error of every file is
// reported, each with its file:line.
func (b *bundle) parseModules(files map[string][]byte) (map[string]*ast.Module, error) {
	mods := make(map[string]*ast.Module, len(files))
	var problems []Problem
	for _, p := range sortedKeys(files) {
		m, err := ast.ParseModuleWithOpts(b.display(p), string(files[p]), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			problems = append(problems, astProblems("parse", b.display(p), err)...)
			continue
		}
		mods[p] = m
	}
	if len(problems) > 0 {
		return nil, &ProblemsError{Kind: ErrLoad, Problems: problems}
	}
	return mods, nil
}

// mergeData decodes data/*.json (each a JSON object) and merges them by
// their top-level keys; a key defined by two files is an error rather than
// a silent override. owner maps each top-level key to its file.
func (b *bundle) mergeData() (data map[string]any, owner map[string]string, err error) {
	data = map[string]any{}
	owner = map[string]string{}
	var problems []Problem
	for _, p := range sortedKeys(b.data) {
		var doc map[string]any
		if err := util.UnmarshalJSON(b.data[p], &doc); err != nil {
			problems = append(problems, jsonSyntaxProblem(b.display(p), b.data[p], err))
			continue
		}
		if doc == nil {
			problems = append(problems, Problem{File: b.display(p), Line: 1, Kind: "data", Message: "top level must be a JSON object"})
			continue
		}
		for _, k := range sortedKeys(doc) {
			if prev, dup := owner[k]; dup {
				line, col := jsonpos.Locate(b.data[p], []string{k})
				problems = append(problems, Problem{File: b.display(p), Line: line, Col: col, Kind: "data",
					Message: fmt.Sprintf("top-level key %q already defined by %s", k, b.display(prev))})
				continue
			}
			owner[k] = p
			data[k] = doc[k]
		}
	}
	if len(problems) > 0 {
		return nil, nil, &ProblemsError{Kind: ErrLoad, Problems: problems}
	}
	return data, owner, nil
}

// registry is the typed view of the data the gateway reads directly.
type registry struct {
	agencies  map[string]Agency
	agencyRaw map[string]json.RawMessage
	agencyIDs []string
	dsas      map[string]json.RawMessage
	settings  json.RawMessage
	enums     enumerations
}

// buildRegistry assumes validateData accepted the data: shapes are checked
// there, with file and line; what remains here are defensive checks.
func buildRegistry(data map[string]any) (*registry, error) {
	reg := &registry{agencies: map[string]Agency{}, agencyRaw: map[string]json.RawMessage{}, dsas: map[string]json.RawMessage{}, settings: json.RawMessage("{}")}

	if raw, ok := data["agencies"]; ok {
		agencies, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: data.agencies must be an object keyed by agency id", ErrLoad)
		}
		for id, v := range agencies {
			attrs, ok := v.(map[string]any)
			if !ok || !identity.ValidID(id) {
				return nil, fmt.Errorf("%w: data.agencies.%s is malformed", ErrLoad, id)
			}
			bs, err := json.Marshal(attrs)
			if err != nil {
				return nil, fmt.Errorf("%w: data.agencies.%s: %w", ErrLoad, id, err)
			}
			var a Agency
			if err := json.Unmarshal(bs, &a); err != nil {
				return nil, fmt.Errorf("%w: data.agencies.%s: %w", ErrLoad, id, err)
			}
			a.ID = id
			reg.agencies[id] = a
			reg.agencyRaw[id] = bs
			reg.agencyIDs = append(reg.agencyIDs, id)
		}
		sort.Strings(reg.agencyIDs)
	}

	if raw, ok := data["dsas"]; ok {
		dsas, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: data.dsas must be an object keyed by DSA id", ErrLoad)
		}
		for id, v := range dsas {
			bs, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("%w: data.dsas.%s: %w", ErrLoad, id, err)
			}
			reg.dsas[id] = bs
		}
	}

	if raw, ok := data["settings"]; ok {
		bs, err := json.Marshal(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: data.settings: %w", ErrLoad, err)
		}
		reg.settings = bs
	}
	// Malformed values were reported by validateData; here they are left out.
	reg.enums = buildEnumerations(data, func([]string, string) {})
	return reg, nil
}

// build turns a bundle into a ready state: compiled modules, validated
// data, data store, prepared queries and registry. It does not run the
// samples or the Rego tests.
func build(ctx context.Context, b *bundle) (*state, error) {
	mods, err := b.parseModules(b.modules)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().WithEnablePrintStatements(false)
	if compiler.Compile(mods); compiler.Failed() {
		return nil, &ProblemsError{Kind: ErrLoad, Problems: astProblems("compile", "", compiler.Errors)}
	}
	if len(compiler.GetRulesExact(ast.MustParseRef(Query))) == 0 {
		return nil, fmt.Errorf("%w: the policy does not define %s", ErrLoad, Query)
	}
	return buildWith(ctx, b, compiler)
}

// buildWith is build with the modules already compiled: a data-only change
// (dataOnly) reuses the compiler of the policy in force, whose modules are
// the same bytes, so that it goes live without compiling them again. A
// compiled module set does not depend on data; the compiler is only read
// after Compile (queries are compiled by their own query compilers).
func buildWith(ctx context.Context, b *bundle, compiler *ast.Compiler) (*state, error) {
	data, owner, err := b.mergeData()
	if err != nil {
		return nil, err
	}
	if err := b.validateData(data, owner); err != nil {
		return nil, err
	}
	reg, err := buildRegistry(data)
	if err != nil {
		return nil, err
	}
	store := newStore(data)

	pq, err := rego.New(
		rego.Query(Query),
		rego.Compiler(compiler),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: preparing %s: %w", ErrLoad, Query, err)
	}
	st := &state{pq: pq, revision: b.revision(), reg: reg, compiler: compiler, store: store, catalog: explainCatalog(data)}
	return st, nil
}

// newStore holds the data read-only; values are kept as AST so evaluation
// does not convert them on every read.
func newStore(data map[string]any) storage.Store {
	return inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// astProblems converts OPA parse or compile errors into located problems.
func astProblems(kind, file string, err error) []Problem {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		var one *ast.Error
		if errors.As(err, &one) {
			errs = ast.Errors{one}
		}
	}
	if len(errs) == 0 {
		return []Problem{{File: file, Kind: kind, Message: err.Error()}}
	}
	out := make([]Problem, 0, len(errs))
	for _, e := range errs {
		p := Problem{File: file, Kind: kind, Message: e.Message}
		if e.Location != nil {
			if e.Location.File != "" {
				p.File = e.Location.File
			}
			p.Line, p.Col = e.Location.Row, e.Location.Col
		}
		if e.Code != "" {
			p.Message = e.Code + ": " + e.Message
		}
		out = append(out, p)
	}
	return out
}
