package gatewaytest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/devnet"
	"github.com/liaison-project/liaison/gateway/federation"
)

// Federation is several real gateways in this process, laid out by
// gateway/devnet (as `liaison dev --federation` does): each with its own
// dev PKI (its own CA and trust domain), keys, store, policy and audit log,
// declared as each other's peers.
type Federation struct {
	Net      *devnet.Net
	Gateways map[string]*Env

	t    testing.TB
	opts map[string]Options
}

// FederationOptions describe the federation.
type FederationOptions struct {
	// Gateways is how many (2..5; default 3).
	Gateways int
	// Configure edits one gateway's configuration.
	Configure func(gatewayID string, cfg *config.Config)
	// ManifestPeers declares no peers in the gateways' configurations:
	// the test imports their signed manifests instead (Import, as
	// `liaison peers add` does).
	ManifestPeers bool
}

// StartFederation starts a federation of gateways on free loopback ports.
func StartFederation(t testing.TB, o FederationOptions) *Federation {
	t.Helper()
	if o.Gateways == 0 {
		o.Gateways = 3
	}
	// Every port devnet assigns is bound here and held: the federation
	// listeners are handed to the gateways as they are (their addresses are
	// in the peers' configurations), so no port is chosen free and then
	// taken by another process before the gateway binds it.
	bound := map[string]net.Listener{}
	t.Cleanup(func() {
		for _, ln := range bound {
			ln.Close()
		}
	})
	port := func() (int, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		bound[ln.Addr().String()] = ln
		return ln.Addr().(*net.TCPAddr).Port, nil
	}
	n, err := devnet.Ensure(context.Background(), t.TempDir(), devnet.Options{Gateways: o.Gateways, Port: port, Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	f := &Federation{Net: n, Gateways: map[string]*Env{}, t: t, opts: map[string]Options{}}
	for _, nd := range n.Nodes {
		ln, ok := bound[nd.Config.Federation.Listen]
		if !ok {
			t.Fatalf("federation address %s of %s was not bound here", nd.Config.Federation.Listen, nd.ID)
		}
		delete(bound, nd.Config.Federation.Listen) // the gateway closes it
		f.opts[nd.ID] = Options{Dir: nd.Dir, Quiet: true, BuildOptions: []gateway.Option{gateway.WithFederationListener(ln)},
			PKI: &pki.DevOptions{TrustDomain: nd.TrustDomain, GatewayID: nd.ID, Agencies: nd.Agencies},
			Configure: func(cfg *config.Config) {
				cfg.Federation = nd.Config.Federation
				if o.ManifestPeers {
					cfg.Federation.Peers = nil
				}
				cfg.Federation.RetryInitial = 20e6 // 20ms: tests wait for retries
				cfg.Federation.RetryMax = 500e6
				if o.Configure != nil {
					o.Configure(nd.ID, cfg)
				}
			}}
		f.Gateways[nd.ID] = Start(t, f.opts[nd.ID])
	}
	return f
}

// Import imports gateway from's current signed manifest into gateway into
// (pinned by from's fingerprint, as an operator would with `liaison peers
// add`) and has into reload its peers now.
func (f *Federation) Import(t testing.TB, into, from string) {
	t.Helper()
	m, err := f.Gateways[from].GW.Federation().Manifest()
	if err != nil {
		t.Fatalf("manifest of %s: %v", from, err)
	}
	dst := f.Gateways[into]
	if _, _, err := federation.ImportManifest(dst.Cfg, m.JWS, m.Fingerprint, dst.Now()); err != nil {
		t.Fatalf("import %s into %s: %v", from, into, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dst.GW.Federation().ReloadPeers(ctx); err != nil {
		t.Fatalf("reload peers of %s: %v", into, err)
	}
}

// Restart starts gateway id again on the same data directory and
// federation address (after Stop, or to pick up a changed configuration).
func (f *Federation) Restart(id string) *Env {
	f.Gateways[id].Stop()
	o := f.opts[id]
	o.BuildOptions = nil // its first listener is closed: listen on the same address again
	f.opts[id] = o
	f.Gateways[id] = Start(f.t, o)
	return f.Gateways[id]
}

// Host is the gateway hosting agency.
func (f *Federation) Host(agency string) *Env { return f.Gateways[f.Net.Host(agency).ID] }

// HostID is the id of the gateway hosting agency.
func (f *Federation) HostID(agency string) string { return f.Net.Host(agency).ID }

// Client is an mTLS client of agency at the gateway hosting it.
func (f *Federation) Client(agency string) *Client { return f.Host(agency).Client(agency) }

// StartReplica starts a second replica of gateway id: the same gateway
// (id, certificate, signing key, store and key provider, which must be
// shared backends such as MinIO and Vault), with its own audit log and its
// own federation listener. It is stopped in t.Cleanup.
func (f *Federation) StartReplica(id string) *Env {
	f.t.Helper()
	primary := f.Gateways[id]
	o := f.opts[id]
	configure := o.Configure
	auditDir := f.t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	o.BuildOptions = []gateway.Option{gateway.WithFederationListener(ln)}
	o.Configure = func(cfg *config.Config) {
		configure(cfg)
		cfg.Store, cfg.Keys, cfg.Signing = primary.Cfg.Store, primary.Cfg.Keys, primary.Cfg.Signing
		cfg.Audit.Path = auditDir + "/audit"
		cfg.Federation.Listen = ln.Addr().String()
	}
	return Start(f.t, o)
}
