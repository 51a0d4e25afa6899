package federation

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/config"
)

// errUnknownPeer: the caller is not a pinned peer gateway (no certificate,
// another CA, another SPIFFE id). The federation API answers 404.
var errUnknownPeer = errors.New("federation: not a known peer gateway")

// Peer is one peer gateway as this gateway trusts it: its pinned identity,
// its own trust bundle (never merged with the agencies' bundle or another
// peer's), the keys its messages are signed with, and the agencies it may
// speak for.
type Peer struct {
	ID          string
	TrustDomain string
	Endpoint    string
	Agencies    []string
	// Source is "config" (liaison.yaml) or "manifest" (imported).
	Source string

	roots *x509.CertPool
	keys  *jose.Verifier
	// manifest is the signed manifest the peer was imported from (nil for
	// a peer declared in liaison.yaml, which never expires).
	manifest *SignedManifest
	// auditKeys is the peer's public audit key set (JWKS): its audit
	// checkpoints are verified with it (witness.go). Nil: not witnessed.
	auditKeys []byte
}

// Expired reports whether the peer's manifest has expired at now. The peer
// stays known — recalls to and from it are never blocked (docs/federation.md)
// — but shares to and from it are refused until a fresh manifest arrives.
func (p *Peer) Expired(now time.Time) bool { return p.manifest != nil && p.manifest.Expired(now) }

// ManifestExpires is when the peer's manifest expires (zero for a peer
// declared in liaison.yaml).
func (p *Peer) ManifestExpires() time.Time {
	if p.manifest == nil {
		return time.Time{}
	}
	return p.manifest.Expires
}

// Fingerprint is the pinned signing key of a manifest-imported peer.
func (p *Peer) Fingerprint() string {
	if p.manifest == nil {
		return ""
	}
	return p.manifest.Fingerprint
}

// SPIFFEID is the identity the peer's certificate must carry.
func (p *Peer) SPIFFEID() string { return pki.GatewayURI(p.TrustDomain, p.ID) }

// Hosts reports whether the peer may speak for agency.
func (p *Peer) Hosts(agency string) bool { return slices.Contains(p.Agencies, agency) }

// verifyChain checks that certs (leaf first, as presented) chain to this
// peer's own bundle and that the leaf names exactly this peer: a valid
// certificate of another peer, or of an agency, is refused.
func (p *Peer) verifyChain(certs []*x509.Certificate, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: no certificate", errUnknownPeer)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: p.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return fmt.Errorf("%w: certificate does not chain to peer %s's bundle", errUnknownPeer, p.ID)
	}
	if id, ok := gatewayID(certs[0]); !ok || pki.GatewayURI(p.TrustDomain, id) != p.SPIFFEID() {
		return fmt.Errorf("%w: certificate does not name gateway %s", errUnknownPeer, p.ID)
	}
	return nil
}

// gatewayID reads spiffe://<td>/gateway/<id> from a certificate that
// carries exactly one URI SAN.
func gatewayID(c *x509.Certificate) (string, bool) {
	if len(c.URIs) != 1 {
		return "", false
	}
	u := c.URIs[0]
	if u.Scheme != "spiffe" || u.RawPath != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false
	}
	id, ok := strings.CutPrefix(u.Path, "/gateway/")
	if !ok || !identity.ValidID(id) {
		return "", false
	}
	return id, true
}

// ClientTLS is the configuration this gateway uses to call the peer: it
// presents the gateway certificate and accepts only the peer's pinned
// identity from the peer's own bundle (SPIFFE style: the URI SAN, not the
// host name, is what is checked).
func (p *Peer) ClientTLS(cert func() *tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return cert(), nil
		},
		// Verification is VerifyConnection's, against this peer only.
		InsecureSkipVerify: true, //nolint:gosec // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			return p.verifyChain(cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
		},
	}
}

// Registry holds the peers in force: those declared in liaison.yaml (read
// once) and those imported from signed manifests in federation.peers_dir
// (re-read by reload). The set is replaced as a whole on reload, so a
// request sees one consistent set.
type Registry struct {
	self string
	cfg  config.Config
	// fromConfig are the peers of liaison.yaml, built once: a reload
	// keeps the same *Peer for each, so their senders keep running.
	fromConfig []*Peer
	mu         sync.RWMutex
	set        *peerSet
}

type peerSet struct {
	peers    map[string]*Peer
	byAgency map[string]*Peer
}

// NewRegistry loads the peers declared in cfg and those imported into
// federation.peers_dir. A conflict (an agency claimed twice, a peer both
// declared and imported) or a manifest that does not verify is an error
// naming the file, so the gateway does not start on an ambiguous set.
func NewRegistry(cfg config.Config) (*Registry, error) {
	r := &Registry{self: cfg.GatewayID, cfg: cfg}
	for _, pc := range cfg.Federation.Peers {
		p, err := peerFromConfig(pc)
		if err != nil {
			return nil, err
		}
		r.fromConfig = append(r.fromConfig, p)
	}
	set, err := r.build(nil)
	if err != nil {
		return nil, err
	}
	r.set = set
	return r, nil
}

// build makes a set of the config peers and the manifests in peers_dir,
// reusing the *Peer of prev for a manifest that has not changed.
func (r *Registry) build(prev *peerSet) (*peerSet, error) {
	set := &peerSet{peers: map[string]*Peer{}, byAgency: map[string]*Peer{}}
	for _, p := range r.fromConfig {
		if err := set.add(p, r.cfg); err != nil {
			return nil, err
		}
	}
	ms, err := loadManifests(r.cfg.Federation.PeersDir)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		p := m.peer()
		if prev != nil {
			if old, ok := prev.peers[m.GatewayID]; ok && old.manifest != nil && bytes.Equal(old.manifest.JWS, m.JWS) {
				p = old
			}
		}
		if err := set.add(p, r.cfg); err != nil {
			if _, declared := set.peers[p.ID]; declared {
				return nil, fmt.Errorf("federation: peer %s is both declared in liaison.yaml and imported (%s): remove one", p.ID, ManifestPath(r.cfg, p.ID))
			}
			return nil, fmt.Errorf("%w (imported manifest %s)", err, ManifestPath(r.cfg, p.ID))
		}
	}
	return set, nil
}

// reload re-reads peers_dir. On error the set in force is kept. changed
// reports whether any peer was added, removed or replaced.
func (r *Registry) reload() (changed bool, err error) {
	r.mu.RLock()
	prev := r.set
	r.mu.RUnlock()
	set, err := r.build(prev)
	if err != nil {
		return false, err
	}
	changed = len(set.peers) != len(prev.peers)
	for id, p := range set.peers {
		if prev.peers[id] != p {
			changed = true
		}
	}
	if changed {
		r.mu.Lock()
		r.set = set
		r.mu.Unlock()
	}
	return changed, nil
}

func (s *peerSet) add(p *Peer, cfg config.Config) error {
	if p.ID == cfg.GatewayID {
		return fmt.Errorf("federation: peer %s is this gateway", p.ID)
	}
	if _, dup := s.peers[p.ID]; dup {
		return fmt.Errorf("federation: peer %s declared twice", p.ID)
	}
	for _, a := range p.Agencies {
		if slices.Contains(cfg.Federation.Agencies, a) {
			return fmt.Errorf("federation: peer %s claims agency %s, which this gateway hosts", p.ID, a)
		}
		if o, ok := s.byAgency[a]; ok {
			return fmt.Errorf("federation: agency %s is claimed by peers %s and %s", a, o.ID, p.ID)
		}
	}
	s.peers[p.ID] = p
	for _, a := range p.Agencies {
		s.byAgency[a] = p
	}
	return nil
}

func peerFromConfig(pc config.PeerConfig) (*Peer, error) {
	roots := x509.NewCertPool()
	for _, f := range pc.TrustBundle {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("federation: peer %s trust bundle: %w", pc.ID, err)
		}
		certs, err := pki.ParseCertsPEM(b)
		if err != nil || len(certs) == 0 {
			return nil, fmt.Errorf("federation: peer %s trust bundle %s: no certificates", pc.ID, f)
		}
		for _, c := range certs {
			roots.AddCert(c)
		}
	}
	jwks, err := os.ReadFile(pc.SigningKeys)
	if err != nil {
		return nil, fmt.Errorf("federation: peer %s signing keys: %w", pc.ID, err)
	}
	keys, err := jose.NewVerifier(jwks)
	if err != nil {
		return nil, fmt.Errorf("federation: peer %s signing keys %s: %w", pc.ID, pc.SigningKeys, err)
	}
	auditKeys, err := loadAuditKeys(pc.ID, pc.AuditKeys)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(pc.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("federation: peer %s endpoint: %w", pc.ID, err)
	}
	return &Peer{ID: pc.ID, TrustDomain: pc.TrustDomain, Endpoint: "https://" + u.Host, Agencies: slices.Clone(pc.Agencies),
		Source: "config", roots: roots, keys: keys, auditKeys: auditKeys}, nil
}

// Peer returns the peer with gateway id.
func (r *Registry) Peer(id string) (*Peer, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.set.peers[id]
	return p, ok
}

// HostOf returns the peer hosting agency, if a peer does.
func (r *Registry) HostOf(agency string) (*Peer, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.set.byAgency[agency]
	return p, ok
}

// Peers lists the peers, by id.
func (r *Registry) Peers() []*Peer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Peer, 0, len(r.set.peers))
	for _, p := range r.set.peers {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Identify returns the peer that presented certs on the federation
// listener. Identity comes only from this check: the listener requests a
// certificate but verifies nothing itself, so that every caller who is not
// a pinned peer gets the same 404, and a certificate is only ever checked
// against the bundle of the one peer it names.
func (r *Registry) Identify(certs []*x509.Certificate) (*Peer, error) {
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no certificate", errUnknownPeer)
	}
	id, ok := gatewayID(certs[0])
	if !ok {
		return nil, fmt.Errorf("%w: certificate names no gateway", errUnknownPeer)
	}
	p, ok := r.Peer(id)
	if !ok {
		return nil, fmt.Errorf("%w: gateway %s is not a peer", errUnknownPeer, id)
	}
	if err := p.verifyChain(certs, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	return p, nil
}
