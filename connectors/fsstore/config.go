package fsstore

import "errors"

// Config configures the filesystem store. It is embedded in liaison.yaml
// under the object store's section (store.fs).
type Config struct {
	// Dir is the store's root directory (created, mode 0700, if absent).
	Dir string `yaml:"dir"`
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("fsstore: invalid configuration")

// ConfigError is a problem with one field of Config. Field is the field's
// YAML path within the section (the gateway's configuration prefixes the
// section's own path: store.fs.dir).
type ConfigError struct{ field, problem string }

func (e *ConfigError) Error() string {
	return ErrConfig.Error() + ": config: " + e.field + ": " + e.problem
}

// Unwrap makes every ConfigError an ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// Field is the YAML path of the field at fault, within the section.
func (e *ConfigError) Field() string { return e.field }

// Problem says what is wrong with it.
func (e *ConfigError) Problem() string { return e.problem }

// Validate checks the section as the configuration gives it.
func (c Config) Validate() error {
	if c.Dir == "" {
		return &ConfigError{field: "dir", problem: "required"}
	}
	return nil
}
