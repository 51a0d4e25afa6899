package httpapi

import (
	"context"
	"crypto/tls"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/audit"
)

// HTTPServer is the agency listener's http.Server: the handler, the
// timeouts, and the hooks through which net/http's own refusals become
// problem+json and are audited (edge.go). Serve it on Listener(ln).
func (s *Server) HTTPServer(tlsConf *tls.Config, errLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * s.cfg.Limits.RequestTimeout,
		WriteTimeout:      2 * s.cfg.Limits.RequestTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    apiMaxHeaderBytes,
		ErrorLog:          errLog,
		// OPTIONS * reaches the handler (a 400 like any bad path).
		ConnContext:                  s.connContext,
		ConnState:                    s.connState,
		DisableGeneralOptionsHandler: true,
	}
}

// Listener wraps ln for hs: the TLS handshake runs in the listener, so
// that a refused one is audited with the certificate presented
// (pki.HandshakeListener, edge.go).
func (s *Server) Listener(ln net.Listener, hs *http.Server) net.Listener {
	hl := pki.NewHandshakeListener(ln, hs.TLSConfig, pki.HandshakeOptions{Timeout: hs.ReadHeaderTimeout, OnRefusal: s.tlsRefused})
	return edgeListener{Listener: hl, s: s}
}

// Start starts what the server runs in the background (the writer of
// connection-level refusal entries); Stop writes what it queued and stops
// it, before the audit log closes.
func (s *Server) Start(ctx context.Context) error { return s.edge.start(ctx) }

// Stop: see Start.
func (s *Server) Stop() error { return s.edge.stop() }

// Registry is the server's metrics registry (served on /metrics), which the
// composition root adds the audit log's and the key provider's metrics to.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// IndexStateFailed counts a listing-index recovery point that could not be
// saved.
func (s *Server) IndexStateFailed() { s.metrics.indexStateFailures.Inc() }

// Audit is the audit writer every entry of this server goes to.
func (s *Server) Audit() audit.Writer { return s.audit }
