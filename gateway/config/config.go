// Package config is the gateway's configuration: liaison.yaml and its
// LIAISON_* environment overrides, the defaults, and validation. Each
// section (tls, keys, store, audit, ...) is a type here with its defaults
// and its checks; the backends' own sections (keys.vault, store.minio) are
// the connectors' Config types, which validate themselves.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/minio"
	"github.com/liaison-project/liaison/connectors/vault"
	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/gateway/audit"
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
	Audit    AuditConfig    `yaml:"audit"`
	Signing  SigningConfig  `yaml:"signing"`
	Limits   LimitsConfig   `yaml:"limits"`
	Consents ConsentsConfig `yaml:"consents"`
	Log      LogConfig      `yaml:"log"`
}

// ConsentsConfig governs onward-sharing consent requests.
type ConsentsConfig struct {
	// TTL is how long a request waits for the originator before it expires.
	TTL time.Duration `yaml:"ttl"`
}

// TLSConfig is the agency listener's mutual TLS.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCAs is the federation trust bundle: one CA in dev, one per agency in production.
	ClientCAs []string `yaml:"client_cas"`
	CRLs      []string `yaml:"crls"`
	// MinVersion is "1.3" (default) or "1.2".
	MinVersion     string        `yaml:"min_version"`
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// OfficersConfig is how officer tokens (JWTs from each agency's identity provider) are checked.
type OfficersConfig struct {
	// JWKSDir holds <agency-id>.json, each agency's public key set.
	JWKSDir string `yaml:"jwks_dir"`
	// Audience officer tokens must name; default the gateway id.
	Audience string `yaml:"audience"`
	// RequireFor lists agencies whose every request must carry an officer
	// token (the agency registry can also require it).
	RequireFor []string `yaml:"require_for"`
}

// PolicyConfig locates the Rego policy and its data.
type PolicyConfig struct {
	// Dir holds *.rego and data/*.json; empty uses the bundled policies.
	// It is watched: a change goes live only after it compiles and its
	// samples and Rego tests pass.
	Dir string `yaml:"dir"`
	// Bundle is a signed policy bundle (`liaison policy sign`); excludes Dir.
	Bundle string `yaml:"bundle"`
	// TrustedKeys is the JWKS of the security officers whose signatures count.
	TrustedKeys string `yaml:"trusted_keys"`
	// RequiredSignatures is how many distinct trusted signatures a bundle needs (default 1).
	RequiredSignatures int `yaml:"required_signatures"`
	// ReloadInterval is how often Dir or Bundle is checked for changes
	// (default 500ms, policy.DefaultReloadInterval; negative disables watching).
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// ShadowDir is a candidate policy evaluated beside the live one on real
	// traffic; every decision it would change goes to ShadowReport (JSONL).
	ShadowDir    string `yaml:"shadow_dir"`
	ShadowReport string `yaml:"shadow_report"`
}

// KeysConfig chooses the key provider.
type KeysConfig struct {
	Provider string         `yaml:"provider"` // local | vault
	Local    LocalKeys      `yaml:"local"`
	Vault    VaultKeys      `yaml:"vault"`
	Cache    KeyCacheConfig `yaml:"cache"`
	// NamePattern names the key-encryption key of a record: {agency} is
	// replaced by its originator and, if present, {dsa} by the first DSA it
	// is shared under (per-DSA keys, so that destroying one DSA's key
	// crypto-shreds exactly the records shared under it).
	NamePattern string `yaml:"name_pattern"`
}

// LocalKeys configures the embedded file keyring (single node).
type LocalKeys struct {
	Keyring    string `yaml:"keyring"`
	AutoCreate *bool  `yaml:"auto_create"`
}

// KeyCacheConfig bounds the data-key cache (see crypto/envelope).
type KeyCacheConfig struct {
	MaxAge           time.Duration `yaml:"max_age"`
	MaxRecords       uint64        `yaml:"max_records"`
	MaxBytes         uint64        `yaml:"max_bytes"`
	UnwrapTTL        time.Duration `yaml:"unwrap_ttl"`
	MaxUnwrapEntries int           `yaml:"max_unwrap_entries"`
	Disabled         bool          `yaml:"disabled"`
}

// StoreConfig chooses the object store.
type StoreConfig struct {
	Backend string        `yaml:"backend"` // fs | minio
	FS      FSStoreConfig `yaml:"fs"`
	MinIO   MinIOStore    `yaml:"minio"`
	// IndexFlushInterval is how long listing-index entries may wait to be
	// written together (0: every publish waits for its own, group-committed
	// write). Waiting entries are recovered from the audit log after a
	// crash; a listing on the same gateway flushes them first, and other
	// replicas see them within this interval.
	IndexFlushInterval time.Duration `yaml:"index_flush_interval"`
	// IdempotencyTTL is the retry window of Idempotency-Key: the answer
	// to a publish or share sent with a key is kept (in the store, so every
	// replica sees it) at least this long; a retry with the same key and
	// body within it gets the same answer.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
}

// FSStoreConfig configures the embedded filesystem store.
type FSStoreConfig struct {
	Dir string `yaml:"dir"`
}

// AuditConfig configures the audit log (gateway/audit).
type AuditConfig struct {
	// Path is the log directory of this gateway node (segments, signed
	// checkpoints, public keys). A path to a .jsonl file means its directory.
	Path string `yaml:"path"`
	// SigningKey is the audit key (Ed25519 JWK) that signs checkpoints,
	// apart from the metadata signing key; created if absent.
	SigningKey string `yaml:"signing_key"`
	// WriteTimeout: an append not durable within it fails (503) and the
	// gateway reports unready until the write completes.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// SegmentMaxEntries and SegmentMaxBytes seal a segment for shipping.
	SegmentMaxEntries int   `yaml:"segment_max_entries"`
	SegmentMaxBytes   int64 `yaml:"segment_max_bytes"`
	// CheckpointEvery entries and CheckpointInterval: when checkpoints are signed.
	CheckpointEvery    int           `yaml:"checkpoint_every"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// HMACFields are stored as HMAC-SHA-256 with the key in HMACKey
	// (justification, case, purpose, officer, error).
	HMACFields []string `yaml:"hmac_fields"`
	HMACKey    string   `yaml:"hmac_key"`
	// ShipInterval is how often sealed segments and checkpoints are copied
	// to the object store under audit/<gateway_id>/; 0 disables shipping.
	ShipInterval time.Duration `yaml:"ship_interval"`
	// Store, when its endpoint is set, is where segments and checkpoints are
	// shipped instead of the records store: typically a bucket created with
	// object_lock and a retention, so that shipped evidence is WORM while
	// record content stays deletable (recall needs that).
	Store MinIOStore `yaml:"store"`
}

// SigningConfig locates the gateway's signing key (metadata JWS).
type SigningConfig struct {
	Key string `yaml:"key"`
}

// LimitsConfig bounds what one caller can make the gateway do.
type LimitsConfig struct {
	MaxBodyBytes   int64         `yaml:"max_body_bytes"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// RatePerAgency is requests per second per agency (0 = unlimited).
	RatePerAgency float64 `yaml:"rate_per_agency"`
	Burst         int     `yaml:"burst"`
	MaxListLimit  int     `yaml:"max_list_limit"`
}

// LogConfig configures the process log (zap).
type LogConfig struct {
	Format string `yaml:"format"` // json | console
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// Defaults returns the configuration every field falls back to; dataDir
// anchors the relative paths (keys, store, audit).
func Defaults(dataDir string) Config {
	j := func(p ...string) string { return filepath.Join(append([]string{dataDir}, p...)...) }
	return Config{
		GatewayID:   "gw-dev",
		TrustDomain: "liaison.dev",
		Listen:      "127.0.0.1:8443",
		AdminListen: "127.0.0.1:9443",
		TLS:         TLSConfig{MinVersion: "1.3", ReloadInterval: 30 * time.Second},
		Keys: KeysConfig{Provider: "local", Local: LocalKeys{Keyring: j("keys", "keyring.json")}, NamePattern: "agency-{agency}",
			Cache: KeyCacheConfig{MaxAge: 5 * time.Minute, MaxRecords: 10000, MaxBytes: 1 << 30, UnwrapTTL: time.Minute, MaxUnwrapEntries: 10000}},
		Store: StoreConfig{Backend: "fs", FS: FSStoreConfig{Dir: j("store")}, MinIO: defaultMinIO(), IndexFlushInterval: 100 * time.Millisecond,
			IdempotencyTTL: 24 * time.Hour},
		Audit:    defaultAudit(dataDir),
		Signing:  SigningConfig{Key: j("keys", "gateway-signing.jwk.json")},
		Limits:   LimitsConfig{MaxBodyBytes: 4 << 20, RequestTimeout: 30 * time.Second, RatePerAgency: 200, Burst: 400, MaxListLimit: 100},
		Consents: ConsentsConfig{TTL: 7 * 24 * time.Hour},
		Log:      LogConfig{Format: "json", Level: "info"},
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
	if cfg.Officers.Audience == "" {
		cfg.Officers.Audience = cfg.GatewayID
	}
	return cfg, cfg.Validate()
}

// envNotConfig are LIAISON_* variables that are not configuration fields.
var envNotConfig = []string{"LIAISON_TEST_", "LIAISON_DEVSTACK_", "LIAISON_INTEGRATION", "LIAISON_PROFILE", "LIAISON_DATA_DIR", "LIAISON_CONFIG", "LIAISON_BENCH_", "LIAISON_TOKEN"}

// applyEnv sets fields from LIAISON_* variables; an unknown LIAISON_*
// variable is an error, like an unknown key in the file.
func applyEnv(cfg *Config, env []string) error {
	fields := map[string]reflect.Value{}
	collectEnvFields(reflect.ValueOf(cfg).Elem(), "LIAISON", fields)
	var unknown []string
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "LIAISON_") {
			continue
		}
		f, ok := fields[k]
		if !ok {
			skip := false
			for _, p := range envNotConfig {
				if strings.HasPrefix(k, p) {
					skip = true
				}
			}
			if !skip {
				unknown = append(unknown, k)
			}
			continue
		}
		if err := setFromString(f, v); err != nil {
			return fmt.Errorf("config: %s: %v", k, err)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config: unknown environment variable(s) %s", strings.Join(unknown, ", "))
	}
	return nil
}

func collectEnvFields(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			collectEnvFields(fv, name, out)
			continue
		}
		out[name] = fv
	}
}

func setFromString(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(&b))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetUint(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		f.SetFloat(n)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// Validate checks the configuration and returns every problem at once.
func (c *Config) Validate() error {
	var errs []string
	bad := func(field, format string, a ...any) {
		errs = append(errs, "config: "+field+": "+fmt.Sprintf(format, a...))
	}
	if !identity.ValidID(c.GatewayID) {
		bad("gateway_id", "%q must be 1-63 of a-z, 0-9 and '-'", c.GatewayID)
	}
	if c.TrustDomain == "" || strings.ContainsAny(c.TrustDomain, "/: ") {
		bad("trust_domain", "%q is not a trust domain name", c.TrustDomain)
	}
	for field, addr := range map[string]string{"listen": c.Listen, "admin_listen": c.AdminListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(field, "%q is not host:port", addr)
		}
	}
	if c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		bad("admin_listen", "must differ from listen: the admin endpoints are never on the agency listener")
	}
	if c.TLS.Cert == "" || c.TLS.Key == "" {
		bad("tls", "cert and key are required")
	}
	if len(c.TLS.ClientCAs) == 0 {
		bad("tls.client_cas", "at least one CA file is required: every agency is known by its client certificate")
	}
	if c.TLS.MinVersion != "1.2" && c.TLS.MinVersion != "1.3" {
		bad("tls.min_version", "%q must be 1.2 or 1.3", c.TLS.MinVersion)
	}
	switch c.Keys.Provider {
	case "local":
		if c.Keys.Local.Keyring == "" {
			bad("keys.local.keyring", "required")
		}
	case "vault":
		if c.Keys.Vault.Address == "" && os.Getenv("VAULT_ADDR") == "" {
			bad("keys.vault.address", "required (or VAULT_ADDR)")
		}
	default:
		bad("keys.provider", "%q must be local or vault", c.Keys.Provider)
	}
	if !strings.Contains(c.Keys.NamePattern, "{agency}") {
		bad("keys.name_pattern", "%q must contain {agency}", c.Keys.NamePattern)
	} else if probe := KeyName(c.Keys.NamePattern, "agency-x", "dsa-x"); !keys.ValidName(probe) || strings.ContainsAny(probe, "{}") {
		bad("keys.name_pattern", "%q must give key names of [a-z0-9-] (placeholders: {agency}, {dsa})", c.Keys.NamePattern)
	}
	if c.Keys.Cache.MaxRecords > 1<<32 {
		bad("keys.cache.max_records", "must not exceed 2^32 (AES-GCM random-nonce bound per key)")
	}
	switch c.Store.Backend {
	case "fs":
		if c.Store.FS.Dir == "" {
			bad("store.fs.dir", "required")
		}
	case "minio":
		if c.Store.MinIO.Endpoint == "" {
			bad("store.minio.endpoint", "required")
		}
		if c.Store.MinIO.Bucket == "" {
			bad("store.minio.bucket", "required")
		}
	default:
		bad("store.backend", "%q must be fs or minio", c.Store.Backend)
	}
	if c.Audit.Path == "" {
		bad("audit.path", "required")
	}
	if c.Audit.SigningKey == "" {
		bad("audit.signing_key", "required: checkpoints are signed")
	}
	if c.Audit.WriteTimeout <= 0 {
		bad("audit.write_timeout", "must be positive")
	}
	if c.Audit.SegmentMaxEntries < 1 || c.Audit.SegmentMaxBytes < 1<<20 {
		bad("audit", "segment_max_entries must be >= 1 and segment_max_bytes >= 1 MiB")
	}
	if c.Audit.CheckpointEvery < 1 || c.Audit.CheckpointInterval < 0 || c.Audit.ShipInterval < 0 {
		bad("audit", "checkpoint_every must be >= 1; checkpoint_interval and ship_interval must not be negative")
	}
	for _, f := range c.Audit.HMACFields {
		if !auditHMACField(f) {
			bad("audit.hmac_fields", "%q must be one of %s", f, auditHMACFieldList())
		}
	}
	if len(c.Audit.HMACFields) > 0 && c.Audit.HMACKey == "" {
		bad("audit.hmac_key", "required with hmac_fields")
	}
	if c.Signing.Key == "" {
		bad("signing.key", "required")
	}
	if c.Limits.MaxBodyBytes < 1024 || c.Limits.MaxBodyBytes > 1<<30 {
		bad("limits.max_body_bytes", "%d must be between 1 KiB and 1 GiB", c.Limits.MaxBodyBytes)
	}
	if c.Limits.RequestTimeout <= 0 {
		bad("limits.request_timeout", "must be positive")
	}
	if c.Limits.RatePerAgency < 0 || (c.Limits.RatePerAgency > 0 && c.Limits.Burst < 1) {
		bad("limits", "rate_per_agency must be >= 0 and burst >= 1 when rate is set")
	}
	if c.Limits.MaxListLimit < 1 || c.Limits.MaxListLimit > 1000 {
		bad("limits.max_list_limit", "must be 1..1000")
	}
	for _, a := range c.Officers.RequireFor {
		if !identity.ValidID(a) {
			bad("officers.require_for", "%q is not an agency id", a)
		}
	}
	if c.Policy.Dir != "" && c.Policy.Bundle != "" {
		bad("policy", "dir and bundle exclude each other")
	}
	if c.Policy.Bundle != "" && c.Policy.TrustedKeys == "" {
		bad("policy.trusted_keys", "required with policy.bundle: only bundles signed by listed keys load")
	}
	if c.Policy.RequiredSignatures < 0 {
		bad("policy.required_signatures", "must be >= 0")
	}
	if c.Policy.ShadowDir != "" && c.Policy.ShadowReport == "" {
		bad("policy.shadow_report", "required with policy.shadow_dir: where changed decisions are written")
	}
	if c.Store.IndexFlushInterval < 0 || c.Store.IndexFlushInterval > 10*time.Second {
		bad("store.index_flush_interval", "must be between 0 and 10s")
	}
	if c.Store.IdempotencyTTL < time.Hour || c.Store.IdempotencyTTL > 30*24*time.Hour {
		bad("store.idempotency_ttl", "must be between 1h and 720h")
	}
	if c.Consents.TTL < time.Minute {
		bad("consents.ttl", "must be at least 1m")
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		bad("log.format", "%q must be json or console", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q must be debug, info, warn or error", c.Log.Level)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// ApplyEnv applies LIAISON_* overrides from env to cfg (see Config).
func ApplyEnv(cfg *Config, env []string) error { return applyEnv(cfg, env) }

// KeyName is the key-encryption key of a record of agency shared under dsa
// (the first of its DSAs), as pattern names it.
func KeyName(pattern, agency, dsa string) string {
	return strings.NewReplacer("{agency}", agency, "{dsa}", dsa).Replace(pattern)
}

// PerDSAKeys reports whether pattern gives each DSA its own key.
func PerDSAKeys(pattern string) bool { return strings.Contains(pattern, "{dsa}") }

// VaultKeys is the keys.vault section of liaison.yaml.
type VaultKeys = vault.Config

// MinIOStore is the store.minio section of liaison.yaml.
type MinIOStore = minio.Config

func defaultMinIO() MinIOStore { return MinIOStore{} }

// defaultAudit is the audit section of Defaults.
func defaultAudit(dataDir string) AuditConfig {
	return AuditConfig{
		Path:         filepath.Join(dataDir, "audit"),
		SigningKey:   filepath.Join(dataDir, "keys", "audit-signing.jwk.json"),
		HMACKey:      filepath.Join(dataDir, "keys", "audit-hmac.key"),
		WriteTimeout: audit.DefaultWriteTimeout, SegmentMaxEntries: audit.DefaultSegmentMaxEntries, SegmentMaxBytes: audit.DefaultSegmentMaxBytes,
		CheckpointEvery: audit.DefaultCheckpointEvery, CheckpointInterval: audit.DefaultCheckpointInterval, ShipInterval: time.Minute,
	}
}

func auditHMACField(f string) bool { return audit.ValidHMACField(f) }
func auditHMACFieldList() string   { return strings.Join(audit.HMACFieldNames, ", ") }
