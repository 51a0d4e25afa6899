package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RefusalKind classifies a refused TLS handshake.
type RefusalKind string

// Handshake refusal kinds. The certificate kinds are refusals of a peer
// that tried to authenticate; RefusedProtocol is everything else (no TLS at
// all, no common version or cipher suite, the client hung up or timed out),
// which names no one.
const (
	RefusedNoCertificate RefusalKind = "no-certificate"
	RefusedUnknownCA     RefusalKind = "unknown-ca"
	RefusedExpired       RefusalKind = "expired"
	RefusedUsage         RefusalKind = "wrong-usage"
	RefusedInvalid       RefusalKind = "invalid-certificate"
	RefusedRevoked       RefusalKind = "revoked"
	RefusedNoAgency      RefusalKind = "no-agency"
	RefusedProtocol      RefusalKind = "protocol"
)

// Refusal is one refused handshake.
type Refusal struct {
	Kind RefusalKind
	// Leaf is the client certificate presented, nil if none was.
	Leaf *x509.Certificate
	// Verified: Leaf chained to the trust bundle (it was refused later, as
	// revoked or naming no agency), so the identity it names is genuine.
	// An unverified Leaf names whoever its maker chose.
	Verified bool
	Remote   net.Addr
	Err      error
	// PlainHTTP: the client sent an HTTP request to the TLS port.
	PlainHTTP bool
}

// ClassifyHandshakeError turns the error of a failed server handshake, and
// the connection state at that point, into a Refusal.
//
// crypto/tls verifies the chain itself (RequireAndVerifyClientCert) before
// any callback of ours runs, so a chain failure is only visible here, in
// the returned *tls.CertificateVerificationError, which carries the
// presented certificates.
func ClassifyHandshakeError(err error, cs tls.ConnectionState) Refusal {
	r := Refusal{Kind: RefusedProtocol, Err: err}
	var cve *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError
	switch {
	case errors.As(err, &cve):
		if len(cve.UnverifiedCertificates) > 0 {
			r.Leaf = cve.UnverifiedCertificates[0]
		}
		r.Kind = RefusedInvalid
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		switch {
		case errors.As(cve.Err, &ua):
			r.Kind = RefusedUnknownCA
		case errors.As(cve.Err, &ci) && ci.Reason == x509.Expired:
			r.Kind = RefusedExpired
		case errors.As(cve.Err, &ci) && ci.Reason == x509.IncompatibleUsage:
			r.Kind = RefusedUsage
		}
	case errors.Is(err, ErrRevoked):
		r.Kind = RefusedRevoked
	case errors.Is(err, ErrNoIdentity):
		r.Kind = RefusedNoAgency
	case errors.Is(err, ErrUnverified):
		r.Kind = RefusedInvalid
	case strings.Contains(err.Error(), "client didn't provide a certificate"):
		// crypto/tls has no sentinel for this one; the text is stable
		// (crypto/tls/handshake_server.go processCertsFromClient).
		r.Kind = RefusedNoCertificate
	case errors.As(err, &rhe):
		r.PlainHTTP = looksLikeHTTP(rhe.RecordHeader)
	}
	if r.Kind == RefusedRevoked || r.Kind == RefusedNoAgency {
		if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
			r.Leaf, r.Verified = cs.VerifiedChains[0][0], true
		} else if len(cs.PeerCertificates) > 0 {
			r.Leaf = cs.PeerCertificates[0]
		}
	}
	return r
}

func looksLikeHTTP(h [5]byte) bool {
	switch string(h[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE", "TRACE":
		return true
	}
	return false
}

// HandshakeOptions configure NewHandshakeListener.
type HandshakeOptions struct {
	// Timeout bounds one handshake (default 10s).
	Timeout time.Duration
	// OnRefusal is called, on the handshake's own goroutine, for every
	// failed handshake. It must not block for long: a slow callback holds
	// that connection's goroutine, not the listener.
	OnRefusal func(Refusal)
}

// HandshakeListener accepts TCP connections and completes each TLS server
// handshake on its own goroutine before handing the *tls.Conn to Accept.
//
// net/http would otherwise run the handshake itself and report a failure
// only as a line of text in its ErrorLog, without the certificate that was
// refused. Completing it here gives the refusal its certificate (fingerprint,
// subject) for the audit log. http.Server's own HandshakeContext on the
// returned connection is then a no-op.
type HandshakeListener struct {
	inner net.Listener
	cfg   *tls.Config
	opts  HandshakeOptions

	ready  chan net.Conn
	errc   chan error
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// NewHandshakeListener wraps inner; cfg is the server configuration (for
// ServerTLS, its Config()). The accept loop starts at once.
func NewHandshakeListener(inner net.Listener, cfg *tls.Config, opts HandshakeOptions) *HandshakeListener {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &HandshakeListener{inner: inner, cfg: cfg, opts: opts, ready: make(chan net.Conn),
		errc: make(chan error, 1), ctx: ctx, cancel: cancel}
	go l.acceptLoop()
	return l
}

func (l *HandshakeListener) acceptLoop() {
	var backoff time.Duration
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && l.ctx.Err() == nil {
				// Transient (e.g. too many open files reported as a
				// timeout): back off as net/http does, keep accepting.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			select {
			case l.errc <- err:
			default:
			}
			l.cancel()
			return
		}
		backoff = 0
		go l.handshake(raw)
	}
}

func (l *HandshakeListener) handshake(raw net.Conn) {
	ctx, cancel := context.WithTimeout(l.ctx, l.opts.Timeout)
	defer cancel()
	_ = raw.SetDeadline(time.Now().Add(l.opts.Timeout))
	conn := tls.Server(raw, l.cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		r := ClassifyHandshakeError(err, conn.ConnectionState())
		r.Remote = raw.RemoteAddr()
		if r.PlainHTTP {
			// What net/http answers here, as problem+json; the TLS layer
			// has not written anything to the connection yet.
			_, _ = raw.Write([]byte(plainHTTPAnswer))
		}
		_ = conn.Close()
		if l.opts.OnRefusal != nil {
			l.opts.OnRefusal(r)
		}
		return
	}
	_ = raw.SetDeadline(time.Time{})
	select {
	case l.ready <- conn:
	case <-l.ctx.Done():
		_ = conn.Close()
	}
}

const plainHTTPBody = `{"type":"https://liaison.dev/problems/tls-required","title":"TLS required","status":400,` +
	`"detail":"this port speaks HTTPS with client certificates only"}` + "\n"

var plainHTTPAnswer = "HTTP/1.0 400 Bad Request\r\nContent-Type: application/problem+json\r\nConnection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(plainHTTPBody)) + "\r\n\r\n" + plainHTTPBody

// Accept returns the next connection whose handshake succeeded.
func (l *HandshakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ctx.Done():
		select {
		case err := <-l.errc:
			return nil, err
		default:
			return nil, net.ErrClosed
		}
	}
}

// Close stops accepting and aborts handshakes in progress.
func (l *HandshakeListener) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.inner.Close()
	})
	return err
}

// Addr is the inner listener's address.
func (l *HandshakeListener) Addr() net.Addr { return l.inner.Addr() }
