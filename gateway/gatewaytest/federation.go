package gatewaytest

import (
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/config"
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
		auditJWKS              string
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
		// The audit key too, so that peers pin it (cross-witnessing).
		auditSigner, err := jose.LoadOrCreateSigner(config.Defaults(n.dir).Audit.SigningKey)
		if err != nil {
			t.Fatal(err)
		}
		auditPub, err := auditSigner.PublicJWKS()
		if err != nil {
			t.Fatal(err)
		}
		n.auditJWKS = filepath.Join(n.dir, "audit-keys.jwks.json")
		if err := os.WriteFile(n.auditJWKS, auditPub, 0o644); err != nil {
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
					if pid == id {
						continue
					}
					p := nodes[pid]
					cfg.Federation.Peers = append(cfg.Federation.Peers, config.PeerConfig{ID: pid, TrustDomain: p.td,
						Endpoint: "https://" + p.fedAddr, TrustBundle: []string{p.fed.CAFile}, SigningKeys: p.jwks, AuditKeys: p.auditJWKS, Agencies: o.Hosts[pid]})
				}
				if o.Configure != nil {
					o.Configure(id, cfg)
				}
			}})
		f.Gateways[id] = env
	}
	return f
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
