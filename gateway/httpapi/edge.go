package httpapi

// The edge: what happens to a connection before any endpoint sees it.
//
//   - TLS handshakes are completed by pki.HandshakeListener, which reports
//     every refusal with the certificate presented. Certificate refusals
//     (none, unknown CA, expired, wrong key usage, revoked, no agency) are
//     audited as connection-level entries (action tls.handshake).
//   - HTTP/1 requests that net/http refuses itself, before any handler
//     (header section too large, NUL/CR/LF or other invalid bytes in a
//     header, a bad Host, an unsupported version or transfer coding), are
//     answered with problem+json instead of net/http's plain text, and
//     audited (action http.request).
//   - Requests whose path is not in canonical form ("..", ".", "//", "*")
//     are refused with 400 problem+json before the ServeMux, which would
//     otherwise answer them with a redirect.
//
// Connection-level refusals happen before the caller is authenticated or
// rate-limited, so a flood of them must not flood the audit log or slow the
// handshake path: they go through refusalAuditor, which writes the first
// refusal of each kind per certificate (or per peer address when no
// certificate was presented) per window at once and coalesces the rest into
// one summary entry per window, from a bounded queue written by one
// goroutine.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/audit"
)

// Actions of connection-level audit entries.
const (
	actionTLSHandshake = "tls.handshake"
	actionHTTPRequest  = "http.request"
)

// Bounds of the refusal auditor.
const (
	// refusalWindow: identical refusals within it share one summary entry.
	refusalWindow = time.Minute
	// refusalKeys bounds the distinct (kind, certificate or peer) keys per
	// window; beyond it refusals are coalesced by kind alone.
	refusalKeys = 1024
	// refusalQueue bounds the entries waiting for the audit writer; when it
	// is full an entry is dropped and counted, and the count is itself
	// audited at the end of the window.
	refusalQueue = 256
)

// edgeState is the server's connection-level machinery.
type edgeState struct {
	s         *Server
	refusals  *prometheus.CounterVec
	dropped   prometheus.Counter
	auditor   *refusalAuditor
	startOnce sync.Once
	done      chan struct{}
	started   atomic.Bool
}

func newEdgeState(s *Server) *edgeState {
	e := &edgeState{s: s, done: make(chan struct{})}
	e.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_edge_refusals_total",
		Help: "Connections and requests refused before any endpoint: layer (tls, http) and kind (no-certificate, unknown-ca, expired, wrong-usage, revoked, no-agency, protocol, or the HTTP status)."},
		[]string{"layer", "kind"})
	e.dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_edge_refusal_audit_dropped_total",
		Help: "Connection-level refusal audit entries dropped because the queue was full (the count is audited per window)."})
	s.metrics.reg.MustRegister(e.refusals, e.dropped)
	e.auditor = &refusalAuditor{e: e, seen: map[string]*refusalTally{}, queue: make(chan refusalEntry, refusalQueue), since: s.now()}
	return e
}

// start runs the refusal auditor until ctx ends.
func (e *edgeState) start(ctx context.Context) error {
	e.startOnce.Do(func() {
		e.started.Store(true)
		go func() {
			defer close(e.done)
			e.auditor.run(ctx)
		}()
	})
	return nil
}

// stop waits for the auditor to write what it holds (before the audit log closes).
func (e *edgeState) stop() error {
	if !e.started.Load() {
		return nil
	}
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		e.s.log.Error("refusal auditor did not finish; some connection-level refusals may be unaudited")
		return nil
	}
	// Refusals recorded while the listener was shutting down, after the
	// auditor's last pass: written here, before the audit log closes.
	e.auditor.rollWindow(e.s.now())
	for {
		select {
		case en := <-e.auditor.queue:
			e.auditor.write(en)
		default:
			return nil
		}
	}
}

// connRefusal is one refusal to audit.
type connRefusal struct {
	// id is the request id already shown to the client, if any.
	id     string
	action string
	kind   string
	status int
	// agency and certFP are set only from a verified chain (agency) or a
	// presented certificate (certFP, a digest of what was sent).
	agency string
	certFP string
	// subject is the presented certificate's subject, sanitised; verified
	// says whether the chain verified (else the subject is only a claim).
	subject  string
	verified bool
	peer     string
	detail   string
}

func (r connRefusal) key() string {
	who := r.certFP
	if who == "" {
		who = "peer:" + r.peer
	}
	return r.action + "|" + r.kind + "|" + strconv.Itoa(r.status) + "|" + who
}

// text is the entry's Error field: fixed descriptions and sanitised
// certificate names only, never request bytes.
func (r connRefusal) text(more int, since time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s refused: %s: %s", r.action, r.kind, r.detail)
	if r.subject != "" {
		q := "unverified"
		if r.verified {
			q = "verified"
		}
		fmt.Fprintf(&b, "; certificate subject %q (%s)", r.subject, q)
	}
	if r.peer != "" {
		fmt.Fprintf(&b, "; peer %s", r.peer)
	}
	if more > 0 {
		fmt.Fprintf(&b, "; %d more identical refusals since %s coalesced into this entry", more, since.UTC().Format(time.RFC3339))
	}
	return b.String()
}

type refusalTally struct {
	first connRefusal
	more  int
}

type refusalEntry struct {
	r       connRefusal
	more    int
	since   time.Time
	dropped int // a drop report, not a refusal
}

// refusalAuditor coalesces and queues connection-level refusals. record
// never blocks: it takes a mutex for a map update and does a non-blocking
// channel send.
type refusalAuditor struct {
	e       *edgeState
	mu      sync.Mutex
	seen    map[string]*refusalTally
	since   time.Time
	dropped int
	queue   chan refusalEntry
}

// record reports whether r is the first of its key in this window (and so
// queued for an entry of its own); the caller logs only those, which bounds
// the process log the same way.
func (a *refusalAuditor) record(r connRefusal) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := r.key()
	if t, ok := a.seen[k]; ok {
		t.more++
		return false
	}
	if len(a.seen) >= refusalKeys {
		r.certFP, r.peer, r.subject, r.agency = "", "*", "", ""
		k = r.key()
		if t, ok := a.seen[k]; ok {
			t.more++
			return false
		}
	}
	a.seen[k] = &refusalTally{first: r}
	a.enqueueLocked(refusalEntry{r: r})
	return true
}

func (a *refusalAuditor) enqueueLocked(en refusalEntry) {
	select {
	case a.queue <- en:
	default:
		a.dropped++
		a.e.dropped.Inc()
	}
}

// rollWindow queues one summary per key that saw repeats, and the drop
// count, then starts a new window.
func (a *refusalAuditor) rollWindow(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	since := a.since
	for _, t := range a.seen {
		if t.more > 0 {
			a.enqueueLocked(refusalEntry{r: t.first, more: t.more, since: since})
		}
	}
	a.seen = map[string]*refusalTally{}
	a.since = now
	if a.dropped > 0 {
		d := a.dropped
		a.dropped = 0
		select {
		case a.queue <- refusalEntry{dropped: d, since: since}:
		default:
			a.dropped = d // still full: report it next window
		}
	}
}

func (a *refusalAuditor) run(ctx context.Context) {
	t := time.NewTicker(refusalWindow)
	defer t.Stop()
	for {
		select {
		case en := <-a.queue:
			a.write(en)
		case <-t.C:
			a.rollWindow(a.e.s.now())
		case <-ctx.Done():
			a.rollWindow(a.e.s.now())
			for {
				select {
				case en := <-a.queue:
					a.write(en)
				default:
					return
				}
			}
		}
	}
}

func (a *refusalAuditor) write(en refusalEntry) {
	s := a.e.s
	if en.dropped > 0 {
		rc := &reqCtx{id: audit.NewRequestID(), action: actionTLSHandshake}
		ev := &audit.Event{Operation: audit.OpDenial, Status: 0, Error: fmt.Sprintf(
			"connection-level refusal entries dropped: %d refusals since %s were not audited individually because the audit queue was full",
			en.dropped, en.since.UTC().Format(time.RFC3339))}
		if err := s.writeAudit(context.Background(), rc, ev); err != nil {
			s.log.Error("audit write failed for dropped refusals", zap.Int("dropped", en.dropped), zap.Error(err))
		}
		return
	}
	r := en.r
	id := r.id
	if id == "" || en.more > 0 {
		id = audit.NewRequestID() // a summary is an entry of its own
	}
	rc := &reqCtx{id: id, action: r.action, agency: r.agency, certFP: r.certFP}
	ev := &audit.Event{Operation: audit.OpDenial, Status: r.status, Error: r.text(en.more, en.since),
		Peer: &audit.Peer{Address: r.peer, Refusal: r.kind, Subject: r.subject, SubjectVerified: r.verified, Repeats: en.more}}
	if err := s.writeAudit(context.Background(), rc, ev); err != nil {
		s.log.Error("audit write failed for a connection-level refusal", zap.String(fAction, r.action),
			zap.String("kind", r.kind), zap.Error(err))
	}
}

// tlsRefusalDetail describes each certificate refusal kind.
var tlsRefusalDetail = map[pki.RefusalKind]string{
	pki.RefusedNoCertificate: "no client certificate was presented",
	pki.RefusedUnknownCA:     "the certificate does not chain to the federation trust bundle",
	pki.RefusedExpired:       "the certificate or its chain is expired or not yet valid",
	pki.RefusedUsage:         "the certificate is not valid for TLS client authentication (extended key usage)",
	pki.RefusedInvalid:       "the certificate chain does not verify",
	pki.RefusedRevoked:       "the certificate is revoked",
	pki.RefusedNoAgency:      "the certificate names no agency of this federation",
}

// tlsRefused is the HandshakeListener's OnRefusal: it runs on the refused
// connection's goroutine and never waits for the audit log.
func (s *Server) tlsRefused(r pki.Refusal) {
	// Counted once recorded, so that the counter never runs ahead of the
	// auditor (tests wait on it).
	defer s.edge.refusals.WithLabelValues("tls", string(r.Kind)).Inc()
	s.TLSHandshakeFailed("agency", r)
	peer := peerIP(r.Remote)
	detail, audited := tlsRefusalDetail[r.Kind]
	if !audited {
		// No TLS, no common version or suite, a hang-up or timeout: it
		// names no one and is what scanners do all day. Counted only.
		if ce := s.log.Check(zap.DebugLevel, "TLS handshake failed"); ce != nil {
			ce.Write(zap.String("peer", peer), zap.Error(r.Err))
		}
		return
	}
	cr := connRefusal{action: actionTLSHandshake, kind: string(r.Kind), status: http.StatusForbidden, peer: peer, detail: detail}
	if r.Kind == pki.RefusedNoCertificate {
		cr.status = http.StatusUnauthorized
	}
	if r.Leaf != nil {
		cr.certFP = pki.CertFingerprint(r.Leaf)
		cr.subject = certSubject(r.Leaf)
		cr.verified = r.Verified
		if r.Verified {
			// Only a verified chain may name the agency in the entry; an
			// unverified certificate could name any agency.
			cr.agency, _ = pki.AgencyFromCert(r.Leaf, s.cfg.TrustDomain)
		}
	}
	if !s.edge.auditor.record(cr) {
		return // a repeat in this window: counted, coalesced, not logged again
	}
	if ce := s.log.Check(zap.WarnLevel, "TLS handshake refused"); ce != nil {
		ce.Write(zap.String("kind", cr.kind), zap.String("peer", peer), zap.String("cert_fingerprint", cr.certFP),
			zap.String(fAgency, cr.agency))
	}
}

// certSubject is the subject as audit text: at most 256 bytes, control and
// format characters (bidi overrides included) replaced, since an
// unverified certificate's names are chosen by whoever made it.
func certSubject(c *x509.Certificate) string {
	return sanitiseName(c.Subject.String(), 256)
}

func sanitiseName(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar || r == '\u2028' || r == '\u2029' {
			r = '?'
		}
		if b.Len()+len(string(r)) > max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

func peerIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// ---- HTTP/1 requests that net/http answers itself ----

// edgeListener hands HTTP/1 connections to net/http as *edgeConn. An h2
// connection stays a *tls.Conn: net/http starts HTTP/2 only on that type,
// and HTTP/2 reports malformed requests in frames, not in plain text.
type edgeListener struct {
	net.Listener
	s *Server
}

func (l edgeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	tc, ok := c.(*tls.Conn)
	if !ok || tc.ConnectionState().NegotiatedProtocol == "h2" {
		return c, nil
	}
	return &edgeConn{Conn: tc, s: l.s}, nil
}

// edgeConn is an HTTP/1 connection. net/http sets Request.TLS from its
// ConnectionState (promoted from *tls.Conn). When net/http refuses a request
// before any handler — it writes a plain-text answer straight to the
// connection — Write sees a response while no handler has the request
// (pending), and replaces it with problem+json.
//
// pending is set by the server's ConnState hook at StateActive (a request
// is being read) and cleared by the first middleware of every handled
// request; net/http's own answers are written between the two.
type edgeConn struct {
	*tls.Conn
	s        *Server
	pending  atomic.Bool
	answered atomic.Bool // net/http's answer was replaced: drop the rest of it
}

func (c *edgeConn) Write(p []byte) (int, error) {
	if c.answered.Load() {
		return len(p), nil
	}
	if c.pending.Load() {
		if status, text, ok := parseStatusLine(p); ok && status >= 400 {
			c.answered.Store(true)
			c.s.httpRefused(c, status, text)
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// parseStatusLine reads "HTTP/1.x NNN reason" from the start of p.
func parseStatusLine(p []byte) (int, string, bool) {
	line, _, _ := strings.Cut(string(p[:min(len(p), 256)]), "\r\n")
	if !strings.HasPrefix(line, "HTTP/1.") || len(line) < 12 || line[8] != ' ' {
		return 0, "", false
	}
	code, err := strconv.Atoi(line[9:12])
	if err != nil {
		return 0, "", false
	}
	return code, strings.TrimSpace(line[12:]), true
}

type edgeConnKey struct{}

// connContext (http.Server.ConnContext) lets the handler find its edgeConn.
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	if ec, ok := c.(*edgeConn); ok {
		return context.WithValue(ctx, edgeConnKey{}, ec)
	}
	return ctx
}

// connState (http.Server.ConnState) marks a request being read.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	if ec, ok := c.(*edgeConn); ok && st == http.StateActive {
		ec.pending.Store(true)
	}
}

// markHandled is the outermost middleware: from here on the response is
// the handler's.
func (s *Server) markHandled(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ec, _ := r.Context().Value(edgeConnKey{}).(*edgeConn); ec != nil {
			ec.pending.Store(false)
			ec.answered.Store(false)
		}
		next.ServeHTTP(w, r)
	})
}

// httpRefused writes problem+json in place of net/http's answer and audits
// the refusal (coalesced, like handshake refusals: no handler, identity
// check or rate limit has run for it).
func (s *Server) httpRefused(c *edgeConn, status int, netText string) {
	s.edge.refusals.WithLabelValues("http", strconv.Itoa(status)).Inc()
	reason := sanitiseName(netText, 128)
	p := problem(status, "bad-request", "Bad request", "the request is malformed and was refused before routing: "+reason)
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		p = problem(status, "headers-too-large", "Request header fields too large",
			fmt.Sprintf("the request's header section exceeds %d bytes", s.maxHeaderBytes()))
	case http.StatusNotImplemented:
		p = problem(status, "not-implemented", "Not implemented", "the request's transfer coding is not supported")
	case http.StatusHTTPVersionNotSupported:
		p = problem(status, "http-version", "HTTP version not supported", "use HTTP/1.1 or HTTP/2")
	}
	p.RequestID = audit.NewRequestID()
	body, _ := json.Marshal(&p.Problem)
	body = append(body, '\n')
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nCache-Control: no-store\r\nConnection: close\r\n"+
		"Liaison-Request-Id: %s\r\nContent-Length: %d\r\n\r\n", status, http.StatusText(status), p.RequestID, len(body))
	_, _ = c.Conn.Write(append([]byte(head), body...))

	cr := connRefusal{id: p.RequestID, action: actionHTTPRequest, kind: "http-" + strconv.Itoa(status), status: status,
		peer: peerIP(c.RemoteAddr()), detail: "answered before routing: " + reason}
	cs := c.ConnectionState()
	if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
		leaf := cs.VerifiedChains[0][0]
		cr.certFP, cr.subject, cr.verified = pki.CertFingerprint(leaf), certSubject(leaf), true
		cr.agency, _ = pki.AgencyFromCert(leaf, s.cfg.TrustDomain)
	}
	if s.edge.auditor.record(cr) {
		s.log.Warn("HTTP request refused before routing", zap.Int(fStatus, status), zap.String("peer", cr.peer),
			zap.String(fAgency, cr.agency), zap.String(fRequestID, p.RequestID))
	}
}

// maxHeaderBytes is the agency listener's header limit (Run).
func (s *Server) maxHeaderBytes() int { return apiMaxHeaderBytes }

// apiMaxHeaderBytes bounds a request's header section on the agency
// listener (net/http allows 4 KiB of slack above it).
const apiMaxHeaderBytes = 64 << 10

// ---- paths ----

// rejectUncleanPath refuses a path that is not in canonical form before
// the ServeMux sees it: the mux would answer a redirect (to the cleaned
// path) in plain HTML, and a client must not be steered by ".." segments.
// "*" (OPTIONS *) and CONNECT's empty path are refused the same way.
func (s *Server) rejectUncleanPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; !CleanPath(p) || !CleanPath(r.URL.EscapedPath()) {
			rc := fromContext(r.Context())
			rc.action = actionHTTPRequest
			if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
				leaf := r.TLS.VerifiedChains[0][0]
				rc.certFP = pki.CertFingerprint(leaf)
				rc.agency, _ = pki.AgencyFromCert(leaf, s.cfg.TrustDomain)
			}
			s.fail(w, r, rc, problem(http.StatusBadRequest, "bad-path", "Bad request path",
				"the request path must be absolute and canonical: no '.' or '..' segments and no empty segments"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CleanPath reports whether p is what net/http's ServeMux would leave
// unchanged (path.Clean, keeping a trailing slash): no '.', '..' or empty
// segments. The API and the console refuse any other path.
func CleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c == p
}
