package gatewaytest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/federation"
)

// Federation is several real gateways in this process, each with its own
// dev PKI (its own CA and trust domain), keys, store, policy and audit log,
// declared as each other's peers.
type Federation struct {
	Gateways map[string]*Env
	// Host maps each agency to the gateway hosting it.
	Host map[string]string
}

// FederationOptions describe the gateways.
type FederationOptions struct {
	// Hosts maps each gateway id to the agencies it hosts.
	Hosts map[string][]string
	// Configure edits one gateway's configuration.
	Configure func(gatewayID string, cfg *config.Config)
	// ManifestPeers declares no peers in the gateways' configurations:
	// the test imports their signed manifests instead (Import, as
	// `liaison peers add` does).
	ManifestPeers bool
}

// StartFederation starts the gateways of o.Hosts, each a peer of every other.
func StartFederation(t testing.TB, o FederationOptions) *Federation {
	t.Helper()
	ids := make([]string, 0, len(o.Hosts))
	for id := range o.Hosts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	type node struct {
		dir, td, fedAddr, jwks string
		fed                    *pki.DevFederation
	}
	nodes := map[string]*node{}
	f := &Federation{Gateways: map[string]*Env{}, Host: map[string]string{}}
	// First every node's PKI, signing key and federation port, so that
	// each configuration can name its peers' files.
	for _, id := range ids {
		n := &node{dir: t.TempDir(), td: id + ".liaison.dev"}
		var err error
		n.fed, err = pki.EnsureDevFederation(filepath.Join(n.dir, "pki"), pki.DevOptions{TrustDomain: n.td, GatewayID: id, Agencies: o.Hosts[id]})
		if err != nil {
			t.Fatal(err)
		}
		signer, err := jose.LoadOrCreateSigner(config.Defaults(n.dir).Signing.Key)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := signer.PublicJWKS()
		if err != nil {
			t.Fatal(err)
		}
		n.jwks = filepath.Join(n.dir, "signing-keys.jwks.json")
		if err := os.WriteFile(n.jwks, pub, 0o644); err != nil {
			t.Fatal(err)
		}
		n.fedAddr = FreeAddr(t)
		nodes[id] = n
		for _, a := range o.Hosts[id] {
			f.Host[a] = id
		}
	}
	for _, id := range ids {
		n := nodes[id]
		env := Start(t, Options{Dir: n.dir, PKI: &pki.DevOptions{TrustDomain: n.td, GatewayID: id, Agencies: o.Hosts[id]},
			Configure: func(cfg *config.Config) {
				cfg.Federation.Listen = n.fedAddr
				cfg.Federation.Agencies = o.Hosts[id]
				cfg.Federation.RetryInitial = 20e6 // 20ms: tests wait for retries
				cfg.Federation.RetryMax = 500e6
				for _, pid := range ids {
					if pid == id || o.ManifestPeers {
						continue
					}
					p := nodes[pid]
					cfg.Federation.Peers = append(cfg.Federation.Peers, config.PeerConfig{ID: pid, TrustDomain: p.td,
						Endpoint: "https://" + p.fedAddr, TrustBundle: []string{p.fed.CAFile}, SigningKeys: p.jwks, Agencies: o.Hosts[pid]})
				}
				if o.Configure != nil {
					o.Configure(id, cfg)
				}
			}})
		f.Gateways[id] = env
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

// Client is an mTLS client of agency at the gateway hosting it.
func (f *Federation) Client(agency string) *Client {
	return f.Gateways[f.Host[agency]].Client(agency)
}

// FreeAddr returns a loopback address with a port free at the time of the
// call (for listeners whose address others must know in advance).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
