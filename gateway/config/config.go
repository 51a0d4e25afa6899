// Package config is the gateway's configuration: liaison.yaml, its LIAISON_*
// environment overlay, the defaults and the checks.
//
// Each section is a type with its defaults and its Validate next to it
// (tls.go, keys.go, store.go, ...), as Caddy modules validate themselves;
// the backends' own sections (keys.local, keys.vault, store.fs,
// store.minio, audit.store) are the connectors' Config types, which check
// themselves and name their fields. Config.Validate only walks the sections
// and keeps the rules that span more than one.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/crypto/identity"
)

// Config is the gateway's configuration as liaison.yaml spells it. Every
// field can be overridden by an environment variable named after its path:
// LIAISON_ + the yaml keys in upper case joined by '_' (for example
// LIAISON_TLS_MIN_VERSION, LIAISON_STORE_FS_DIR). Lists take commas.
type Config struct {
	GatewayID   string `yaml:"gateway_id"`
	TrustDomain string `yaml:"trust_domain"`
	Listen      string `yaml:"listen"`
	AdminListen string `yaml:"admin_listen"`

	TLS      TLSConfig      `yaml:"tls"`
	Officers OfficersConfig `yaml:"officers"`
	Policy   PolicyConfig   `yaml:"policy"`
	Keys     KeysConfig     `yaml:"keys"`
	Store    StoreConfig    `yaml:"store"`
	Index    IndexConfig    `yaml:"index"`
	Search   SearchConfig   `yaml:"search"`
	Audit    AuditConfig    `yaml:"audit"`
	Signing  SigningConfig  `yaml:"signing"`
	Limits   LimitsConfig   `yaml:"limits"`
	Consents ConsentsConfig `yaml:"consents"`
	Log      LogConfig      `yaml:"log"`
	Tracing  TracingConfig  `yaml:"tracing"`

	Federation FederationConfig `yaml:"federation"`
	Registry   RegistryConfig   `yaml:"registry"`
	Console    ConsoleConfig    `yaml:"console"`
}

// Defaults returns the configuration every field falls back to; dataDir
// anchors the relative paths (keys, store, audit). Each section's defaults
// are written once, next to its type.
func Defaults(dataDir string) Config {
	return Config{
		GatewayID:   "gw-dev",
		TrustDomain: "liaison.dev",
		Listen:      "127.0.0.1:8443",
		AdminListen: "127.0.0.1:9443",
		TLS:         defaultTLS(),
		Keys:        defaultKeys(dataDir),
		Store:       defaultStore(dataDir),
		Index:       defaultIndex(dataDir),
		Search:      defaultSearch(),
		Audit:       defaultAudit(dataDir),
		Signing:     defaultSigning(dataDir),
		Limits:      defaultLimits(),
		Consents:    defaultConsents(),
		Log:         defaultLog(),
		Tracing:     defaultTracing(),
		Federation:  defaultFederation(dataDir),
		Console:     defaultConsole(),
	}
}

// Load reads path (if not empty) over Defaults(dataDir), then applies
// LIAISON_* environment overrides from env, then validates.
func Load(path, dataDir string, env []string) (Config, error) {
	cfg := Defaults(dataDir)
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true) // a misspelt key is an error, not a silent default
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config: %s: %v", path, err)
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return cfg, err
	}
	// A default drawn from another section: officer tokens name this
	// gateway unless the operator names another audience.
	if cfg.Officers.Audience == "" {
		cfg.Officers.Audience = cfg.GatewayID
	}
	return cfg, cfg.Validate()
}

// Validate checks the configuration and returns every problem at once, one
// line each, each naming its YAML path ("config: keys.vault.address: ...").
func (c *Config) Validate() error {
	var p problems
	c.validateNode(&p)
	for _, err := range []error{
		c.TLS.Validate(),
		c.Keys.Validate(),
		c.Store.Validate(),
		c.Index.Validate(),
		c.Search.Validate(),
		c.Audit.Validate(),
		c.Signing.Validate(),
		c.Limits.Validate(),
		c.Officers.Validate(),
		c.Policy.Validate(),
		c.Consents.Validate(),
		c.Log.Validate(),
		c.Tracing.Validate(),
		c.Federation.Validate(),
		c.Registry.Validate(),
		c.Console.Validate(),
	} {
		p.include("", err)
	}
	return p.err()
}

// validateNode checks the node-level keys and the rules between them.
func (c *Config) validateNode(p *problems) {
	if !identity.ValidID(c.GatewayID) {
		p.add("gateway_id", "%q must be 1-63 of a-z, 0-9 and '-'", c.GatewayID)
	}
	if c.TrustDomain == "" || strings.ContainsAny(c.TrustDomain, "/: ") {
		p.add("trust_domain", "%q is not a trust domain name", c.TrustDomain)
	}
	for _, l := range []struct{ field, addr string }{{"listen", c.Listen}, {"admin_listen", c.AdminListen}} {
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			p.add(l.field, "%q is not host:port", l.addr)
		}
	}
	// The admin endpoints are never served on the agency listener. Port 0
	// is the exception: tests and tools let the system choose both ports,
	// which then differ.
	if c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		p.add("admin_listen", "must differ from listen: the admin endpoints are never on the agency listener")
	}
}

// FieldError is one problem of the configuration, named by its YAML path.
type FieldError struct {
	Path    string // e.g. "keys.vault.address"
	Problem string
}

func (e *FieldError) Error() string { return "config: " + e.Path + ": " + e.Problem }

// connectorError is how a connector's Config.Validate (connectors/vault,
// minio, fsstore, localkeys) names the field at fault, relative to its
// section; the section it sits in prefixes its own YAML path.
type connectorError interface {
	error
	Field() string
	Problem() string
}

// problems collects every problem found, so that one load reports them all.
type problems []error

func (p *problems) add(path, format string, a ...any) {
	*p = append(*p, &FieldError{Path: path, Problem: fmt.Sprintf(format, a...)})
}

// include adds what a section's or a connector's Validate returned. A
// connector names its fields within its section, so prefix (the section's
// YAML path) goes before them.
func (p *problems) include(prefix string, err error) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			p.include(prefix, e)
		}
		return
	}
	var fe *FieldError
	var ce connectorError
	switch {
	case errors.As(err, &fe):
		p.add(joinPath(prefix, fe.Path), "%s", fe.Problem)
	case errors.As(err, &ce):
		p.add(joinPath(prefix, ce.Field()), "%s", ce.Problem())
	default:
		p.add(prefix, "%v", err)
	}
}

func (p problems) err() error { return errors.Join(p...) }

func joinIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func joinPath(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}
