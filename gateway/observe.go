package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/buildinfo"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/gateway/tracing"
	"github.com/liaison-project/liaison/policy"
)

// What operators page on, measured where the gateway meets what it depends
// on: the key provider and the object store (decorators over their
// interfaces, so every backend is measured the same way), the audit log's
// checkpoints, the listing index, the TLS material and the policy in force.
// Labels are operations, results and reasons: never record ids, agencies,
// officers, key names or object keys.

// callMetrics are one backend's calls, latency and failures by operation.
type callMetrics struct {
	calls    *prometheus.CounterVec   // operation
	duration *prometheus.HistogramVec // operation
	failures *prometheus.CounterVec   // operation, reason
}

func newCallMetrics(prefix, what string, ops, reasons []string) *callMetrics {
	m := &callMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: prefix + "_calls_total",
			Help: what + " calls by operation."}, []string{"operation"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: prefix + "_call_duration_seconds",
			Help: what + " call latency by operation (failures included).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
			[]string{"operation"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: prefix + "_call_failures_total",
			Help: what + " calls that failed, by operation and reason (expected outcomes such as not found are not failures)."},
			[]string{"operation", "reason"}),
	}
	// Every series exists from the start: an alert on a rate sees 0, not
	// an absent series, until the first failure.
	for _, op := range ops {
		m.calls.WithLabelValues(op)
		m.duration.WithLabelValues(op)
		for _, r := range reasons {
			m.failures.WithLabelValues(op, r)
		}
	}
	return m
}

func (m *callMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.calls, m.duration, m.failures}
}

func (m *callMetrics) observe(op string, start time.Time, reason string) {
	m.calls.WithLabelValues(op).Inc()
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if reason != "" {
		m.failures.WithLabelValues(op, reason).Inc()
	}
}

var (
	keyOps     = []string{"generate_data_key", "unwrap_data_key"}
	keyReasons = []string{"unavailable", "invalid_ciphertext", "not_found", "permission_denied", "canceled", "other"}
	storeOps   = []string{"put", "get", "get_version", "delete", "list"}
	// storeReasons: "exists" is a create-if-absent that found the key taken
	// and "conflict" a compare-and-swap write (If-Match) that lost to
	// another writer; both are counted because a steady rate of them means
	// contention between replicas, and neither is a store failure (the
	// store-failing alert ignores them). Not found is an answer.
	storeReasons = []string{"unavailable", "exists", "conflict", "canceled", "other"}
)

func keyFailure(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, keys.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, keys.ErrInvalidCiphertext):
		return "invalid_ciphertext"
	case errors.Is(err, keys.ErrNotFound):
		return "not_found"
	case errors.Is(err, keys.ErrPermissionDenied):
		return "permission_denied"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}

func storeFailure(err error) string {
	switch {
	case err == nil, errors.Is(err, objstore.ErrNotFound):
		return ""
	case errors.Is(err, objstore.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return "unavailable"
	case errors.Is(err, objstore.ErrExists):
		return "exists"
	case errors.Is(err, objstore.ErrConflict):
		return "conflict"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}

// measuredKeys is a keys.Provider whose calls are counted and timed.
type measuredKeys struct {
	keys.Provider
	m *callMetrics
}

func newMeasuredKeys(p keys.Provider) *measuredKeys {
	return &measuredKeys{Provider: p, m: newCallMetrics("liaison_key_provider", "Key provider (Vault transit or the local keyring)", keyOps, keyReasons)}
}

func (k *measuredKeys) GenerateDataKey(ctx context.Context, name string) (keys.DataKey, error) {
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "keys.generate_data_key")
	dk, err := k.Provider.GenerateDataKey(ctx, name)
	k.m.observe("generate_data_key", start, keyFailure(err))
	tracing.End(span, keyFailure(err))
	return dk, err
}

func (k *measuredKeys) UnwrapDataKey(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "keys.unwrap_data_key")
	pt, err := k.Provider.UnwrapDataKey(ctx, name, wrapped)
	k.m.observe("unwrap_data_key", start, keyFailure(err))
	tracing.End(span, keyFailure(err))
	return pt, err
}

// Health passes the provider's health check through (keyHealth, /readyz);
// a provider without one is healthy.
func (k *measuredKeys) Health(ctx context.Context) error {
	if hc, ok := k.Provider.(interface{ Health(context.Context) error }); ok {
		return hc.Health(ctx)
	}
	return nil
}

// measuredStore is an objstore.Store whose calls are counted and timed. It
// embeds the interface, so a method added to objstore.Store reaches the
// backend unmeasured until it is overridden here.
type measuredStore struct {
	objstore.Store
	m *callMetrics
}

func newMeasuredStore(st objstore.Store) *measuredStore {
	return &measuredStore{Store: st, m: newCallMetrics("liaison_store", "Object store (MinIO/S3 or the fs directory)", storeOps, storeReasons)}
}

func (s *measuredStore) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) error {
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "store.put")
	err := s.Store.Put(ctx, key, data, opts)
	s.m.observe("put", start, storeFailure(err))
	tracing.End(span, storeFailure(err))
	return err
}

func (s *measuredStore) Get(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "store.get")
	b, err := s.Store.Get(ctx, key)
	s.m.observe("get", start, storeFailure(err))
	tracing.End(span, storeFailure(err))
	return b, err
}

func (s *measuredStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "store.delete")
	err := s.Store.Delete(ctx, key)
	s.m.observe("delete", start, storeFailure(err))
	tracing.End(span, storeFailure(err))
	return err
}

func (s *measuredStore) List(ctx context.Context, prefix, startAfter string, limit int) ([]string, error) {
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "store.list")
	ks, err := s.Store.List(ctx, prefix, startAfter, limit)
	s.m.observe("list", start, storeFailure(err))
	tracing.End(span, storeFailure(err))
	return ks, err
}

// GetVersion is Get with the object's version tag (the compare-and-swap
// read of conditional writes, PutOptions.IfMatch), measured as
// "get_version". It reaches the backend through an interface assertion so
// that this decorator builds whether or not objstore.Store declares it.
func (s *measuredStore) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	gv, ok := s.Store.(interface {
		GetVersion(context.Context, string) ([]byte, string, error)
	})
	if !ok {
		return nil, "", fmt.Errorf("objstore: %T has no GetVersion", s.Store)
	}
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "store.get_version")
	b, v, err := gv.GetVersion(ctx, key)
	s.m.observe("get_version", start, storeFailure(err))
	tracing.End(span, storeFailure(err))
	return b, v, err
}

// Ping passes the backend's reachability check through (/readyz).
func (s *measuredStore) Ping(ctx context.Context) error {
	if p, ok := s.Store.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}

// policyMetrics: reload attempts by result, and the revision in force.
type policyMetrics struct {
	reloads *prometheus.CounterVec
}

var policyReloadResults = []string{"applied", "rejected", "suite_passed", "suite_failed"}

func newPolicyMetrics() *policyMetrics {
	m := &policyMetrics{reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_policy_reloads_total",
		Help: "Policy reload attempts by result: applied, rejected (the previous revision stays in force), and the background Rego suite's verdicts (suite_passed, suite_failed)."},
		[]string{"result"})}
	for _, r := range policyReloadResults {
		m.reloads.WithLabelValues(r)
	}
	return m
}

func (m *policyMetrics) observe(ev policy.ReloadEvent) {
	switch {
	case ev.Kind == policy.ReloadSuite && ev.Suite == policy.SuitePassed:
		m.reloads.WithLabelValues("suite_passed").Inc()
	case ev.Kind == policy.ReloadSuite:
		m.reloads.WithLabelValues("suite_failed").Inc()
	case ev.Applied:
		m.reloads.WithLabelValues("applied").Inc()
	default:
		m.reloads.WithLabelValues("rejected").Inc()
	}
}

// stateCollector exports what is read at scrape time: the policy revision
// in force, the audit log's checkpoint age, the index lag, the TLS
// material's expiry and the build.
type stateCollector struct {
	now    func() time.Time
	policy *policy.Engine
	audit  *audit.Log
	index  *recordstore.Index
	tls    *pki.ServerTLS
	opened time.Time
}

var (
	descBuild = prometheus.NewDesc("liaison_build_info", "The running build (value 1): module version, commit and Go version.",
		[]string{"version", "commit", "go_version"}, nil)
	descPolicyRevision = prometheus.NewDesc("liaison_policy_revision_info", "The policy revision in force (value 1).",
		[]string{"revision"}, nil)
	descCheckpointAge = prometheus.NewDesc("liaison_audit_checkpoint_age_seconds",
		"Seconds since the audit log's last signed checkpoint (since the log was opened if none was signed yet).", nil, nil)
	descUnsigned = prometheus.NewDesc("liaison_audit_unsigned_entries",
		"Durable audit entries not yet covered by a signed checkpoint.", nil, nil)
	descIndexPending = prometheus.NewDesc("liaison_index_pending_writes",
		"Listing-index writes under way: records whose audit entry is durable but that are not yet findable.", nil, nil)
	descIndexLag = prometheus.NewDesc("liaison_index_lag_seconds",
		"How long the oldest listing-index write under way has waited (0 when none): the index's lag behind the audit log.", nil, nil)
	descCertNotAfter = prometheus.NewDesc("liaison_tls_certificate_not_after_timestamp_seconds",
		"The gateway's server certificate's notAfter (Unix time), as currently loaded.", nil, nil)
	descCacheEnabled = prometheus.NewDesc("liaison_policy_decision_cache_enabled",
		"1 when the policy in force is the code the decision cache was reviewed for (the bundled policy) and the cache is on; 0 when every decision is evaluated in full.", nil, nil)
	descCacheEntries = prometheus.NewDesc("liaison_policy_decision_cache_entries",
		"Decisions held by the decision cache of the policy in force (a policy or data change starts an empty one).", nil, nil)
	descCacheLookups = prometheus.NewDesc("liaison_policy_decision_cache_lookups_total",
		"Decision cache lookups by result: hit (the decision served from the cache) or miss (evaluated in full, then kept).", []string{"result"}, nil)
	descCRLNextUpdate = prometheus.NewDesc("liaison_tls_crl_next_update_timestamp_seconds",
		"Each loaded CRL's nextUpdate (Unix time) by file name; past it the CRL is stale.", []string{"crl"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBuild, descPolicyRevision, descCheckpointAge, descUnsigned, descIndexPending,
		descIndexLag, descCertNotAfter, descCRLNextUpdate, descCacheEnabled, descCacheEntries, descCacheLookups} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	bi := buildinfo.Get()
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, bi.Version, bi.Commit, bi.GoVersion)
	ch <- prometheus.MustNewConstMetric(descPolicyRevision, prometheus.GaugeValue, 1, c.policy.Revision())
	cs := c.policy.DecisionCacheStats()
	enabled := 0.0
	if cs.Enabled {
		enabled = 1
	}
	ch <- prometheus.MustNewConstMetric(descCacheEnabled, prometheus.GaugeValue, enabled)
	ch <- prometheus.MustNewConstMetric(descCacheEntries, prometheus.GaugeValue, float64(cs.Entries))
	ch <- prometheus.MustNewConstMetric(descCacheLookups, prometheus.CounterValue, float64(cs.Hits), "hit")
	ch <- prometheus.MustNewConstMetric(descCacheLookups, prometheus.CounterValue, float64(cs.Misses), "miss")
	at, signed := c.audit.LastCheckpoint()
	if at.IsZero() {
		at = c.opened
	}
	ch <- prometheus.MustNewConstMetric(descCheckpointAge, prometheus.GaugeValue, max(0, c.now().Sub(at).Seconds()))
	ch <- prometheus.MustNewConstMetric(descUnsigned, prometheus.GaugeValue, float64(c.audit.Size()-min(signed, c.audit.Size())))
	pending, oldest := c.index.Lag()
	ch <- prometheus.MustNewConstMetric(descIndexPending, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(descIndexLag, prometheus.GaugeValue, oldest.Seconds())
	if cert := c.tls.Certificate(); cert != nil && len(cert.Certificate) > 0 {
		leaf := cert.Leaf
		if leaf == nil {
			leaf, _ = x509.ParseCertificate(cert.Certificate[0])
		}
		if leaf != nil {
			ch <- prometheus.MustNewConstMetric(descCertNotAfter, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()))
		}
	}
	for file, next := range c.tls.CRLNextUpdates() {
		if next.IsZero() {
			continue // a CRL without nextUpdate never goes stale by date
		}
		ch <- prometheus.MustNewConstMetric(descCRLNextUpdate, prometheus.GaugeValue, float64(next.Unix()), filepath.Base(file))
	}
}
