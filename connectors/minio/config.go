package minio

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
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

func configErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: config: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

func (c Config) withDefaults() (Config, error) {
	if c.Endpoint == "" {
		return c, configErr("endpoint", "required")
	}
	if strings.Contains(c.Endpoint, "://") || strings.Contains(c.Endpoint, "/") {
		return c, configErr("endpoint", "must be host[:port] without scheme or path; use secure for https")
	}
	if c.Bucket == "" {
		return c, configErr("bucket", "required")
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Prefix != "" {
		p := strings.TrimSuffix(c.Prefix, "/")
		if !objstore.ValidKey(p) {
			return c, configErr("prefix", "%q must be like a valid object key (lower-case [a-z0-9._-] segments)", c.Prefix)
		}
		c.Prefix = p + "/"
		if len(c.Prefix)+objstore.MaxKeyLen > 1024 {
			return c, configErr("prefix", "too long")
		}
	}
	cr := c.Credentials
	switch {
	case cr.FromEnv && (cr.AccessKey != "" || cr.SecretKey != ""):
		return c, configErr("credentials", "from_env excludes access_key/secret_key")
	case !cr.FromEnv && (cr.AccessKey == "" || cr.SecretKey == ""):
		return c, configErr("credentials", "access_key and secret_key are required unless from_env is set")
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.RequestTimeout < 0 {
		return c, configErr("request_timeout", "must be positive")
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 10 {
		return c, configErr("max_attempts", "must be between 1 and 10")
	}
	r := c.Retention
	switch strings.ToUpper(r.Mode) {
	case "":
		if r.Days != 0 {
			return c, configErr("retention.mode", "required with retention.days")
		}
	case "GOVERNANCE", "COMPLIANCE":
		if !c.ObjectLock {
			return c, configErr("retention", "requires object_lock")
		}
		if r.Days == 0 {
			return c, configErr("retention.days", "required with retention.mode")
		}
		c.Retention.Mode = strings.ToUpper(r.Mode)
	default:
		return c, configErr("retention.mode", "%q is not GOVERNANCE or COMPLIANCE", r.Mode)
	}
	return c, nil
}
