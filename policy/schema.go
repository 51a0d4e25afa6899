package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/policies"
	"github.com/liaison-project/liaison/policy/jsonpos"
)

// Schemas the data is validated against, at the policy root. A policy
// source without them uses the embedded ones, so a directory copied from
// an older release is still checked.
const (
	dsaSchemaFile    = "schemas/dsa.schema.json"
	agencySchemaFile = "schemas/agency.schema.json"
)

// schemaPrinter renders schema errors in English (the library localises).
var schemaPrinter = message.NewPrinter(language.English)

// validateData checks data.agencies and data.dsas against their JSON
// Schemas and a few rules a schema cannot express (a DSA's id matches its
// key, parties are unique, lawful bases name parties, dates are ordered).
// Every problem is reported with its file, line, field and reason.
func (b *bundle) validateData(data map[string]any, owner map[string]string) error {
	var problems []Problem
	report := func(key string, ptr []string, msg string) {
		file := owner[key]
		line, col := jsonpos.Locate(b.data[file], ptr)
		field := "/" + strings.Join(escapePointer(ptr), "/")
		problems = append(problems, Problem{File: b.display(file), Line: line, Col: col, Kind: "schema", Message: field + ": " + msg})
	}

	schemaFor := func(file string) (*jsonschema.Schema, error) {
		src, ok := b.schemas[file]
		if !ok {
			var err error
			if src, err = fs.ReadFile(policies.FS(), file); err != nil {
				return nil, fmt.Errorf("%w: embedded %s: %w", ErrLoad, file, err)
			}
		}
		sch, err := compileSchema(file, src)
		if err != nil {
			return nil, &ProblemsError{Kind: ErrLoad, Problems: []Problem{{File: b.display(file), Kind: "schema", Message: err.Error()}}}
		}
		return sch, nil
	}

	check := func(key, schemaFile string, extra func(id string, obj map[string]any, report func(ptr []string, msg string))) error {
		raw, present := data[key]
		if !present {
			return nil
		}
		entries, ok := raw.(map[string]any)
		if !ok {
			report(key, []string{key}, fmt.Sprintf("data.%s must be an object keyed by id", key))
			return nil
		}
		sch, err := schemaFor(schemaFile)
		if err != nil {
			return err
		}
		for _, id := range sortedKeys(entries) {
			if !identity.ValidID(id) {
				report(key, []string{key, id}, fmt.Sprintf("id %q does not match %s", id, identity.Pattern))
				continue
			}
			obj, ok := entries[id].(map[string]any)
			if !ok {
				report(key, []string{key, id}, "must be an object")
				continue
			}
			if err := sch.Validate(obj); err != nil {
				var ve *jsonschema.ValidationError
				if !errors.As(err, &ve) {
					report(key, []string{key, id}, err.Error())
					continue
				}
				for _, leaf := range schemaLeaves(ve) {
					report(key, append([]string{key, id}, leaf.InstanceLocation...), schemaMessage(leaf))
				}
				continue
			}
			if extra != nil {
				extra(id, obj, func(ptr []string, msg string) { report(key, append([]string{key, id}, ptr...), msg) })
			}
		}
		return nil
	}
	if err := check("agencies", agencySchemaFile, nil); err != nil {
		return err
	}
	if err := check("dsas", dsaSchemaFile, checkDSA); err != nil {
		return err
	}
	// The vocabularies are data (enumerations.go): checked here, where the
	// schemas checked their enums before.
	enums := buildEnumerations(data, func(ptr []string, msg string) { report("enumerations", ptr, msg) })
	checkEnumerations(data, enums, report)
	if len(problems) > 0 {
		return &ProblemsError{Kind: ErrLoad, Problems: problems}
	}
	return nil
}

// checkDSA holds the rules about one agreement that JSON Schema cannot say.
func checkDSA(id string, dsa map[string]any, report func(ptr []string, msg string)) {
	if dsa["dsa_id"] != id {
		report([]string{"dsa_id"}, fmt.Sprintf("must match its key %q", id))
	}
	parties := map[string]bool{}
	for i, p := range asSlice(dsa["parties"]) {
		org, _ := asMap(p)["org_id"].(string)
		if parties[org] {
			report([]string{"parties", fmt.Sprint(i), "org_id"}, fmt.Sprintf("party %s is listed twice", org))
		}
		parties[org] = true
	}
	for i, lb := range asSlice(dsa["lawful_basis"]) {
		if party, _ := asMap(lb)["party"].(string); !parties[party] {
			report([]string{"lawful_basis", fmt.Sprint(i), "party"}, fmt.Sprintf("%s is not a party to the agreement", party))
		}
	}
	// Dates are validated as YYYY-MM-DD by the schema, so they compare as strings.
	expiry, _ := dsa["expiry_date"].(string)
	for _, k := range []string{"effective_date", "review_date"} {
		if d, ok := dsa[k].(string); ok && d > expiry {
			report([]string{k}, fmt.Sprintf("%s is after expiry_date %s", d, expiry))
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func compileSchema(file string, src []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("not a JSON document: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat() // dates must really be dates
	url := "https://liaison.dev/policy/" + file
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// schemaLeaves flattens the validator's tree to the failing leaves, so that
// each problem names one field and one reason.
func schemaLeaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	// A failed "contains" is about the array, not about each item that did
	// not match: report it once, on the array.
	if _, ok := ve.ErrorKind.(*kind.Contains); ok || len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, schemaLeaves(c)...)
	}
	return out
}

func schemaMessage(leaf *jsonschema.ValidationError) string {
	if _, ok := leaf.ErrorKind.(*kind.Contains); ok && slices.Equal(leaf.InstanceLocation, []string{"parties"}) {
		return "an agreement needs a party with role provider or both and one with role recipient or both"
	}
	return leaf.ErrorKind.LocalizedString(schemaPrinter)
}

func escapePointer(ptr []string) []string {
	out := make([]string, len(ptr))
	for i, t := range ptr {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
	}
	return out
}
