package minio

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/connectors/section"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultRegion         = "us-east-1"
	DefaultRequestTimeout = 10 * time.Second
	DefaultMaxAttempts    = 3
)

// Config configures the MinIO / S3 object store. It is embedded in
// liaison.yaml under the object store's section.
type Config struct {
	// Endpoint is host:port of MinIO or S3 (no scheme), e.g. minio:9000 or
	// s3.eu-west-2.amazonaws.com.
	Endpoint string `yaml:"endpoint"`
	// Secure selects HTTPS. CAFile (PEM) verifies the server instead of
	// the system roots.
	Secure bool   `yaml:"secure"`
	CAFile string `yaml:"ca_file"`
	// Region of the bucket (default us-east-1). Set, it also spares a
	// bucket-location lookup per client.
	Region string `yaml:"region"`
	// Bucket holding Liaison's objects.
	Bucket string `yaml:"bucket"`
	// Prefix under which every key is stored (e.g. "liaison/"), so that
	// one bucket can serve several gateways or environments.
	Prefix string `yaml:"prefix"`
	// Credentials for the S3 API.
	Credentials CredentialsConfig `yaml:"credentials"`
	// CreateBucket creates a missing bucket in Init.
	CreateBucket bool `yaml:"create_bucket"`
	// Versioning enables bucket versioning in Init; Delete then removes
	// every version of a key (also done whenever Init finds versioning on).
	Versioning bool `yaml:"versioning"`
	// ObjectLock creates the bucket with S3 Object Lock (WORM), which
	// implies versioning. It can only be set when the bucket is created.
	ObjectLock bool `yaml:"object_lock"`
	// Retention is the bucket's default retention, with ObjectLock only.
	Retention RetentionConfig `yaml:"retention"`
	// RequestTimeout bounds each call including minio-go's own retries
	// (default 10s).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxAttempts is minio-go's attempts per request on transient errors
	// (default 3).
	MaxAttempts int `yaml:"max_attempts"`
}

// CredentialsConfig is either a static key pair or the standard chain.
type CredentialsConfig struct {
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	// FromEnv uses AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or
	// MINIO_ACCESS_KEY/MINIO_SECRET_KEY), then IAM (instance profile, IRSA).
	FromEnv bool `yaml:"from_env"`
}

// String redacts the secret key so that a config printed by mistake leaks
// nothing.
func (c CredentialsConfig) String() string {
	secret := ""
	if c.SecretKey != "" {
		secret = "REDACTED"
	}
	return fmt.Sprintf("{access_key:%s secret_key:%s from_env:%t}", c.AccessKey, secret, c.FromEnv)
}

// RetentionConfig is a bucket's default object-lock retention.
type RetentionConfig struct {
	// Mode is GOVERNANCE or COMPLIANCE; empty for no default retention.
	Mode string `yaml:"mode"`
	// Days of retention from each object's creation.
	Days uint `yaml:"days"`
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("minio: invalid configuration")

// ConfigError is a problem with one field of Config (section.Error: its
// Field is the YAML path within the section; it unwraps to ErrConfig).
type ConfigError = section.Error

func configErr(field, format string, args ...any) error {
	return section.New(ErrConfig, field, format, args...)
}

// Validate checks the section as the configuration gives it, and reports
// every problem at once. It is what the gateway checks when it loads
// liaison.yaml. It does not require the key pair (it may be given only to
// the process that opens the store, and tools that load the configuration
// without opening the store need none); New checks that.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, configErr(field, format, args...)) }
	if c.Endpoint == "" {
		bad("endpoint", "required")
	} else if strings.Contains(c.Endpoint, "://") || strings.Contains(c.Endpoint, "/") {
		bad("endpoint", "must be host[:port] without scheme or path; use secure for https")
	}
	if c.Bucket == "" {
		bad("bucket", "required")
	}
	if c.Prefix != "" {
		if p := strings.TrimSuffix(c.Prefix, "/"); !objstore.ValidKey(p) {
			bad("prefix", "%q must be like a valid object key (lower-case [a-z0-9._-] segments)", c.Prefix)
		} else if len(p)+1+objstore.MaxKeyLen > 1024 {
			bad("prefix", "too long")
		}
	}
	if cr := c.Credentials; cr.FromEnv && (cr.AccessKey != "" || cr.SecretKey != "") {
		bad("credentials", "from_env excludes access_key/secret_key")
	}
	if c.RequestTimeout < 0 {
		bad("request_timeout", "must be positive")
	}
	if c.MaxAttempts != 0 && (c.MaxAttempts < 1 || c.MaxAttempts > 10) {
		bad("max_attempts", "must be between 1 and 10")
	}
	r := c.Retention
	switch strings.ToUpper(r.Mode) {
	case "":
		if r.Days != 0 {
			bad("retention.mode", "required with retention.days")
		}
	case "GOVERNANCE", "COMPLIANCE":
		if !c.ObjectLock {
			bad("retention", "requires object_lock")
		} else if r.Days == 0 {
			bad("retention.days", "required with retention.mode")
		}
	default:
		bad("retention.mode", "%q is not GOVERNANCE or COMPLIANCE", r.Mode)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with defaults filled in and its prefix and
// retention mode normalised, or an error naming the offending field:
// Validate's problems, then the missing key pair.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	if cr := c.Credentials; !cr.FromEnv && (cr.AccessKey == "" || cr.SecretKey == "") {
		return c, configErr("credentials", "access_key and secret_key are required unless from_env is set")
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Prefix != "" {
		c.Prefix = strings.TrimSuffix(c.Prefix, "/") + "/"
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	c.Retention.Mode = strings.ToUpper(c.Retention.Mode)
	return c, nil
}
