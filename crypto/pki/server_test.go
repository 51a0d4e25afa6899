package pki

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const testTD = "liaison.dev"

// handshakeResult is what the test server saw for one connection.
type handshakeResult struct {
	agency string
	serial *big.Int
	err    error
}

// tlsServer accepts connections with cfg, reports each handshake on
// results and, on success, writes the peer's agency id back to the client.
type tlsServer struct {
	addr    string
	results chan handshakeResult
}

func startTLSServer(t *testing.T, cfg *tls.Config) *tlsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{addr: ln.Addr().String(), results: make(chan handshakeResult, 64)}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				tc := tls.Server(c, cfg)
				if err := tc.Handshake(); err != nil {
					s.results <- handshakeResult{err: err}
					return
				}
				cs := tc.ConnectionState()
				id, leaf, err := AgencyFromConnState(&cs, testTD)
				r := handshakeResult{agency: id, err: err}
				if leaf != nil {
					r.serial = leaf.SerialNumber
				}
				s.results <- r
				if err == nil {
					_, _ = fmt.Fprintln(tc, id)
				}
			}()
		}
	}()
	return s
}

// dial connects with cfg and returns the agency id the server echoed, the
// server certificate it presented, and the server's view of the handshake.
func (s *tlsServer) dial(t *testing.T, cfg *tls.Config) (string, *x509.Certificate, handshakeResult, error) {
	t.Helper()
	got, srvCert, cerr := func() (string, *x509.Certificate, error) {
		d := &net.Dialer{Timeout: 10 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", s.addr, cfg)
		if err != nil {
			return "", nil, err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		srvCert := c.ConnectionState().PeerCertificates[0]
		// In TLS 1.3 the client finishes first; a rejected client
		// certificate shows up as an alert on the first read.
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return "", srvCert, err
		}
		return strings.TrimSpace(line), srvCert, nil
	}()
	var r handshakeResult
	select {
	case r = <-s.results:
	case <-time.After(20 * time.Second):
		t.Fatal("server reported no handshake")
	}
	return got, srvCert, r, cerr
}

// mustAccept asserts that the handshake succeeds and the identity is want.
func (s *tlsServer) mustAccept(t *testing.T, cfg *tls.Config, want string) {
	t.Helper()
	got, _, r, err := s.dial(t, cfg)
	if err != nil || r.err != nil || got != want || r.agency != want {
		t.Fatalf("handshake: client got %q err %v; server saw %q err %v; want %q", got, err, r.agency, r.err, want)
	}
}

// mustReject asserts that the handshake fails on both sides and returns the
// server's error.
func (s *tlsServer) mustReject(t *testing.T, cfg *tls.Config) error {
	t.Helper()
	got, _, r, err := s.dial(t, cfg)
	if err == nil || r.err == nil {
		t.Fatalf("handshake accepted: client got %q err %v; server saw %q err %v", got, err, r.agency, r.err)
	}
	t.Logf("rejected: server: %v; client: %v", r.err, err)
	return r.err
}

type fixture struct {
	fed  *DevFederation
	srv  *ServerTLS
	logs *observer.ObservedLogs
	ts   *tlsServer
}

func newFixture(t *testing.T, edit func(*ServerTLSOptions)) *fixture {
	t.Helper()
	fed, err := EnsureDevFederation(t.TempDir(), DevOptions{Agencies: []string{"met-police", "hmrc"}})
	if err != nil {
		t.Fatal(err)
	}
	opts := fed.ServerTLSOptions()
	opts.ReloadInterval = 0
	if edit != nil {
		edit(&opts)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	srv, err := NewServerTLS(opts, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{fed: fed, srv: srv, logs: logs, ts: startTLSServer(t, srv.Config())}
}

// client builds a client config presenting certPEM/keyPEM (nil: none) and
// trusting the dev CA for the server.
func (f *fixture) client(t *testing.T, certPEM, keyPEM []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.fed.CA().CertPEM())
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "localhost"}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		// Send the certificate whatever CAs the server lists as acceptable
		// (crypto/tls would otherwise withhold a foreign-CA certificate and
		// the server's own verification would go untested).
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return cfg
}

func (f *fixture) agencyClient(t *testing.T, id string) *tls.Config {
	t.Helper()
	cfg, err := f.fed.ClientTLSConfig(id, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (f *fixture) issuedClient(t *testing.T, id string, opts ClientCertOptions) *tls.Config {
	t.Helper()
	c, k := f.issue(t, id, opts)
	return f.client(t, c, k)
}

func (f *fixture) issue(t *testing.T, id string, opts ClientCertOptions) (certPEM, keyPEM []byte) {
	t.Helper()
	c, k, err := f.fed.IssueClientCert(id, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

func TestServerTLSHandshakes(t *testing.T) {
	f := newFixture(t, nil)
	rogue, err := NewTestCA("rogue CA")
	if err != nil {
		t.Fatal(err)
	}
	rogueCert, rogueKey, err := rogue.Issue(LeafRequest{
		CommonName: "met-police", URIs: []string{AgencyURI(testTD, "met-police")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	t.Run("good client accepted with identity", func(t *testing.T) {
		f.ts.mustAccept(t, f.agencyClient(t, "met-police"), "met-police")
		f.ts.mustAccept(t, f.agencyClient(t, "hmrc"), "hmrc")
	})

	invalid := func(reason x509.InvalidReason) func(error) bool {
		return func(err error) bool {
			var ce x509.CertificateInvalidError
			return errors.As(err, &ce) && ce.Reason == reason
		}
	}
	rejected := []struct {
		name string
		cfg  func(t *testing.T) *tls.Config
		why  func(error) bool // the server-side reason
	}{
		{"no client certificate", func(t *testing.T) *tls.Config { return f.client(t, nil, nil) },
			func(err error) bool { return strings.Contains(err.Error(), "didn't provide a certificate") }},
		{"certificate from another CA", func(t *testing.T) *tls.Config { return f.client(t, rogueCert, rogueKey) },
			func(err error) bool { var ua x509.UnknownAuthorityError; return errors.As(err, &ua) }},
		{"expired certificate", func(t *testing.T) *tls.Config {
			return f.issuedClient(t, "met-police", ClientCertOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
		}, invalid(x509.Expired)},
		{"not yet valid certificate", func(t *testing.T) *tls.Config {
			return f.issuedClient(t, "met-police", ClientCertOptions{NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)})
		}, invalid(x509.Expired)},
		{"serverAuth-only certificate as client", func(t *testing.T) *tls.Config {
			return f.issuedClient(t, "met-police", ClientCertOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		}, invalid(x509.IncompatibleUsage)},
		{"TLS 1.2 client against 1.3 minimum", func(t *testing.T) *tls.Config {
			cfg := f.agencyClient(t, "met-police")
			cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return cfg
		}, func(err error) bool { return strings.Contains(err.Error(), "unsupported versions") }},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.ts.mustReject(t, tt.cfg(t)); !tt.why(err) {
				t.Fatalf("rejected for another reason: %v", err)
			}
		})
	}

	t.Run("certificate without agency identity passes TLS but yields none", func(t *testing.T) {
		// Without ServerTLSOptions.TrustDomain, identity is the
		// application's check: the handshake succeeds, AgencyFromConnState fails.
		_, _, r, _ := f.ts.dial(t, f.issuedClient(t, "x", ClientCertOptions{URIs: []string{"spiffe://other.dev/agency/met-police"}}))
		if !errors.Is(r.err, ErrNoIdentity) {
			t.Fatalf("server err = %v, want ErrNoIdentity", r.err)
		}
	})
}

func TestServerTLSTrustDomainAtHandshake(t *testing.T) {
	f := newFixture(t, func(o *ServerTLSOptions) { o.TrustDomain = testTD })
	f.ts.mustAccept(t, f.agencyClient(t, "hmrc"), "hmrc")
	err := f.ts.mustReject(t, f.issuedClient(t, "x", ClientCertOptions{URIs: []string{"spiffe://other.dev/agency/hmrc"}}))
	if !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("server err = %v, want ErrNoIdentity", err)
	}
}

func TestServerTLSMinVersion12(t *testing.T) {
	f := newFixture(t, func(o *ServerTLSOptions) { o.MinVersion = "1.2" })
	cfg := f.agencyClient(t, "met-police")
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	f.ts.mustAccept(t, cfg, "met-police")
}

func TestServerTLSRevocationAndReload(t *testing.T) {
	f := newFixture(t, nil)
	certPEM, keyPEM := f.issue(t, "hmrc", ClientCertOptions{})
	serial, err := SerialFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	revokedClient := f.client(t, certPEM, keyPEM)
	f.ts.mustAccept(t, revokedClient, "hmrc")

	if err := f.fed.Revoke(serial); err != nil {
		t.Fatal(err)
	}
	t.Run("not applied before reload", func(t *testing.T) {
		f.ts.mustAccept(t, revokedClient, "hmrc")
	})
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	t.Run("revoked after reload on the same listener", func(t *testing.T) {
		if err := f.ts.mustReject(t, revokedClient); !errors.Is(err, ErrRevoked) {
			t.Fatalf("server err = %v, want ErrRevoked", err)
		}
		f.ts.mustAccept(t, f.agencyClient(t, "hmrc"), "hmrc")
	})

	t.Run("unparseable CRL keeps previous state", func(t *testing.T) {
		f.logs.TakeAll()
		if err := os.WriteFile(f.fed.CRLFile, []byte("-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.srv.Reload(); !errors.Is(err, ErrConfig) {
			t.Fatalf("Reload err = %v, want ErrConfig", err)
		}
		if err := f.ts.mustReject(t, revokedClient); !errors.Is(err, ErrRevoked) {
			t.Fatalf("server err = %v, want ErrRevoked (previous CRL)", err)
		}
		f.ts.mustAccept(t, f.agencyClient(t, "met-police"), "met-police")
		entries := f.logs.FilterMessageSnippet("reload failed").All()
		if len(entries) != 1 {
			t.Fatalf("%d reload-failure log entries", len(entries))
		}
		fields := entries[0].ContextMap()
		if fields["component"] != componentTLS || fields["file"] != f.fed.CRLFile || fields["error"] == nil {
			t.Fatalf("log fields = %v", fields)
		}
	})

	t.Run("missing CA file keeps previous state", func(t *testing.T) {
		cfg := f.agencyClient(t, "met-police")
		if err := os.Rename(f.fed.CAFile, f.fed.CAFile+".moved"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(f.fed.CAFile+".moved", f.fed.CAFile)
		if err := f.srv.Reload(); !errors.Is(err, ErrConfig) {
			t.Fatalf("Reload err = %v, want ErrConfig", err)
		}
		f.ts.mustAccept(t, cfg, "met-police")
	})
}

func TestServerTLSCRLSignatureChecked(t *testing.T) {
	f := newFixture(t, nil)
	certPEM, keyPEM := f.issue(t, "hmrc", ClientCertOptions{})
	serial, _ := SerialFromPEM(certPEM)
	revokedPEM, revokedKey := f.issue(t, "nca", ClientCertOptions{})
	revokedSerial, _ := SerialFromPEM(revokedPEM)
	if err := f.fed.Revoke(revokedSerial); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := f.ts.mustReject(t, f.client(t, revokedPEM, revokedKey)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("server err = %v, want ErrRevoked", err)
	}

	// An impostor CA with the dev CA's exact name signs a CRL that revokes a
	// good certificate and omits the genuinely revoked one. The reload must
	// fail and the previous CRL stay in force: neither applied nor ignored.
	impostor, err := newRootCA(f.fed.CA().Certificate().Subject.CommonName, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if string(impostor.Certificate().RawSubject) != string(f.fed.CA().Certificate().RawSubject) {
		t.Fatal("impostor name differs; test would prove nothing")
	}
	forged, err := impostor.CRL(CRLOptions{Revoked: []*big.Int{serial}, Number: 99})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.fed.CRLFile, forged, 0o644); err != nil {
		t.Fatal(err)
	}
	f.logs.TakeAll()
	if err := f.srv.Reload(); err == nil {
		t.Fatal("reload accepted a CRL with a bad signature")
	}
	f.ts.mustAccept(t, f.client(t, certPEM, keyPEM), "hmrc")
	if err := f.ts.mustReject(t, f.client(t, revokedPEM, revokedKey)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("a forged CRL lifted a revocation: server err = %v", err)
	}
	if n := f.logs.FilterMessageSnippet("does not verify").FilterField(zap.String("file", f.fed.CRLFile)).Len(); n != 1 {
		t.Fatalf("%d log entries about the forged CRL", n)
	}
}

func TestServerTLSStaleCRLStillApplied(t *testing.T) {
	f := newFixture(t, nil)
	certPEM, keyPEM := f.issue(t, "hmrc", ClientCertOptions{})
	serial, _ := SerialFromPEM(certPEM)
	now := time.Now()
	stale, err := f.fed.CA().CRL(CRLOptions{
		Revoked: []*big.Int{serial}, Number: 7,
		ThisUpdate: now.Add(-48 * time.Hour), NextUpdate: now.Add(-24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.fed.CRLFile, stale, 0o644); err != nil {
		t.Fatal(err)
	}
	f.logs.TakeAll()
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := f.ts.mustReject(t, f.client(t, certPEM, keyPEM)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("server err = %v, want ErrRevoked", err)
	}
	warn := f.logs.FilterMessageSnippet("past its next update").All()
	if len(warn) != 1 || warn[0].Level != zapcore.WarnLevel {
		t.Fatalf("want one warning about the stale CRL, got %v", warn)
	}
}

// TestServerTLSIntermediates uses a separate root with an intermediate:
// clients send leaf+intermediate; the bundle holds only the root.
func TestServerTLSIntermediates(t *testing.T) {
	dir := t.TempDir()
	root, err := NewTestCA("agency root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("agency issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := root.Issue(LeafRequest{CommonName: "gw", DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	crlRoot, _ := root.CRL(CRLOptions{})
	crlInter, _ := inter.CRL(CRLOptions{})
	opts := ServerTLSOptions{
		CertFile: write("srv.pem", srvCert), KeyFile: write("srv-key.pem", srvKey),
		ClientCAFiles: []string{write("bundle.pem", root.CertPEM())},
		CRLFiles:      []string{write("crl-root.pem", crlRoot), write("crl-inter.pem", crlInter)},
	}
	core, logs := observer.New(zapcore.DebugLevel)
	srv, err := NewServerTLS(opts, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if logs.FilterMessageSnippet("not in the trust bundle").Len() != 1 {
		t.Errorf("intermediate CRL not reported as outside the bundle")
	}
	ts := startTLSServer(t, srv.Config())
	issue := func() *tls.Config {
		c, k, err := inter.Issue(LeafRequest{CommonName: "nca", URIs: []string{AgencyURI(testTD, "nca")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(append(c, inter.CertPEM()...), k)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(root.Certificate())
		return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{pair}}
	}
	leafSerial := func(cfg *tls.Config) *big.Int {
		c, _ := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
		return c.SerialNumber
	}

	good, revokedLeaf := issue(), issue()
	ts.mustAccept(t, good, "nca")
	ts.mustAccept(t, revokedLeaf, "nca")

	t.Run("leaf revoked by intermediate CRL", func(t *testing.T) {
		l, _ := inter.CRL(CRLOptions{Revoked: []*big.Int{leafSerial(revokedLeaf)}, Number: 2})
		write("crl-inter.pem", l)
		if err := srv.Reload(); err != nil {
			t.Fatal(err)
		}
		if err := ts.mustReject(t, revokedLeaf); !errors.Is(err, ErrRevoked) {
			t.Fatalf("server err = %v, want ErrRevoked", err)
		}
		ts.mustAccept(t, good, "nca")
	})
	t.Run("forged intermediate CRL ignored", func(t *testing.T) {
		impostor, err := newRootCA(inter.Certificate().Subject.CommonName, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		if string(impostor.Certificate().RawSubject) != string(inter.Certificate().RawSubject) {
			t.Fatal("impostor name differs; test would prove nothing")
		}
		forged, _ := impostor.CRL(CRLOptions{Revoked: []*big.Int{leafSerial(good)}, Number: 3})
		genuine, _ := inter.CRL(CRLOptions{Revoked: []*big.Int{leafSerial(revokedLeaf)}, Number: 3})
		write("crl-inter.pem", append(genuine, forged...))
		if err := srv.Reload(); err != nil {
			t.Fatal(err)
		}
		logs.TakeAll()
		ts.mustAccept(t, good, "nca")
		if err := ts.mustReject(t, revokedLeaf); !errors.Is(err, ErrRevoked) {
			t.Fatalf("server err = %v, want ErrRevoked", err)
		}
		if n := logs.FilterMessageSnippet("does not verify against the intermediate").Len(); n != 1 {
			t.Fatalf("%d log entries about the forged CRL, want 1", n)
		}
	})
	t.Run("intermediate revoked by root CRL", func(t *testing.T) {
		l, _ := root.CRL(CRLOptions{Revoked: []*big.Int{inter.Certificate().SerialNumber}, Number: 2})
		write("crl-root.pem", l)
		if err := srv.Reload(); err != nil {
			t.Fatal(err)
		}
		if err := ts.mustReject(t, good); !errors.Is(err, ErrRevoked) {
			t.Fatalf("server err = %v, want ErrRevoked", err)
		}
	})
}

func TestServerTLSReloadsBundleAndServerCert(t *testing.T) {
	f := newFixture(t, nil)
	other, err := NewTestCA("second agency CA")
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := other.Issue(LeafRequest{CommonName: "selec", URIs: []string{AgencyURI(testTD, "selec")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatal(err)
	}
	newAgency := f.client(t, c, k)
	f.ts.mustReject(t, newAgency)

	t.Run("CA added to bundle", func(t *testing.T) {
		bundle := append(f.fed.CA().CertPEM(), other.CertPEM()...)
		if err := os.WriteFile(f.fed.CAFile, bundle, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.srv.Reload(); err != nil {
			t.Fatal(err)
		}
		f.ts.mustAccept(t, newAgency, "selec")
	})

	t.Run("server certificate replaced", func(t *testing.T) {
		_, before, _, err := f.ts.dial(t, f.agencyClient(t, "hmrc"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(f.fed.GatewayCertFile); err != nil {
			t.Fatal(err)
		}
		fed2, err := EnsureDevFederation(f.fed.Dir, DevOptions{Agencies: f.fed.Agencies})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.srv.Reload(); err != nil {
			t.Fatal(err)
		}
		_, after, _, err := f.ts.dial(t, f.agencyClient(t, "hmrc"))
		if err != nil {
			t.Fatal(err)
		}
		want := readCert(t, fed2.GatewayCertFile)
		if after.SerialNumber.Cmp(before.SerialNumber) == 0 || after.SerialNumber.Cmp(want.SerialNumber) != 0 {
			t.Fatalf("server certificate not replaced: before %v after %v want %v", before.SerialNumber, after.SerialNumber, want.SerialNumber)
		}
	})

	t.Run("non-CA certificate in bundle refused", func(t *testing.T) {
		leaf, _ := f.issue(t, "hmrc", ClientCertOptions{})
		if err := os.WriteFile(f.fed.CAFile, append(f.fed.CA().CertPEM(), leaf...), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.srv.Reload(); !errors.Is(err, ErrConfig) {
			t.Fatalf("Reload err = %v, want ErrConfig", err)
		}
		f.ts.mustAccept(t, newAgency, "selec") // previous bundle still in force
	})
}

func TestServerTLSPoller(t *testing.T) {
	f := newFixture(t, func(o *ServerTLSOptions) { o.ReloadInterval = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	f.srv.Start(ctx)
	f.srv.Start(ctx) // second call is a no-op

	certPEM, keyPEM := f.issue(t, "met-police", ClientCertOptions{})
	serial, _ := SerialFromPEM(certPEM)
	cfg := f.client(t, certPEM, keyPEM)
	f.ts.mustAccept(t, cfg, "met-police")
	if err := f.fed.Revoke(serial); err != nil {
		t.Fatal(err)
	}
	// Wait for the poller (no timing assertion: just an upper bound).
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, r, err := f.ts.dial(t, cfg)
		if err != nil && errors.Is(r.err, ErrRevoked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("poller never applied the new CRL")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-f.srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("poller did not stop")
	}
	// An unchanged tree is not reloaded again and again.
	loads := f.logs.FilterMessage("TLS configuration loaded").Len()
	if loads != 2 {
		t.Errorf("%d loads, want 2 (start + one change)", loads)
	}
}

func TestServerTLSWithHTTPServer(t *testing.T) {
	f := newFixture(t, func(o *ServerTLSOptions) { o.TrustDomain = testTD })
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _, err := AgencyFromConnState(r.TLS, testTD)
		if err != nil {
			http.Error(w, "no identity", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %s", id, r.Proto)
	}))
	hs.TLS = f.srv.Config()
	hs.EnableHTTP2 = true
	hs.StartTLS()
	defer hs.Close()

	cfg := f.agencyClient(t, "met-police")
	cfg.NextProtos = []string{"h2", "http/1.1"}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + strings.Replace(hs.Listener.Addr().String(), "127.0.0.1", "localhost", 1) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "met-police HTTP/2.0" {
		t.Fatalf("body = %q", body)
	}
}

func TestNewServerTLSErrors(t *testing.T) {
	fed, err := EnsureDevFederation(t.TempDir(), DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*ServerTLSOptions)
	}{
		{"TLS 1.1", func(o *ServerTLSOptions) { o.MinVersion = "1.1" }},
		{"no CA files", func(o *ServerTLSOptions) { o.ClientCAFiles = nil }},
		{"missing CA file", func(o *ServerTLSOptions) { o.ClientCAFiles = []string{fed.Dir + "/nope.pem"} }},
		{"key does not match", func(o *ServerTLSOptions) { o.KeyFile = fed.CAKeyFile }},
		{"CRL garbage", func(o *ServerTLSOptions) { o.CRLFiles = []string{fed.CAFile} }},
		{"negative interval", func(o *ServerTLSOptions) { o.ReloadInterval = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fed.ServerTLSOptions()
			tt.edit(&opts)
			if _, err := NewServerTLS(opts, nil); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// TestNoKeyMaterialInLogs drives failures and checks that no log entry
// carries PEM key material.
func TestNoKeyMaterialInLogs(t *testing.T) {
	f := newFixture(t, nil)
	keyPEM, err := os.ReadFile(f.fed.GatewayKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// A key file holding a certificate instead: the error must not quote it.
	if err := os.WriteFile(f.fed.GatewayKeyFile, append([]byte("garbage\n"), keyPEM[:40]...), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = f.srv.Reload()
	if err := os.WriteFile(f.fed.GatewayKeyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if f.logs.Len() == 0 {
		t.Fatal("no logs captured")
	}
	for _, e := range f.logs.All() {
		s := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, string(keyPEM[28:60])) {
			t.Fatalf("log entry carries key material: %s", s)
		}
	}
}
