package pki

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// DefaultReloadInterval is the poll period the configuration layer should
// use when the operator sets none (ServerTLSOptions.ReloadInterval 0 means
// "no poller").
const DefaultReloadInterval = 30 * time.Second

// ErrConfig: the TLS material or options cannot be used. The message names
// the file at fault.
var ErrConfig = errors.New("pki: TLS configuration")

// Log field names, kept constant so that logs can be queried.
const (
	logComponent = "component"
	logFile      = "file"
	componentTLS = "pki.tls"
)

// ServerTLSOptions configures the gateway's mTLS listener.
type ServerTLSOptions struct {
	// CertFile and KeyFile are the server certificate (chain) and key.
	CertFile, KeyFile string
	// ClientCAFiles is the federation trust bundle: one CA in dev, one (or
	// more) per agency in production. Each file may hold several PEM
	// certificates; every one must be a CA certificate.
	ClientCAFiles []string
	// CRLFiles hold CRLs (PEM "X509 CRL" blocks, or one DER CRL per file).
	CRLFiles []string
	// MinVersion is "1.2" or "1.3" (default "1.3").
	MinVersion string
	// ReloadInterval is how often Start's poller looks for changed files; 0
	// disables the poller (Reload can still be called).
	ReloadInterval time.Duration
	// NextProtos is the ALPN list (default h2, http/1.1). It is set here
	// because the per-connection config replaces the listener's.
	NextProtos []string
	// TrustDomain, when set, also rejects at handshake any client
	// certificate that carries no agency identity of this trust domain.
	TrustDomain string
	// Refusals (chain failures, revocation, no agency identity) surface
	// as handshake errors; NewHandshakeListener classifies them with the
	// presented certificate so that they can be audited (listener.go).
}

// ServerTLS is a server tls.Config whose trust bundle, CRLs and server
// certificate can be replaced while the listener runs.
type ServerTLS struct {
	opts       ServerTLSOptions
	minVersion uint16
	log        *zap.Logger

	state atomic.Pointer[tlsState]

	reloadMu    sync.Mutex
	lastAttempt map[string][32]byte // file digests of the last load attempt
	// extraCAs are trust anchors beside the files: the agencies' own CAs
	// that the gateway's registry added (SetExtraCAs). Guarded by reloadMu.
	extraCAs     []*x509.Certificate
	startOnce    sync.Once
	pollerExited chan struct{}
}

// tlsState is one consistent generation of trust material.
type tlsState struct {
	config *tls.Config
	// crls by the DER of their issuer name.
	crls map[string][]*loadedCRL
	// sigOK caches CRL signature checks against issuers met in chains:
	// key is CRL digest + issuer public key digest.
	sigOK sync.Map
}

type loadedCRL struct {
	list    *x509.RevocationList
	file    string
	digest  [32]byte
	revoked map[string]struct{} // serial in hex
}

// NewServerTLS loads the listener's material. Every file must load: a
// gateway does not start with a partial trust configuration.
func NewServerTLS(opts ServerTLSOptions, logger *zap.Logger) (*ServerTLS, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	minV, err := parseMinVersion(opts.MinVersion)
	if err != nil {
		return nil, err
	}
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, fmt.Errorf("%w: server certificate and key files are required", ErrConfig)
	}
	if len(opts.ClientCAFiles) == 0 {
		return nil, fmt.Errorf("%w: at least one client CA file is required", ErrConfig)
	}
	if opts.ReloadInterval < 0 {
		return nil, fmt.Errorf("%w: negative reload interval", ErrConfig)
	}
	if opts.NextProtos == nil {
		opts.NextProtos = []string{"h2", "http/1.1"}
	}
	s := &ServerTLS{
		opts:         opts,
		minVersion:   minV,
		log:          logger.With(zap.String(logComponent, componentTLS)),
		pollerExited: make(chan struct{}),
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

func parseMinVersion(v string) (uint16, error) {
	switch v {
	case "", "1.3":
		return tls.VersionTLS13, nil
	case "1.2":
		return tls.VersionTLS12, nil
	default:
		return 0, fmt.Errorf("%w: min TLS version %q (want 1.2 or 1.3)", ErrConfig, v)
	}
}

// Config returns the listener configuration. Each handshake takes the
// current generation through GetConfigForClient, so a reload applies to the
// next connection without restarting the listener.
func (s *ServerTLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion:             s.minVersion,
		ClientAuth:             tls.RequireAndVerifyClientCert,
		NextProtos:             s.opts.NextProtos,
		SessionTicketsDisabled: true,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.state.Load().config, nil
		},
	}
}

// Certificate returns the current generation's certificate (the gateway's
// own): the federation listener serves it and the gateway presents it as a
// client to its peers, so a reload applies there too.
func (s *ServerTLS) Certificate() *tls.Certificate {
	return &s.state.Load().config.Certificates[0]
}

// CRLNextUpdates is each loaded CRL's nextUpdate by file (zero when the
// CRL states none), for the expiry metric: a CRL past its nextUpdate is
// stale and its issuer's certificates may be revoked without our knowing.
func (s *ServerTLS) CRLNextUpdates() map[string]time.Time {
	out := map[string]time.Time{}
	for _, lcs := range s.state.Load().crls {
		for _, lc := range lcs {
			if t, ok := out[lc.file]; !ok || lc.list.NextUpdate.Before(t) {
				out[lc.file] = lc.list.NextUpdate
			}
		}
	}
	return out
}

// loadError carries the file at fault so that the log can name it.
type loadError struct {
	file string
	err  error
}

func (e *loadError) Error() string { return e.file + ": " + e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// Reload reads every file again and, if all of them load, swaps the new
// generation in. On failure the previous generation stays in force and the
// error is logged and returned.
func (s *ServerTLS) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	st, digests, err := s.load()
	s.lastAttempt = digests
	if err != nil {
		file := ""
		var le *loadError
		if errors.As(err, &le) {
			file = le.file
		}
		s.log.Error("TLS reload failed; keeping previous configuration",
			zap.String(logFile, file), zap.Error(err))
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s.state.Store(st)
	s.log.Info("TLS configuration loaded",
		zap.Int("client_ca_files", len(s.opts.ClientCAFiles)),
		zap.Int("crl_files", len(s.opts.CRLFiles)))
	return nil
}

// SetExtraCAs replaces the trust anchors held beside the configured files
// (the agency CAs of the gateway's registry) and reloads: the next
// handshake trusts exactly the files' CAs and these. Every one must be a
// CA certificate. On failure the previous generation stays in force.
func (s *ServerTLS) SetExtraCAs(cas []*x509.Certificate) error {
	for _, c := range cas {
		if !c.BasicConstraintsValid || !c.IsCA {
			return fmt.Errorf("%w: certificate %q is not a CA", ErrConfig, c.Subject.CommonName)
		}
	}
	s.reloadMu.Lock()
	prev := s.extraCAs
	s.extraCAs = cas
	s.reloadMu.Unlock()
	if err := s.Reload(); err != nil {
		s.reloadMu.Lock()
		s.extraCAs = prev
		s.reloadMu.Unlock()
		return err
	}
	return nil
}

func (s *ServerTLS) watched() []string {
	files := []string{s.opts.CertFile, s.opts.KeyFile}
	files = append(files, s.opts.ClientCAFiles...)
	return append(files, s.opts.CRLFiles...)
}

func (s *ServerTLS) load() (*tlsState, map[string][32]byte, error) {
	digests := make(map[string][32]byte)
	read := func(path string) ([]byte, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &loadError{path, err}
		}
		digests[path] = sha256.Sum256(data)
		return data, nil
	}
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	// Read every file even after an error so that the digests describe the
	// whole attempt and the poller does not retry until something changes.
	files := make(map[string][]byte)
	for _, p := range s.watched() {
		if _, done := files[p]; done {
			continue
		}
		data, err := read(p)
		if err != nil {
			keep(err)
			continue
		}
		files[p] = data
	}
	if firstErr != nil {
		return nil, digests, firstErr
	}

	pair, err := tls.X509KeyPair(files[s.opts.CertFile], files[s.opts.KeyFile])
	if err != nil {
		// X509KeyPair's errors describe structure, never key bytes.
		return nil, digests, &loadError{s.opts.KeyFile, fmt.Errorf("server certificate and key: %w", err)}
	}
	if pair.Leaf != nil && time.Now().After(pair.Leaf.NotAfter) {
		s.log.Warn("server certificate has expired", zap.String(logFile, s.opts.CertFile),
			zap.Time("not_after", pair.Leaf.NotAfter))
	}

	pool := x509.NewCertPool()
	var cas []*x509.Certificate
	for _, p := range s.opts.ClientCAFiles {
		certs, err := ParseCertsPEM(files[p])
		if err != nil {
			return nil, digests, &loadError{p, err}
		}
		for _, c := range certs {
			// A non-CA certificate in the bundle would become a trust
			// anchor for anything naming it as issuer: refuse it.
			if !c.BasicConstraintsValid || !c.IsCA {
				return nil, digests, &loadError{p, fmt.Errorf("certificate %q is not a CA", c.Subject.CommonName)}
			}
			pool.AddCert(c)
			cas = append(cas, c)
		}
	}

	for _, c := range s.extraCAs {
		pool.AddCert(c)
		cas = append(cas, c)
	}

	st := &tlsState{crls: make(map[string][]*loadedCRL)}
	for _, p := range s.opts.CRLFiles {
		lists, err := parseCRLs(files[p])
		if err != nil {
			return nil, digests, &loadError{p, err}
		}
		for _, l := range lists {
			lc, ok, err := s.acceptCRL(st, p, l, cas)
			if err != nil {
				return nil, digests, &loadError{p, err}
			}
			if ok {
				st.crls[string(l.RawIssuer)] = append(st.crls[string(l.RawIssuer)], lc)
			}
		}
	}

	st.config = &tls.Config{
		MinVersion:             s.minVersion,
		ClientAuth:             tls.RequireAndVerifyClientCert,
		ClientCAs:              pool,
		Certificates:           []tls.Certificate{pair},
		NextProtos:             s.opts.NextProtos,
		SessionTicketsDisabled: true, // every connection meets the current bundle and CRLs
		VerifyConnection:       func(cs tls.ConnectionState) error { return s.verifyConnection(st, cs) },
	}
	return st, digests, nil
}

// acceptCRL checks one CRL at load. A CRL whose issuer is a bundle CA must
// verify against it, or the whole load fails (the previous state stays). A CRL whose issuer is not in
// the bundle may belong to an intermediate that clients present; it is kept
// and its signature is checked against that intermediate at handshake.
func (s *ServerTLS) acceptCRL(st *tlsState, file string, l *x509.RevocationList, cas []*x509.Certificate) (*loadedCRL, bool, error) {
	lc := &loadedCRL{list: l, file: file, digest: sha256.Sum256(l.Raw), revoked: make(map[string]struct{}, len(l.RevokedCertificateEntries))}
	for _, e := range l.RevokedCertificateEntries {
		lc.revoked[e.SerialNumber.Text(16)] = struct{}{}
	}
	var sameName, verified bool
	for _, ca := range cas {
		if !bytes.Equal(ca.RawSubject, l.RawIssuer) {
			continue
		}
		sameName = true
		if l.CheckSignatureFrom(ca) == nil {
			verified = true
			st.sigOK.Store(sigKey(lc, ca), true)
		}
	}
	switch {
	case sameName && !verified:
		// Fail closed: ignoring it would silently drop the revocations of
		// the CRL it replaces. The reload fails and the previous state stays.
		s.log.Error("CRL signature does not verify against its issuer in the trust bundle; keeping the previous CRLs",
			zap.String(logFile, file))
		return nil, false, errors.New("CRL signature does not verify against its issuer in the trust bundle")
	case !sameName:
		s.log.Warn("CRL issuer is not in the trust bundle; it will apply only to chains through a matching intermediate",
			zap.String(logFile, file))
	}
	if !l.NextUpdate.IsZero() && time.Now().After(l.NextUpdate) {
		s.log.Warn("CRL is past its next update; applying it anyway",
			zap.String(logFile, file), zap.Time("next_update", l.NextUpdate))
	}
	return lc, true, nil
}

func sigKey(lc *loadedCRL, issuer *x509.Certificate) [64]byte {
	var k [64]byte
	copy(k[:32], lc.digest[:])
	pk := sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
	copy(k[32:], pk[:])
	return k
}

// verifyConnection runs after the standard chain verification (bundle,
// validity, clientAuth usage) and rejects any chain in which a certificate
// is listed on a CRL signed by its issuer in that chain. Every verified chain
// is checked, so a revoked intermediate cannot hide behind another path.
func (s *ServerTLS) verifyConnection(st *tlsState, cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 {
		return ErrUnverified
	}
	for _, chain := range cs.VerifiedChains {
		for i := 0; i+1 < len(chain); i++ {
			if st.revoked(chain[i], chain[i+1], s.log) {
				s.log.Warn("rejected revoked client certificate",
					zap.String("serial", chain[i].SerialNumber.Text(16)),
					zap.String("subject", chain[i].Subject.CommonName),
					zap.Int("chain_position", i))
				return ErrRevoked
			}
		}
	}
	if s.opts.TrustDomain != "" {
		if _, err := AgencyFromCert(cs.VerifiedChains[0][0], s.opts.TrustDomain); err != nil {
			return err
		}
	}
	return nil
}

func (st *tlsState) revoked(cert, issuer *x509.Certificate, log *zap.Logger) bool {
	serial := cert.SerialNumber.Text(16)
	for _, lc := range st.crls[string(issuer.RawSubject)] {
		if _, listed := lc.revoked[serial]; !listed {
			continue
		}
		if st.signedBy(lc, issuer, log) {
			return true
		}
	}
	return false
}

// signedBy checks (once per CRL and issuer key) that issuer signed the CRL;
// a CRL naming an issuer it was not signed by revokes nothing.
func (st *tlsState) signedBy(lc *loadedCRL, issuer *x509.Certificate, log *zap.Logger) bool {
	k := sigKey(lc, issuer)
	if v, ok := st.sigOK.Load(k); ok {
		return v.(bool)
	}
	ok := lc.list.CheckSignatureFrom(issuer) == nil
	if _, loaded := st.sigOK.LoadOrStore(k, ok); !loaded && !ok {
		log.Error("CRL does not verify against the intermediate it names; ignoring it",
			zap.String(logFile, lc.file), zap.String("issuer", issuer.Subject.CommonName))
	}
	return ok
}

// Start runs the file poller until ctx ends: every ReloadInterval it hashes
// the watched files and reloads when any differs from the last attempt.
// Contents are hashed rather than mtimes compared because mtimes can be
// coarse and Kubernetes swaps mounted secrets through symlinks; the files
// are small. Start returns at once; later calls do nothing.
func (s *ServerTLS) Start(ctx context.Context) {
	if s.opts.ReloadInterval <= 0 {
		return
	}
	s.startOnce.Do(func() {
		go s.poll(ctx)
	})
}

// Done is closed when the poller started by Start has exited (never, if no
// poller was started).
func (s *ServerTLS) Done() <-chan struct{} { return s.pollerExited }

func (s *ServerTLS) poll(ctx context.Context) {
	defer close(s.pollerExited)
	t := time.NewTicker(s.opts.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.changed() {
				_ = s.Reload() // logged by Reload; the previous state stays
			}
		}
	}
}

func (s *ServerTLS) changed() bool {
	s.reloadMu.Lock()
	last := s.lastAttempt
	s.reloadMu.Unlock()
	for _, p := range s.watched() {
		data, err := os.ReadFile(p)
		prev, seen := last[p]
		if err != nil {
			// Unreadable now: a change only if it was readable last time.
			if seen {
				return true
			}
			continue
		}
		if !seen || sha256.Sum256(data) != prev {
			return true
		}
	}
	return false
}

// parseCRLs reads PEM "X509 CRL" blocks, or a single DER CRL.
func parseCRLs(data []byte) ([]*x509.RevocationList, error) {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		l, err := x509.ParseRevocationList(data)
		if err != nil {
			return nil, fmt.Errorf("%w: CRL does not parse: %v", ErrBadPEM, err)
		}
		return []*x509.RevocationList{l}, nil
	}
	var out []*x509.RevocationList
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemCRL {
			continue
		}
		l, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CRL %d does not parse: %v", ErrBadPEM, len(out)+1, err)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no X509 CRL block", ErrBadPEM)
	}
	return out, nil
}
