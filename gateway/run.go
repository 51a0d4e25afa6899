package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/localkeys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/envelope"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/console"
	"github.com/liaison-project/liaison/gateway/federation"
	"github.com/liaison-project/liaison/gateway/httpapi"
	"github.com/liaison-project/liaison/gateway/registry"
	"github.com/liaison-project/liaison/gateway/search"
	"github.com/liaison-project/liaison/gateway/tracing"
	"github.com/liaison-project/liaison/policy"
	"github.com/prometheus/client_golang/prometheus"
)

// Gateway is a built gateway: the server and everything it runs.
type Gateway struct {
	*httpapi.Server
	cfg    config.Config
	log    *zap.Logger
	tls    *pki.ServerTLS
	policy *policy.Engine
	// audit is the audit log every entry goes to (wrapped in tests).
	audit audit.Writer
	// keySets counts officer key-set reloads (registered with the
	// server's metrics once it exists).
	keySets *prometheus.CounterVec
	closers []func() error
	starts  []func(context.Context) error
	opts    buildOptions

	keyCache *envelope.CachingKeys
	// policyMetrics counts policy reloads (AuditPolicyReload).
	policyMetrics *policyMetrics
	// fed is this gateway's side of the federation (nil when off).
	fed *federation.Service
	// officers verifies officer tokens (nil without officers.jwks_dir);
	// registry is the registry of agencies and agreements (registry.go).
	officers *jose.OfficerVerifier
	registry *registry.Registry
	urlKeys  *registry.URLKeys
	// console is the web console on the agency listener (nil when off).
	console *console.Console

	// Addr and AdminAddr are the bound addresses once Run has started;
	// FedAddr that of the federation listener (when federation is on).
	Addr, AdminAddr, FedAddr chan net.Addr
}

// Option adjusts Build; tests use them to move the clock and inject faults
// through the same build path as production.
type Option func(*buildOptions)

type buildOptions struct {
	now       func() time.Time
	auditOpts func(*audit.Options)
	wrapAudit func(audit.Writer) audit.Writer
	wrapStore func(objstore.Store) objstore.Store
	wrapIndex func(index.Backend) index.Backend
	dev       bool // `liaison dev` (see WithDevMode)
	// fedListener, if set, is the federation listener (tests bind it
	// before the peers' configurations name its address).
	fedListener net.Listener
	// jwksClient fetches agencies' jwks_url (nil: the default client).
	jwksClient *http.Client
	// consoleClient calls identity providers' token endpoints (nil: the
	// console's default).
	consoleClient *http.Client
}

// WithFederationListener serves the federation API on ln instead of
// listening on federation.listen: a test federation binds every gateway's
// listener before any configuration names its address, so no port is
// chosen free and then taken by someone else.
func WithFederationListener(ln net.Listener) Option {
	return func(o *buildOptions) { o.fedListener = ln }
}

// WithClock sets the clock that policy decisions and audit entries use.
func WithClock(now func() time.Time) Option { return func(o *buildOptions) { o.now = now } }

// WithAuditOptions adjusts the audit log's options (fault-injection hooks in tests).
func WithAuditOptions(f func(*audit.Options)) Option {
	return func(o *buildOptions) { o.auditOpts = f }
}

// WithAuditWrapper wraps the audit writer (fault injection in tests).
func WithAuditWrapper(f func(audit.Writer) audit.Writer) Option {
	return func(o *buildOptions) { o.wrapAudit = f }
}

// WithIndexWrapper wraps the index database (fault injection in tests).
func WithIndexWrapper(f func(index.Backend) index.Backend) Option {
	return func(o *buildOptions) { o.wrapIndex = f }
}

// WithStoreWrapper wraps the object store (fault injection in tests).
func WithStoreWrapper(f func(objstore.Store) objstore.Store) Option {
	return func(o *buildOptions) { o.wrapStore = f }
}

// Build constructs a gateway from cfg: backends chosen by one switch each,
// then the server on top of the same interfaces whichever they are.
func Build(ctx context.Context, cfg config.Config, log *zap.Logger, opts ...Option) (*Gateway, error) {
	g := &Gateway{cfg: cfg, log: log, Addr: make(chan net.Addr, 1), AdminAddr: make(chan net.Addr, 1), FedAddr: make(chan net.Addr, 1),
		policyMetrics: newPolicyMetrics()}
	for _, o := range opts {
		o(&g.opts)
	}
	srv, err := g.build(ctx, cfg, log)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.Server = srv
	return g, nil
}

// build constructs the gateway's components in dependency order, SPIRE
// style: each one is built from those before it, registers what it runs
// in the background with g.starts (started in this order by Run) and its
// release with g.closers (run in reverse by Close), so nothing starts
// before what it needs and nothing is closed while something still uses
// it. The order:
//
//  1. TLS: the listener's certificate and trust bundle.
//  2. The audit log: everything after it can leave evidence (a policy
//     reload during start-up included).
//  3. The policy engine, whose reloads are audited.
//  4. Officer-token key sets, whose reloads are counted and logged.
//  5. Backends: key provider, object store, metadata signer; the audit
//     shipper, which copies the log to the store.
//  6. The HTTP server over all of them, and the listing index recovered
//     from the audit log before anything is served.
func (g *Gateway) build(ctx context.Context, cfg config.Config, log *zap.Logger) (*httpapi.Server, error) {
	// Traces first and flushed last (closers run in reverse): every span,
	// the shutdown's included, reaches the collector.
	stopTracing, err := tracing.Start(ctx, cfg.Tracing, cfg.GatewayID)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	g.closers = append(g.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(ctx); err != nil {
			log.Warn("traces not flushed to the collector", zap.Error(err))
		}
		return nil
	})
	g.tls, err = pki.NewServerTLS(pki.ServerTLSOptions{
		CertFile: cfg.TLS.Cert, KeyFile: cfg.TLS.Key, ClientCAFiles: cfg.TLS.ClientCAs, CRLFiles: cfg.TLS.CRLs,
		MinVersion: cfg.TLS.MinVersion, ReloadInterval: cfg.TLS.ReloadInterval,
	}, log.Named("tls"))
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	g.starts = append(g.starts, func(ctx context.Context) error { g.tls.Start(ctx); return nil })

	aopts := config.AuditOptions(cfg)
	aopts.OnProbe = auditProbeLogger(log.Named("audit"))
	if g.opts.auditOpts != nil {
		g.opts.auditOpts(&aopts)
	}
	aw, err := audit.Open(cfg.Audit.Path, aopts)
	if err != nil {
		return nil, &OpenError{What: "audit", Err: err}
	}
	g.closers = append(g.closers, aw.Close)
	g.audit = aw
	if g.opts.wrapAudit != nil {
		g.audit = g.opts.wrapAudit(aw)
	}

	g.policy, err = policy.New(ctx, policy.Options{Dir: cfg.Policy.Dir, Bundle: cfg.Policy.Bundle, TrustedKeys: cfg.Policy.TrustedKeys,
		RequiredSignatures: cfg.Policy.RequiredSignatures, ReloadInterval: cfg.Policy.ReloadInterval, Logger: log, OnReload: g.AuditPolicyReload,
		DecisionCacheEntries: cfg.Policy.DecisionCacheEntries})
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	g.starts = append(g.starts, g.policy.Start)
	g.closers = append(g.closers, g.policy.Close)
	var pe httpapi.PolicyEngine = g.policy
	if cfg.Policy.ShadowDir != "" {
		if pe, err = g.shadowPolicy(ctx, cfg.Policy.ShadowDir, cfg.Policy.ShadowReport, cfg.Policy.ReloadInterval, log); err != nil {
			return nil, fmt.Errorf("policy shadow: %w", err)
		}
	}

	g.keySets = newKeySetCounter()
	var off httpapi.OfficerVerifier
	if cfg.Officers.JWKSDir != "" {
		v, err := jose.NewOfficerVerifier(cfg.Officers.JWKSDir, cfg.Officers.Audience, jose.WithKeySetObserver(g.onKeySet))
		if err != nil {
			return nil, fmt.Errorf("officers: %w", err)
		}
		g.officers = v
		// Re-read on the trust bundle's schedule: an agency joining or
		// leaving the federation changes both.
		g.starts = append(g.starts, func(ctx context.Context) error { v.Watch(ctx, cfg.TLS.ReloadInterval); return nil })
		off = v
	}

	b, err := openBackends(ctx, cfg, log, openOptions{createSigningKey: g.opts.dev, index: true})
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, b.close)
	// Measured where the backends are chosen, under the data-key cache and
	// the record store, so the metrics count the calls that reach Vault or
	// MinIO (test wrappers go on top and are not counted).
	mkeys, mstore := newMeasuredKeys(b.provider), newMeasuredStore(b.store)
	var provider keys.Provider = mkeys
	var store objstore.Store = mstore
	signer := b.signer
	if cfg.Audit.ShipInterval > 0 {
		shipTo, err := b.auditStore(ctx, cfg, store)
		if err != nil {
			return nil, fmt.Errorf("audit store: %w", err)
		}
		// Closers run last-in first-out: the shipper's final pass runs
		// after the server stops and before the backends close; the log
		// itself closes (and signs its last checkpoint) last of all.
		sh := audit.NewShipper(shipTo, aw, audit.ShipperOptions{Interval: cfg.Audit.ShipInterval, Node: cfg.Audit.NodeID,
			OnError: func(err error) { log.Warn("audit shipping failed", zap.Error(err)) }})
		g.starts = append(g.starts, sh.Start)
		g.closers = append(g.closers, sh.Close)
	}
	if g.opts.wrapStore != nil {
		store = g.opts.wrapStore(store)
	}
	idx := b.index
	if g.opts.wrapIndex != nil {
		idx = g.opts.wrapIndex(idx)
	}
	g.keyCache = envelope.NewCachingKeys(provider, cfg.Keys.Cache.Limits())
	keyring, err := search.OpenKeyring(ctx, store, provider, cfg.Index.BlindKeyName, log.Named("blind-keys"))
	if err != nil {
		return nil, &OpenError{What: "index", Err: fmt.Errorf("blind-index keyring: %w", err)}
	}
	g.starts = append(g.starts, func(ctx context.Context) error { keyring.Watch(ctx, cfg.Index.KeyringRefresh); return nil })
	// The policy is read at each call: a reloaded registry's countries apply.
	region := func(agency string) string {
		if a, ok := g.policy.Agency(agency); ok {
			return a.Country
		}
		return ""
	}

	keysUp := newKeysUpGauge()
	srv, err := httpapi.NewServer(cfg, httpapi.Deps{
		Log: log, Policy: pe, Officers: off, Store: store,
		// (A shadow policy compares each decision asked: it sees them all.)
		BundledPolicy: cfg.Policy.Dir == "" && cfg.Policy.Bundle == "" && cfg.Policy.ShadowDir == "",
		Keys:          g.keyCache, Signer: signer, Audit: g.audit,
		Index: idx, Keyring: keyring, Blinder: &search.Blinder{Keys: keyring, Region: region, Log: log.Named("index")},
		Ready: map[string]func(context.Context) error{
			"audit": func(context.Context) error { return aw.Healthy() },
			"keys":  keyHealth(provider, keysUp),
			"index": idx.Ping,
		},
		Now: g.opts.now,
	})
	if err != nil {
		return nil, err
	}
	if err := g.openRegistry(ctx, cfg, store, signer, srv, log); err != nil {
		return nil, err
	}
	if err := g.buildConsole(cfg, srv, log); err != nil {
		return nil, err
	}
	if cfg.Federation.Enabled() {
		g.fed, err = federation.New(federation.Options{Config: cfg, Log: log, Records: srv.Records(), Store: store,
			Signer: signer, Audit: g.audit, Policy: pe, Certificate: g.tls.Certificate, Now: g.opts.now, Checkpoints: aw})
		if err != nil {
			return nil, err
		}
		// The manifest lists the DSAs of the live policy (not a shadow
		// candidate's).
		g.fed.UseDSAs(g.policy)
		srv.UseFederation(g.fed)
		srv.Registry().MustRegister(g.fed.Collectors()...)
		g.fed.UseConsentExecutor(srv)
	}
	srv.Registry().MustRegister(keysUp, g.keySets, g.policyMetrics.reloads)
	srv.Registry().MustRegister(mkeys.m.collectors()...)
	srv.Registry().MustRegister(mstore.m.collectors()...)
	srv.Registry().MustRegister(&stateCollector{now: time.Now, policy: g.policy, audit: aw, index: srv.Records().Index(), tls: g.tls, opened: time.Now()})
	registerAuditMetrics(srv.Registry(), aw)
	srv.Records().WarnOldLayout(ctx, log)
	if err := g.recoverIndex(ctx, cfg, srv, log); err != nil {
		return nil, err
	}
	// Closers run last-in first-out: queued refusal entries are written
	// before the audit log closes.
	g.starts = append(g.starts, srv.Start)
	g.closers = append(g.closers, srv.Stop)
	if g.fed != nil {
		// The senders stop before the server's closers run (LIFO): nothing
		// is sent from a store or audit log being closed.
		g.starts = append(g.starts, g.fed.Start)
		g.closers = append(g.closers, g.fed.Stop)
	}
	return srv, nil
}

// recoverIndex makes the listing index crash-safe (its recovery point
// beside this node's audit log), re-adds what a crash may have lost before
// the gateway serves, and on close writes what is pending and marks the
// state clean.
func (g *Gateway) recoverIndex(ctx context.Context, cfg config.Config, srv *httpapi.Server, log *zap.Logger) error {
	dir := audit.LogDir(cfg.Audit.Path)
	rec, shutdown, err := srv.Records().Index().Recover(ctx, dir, max(30*time.Second, 2*cfg.Audit.WriteTimeout), srv.Audit(), cfg.GatewayID,
		func(err error) {
			// Visible, not silent: a crash now re-reads the audit log from
			// the last saved point, and the directory is probably failing
			// (the audit probe says so in /readyz).
			srv.IndexStateFailed()
			log.Error("listing index state not saved", zap.String("dir", dir), zap.Error(err))
		})
	if err != nil {
		return err
	}
	if rec.Indexed > 0 || rec.Corrected > 0 || len(rec.Recalled) > 0 {
		log.Info("listing index recovered from the audit log", zap.Int("records", rec.Indexed), zap.Int("publishes_corrected", rec.Corrected),
			zap.Int("recalls_completed", len(rec.Recalled)))
	}
	g.closers = append(g.closers, shutdown)
	// A recall recovery completed stopped before it was queued to the
	// gateways a copy went to: queue it now (before serving; the senders
	// start with the gateway). A repeated recall is harmless to a peer.
	if g.fed != nil {
		for _, st := range rec.Recalled {
			if _, err := g.fed.Recall(ctx, st.Meta.RecordID, st.Meta.Originator.OrgID, st.Meta.Version); err != nil {
				return fmt.Errorf("recovery: queue the recall of record %s to peer gateways: %w", st.Meta.RecordID, err)
			}
		}
	}
	return nil
}

// backends are the stateful services under the gateway: the key provider,
// the object store and the metadata signer. The gateway and the key
// lifecycle commands open them the same way.
type backends struct {
	provider keys.Provider
	store    objstore.Store
	signer   *jose.Signer
	// index is the query and selector index database (nil for the key
	// lifecycle commands, which do not open it).
	index   index.Backend
	closers []func() error
	log     *zap.Logger
}

func openBackends(ctx context.Context, cfg config.Config, log *zap.Logger, o openOptions) (*backends, error) {
	// b is not the named result on purpose: `return nil, err` must not hide
	// from the cleanup what was already opened (a nil b there was a
	// nil-pointer panic instead of the real error, issue 9 item 8).
	b := &backends{log: log}
	fail := func(what string, err error) (*backends, error) {
		b.close()
		return nil, &OpenError{What: what, Err: err}
	}
	var err error
	if b.provider, err = b.keyProvider(ctx, cfg); err != nil {
		return fail("keys", err)
	}
	if b.store, err = b.objectStore(ctx, cfg); err != nil {
		return fail("store", err)
	}
	if b.signer, err = loadSigner(ctx, cfg, b.store, o, log); err != nil {
		return fail("signing", err)
	}
	if o.index {
		if b.index, err = b.indexDB(ctx, cfg); err != nil {
			return fail("index", err)
		}
	}
	return b, nil
}

func (b *backends) close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	b.closers = nil
	return errors.Join(errs...)
}

// keyProvider is the one place that chooses the key backend.
func (b *backends) keyProvider(ctx context.Context, cfg config.Config) (keys.Provider, error) {
	switch cfg.Keys.Provider {
	case "local":
		kr, err := localkeys.Open(cfg.Keys.Local.Keyring, cfg.Keys.Local.Options())
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, kr.Close) // releases the keyring's lock
		return kr, nil
	case "vault":
		return b.vaultProvider(ctx, cfg)
	default:
		return nil, fmt.Errorf("unknown provider %q", cfg.Keys.Provider)
	}
}

// objectStore is the one place that chooses the storage backend.
func (b *backends) objectStore(ctx context.Context, cfg config.Config) (objstore.Store, error) {
	switch cfg.Store.Backend {
	case "fs":
		st, err := fsstore.Open(cfg.Store.FS.Dir)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, st.Close)
		return st, nil
	case "minio":
		return b.minioStore(ctx, cfg.Store.MinIO, "minio")
	default:
		return nil, fmt.Errorf("unknown backend %q", cfg.Store.Backend)
	}
}

// Run serves the agency listener (mutual TLS) and the admin listener until
// ctx ends, then shuts both down gracefully. Long-running helpers (TLS and
// policy reloaders, token renewal) start and stop with it.
func (g *Gateway) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, start := range g.starts {
		if err := start(ctx); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", g.cfg.Listen, err)
	}
	aln, err := net.Listen("tcp", g.cfg.AdminListen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("admin listen %s: %w", g.cfg.AdminListen, err)
	}
	var fln net.Listener
	if g.fed != nil && g.opts.fedListener != nil {
		fln = g.opts.fedListener
	} else if g.fed != nil {
		if fln, err = net.Listen("tcp", g.cfg.Federation.Listen); err != nil {
			ln.Close()
			aln.Close()
			return fmt.Errorf("federation listen %s: %w", g.cfg.Federation.Listen, err)
		}
	}
	if fln != nil {
		g.FedAddr <- fln.Addr()
		// The handshake runs in the listener, as on the agency listener,
		// so that a failed one is counted by reason (net/http would only
		// print it to ErrorLog).
		fln = pki.NewHandshakeListener(fln, federationTLS(g.tls), pki.HandshakeOptions{Timeout: 10 * time.Second,
			OnRefusal: func(r pki.Refusal) {
				g.TLSHandshakeFailed("federation", r)
				if ce := g.log.Check(zap.DebugLevel, "federation TLS handshake failed"); ce != nil {
					ce.Write(zap.Error(r.Err))
				}
			}})
	}
	g.Addr <- ln.Addr()
	g.AdminAddr <- aln.Addr()
	errLog, _ := zap.NewStdLogAt(g.log.Named("http"), zap.WarnLevel)
	api := g.HTTPServer(g.tls.Config(), errLog)
	if g.console != nil {
		// The console shares the listener, so the browser's client
		// certificate is checked exactly as an API client's.
		api.Handler = g.console.Wrap(api.Handler)
	}
	admin := &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: errLog}
	errc := make(chan error, 3)
	go func() { errc <- api.Serve(g.Listener(ln, api)) }()
	go func() { errc <- admin.Serve(aln) }()
	var fed *http.Server
	if fln != nil {
		fed = &http.Server{Handler: g.fed.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog,
			TLSConfig: federationTLS(g.tls)}
		go func() { errc <- fed.Serve(fln) }()
	}
	g.log.Info("gateway listening", zap.String("listen", ln.Addr().String()), zap.String("admin_listen", aln.Addr().String()),
		zap.String("gateway_id", g.cfg.GatewayID), zap.String("policy_revision", g.policy.Revision()),
		zap.String("keys", g.cfg.Keys.Provider), zap.String("store", g.cfg.Store.Backend))
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = api.Shutdown(sctx)
	_ = admin.Shutdown(sctx)
	if fed != nil {
		_ = fed.Shutdown(sctx)
	}
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// federationTLS is the federation listener's TLS: the gateway's own
// certificate (reloaded with the agency listener's); a client certificate
// is requested but not verified here, because each peer's is verified
// against that peer's own bundle only (federation.Registry.Identify), and
// every other caller gets the same 404.
func federationTLS(st *pki.ServerTLS) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		ClientAuth:             tls.RequestClientCert,
		NextProtos:             []string{"h2", "http/1.1"},
		SessionTicketsDisabled: true,
		GetCertificate:         func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return st.Certificate(), nil },
	}
}

// routeFederationPeers is the admin listener's view of the federation.
var routeFederationPeers = httpapi.Route{Method: "GET", Path: "/federation/peers"}

// AdminRoutes lists every endpoint the admin listener may serve: the
// server's, and the federation's peer states (served when the gateway
// federates).
func AdminRoutes() []httpapi.Route { return append(httpapi.AdminRoutes(), routeFederationPeers) }

// adminHandler is the admin listener: the server's endpoints, and the
// federation's peer states when it federates.
func (g *Gateway) adminHandler() http.Handler {
	h := g.AdminHandler()
	if g.fed == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc(routeFederationPeers.Pattern(), func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(g.fed.PeerStates())
	})
	return mux
}

// Federation is this gateway's side of the federation (nil when off).
func (g *Gateway) Federation() *federation.Service { return g.fed }

// KeyCacheStats reports data-key cache use (provider calls vs records).
func (g *Gateway) KeyCacheStats() envelope.CacheStats { return g.keyCache.Stats() }

// ReloadTLS re-reads the certificate, trust bundle and CRLs now (the
// poller does it every tls.reload_interval).
func (g *Gateway) ReloadTLS() error { return g.tls.Reload() }

// Close releases what Build opened (the audit log last, after the listeners).
func (g *Gateway) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	g.closers = nil
	return errors.Join(errs...)
}
