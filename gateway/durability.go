package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/gateway/audit"
)

// keyHealthTTL is how long a key-provider health result is reused: /readyz
// may be polled every second by several load balancers, and each poll must
// not become a Vault call (let alone a data-key call).
const keyHealthTTL = 5 * time.Second

// cachedCheck runs a health check at most once per ttl; concurrent callers
// share the one in flight. The check runs on its own deadline, not the
// caller's, so that a probe that gives up early does not poison the cache
// with its own cancellation.
type cachedCheck struct {
	check   func(context.Context) error
	ttl     time.Duration
	timeout time.Duration
	onCheck func(error) // after each real check (metrics); may be nil

	mu   sync.Mutex
	at   time.Time
	last error
}

func (c *cachedCheck) Check(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.ttl {
		return c.last
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	c.last, c.at = c.check(cctx), time.Now()
	if c.onCheck != nil {
		c.onCheck(c.last)
	}
	return c.last
}

// keyHealth is the readiness check of the key provider: its own cheap
// health check (Vault: sys/health; local keyring: the file), cached. A
// provider without one is taken as ready.
func keyHealth(p keys.Provider, up prometheus.Gauge) func(context.Context) error {
	hc, ok := p.(interface{ Health(context.Context) error })
	if !ok {
		return func(context.Context) error { return nil }
	}
	c := &cachedCheck{check: hc.Health, ttl: keyHealthTTL, timeout: 3 * time.Second, onCheck: func(err error) {
		if err != nil {
			up.Set(0)
		} else {
			up.Set(1)
		}
	}}
	return c.Check
}

// auditProbeLogger logs the audit directory's writability when it
// changes (not on every probe): an error when writes stop being possible,
// info when they are possible again.
func auditProbeLogger(log *zap.Logger) func(error) {
	var bad atomic.Bool
	return func(err error) {
		if err != nil {
			if !bad.Swap(true) {
				log.Error("audit directory not writable: requests are refused (503) and /readyz reports it until it is", zap.Error(err))
			}
			return
		}
		if bad.Swap(false) {
			log.Info("audit directory writable again")
		}
	}
}

// registerAuditMetrics exports the audit log's writability (its last
// probe) and how many probes failed.
func registerAuditMetrics(reg *prometheus.Registry, aw *audit.Log) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liaison_audit_writable",
			Help: "1 if the last probe of the audit directory (create, write, fsync, remove a file) succeeded, else 0."},
			func() float64 {
				if aw.Writable() != nil {
					return 0
				}
				return 1
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "liaison_audit_probe_failures_total",
			Help: "Failed writability probes of the audit directory."},
			func() float64 { return float64(aw.ProbeFailures()) }),
	)
}

// newKeysUpGauge is the key provider's last health check (1 up, 0 down).
func newKeysUpGauge() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: "liaison_key_provider_up",
		Help: "1 if the key provider's last (cached) health check succeeded, else 0."})
}
