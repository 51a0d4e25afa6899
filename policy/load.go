package policy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/liaison-project/liaison/policies"
)

// Query is the decision every policy must define.
const Query = "data.liaison.authz.decision"

// samplesFile is the optional file of sample decisions, at the policy root.
const samplesFile = "samples.json"

var agencyIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// bundle is the raw content of a policy source, split by role.
type bundle struct {
	modules map[string][]byte // live *.rego, by slash path
	tests   map[string][]byte // *_test.rego
	data    map[string][]byte // data/*.json
	samples []byte            // samples.json, nil if absent
}

// sourceFS returns the file tree a policy is read from: Dir, or the
// embedded bundle.
func sourceFS(dir string) fs.FS {
	if dir == "" {
		return policies.FS()
	}
	return os.DirFS(dir)
}

// readBundle collects *.rego anywhere in the tree (hidden directories
// skipped), data/*.json and samples.json.
func readBundle(fsys fs.FS) (*bundle, error) {
	b := &bundle{modules: map[string][]byte{}, tests: map[string][]byte{}, data: map[string][]byte{}}
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
		switch {
		case strings.HasSuffix(name, ".rego"):
			src, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			if strings.HasSuffix(name, "_test.rego") {
				b.tests[p] = src
			} else {
				b.modules[p] = src
			}
		case path.Dir(p) == "data" && strings.HasSuffix(name, ".json"):
			src, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			b.data[p] = src
		case p == samplesFile:
			src, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			b.samples = src
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: reading policy files: %w", ErrLoad, err)
	}
	if len(b.modules) == 0 {
		return nil, fmt.Errorf("%w: no policy modules (*.rego) found", ErrLoad)
	}
	return b, nil
}

// revision is a digest over the files that shape decisions (live modules
// and data, not tests or samples), independent of file order and of where
// the tree lives, so the same files give the same revision after a restart.
func (b *bundle) revision() string {
	h := sha256.New()
	write := func(kind string, files map[string][]byte) {
		for _, p := range sortedKeys(files) {
			for _, part := range [][]byte{[]byte(kind), []byte(p), files[p]} {
				var n [8]byte
				binary.BigEndian.PutUint64(n[:], uint64(len(part)))
				h.Write(n[:])
				h.Write(part)
			}
		}
	}
	write("module", b.modules)
	write("data", b.data)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// parseModules parses Rego v1 modules.
func parseModules(files map[string][]byte) (map[string]*ast.Module, error) {
	mods := make(map[string]*ast.Module, len(files))
	for _, p := range sortedKeys(files) {
		m, err := ast.ParseModuleWithOpts(p, string(files[p]), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrLoad, err)
		}
		mods[p] = m
	}
	return mods, nil
}

// mergeData decodes data/*.json (each a JSON object) and merges them by
// their top-level keys; a key defined by two files is an error rather than
// a silent override.
func mergeData(files map[string][]byte) (map[string]any, error) {
	out := map[string]any{}
	owner := map[string]string{}
	for _, p := range sortedKeys(files) {
		var doc map[string]any
		if err := util.UnmarshalJSON(files[p], &doc); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrLoad, p, err)
		}
		if doc == nil {
			return nil, fmt.Errorf("%w: %s: top level must be a JSON object", ErrLoad, p)
		}
		for k, v := range doc {
			if prev, dup := owner[k]; dup {
				return nil, fmt.Errorf("%w: %s: top-level key %q already defined by %s", ErrLoad, p, k, prev)
			}
			owner[k] = p
			out[k] = v
		}
	}
	return out, nil
}

// registry is the typed view of the data the gateway reads directly.
type registry struct {
	agencies  map[string]Agency
	agencyRaw map[string]json.RawMessage
	agencyIDs []string
	dsas      map[string]json.RawMessage
	settings  json.RawMessage
}

func buildRegistry(data map[string]any) (*registry, error) {
	reg := &registry{agencies: map[string]Agency{}, agencyRaw: map[string]json.RawMessage{}, dsas: map[string]json.RawMessage{}, settings: json.RawMessage("{}")}

	if raw, ok := data["agencies"]; ok {
		agencies, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: data.agencies must be an object keyed by agency id", ErrLoad)
		}
		for id, v := range agencies {
			if !agencyIDPattern.MatchString(id) {
				return nil, fmt.Errorf("%w: data.agencies: agency id %q does not match %s", ErrLoad, id, agencyIDPattern)
			}
			attrs, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: data.agencies.%s must be an object", ErrLoad, id)
			}
			var a Agency
			if err := roundTrip(attrs, &a); err != nil {
				return nil, fmt.Errorf("%w: data.agencies.%s: %w", ErrLoad, id, err)
			}
			if a.OrgType == "" || a.Country == "" {
				return nil, fmt.Errorf("%w: data.agencies.%s: org_type and country are required", ErrLoad, id)
			}
			bs, err := json.Marshal(attrs)
			if err != nil {
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
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: data.dsas.%s must be an object", ErrLoad, id)
			}
			if declared, ok := obj["dsa_id"]; ok && declared != id {
				return nil, fmt.Errorf("%w: data.dsas.%s: dsa_id %v does not match its key", ErrLoad, id, declared)
			}
			bs, err := json.Marshal(obj)
			if err != nil {
				return nil, fmt.Errorf("%w: data.dsas.%s: %w", ErrLoad, id, err)
			}
			reg.dsas[id] = bs
		}
	}

	if raw, ok := data["settings"]; ok {
		if _, ok := raw.(map[string]any); !ok {
			return nil, fmt.Errorf("%w: data.settings must be an object", ErrLoad)
		}
		bs, err := json.Marshal(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: data.settings: %w", ErrLoad, err)
		}
		reg.settings = bs
	}
	return reg, nil
}

// roundTrip decodes a generic JSON value into a typed one. Fields the type
// does not know stay available through Engine.AgencyAttributes, so policy
// authors may add attributes for their own rules.
func roundTrip(v any, into any) error {
	bs, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(bs, into)
}

// build turns a bundle into a ready state: compiled modules, data store,
// prepared query and registry. It does not run the samples.
func build(ctx context.Context, b *bundle) (*state, error) {
	mods, err := parseModules(b.modules)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().WithEnablePrintStatements(false)
	if compiler.Compile(mods); compiler.Failed() {
		return nil, fmt.Errorf("%w: %w", ErrLoad, compiler.Errors)
	}
	if len(compiler.GetRulesExact(ast.MustParseRef(Query))) == 0 {
		return nil, fmt.Errorf("%w: the policy does not define %s", ErrLoad, Query)
	}

	data, err := mergeData(b.data)
	if err != nil {
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
	return &state{pq: pq, revision: b.revision(), reg: reg}, nil
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
