package fsstore

import (
	"errors"

	"github.com/liaison-project/liaison/connectors/section"
)

// Config configures the filesystem store. It is embedded in liaison.yaml
// under the object store's section (store.fs).
type Config struct {
	// Dir is the store's root directory (created, mode 0700, if absent).
	Dir string `yaml:"dir"`
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("fsstore: invalid configuration")

// ConfigError is a problem with one field of Config (section.Error: its
// Field is the YAML path within the section; it unwraps to ErrConfig).
type ConfigError = section.Error

// Validate checks the section as the configuration gives it.
func (c Config) Validate() error {
	if c.Dir == "" {
		return section.New(ErrConfig, "dir", "required")
	}
	return nil
}
