package vault

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/section"
)

// Auth methods.
const (
	AuthToken      = "token"
	AuthAppRole    = "approle"
	AuthKubernetes = "kubernetes"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultMount          = "transit"
	DefaultKeyNamePattern = "liaison-{name}"
	DefaultKeyType        = "aes256-gcm96"
	DefaultRequestTimeout = 5 * time.Second
	DefaultMaxAttempts    = 3
	// DefaultKubernetesJWTFile is where Kubernetes mounts the pod's
	// service-account token.
	DefaultKubernetesJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// Config configures the Vault Transit key provider. It is embedded in
// liaison.yaml under the key provider's section.
type Config struct {
	// Address of Vault, e.g. https://vault.internal:8200. Empty: VAULT_ADDR.
	Address string `yaml:"address"`
	// CAFile is a PEM bundle that verifies Vault's certificate; empty uses
	// the system roots. There is deliberately no "skip verify" option, and
	// VAULT_SKIP_VERIFY / VAULT_CACERT are not read.
	CAFile string `yaml:"ca_file"`
	// TLSServerName overrides the name checked in Vault's certificate.
	TLSServerName string `yaml:"tls_server_name"`
	// Namespace is the Vault Enterprise namespace; empty for none.
	Namespace string `yaml:"namespace"`
	// Mount is the path of the transit secrets engine (default "transit").
	Mount string `yaml:"mount"`
	// KeyNamePattern maps a keys.Provider name to a transit key name;
	// "{name}" is replaced (default "liaison-{name}").
	KeyNamePattern string `yaml:"key_name_pattern"`
	// AutoCreate lets GenerateDataKey create a missing transit key.
	AutoCreate bool `yaml:"auto_create"`
	// KeyType of auto-created keys (default "aes256-gcm96").
	KeyType string `yaml:"key_type"`
	// Auth selects how the provider obtains its Vault token.
	Auth AuthConfig `yaml:"auth"`
	// RequestTimeout bounds each attempt of each Vault call (default 5s).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxAttempts bounds attempts of a call on transient errors (5xx, 429,
	// connection errors, timeouts); default 3. After that the call fails
	// closed with keys.ErrUnavailable.
	MaxAttempts int `yaml:"max_attempts"`
}

// AuthConfig selects and parameterises the Vault auth method.
type AuthConfig struct {
	// Method is "token" (default), "approle" or "kubernetes".
	Method string `yaml:"method"`
	// Mount is the auth method's mount path (default: the method's name).
	Mount string `yaml:"mount"`

	// Token (method token). Empty: TokenFile, then VAULT_TOKEN. Prefer a
	// file or the environment to a token in the config file.
	Token string `yaml:"token"`
	// TokenFile holds the token (method token), e.g. a Vault Agent sink; it
	// is read again when the token's lifetime ends.
	TokenFile string `yaml:"token_file"`

	// RoleID and SecretID / SecretIDFile (method approle).
	RoleID       string `yaml:"role_id"`
	SecretID     string `yaml:"secret_id"`
	SecretIDFile string `yaml:"secret_id_file"`

	// Role and JWTFile (method kubernetes; JWTFile defaults to the pod's
	// service-account token).
	Role    string `yaml:"role"`
	JWTFile string `yaml:"jwt_file"`
}

// String redacts the secrets so that a config printed by mistake leaks none.
func (a AuthConfig) String() string {
	red := func(s string) string {
		if s == "" {
			return ""
		}
		return "REDACTED"
	}
	return fmt.Sprintf("{method:%s mount:%s token:%s token_file:%s role_id:%s secret_id:%s secret_id_file:%s role:%s jwt_file:%s}",
		a.Method, a.Mount, red(a.Token), a.TokenFile, a.RoleID, red(a.SecretID), a.SecretIDFile, a.Role, a.JWTFile)
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("vault: invalid configuration")

// ConfigError is a problem with one field of Config (section.Error: its
// Field is the YAML path within the section; it unwraps to ErrConfig).
type ConfigError = section.Error

func configErr(field, format string, args ...any) error {
	return section.New(ErrConfig, field, format, args...)
}

// Validate checks the section as the configuration gives it, and reports
// every problem at once. It is what the gateway checks when it loads
// liaison.yaml. It does not require the token: VAULT_TOKEN may be given to
// the serving process only (tools that load the configuration without
// talking to Vault need none); New checks that, and the CA file.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, configErr(field, format, args...)) }
	addr := c.Address
	if addr == "" {
		addr = os.Getenv("VAULT_ADDR")
	}
	if addr == "" {
		bad("address", "required (or set VAULT_ADDR)")
	} else if u, err := url.Parse(addr); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("address", "must be an http(s) URL")
	}
	if p := c.KeyNamePattern; p != "" {
		if !strings.Contains(p, "{name}") {
			bad("key_name_pattern", "must contain {name}")
		} else if strings.ContainsAny(p, "/ ") {
			bad("key_name_pattern", "must not contain '/' or spaces")
		}
	}
	if c.RequestTimeout < 0 {
		bad("request_timeout", "must be positive")
	}
	if c.MaxAttempts != 0 && (c.MaxAttempts < 1 || c.MaxAttempts > 10) {
		bad("max_attempts", "must be between 1 and 10")
	}
	a := c.Auth
	switch a.Method {
	case "", AuthToken:
	case AuthAppRole:
		if a.RoleID == "" {
			bad("auth.role_id", "required for method approle")
		}
		if a.SecretID != "" && a.SecretIDFile != "" {
			bad("auth.secret_id", "exactly one of secret_id and secret_id_file is required for method approle")
		}
	case AuthKubernetes:
		if a.Role == "" {
			bad("auth.role", "required for method kubernetes")
		}
	default:
		bad("auth.method", "%q is not one of token, approle, kubernetes", a.Method)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with defaults filled in and environment fallbacks
// applied, or an error naming the offending field: Validate's problems,
// then the credentials the auth method needs.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	if c.Address == "" {
		c.Address = os.Getenv("VAULT_ADDR")
	}
	if c.Mount == "" {
		c.Mount = DefaultMount
	}
	c.Mount = strings.Trim(c.Mount, "/")
	if c.KeyNamePattern == "" {
		c.KeyNamePattern = DefaultKeyNamePattern
	}
	if c.KeyType == "" {
		c.KeyType = DefaultKeyType
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}

	a := &c.Auth
	if a.Method == "" {
		a.Method = AuthToken
	}
	switch a.Method {
	case AuthToken:
		if a.Token == "" && a.TokenFile == "" && os.Getenv("VAULT_TOKEN") == "" {
			return c, configErr("auth.token", "required for method token (or auth.token_file, or VAULT_TOKEN)")
		}
	case AuthAppRole:
		if a.SecretID == "" && a.SecretIDFile == "" {
			return c, configErr("auth.secret_id", "exactly one of secret_id and secret_id_file is required for method approle")
		}
	case AuthKubernetes:
		if a.JWTFile == "" {
			a.JWTFile = DefaultKubernetesJWTFile
		}
	}
	if a.Mount == "" && a.Method != AuthToken {
		a.Mount = a.Method
	}
	a.Mount = strings.Trim(a.Mount, "/")
	return c, nil
}
