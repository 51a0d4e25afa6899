package localkeys

import "errors"

// Config configures the local keyring. It is embedded in liaison.yaml under
// the key provider's section (keys.local).
type Config struct {
	// Keyring is the keyring file (its directory is created, mode 0700).
	Keyring string `yaml:"keyring"`
	// AutoCreate lets GenerateDataKey create a missing KEK; unset means
	// DefaultAutoCreate.
	AutoCreate *bool `yaml:"auto_create"`
}

// DefaultAutoCreate is AutoCreate when the configuration leaves it unset:
// on, because the local keyring serves `liaison dev` and single-node
// installations, where nobody else would create the agencies' keys.
const DefaultAutoCreate = true

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("localkeys: invalid configuration")

// ConfigError is a problem with one field of Config. Field is the field's
// YAML path within the section (the gateway's configuration prefixes the
// section's own path: keys.local.keyring).
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
	if c.Keyring == "" {
		return &ConfigError{field: "keyring", problem: "required"}
	}
	return nil
}

// Options are the Open options c asks for, with defaults filled in.
func (c Config) Options() Options {
	auto := DefaultAutoCreate
	if c.AutoCreate != nil {
		auto = *c.AutoCreate
	}
	return Options{AutoCreate: auto}
}
