package federation

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the federation's Prometheus series (registered with the
// admin listener's registry by the composition root). Labels name peers,
// message types and outcomes only: never records, agencies or officers.
type metrics struct {
	messages *prometheus.CounterVec   // peer, direction, type, outcome
	failures *prometheus.CounterVec   // peer
	pending  *prometheus.GaugeVec     // peer
	latency  *prometheus.HistogramVec // peer, type: queued → settled
}

func newMetrics() *metrics {
	return &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_federation_messages_total",
			Help: "Messages exchanged with peer gateways, by peer, direction (sent, received), type and outcome."},
			[]string{"peer", "direction", "type", "outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_federation_send_failures_total",
			Help: "Delivery attempts to a peer gateway that failed and will be retried (peer down, timeout, 5xx)."},
			[]string{"peer"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "liaison_federation_outbox_pending",
			Help: "Messages queued for a peer gateway and not yet settled (as this replica last saw)."},
			[]string{"peer"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "liaison_federation_delivery_seconds",
			Help:    "Time from queuing a message to its settlement by the peer's signed receipt.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}},
			[]string{"peer", "type"}),
	}
}

// Collectors are the series to register.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.messages, s.metrics.failures, s.metrics.pending, s.metrics.latency}
}

func (m *metrics) settled(peer, typ, outcome, created string, now time.Time) {
	m.messages.WithLabelValues(peer, "sent", typ, outcome).Inc()
	if t, err := time.Parse(time.RFC3339, created); err == nil {
		m.latency.WithLabelValues(peer, typ).Observe(now.Sub(t).Seconds())
	}
}
