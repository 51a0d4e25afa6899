package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/tracing"
)

// Process-log field names: stable, so operators can build alerts on them.
const (
	fRequestID = "request_id"
	fAction    = "action"
	fAgency    = "agency"
	fOfficer   = "officer"
	fRoute     = "route"
	fStatus    = "status"
	fDuration  = "duration_ms"
	fProblem   = "problem"
	fRecordID  = "record_id"
)

type metrics struct {
	reg               *prometheus.Registry
	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	decisions         *prometheus.HistogramVec
	auditLatency      prometheus.Histogram
	auditFailures     prometheus.Counter
	integrityFailures prometheus.Counter
	indexWrites       *prometheus.CounterVec
	indexEntries      prometheus.Counter
	// indexStateFailures: the listing index's recovery point could not be
	// saved beside the audit log (a crash would then re-read more of it).
	indexStateFailures prometheus.Counter
	// MoPI review (review.go): reads of overdue records by operation,
	// reads and listings refused because a DSA withholds overdue records,
	// and reviews by decision.
	reviewOverdueReads *prometheus.CounterVec
	reviewWithheld     prometheus.Counter
	reviews            *prometheus.CounterVec
	// requestsBecameOverdue counts requests for information whose deadline
	// passed while they were open, once each (requests.go, noteOverdue).
	requestsBecameOverdue prometheus.Counter
	// tlsFailures: failed TLS handshakes by listener and reason
	// (tlsFailureReason).
	tlsFailures *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_http_requests_total", Help: "Agency API requests by route, method and status code.",
	}, []string{"route", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "liaison_http_request_duration_seconds", Help: "Agency API latency by route and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "outcome"})
	m.decisions = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "liaison_policy_decision_duration_seconds", Help: "Policy decision latency by result (allow, deny, error).",
		Buckets: prometheus.ExponentialBuckets(0.00002, 2, 16),
	}, []string{"result"})
	m.auditLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "liaison_audit_append_duration_seconds", Help: "Time to append an audit entry durably.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	m.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_audit_append_failures_total", Help: "Audit appends that failed (requests answered 503)."})
	m.integrityFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_integrity_failures_total", Help: "Stored records that failed signature, digest or decryption checks."})
	m.indexWrites = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_index_writes_total",
		Help: "Listing-index batch writes by result (ok, error); failed entries are kept and retried."}, []string{"result"})
	m.indexEntries = prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_index_entries_written_total",
		Help: "Listing-index entries (record, agency) written; entries per write shows how well batching works."})
	m.indexStateFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_index_state_save_failures_total",
		Help: "Failed saves of the listing index's recovery point (index-state.json beside the audit log)."})
	m.reviewOverdueReads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_review_overdue_disclosures_total",
		Help: "Reads of records whose MoPI review is overdue, by operation (disclosure to a recipient, consultation by the originator)."}, []string{"operation"})
	m.reviewWithheld = prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_review_withheld_total",
		Help: "Decisions that withheld an overdue record from a recipient (a DSA with overdue_review: withhold)."})
	m.reviews = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_reviews_total",
		Help: "MoPI reviews done by originators, by decision (retain, dispose)."}, []string{"decision"})
	for _, op := range []string{"disclosure", "consultation"} {
		m.reviewOverdueReads.WithLabelValues(op)
	}
	for _, d := range []string{"retain", "dispose"} {
		m.reviews.WithLabelValues(d)
	}
	m.requestsBecameOverdue = prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_requests_became_overdue_total",
		Help: "Requests for information whose answer deadline passed while open, counted once each by the process that first noticed (a read or a scrape)."})
	m.tlsFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_tls_handshake_failures_total",
		Help: "Failed TLS handshakes by listener (agency, federation) and reason (unknown_ca, expired, revoked, no_client_certificate, bad_certificate, protocol_version, peer_refused_certificate, other)."},
		[]string{"listener", "reason"})
	for _, l := range []string{"agency", "federation"} {
		for _, r := range tlsFailureReasons {
			m.tlsFailures.WithLabelValues(l, r)
		}
	}
	m.reg.MustRegister(m.tlsFailures, m.requests, m.latency, m.decisions, m.auditLatency, m.auditFailures, m.integrityFailures, m.indexWrites, m.indexEntries,
		m.indexStateFailures, m.reviewOverdueReads, m.reviewWithheld, m.reviews, m.requestsBecameOverdue,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeDecision(d time.Duration, allow bool, err error) {
	res := "deny"
	switch {
	case err != nil:
		res = "error"
	case allow:
		res = "allow"
	}
	m.decisions.WithLabelValues(res).Observe(d.Seconds())
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// observe records metrics and one process-log line per request. It logs
// ids and codes only: never headers, tokens, justifications or content.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		// The request's span (tracing on): the decision, sealing, store
		// and audit spans below are its children. Named by method and
		// route once the route is known; no path, query or header.
		ctx, span := tracing.Tracer().Start(tracing.Extract(r.Context(), propagation.HeaderCarrier(r.Header)), "request",
			trace.WithSpanKind(trace.SpanKindServer))
		next.ServeHTTP(sw, r.WithContext(ctx))
		rc := fromContext(r.Context())
		route := rc.route
		if route == "" {
			route = routeOf(r.Pattern)
		}
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		outcome := "ok"
		switch {
		case code >= 500:
			outcome = "error"
		case code >= 400:
			outcome = "refused"
		}
		elapsed := time.Since(rc.start)
		if span.IsRecording() {
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", route),
				attribute.Int("http.response.status_code", code), attribute.String("liaison.action", rc.action),
				attribute.String("liaison.request_id", rc.id))
		}
		reason := ""
		if code >= 500 {
			reason = outcome
		}
		tracing.End(span, reason)
		s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
		s.metrics.latency.WithLabelValues(route, outcome).Observe(elapsed.Seconds())
		if ce := s.log.Check(zap.InfoLevel, "request"); ce != nil {
			fields := []zap.Field{zap.String(fRequestID, rc.id), zap.String(fAction, rc.action), zap.String(fRoute, route),
				zap.Int(fStatus, code), zap.String(fAgency, rc.agency), zap.Float64(fDuration, float64(elapsed.Microseconds())/1000)}
			if rc.officer != nil {
				fields = append(fields, zap.String(fOfficer, rc.officer.ID))
			}
			ce.Write(fields...)
		}
	})
}

// tlsFailureReasons are the values of the reason label of
// liaison_tls_handshake_failures_total.
var tlsFailureReasons = []string{"unknown_ca", "expired", "revoked", "no_client_certificate", "bad_certificate",
	"protocol_version", "peer_refused_certificate", "other"}

// tlsFailureReason is the metric's reason for a refused handshake: the
// certificate kinds an operator acts on (a partner's CA missing from the
// bundle, an expired or revoked certificate, a client without one), a
// client offering no TLS version or suite we accept, a peer refusing our
// certificate (its alert), and everything else (scanners, hang-ups).
func tlsFailureReason(r pki.Refusal) string {
	switch r.Kind {
	case pki.RefusedUnknownCA:
		return "unknown_ca"
	case pki.RefusedExpired:
		return "expired"
	case pki.RefusedRevoked:
		return "revoked"
	case pki.RefusedNoCertificate:
		return "no_client_certificate"
	case pki.RefusedUsage, pki.RefusedInvalid, pki.RefusedNoAgency:
		return "bad_certificate"
	}
	if r.Err == nil {
		return "other"
	}
	// crypto/tls has no sentinels for these; the texts are stable
	// (crypto/tls alert.go and handshake_server*.go).
	msg := r.Err.Error()
	switch {
	case strings.Contains(msg, "protocol version"), strings.Contains(msg, "no cipher suite supported"),
		strings.Contains(msg, "no mutually supported"), strings.Contains(msg, "unsupported versions"):
		return "protocol_version"
	case strings.Contains(msg, "remote error: tls: bad certificate"), strings.Contains(msg, "remote error: tls: unknown certificate authority"),
		strings.Contains(msg, "remote error: tls: certificate expired"), strings.Contains(msg, "remote error: tls: certificate revoked"):
		return "peer_refused_certificate"
	}
	return "other"
}

// TLSHandshakeFailed counts a refused handshake on listener (agency,
// federation).
func (s *Server) TLSHandshakeFailed(listener string, r pki.Refusal) {
	s.metrics.tlsFailures.WithLabelValues(listener, tlsFailureReason(r)).Inc()
}

func fieldRecord(id string) zap.Field { return zap.String(fRecordID, id) }
func fieldErr(err error) zap.Field    { return zap.Error(err) }

// The admin listener's endpoints (AdminHandler registers these).
var (
	RouteHealth  = Route{Method: "GET", Path: "/healthz"}
	RouteReady   = Route{Method: "GET", Path: "/readyz"}
	RouteMetrics = Route{Method: "GET", Path: "/metrics"}
)

// AdminRoutes lists the endpoints AdminHandler serves.
func AdminRoutes() []Route { return []Route{RouteHealth, RouteReady, RouteMetrics} }

// AdminHandler serves /healthz, /readyz and /metrics on the admin listener,
// never on the agency listener.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(RouteHealth.Pattern(), func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.Health{Status: "ok"})
	})
	mux.HandleFunc(RouteReady.Pattern(), func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		checks := map[string]string{}
		ok := true
		for name, check := range s.readyChecks() {
			if err := check(ctx); err != nil {
				checks[name] = err.Error()
				ok = false
			} else {
				checks[name] = "ok"
			}
		}
		status := http.StatusOK
		if !ok {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(api.Readiness{Ready: ok, Checks: checks, PolicyRevision: s.policy.Revision()})
	})
	mux.Handle(RouteMetrics.Pattern(), promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// readinessCollector exports /readyz as metrics, evaluated at scrape time
// as a probe would (the key provider's check is cached; the store's is a
// ping): liaison_ready and one series per check, so that an alert names
// the check that fails.
type readinessCollector struct{ s *Server }

var (
	descReady = prometheus.NewDesc("liaison_ready", "1 if every readiness check (/readyz) passes at scrape time, else 0.", nil, nil)
	descCheck = prometheus.NewDesc("liaison_readiness_check", "1 if the readiness check passes at scrape time, else 0.", []string{"check"}, nil)
)

func (c readinessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descReady; ch <- descCheck }

func (c readinessCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ready := 1.0
	for name, check := range c.s.readyChecks() {
		v := 1.0
		if err := check(ctx); err != nil {
			v, ready = 0, 0
		}
		ch <- prometheus.MustNewConstMetric(descCheck, prometheus.GaugeValue, v, name)
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
}

func (s *Server) readyChecks() map[string]func(context.Context) error {
	checks := map[string]func(context.Context) error{
		"store": s.records.Ping,
	}
	for k, v := range s.ready {
		checks[k] = v
	}
	return checks
}
