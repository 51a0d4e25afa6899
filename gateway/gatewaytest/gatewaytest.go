// Package gatewaytest runs a real Liaison gateway in-process for tests: a
// generated dev federation (real CA, real certificates), the real TLS
// listener on a loopback port, and mutual-TLS clients per agency. Backends
// default to the embedded ones; options switch to Vault and MinIO.
package gatewaytest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/policy"
)

// Env is a running gateway and what a test needs to talk to it.
type Env struct {
	T        testing.TB
	Dir      string
	Fed      *pki.DevFederation
	Cfg      config.Config
	GW       *gateway.Gateway
	URL      string // https://localhost:port
	AdminURL string // http://127.0.0.1:port

	mu     sync.Mutex
	clock  time.Time // zero: real time
	cancel context.CancelFunc
	done   chan error
}

// Options adjust the gateway before it starts.
type Options struct {
	// Configure edits the configuration (backends, limits…).
	Configure func(*config.Config)
	// BuildOptions are passed to gateway.Build (fault injection).
	BuildOptions []gateway.Option
	// Dir reuses a data directory (restart tests); empty: a fresh temp dir.
	Dir string
	// Quiet drops the process log instead of sending it to t.Log.
	Quiet bool
	// Logger, if set, is the process logger (the access-log tests read
	// what the production logger writes).
	Logger *zap.Logger
	// PKI overrides the dev federation's options (trust domain, gateway id,
	// agencies): federation tests give each gateway its own.
	PKI *pki.DevOptions
}

// Start builds and runs a gateway; it is stopped in t.Cleanup.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	eng, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	agencies := eng.Agencies()
	sort.Strings(agencies)
	popts := pki.DevOptions{Agencies: agencies}
	if o.PKI != nil {
		popts = *o.PKI
	}
	fed, err := pki.EnsureDevFederation(filepath.Join(dir, "pki"), popts)
	if err != nil {
		t.Fatalf("dev federation: %v", err)
	}
	cfg := config.Defaults(dir)
	cfg.GatewayID, cfg.TrustDomain = fed.GatewayID, fed.TrustDomain
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLS.Cert, cfg.TLS.Key = fed.GatewayCertFile, fed.GatewayKeyFile
	cfg.TLS.ClientCAs, cfg.TLS.CRLs = []string{fed.CAFile}, []string{fed.CRLFile}
	cfg.TLS.ReloadInterval = 0 // tests reload explicitly
	cfg.Officers.JWKSDir = fed.JWKSDir
	cfg.Officers.Audience = cfg.GatewayID
	cfg.Limits.RatePerAgency = 0
	// The console's dev identity provider, as `liaison dev` runs it: the
	// console's tests and the browser tests sign in through it.
	cfg.Console.DevIdP, cfg.Console.DevIdPDir = true, fed.Dir
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	e := &Env{T: t, Dir: dir, Fed: fed, Cfg: cfg, done: make(chan error, 1)}
	log := zap.NewNop()
	if !o.Quiet {
		log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	if o.Logger != nil {
		log = o.Logger
	}
	opts := append([]gateway.Option{gateway.WithClock(e.Now)}, o.BuildOptions...)
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	g, err := gateway.Build(ctx, cfg, log, opts...)
	if err != nil {
		cancel()
		t.Fatalf("build: %v", err)
	}
	e.GW = g
	go func() { e.done <- g.Run(ctx) }()
	select {
	case addr := <-g.Addr:
		_, port, _ := strings.Cut(addr.String(), ":")
		e.URL = "https://localhost:" + port
		started.Store("localhost:"+port, true)
		e.AdminURL = "http://" + (<-g.AdminAddr).String()
	case err := <-e.done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(e.Stop)
	return e
}

// Stop shuts the gateway down (idempotent).
func (e *Env) Stop() {
	e.mu.Lock()
	cancel := e.cancel
	e.cancel = nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		e.T.Errorf("gateway did not stop")
	}
	_ = e.GW.Close()
}

// Now is the gateway's clock: real time unless SetClock moved it.
func (e *Env) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.clock.IsZero() {
		return time.Now()
	}
	return e.clock
}

// SetClock fixes the gateway's clock (zero restores real time).
func (e *Env) SetClock(t time.Time) {
	e.mu.Lock()
	e.clock = t
	e.mu.Unlock()
}

// Client is a mutual-TLS client acting as one agency.
type Client struct {
	env     *Env
	http    *http.Client
	Token   string
	Headers map[string]string
}

// Client returns a client with agency's dev certificate.
func (e *Env) Client(agency string) *Client {
	e.T.Helper()
	cfg, err := e.Fed.ClientTLSConfig(agency, "localhost")
	if err != nil {
		e.T.Fatalf("client tls: %v", err)
	}
	return e.clientFor(cfg)
}

// ClientWithCert returns a client presenting the given certificate (nil:
// none) whatever CAs the server asks for: Go's client otherwise sends only a
// certificate from an acceptable CA, and a test of "another CA" would
// silently test "no certificate". An attacker's client sends what it likes.
func (e *Env) ClientWithCert(certPEM, keyPEM []byte) *Client {
	e.T.Helper()
	cfg, err := e.Fed.ClientTLSConfig(e.Fed.Agencies[0], "localhost")
	if err != nil {
		e.T.Fatalf("client tls: %v", err)
	}
	cfg.Certificates = nil
	pair := &tls.Certificate{}
	if certPEM != nil {
		if *pair, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			e.T.Fatalf("key pair: %v", err)
		}
	}
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return pair, nil }
	return e.clientFor(cfg)
}

// Revoke revokes certPEM in the dev federation's CRL and makes the gateway
// reload its TLS configuration, as an operator's CRL update would.
func (e *Env) Revoke(certPEM []byte) {
	e.T.Helper()
	serial, err := pki.SerialFromPEM(certPEM)
	if err != nil {
		e.T.Fatal(err)
	}
	if err := e.Fed.Revoke(serial); err != nil {
		e.T.Fatal(err)
	}
	if err := e.GW.ReloadTLS(); err != nil {
		e.T.Fatal(err)
	}
}

// ClientFromTLS returns a client with an arbitrary TLS configuration.
func ClientFromTLS(e *Env, cfg *tls.Config) *Client { return e.clientFor(cfg) }

func (e *Env) clientFor(cfg *tls.Config) *Client {
	return &Client{env: e, Headers: map[string]string{},
		http: &http.Client{Timeout: 30 * time.Second, Transport: &contractTransport{errorf: e.T.Errorf,
			next: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}}}
}

// With returns a copy of c with extra headers (Liaison-Purpose…).
func (c *Client) With(kv ...string) *Client {
	n := *c
	n.Headers = map[string]string{}
	for k, v := range c.Headers {
		n.Headers[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Headers[kv[i]] = kv[i+1]
	}
	return &n
}

// Unchecked returns a copy of c whose round trips are not checked against
// docs/openapi.yaml: for a stub server standing in for a gateway (the
// proxy floor benchmark), which answers only what it is built to.
func (c *Client) Unchecked() *Client {
	n := c.With()
	if ct, ok := c.http.Transport.(*contractTransport); ok {
		h := *c.http
		h.Transport = ct.next
		n.http = &h
	}
	return n
}

// WithToken returns a copy of c that sends an officer token.
func (c *Client) WithToken(tok string) *Client {
	n := c.With()
	n.Token = tok
	return n
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// JSON is the body as generic JSON, for tests that probe members
	// directly; read an answer as its API type with Decode.
	JSON map[string]any
}

// Do sends a request; body may be nil, []byte, or any value to marshal.
// A transport error (e.g. a refused handshake) is returned as err.
func (c *Client) Do(method, path string, body any) (*Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.env.URL+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r, nil
}

// Decode decodes r's body as the API body T with api.Decode: a body that
// is not T's documented shape fails the test, naming the status and body.
// Tests read answers through the same types the CLI uses.
func Decode[T any, P interface {
	*T
	api.Response
}](t testing.TB, r *Response) *T {
	t.Helper()
	v := P(new(T))
	if err := api.Decode(r.Body, v); err != nil {
		t.Fatalf("answer %d %s: %v", r.Status, r.Body, err)
	}
	return v
}

// Problem decodes r's body as a problem (api.Problem); anything else
// fails the test.
func (r *Response) Problem(t testing.TB) *api.Problem {
	t.Helper()
	return Decode[api.Problem](t, r)
}

// MustDo is Do that fails the test on a transport error.
func (c *Client) MustDo(method, path string, body any) *Response {
	c.env.T.Helper()
	r, err := c.Do(method, path, body)
	if err != nil {
		c.env.T.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// CloseIdle drops kept-alive connections (so the next request handshakes again).
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// OfficerToken issues a token signed by agency's dev key.
func (e *Env) OfficerToken(agency string, o jose.Officer, ttl time.Duration) string {
	e.T.Helper()
	key, err := jose.LoadPrivateJWK(e.Fed.OfficerKeyFile(agency))
	if err != nil {
		e.T.Fatalf("officer key: %v", err)
	}
	if o.Agency == "" {
		o.Agency = agency
	}
	tok, err := jose.IssueOfficerToken(key, agency, e.Cfg.Officers.Audience, o, ttl)
	if err != nil {
		e.T.Fatalf("issue token: %v", err)
	}
	return tok
}

// Audit returns every audit entry written so far.
func (e *Env) Audit() []audit.Event {
	e.T.Helper()
	evs, err := audit.ReadFile(e.Cfg.Audit.Path)
	if err != nil {
		e.T.Fatalf("read audit: %v", err)
	}
	return evs
}
