package gateway

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/httpapi"
	"github.com/liaison-project/liaison/gateway/registry"
)

// openRegistry builds the registry of agencies and agreements over the
// shared object store (docs/registry.md), reads the newest version before
// the gateway serves, and starts the poll that keeps this replica within
// registry.poll_interval of the others. Each version applied reaches the
// policy engine (SetOverlay, audited as a policy reload with trigger
// "registry"), the TLS trust bundle and the officer-token verifier.
func (g *Gateway) openRegistry(ctx context.Context, cfg config.Config, store objstore.Store, signer registry.Signer, srv *httpapi.Server, log *zap.Logger) error {
	rlog := log.Named("registry")
	// Keys fetched from agencies' jwks_url, refreshed in the background
	// until the gateway closes.
	kctx, cancel := context.WithCancel(context.Background())
	g.closers = append(g.closers, func() error { cancel(); return nil })
	g.urlKeys = registry.NewURLKeys(kctx, g.opts.jwksClient, cfg.Registry.JWKSCacheTTL)
	if g.officers != nil {
		g.officers.SetKeySource(g.urlKeys.KeySet)
	}
	g.registry = registry.New(registry.Options{
		Store: store, Signer: signer, Policy: g.policy, Interval: cfg.Registry.PollInterval,
		Log: rlog, Now: g.opts.now, OnApply: func(st *registry.State) { g.applyRegistry(st, rlog) },
	})
	if err := g.registry.Refresh(ctx); err != nil {
		// Not fatal: /readyz says not ready until the store answers, and the
		// poll keeps trying.
		rlog.Warn("registry not read at start; retrying on every poll", zap.Error(err))
	}
	srv.UseRegistry(g.registry)
	g.starts = append(g.starts, g.registry.Start)
	return nil
}

// applyRegistry makes the verifiers follow a registry version: the trust
// anchors of the agencies it added, their officer-token keys.
func (g *Gateway) applyRegistry(st *registry.State, log *zap.Logger) {
	cas, _ := st.TrustAnchors()
	if err := g.tls.SetExtraCAs(cas); err != nil {
		log.Error("registry trust anchors not applied; the previous trust bundle stays", zap.Uint64("registry_version", st.Seq), zap.Error(err))
	}
	if g.officers != nil {
		g.officers.SetExtraKeySets(st.KeySets())
	}
	g.urlKeys.Apply(st)
}

// WithJWKSHTTPClient sets the client that fetches agencies' jwks_url (tests:
// one that trusts a test server's certificate).
func WithJWKSHTTPClient(c *http.Client) Option { return func(o *buildOptions) { o.jwksClient = c } }
