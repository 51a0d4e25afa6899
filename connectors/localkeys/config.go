package localkeys

import (
	"errors"

	"github.com/liaison-project/liaison/connectors/section"
)

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

// ConfigError is a problem with one field of Config (section.Error: its
// Field is the YAML path within the section; it unwraps to ErrConfig).
type ConfigError = section.Error

// Validate checks the section as the configuration gives it.
func (c Config) Validate() error {
	if c.Keyring == "" {
		return section.New(ErrConfig, "keyring", "required")
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
