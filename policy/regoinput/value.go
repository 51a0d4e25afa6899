// Package regoinput converts a Go value — the policy engine's typed input —
// to the AST value OPA evaluates, following encoding/json's rules but
// without its round trip through JSON text on every decision.
package regoinput

import (
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// Value converts a decision input to the AST value OPA evaluates.
//
// OPA's own conversion (ast.InterfaceToValue) handles maps and slices
// directly but turns any other Go value — the gateway's input struct — into
// JSON and back (json.Marshal, a generic json.Unmarshal, then a walk of the
// result) on every decision. Value walks structs directly by reflection
// instead, following encoding/json's rules (field names and tags,
// omitempty, omitzero, "-", nil slices and maps as null), and falls back
// to the JSON round trip for anything it does not handle the same way
// (custom marshalers other than json.RawMessage, embedded structs, map keys
// that are not strings, ",string" fields). TestToValueMatchesJSON holds the
// two to the same result.
//
// A custom marshaler that panics is an error, not a crash: the engine
// denies a decision whose input cannot be converted.
func Value(input any) (v ast.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The panic value may quote the input; say only that it happened.
			v, err = nil, ErrPanic
		}
	}()
	switch x := input.(type) {
	case ast.Value:
		return x, nil
	case nil, bool, string, json.Number, int, int64, float64, map[string]any, []any, []string:
		return ast.InterfaceToValue(x)
	}
	v, err = reflectValue(reflect.ValueOf(input))
	if errors.Is(err, errFallback) {
		return ast.InterfaceToValue(input)
	}
	return v, err
}

// ErrPanic: converting the value panicked (a custom marshaler did).
var ErrPanic = errors.New("regoinput: panic while converting the input")

// errFallback: the value needs encoding/json's exact behaviour.
var errFallback = errors.New("regoinput: convert through JSON")

var (
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func reflectValue(v reflect.Value) (ast.Value, error) {
	if !v.IsValid() {
		return ast.Null{}, nil
	}
	t := v.Type()
	if t == rawMessageType {
		raw := v.Bytes()
		if len(raw) == 0 {
			return ast.Null{}, nil
		}
		var x any
		if err := util.UnmarshalJSON(raw, &x); err != nil {
			return nil, err
		}
		return ast.InterfaceToValue(x)
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) ||
			reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)) {
		return nil, errFallback
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		if t.Kind() == reflect.Pointer && (t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType)) {
			return nil, errFallback
		}
		return reflectValue(v.Elem())
	case reflect.Bool:
		return ast.Boolean(v.Bool()), nil
	case reflect.String:
		return ast.String(v.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ast.Number(strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return ast.Number(strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		// encoding/json's formatting, so that the number reads the same.
		b, err := json.Marshal(v.Interface())
		if err != nil {
			return nil, err
		}
		return ast.Number(b), nil
	case reflect.Slice:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return nil, errFallback // base64, as encoding/json does
		}
		fallthrough
	case reflect.Array:
		terms := make([]*ast.Term, v.Len())
		for i := range terms {
			e, err := reflectValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			terms[i] = ast.NewTerm(e)
		}
		return ast.NewArray(terms...), nil
	case reflect.Map:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		if t.Key().Kind() != reflect.String || t.Key().Implements(textMarshalerType) {
			return nil, errFallback
		}
		kvs := make([][2]*ast.Term, 0, v.Len())
		it := v.MapRange()
		for it.Next() {
			e, err := reflectValue(it.Value())
			if err != nil {
				return nil, err
			}
			kvs = append(kvs, [2]*ast.Term{ast.StringTerm(it.Key().String()), ast.NewTerm(e)})
		}
		return ast.NewObject(kvs...), nil
	case reflect.Struct:
		fields, err := structFields(t)
		if err != nil {
			return nil, err
		}
		kvs := make([][2]*ast.Term, 0, len(fields))
		for _, f := range fields {
			fv := v.Field(f.index)
			if f.omitEmpty && isEmptyValue(fv) || f.omitZero && isZeroValue(fv) {
				continue
			}
			e, err := reflectValue(fv)
			if err != nil {
				return nil, err
			}
			kvs = append(kvs, [2]*ast.Term{ast.StringTerm(f.name), ast.NewTerm(e)})
		}
		return ast.NewObject(kvs...), nil
	default:
		return nil, errFallback // channels, funcs, complex numbers: let JSON report it
	}
}

type fieldInfo struct {
	name                string
	index               int
	omitEmpty, omitZero bool
}

var fieldCache sync.Map // reflect.Type → []fieldInfo or error

func structFields(t reflect.Type) ([]fieldInfo, error) {
	if c, ok := fieldCache.Load(t); ok {
		if err, isErr := c.(error); isErr {
			return nil, err
		}
		return c.([]fieldInfo), nil
	}
	fields, err := computeFields(t)
	if err != nil {
		fieldCache.Store(t, err)
		return nil, err
	}
	fieldCache.Store(t, fields)
	return fields, nil
}

func computeFields(t reflect.Type) ([]fieldInfo, error) {
	var out []fieldInfo
	seen := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil, errFallback // embedded fields: encoding/json's promotion rules
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		fi := fieldInfo{name: name, index: i}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "omitempty":
				fi.omitEmpty = true
			case "omitzero":
				fi.omitZero = true
			case "string":
				return nil, errFallback
			}
		}
		if seen[name] {
			return nil, errFallback // duplicate names: encoding/json drops both
		}
		seen[name] = true
		out = append(out, fi)
	}
	return out, nil
}

// isEmptyValue is encoding/json's definition for omitempty.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZeroValue is encoding/json's definition for omitzero: IsZero() if the
// type has it, the zero value otherwise.
func isZeroValue(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}
