// Package section is the error a connector reports for one field of its
// liaison.yaml section: the field's path within the section and what is
// wrong with it. The gateway's configuration prefixes the section's own
// path (keys.vault.address) and reports every problem of the file at once;
// errors.Is(err, <connector>.ErrConfig) still tells which connector
// refused its section.
package section

import "fmt"

// Error is a problem with one field of a connector's section.
type Error struct {
	connector      error // the connector's ErrConfig
	field, problem string
}

// New returns the problem with field (its YAML path within the section),
// reported by the connector whose ErrConfig is sentinel.
func New(sentinel error, field, format string, args ...any) *Error {
	return &Error{connector: sentinel, field: field, problem: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	return e.connector.Error() + ": config: " + e.field + ": " + e.problem
}

// Unwrap makes every Error its connector's ErrConfig.
func (e *Error) Unwrap() error { return e.connector }

// Field is the YAML path of the field at fault, within the section.
func (e *Error) Field() string { return e.field }

// Problem says what is wrong with it.
func (e *Error) Problem() string { return e.problem }
