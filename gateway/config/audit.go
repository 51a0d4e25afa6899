package config

import (
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/liaison-project/liaison/gateway/audit"
)

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
	// NodeID names this replica in the shipped copy's keys
	// (audit/<gateway_id>.<node_id>/…). Replicas of one gateway keep an
	// audit log each, whose segments have the same names: with one store
	// they must each set a different node id, or their shipped copies
	// collide (docs/replicas.md). Empty: audit/<gateway_id>/…, one node.
	NodeID string `yaml:"node_id"`
	// Store, when its endpoint is set, is where segments and checkpoints are
	// shipped instead of the records store: typically a bucket created with
	// object_lock and a retention, so that shipped evidence is WORM while
	// record content stays deletable (recall needs that).
	Store MinIOStore `yaml:"store"`
}

// defaultAudit is the audit section of Defaults; the log's own limits are
// gateway/audit's defaults.
func defaultAudit(dataDir string) AuditConfig {
	return AuditConfig{
		Path:         filepath.Join(dataDir, "audit"),
		SigningKey:   filepath.Join(dataDir, "keys", "audit-signing.jwk.json"),
		HMACKey:      filepath.Join(dataDir, "keys", "audit-hmac.key"),
		WriteTimeout: audit.DefaultWriteTimeout, SegmentMaxEntries: audit.DefaultSegmentMaxEntries, SegmentMaxBytes: audit.DefaultSegmentMaxBytes,
		CheckpointEvery: audit.DefaultCheckpointEvery, CheckpointInterval: audit.DefaultCheckpointInterval, ShipInterval: time.Minute,
	}
}

// Validate checks the audit section and, when its endpoint is set, the
// audit.store bucket.
func (a AuditConfig) Validate() error {
	var p problems
	if a.Path == "" {
		p.add("audit.path", "required")
	}
	if a.SigningKey == "" {
		p.add("audit.signing_key", "required: checkpoints are signed")
	}
	if a.WriteTimeout <= 0 {
		p.add("audit.write_timeout", "must be positive")
	}
	if a.SegmentMaxEntries < 1 || a.SegmentMaxBytes < 1<<20 {
		p.add("audit", "segment_max_entries must be >= 1 and segment_max_bytes >= 1 MiB")
	}
	if a.CheckpointEvery < 1 || a.CheckpointInterval < 0 || a.ShipInterval < 0 {
		p.add("audit", "checkpoint_every must be >= 1; checkpoint_interval and ship_interval must not be negative")
	}
	if a.NodeID != "" && !nodeIDPattern.MatchString(a.NodeID) {
		p.add("audit.node_id", "must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit")
	}
	for _, f := range a.HMACFields {
		if !audit.ValidHMACField(f) {
			p.add("audit.hmac_fields", "%q must be one of %s", f, strings.Join(audit.HMACFieldNames, ", "))
		}
	}
	if len(a.HMACFields) > 0 && a.HMACKey == "" {
		p.add("audit.hmac_key", "required with hmac_fields")
	}
	if a.Store.Endpoint != "" {
		p.include("audit.store", a.Store.Validate())
	}
	return p.err()
}

// AuditOptions are the audit writer's options from the configuration.
func AuditOptions(cfg Config) audit.Options {
	a := cfg.Audit
	return audit.Options{
		Gateway: cfg.GatewayID, SigningKeyFile: a.SigningKey, HMACFields: a.HMACFields, HMACKeyFile: a.HMACKey,
		SegmentMaxEntries: a.SegmentMaxEntries, SegmentMaxBytes: a.SegmentMaxBytes, WriteTimeout: a.WriteTimeout,
		CheckpointEvery: a.CheckpointEvery, CheckpointInterval: a.CheckpointInterval,
	}
}

// nodeIDPattern is what a replica's node id may be: one key segment, also
// a DNS label (a pod or host name fits).
var nodeIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
