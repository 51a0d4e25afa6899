package gateway

import (
	"go.uber.org/zap"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/prometheus/client_golang/prometheus"
)

// ---- officer-token key sets ----

// onKeySet logs and counts what an officer key-set reload changed. A
// failure keeps the agency's previous keys (crypto/jose Reload); it is an
// error in the log because that agency's officers may be using new keys.
func (g *Gateway) onKeySet(ev jose.KeySetEvent) {
	g.keySets.WithLabelValues(string(ev.Change)).Inc()
	fields := []zap.Field{zap.String("agency", ev.Agency), zap.String("file", ev.File), zap.String("change", string(ev.Change))}
	switch ev.Change {
	case jose.KeySetFailed:
		msg := "officer key set not loaded; the agency has no officer-token keys"
		if ev.KeptPrevious {
			msg = "officer key set not loaded; keeping the agency's previous keys"
		}
		g.log.Error(msg, append(fields, zap.Error(ev.Err))...)
	case jose.KeySetRemoved:
		g.log.Warn("officer key set removed; the agency's officer tokens are no longer accepted", fields...)
	default:
		g.log.Info("officer key set loaded", fields...)
	}
}

// newKeySetCounter counts officer key-set changes found by reloads; it is
// built before the verifier (whose first load it counts) and registered
// with the server's metrics once the server exists.
func newKeySetCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_officer_keyset_reloads_total",
		Help: "Officer-token key set changes found by reloads: added, replaced, removed, failed (a failed file keeps the agency's previous keys)."},
		[]string{"change"})
}
