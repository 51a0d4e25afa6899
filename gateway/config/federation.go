package config

import (
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/liaison-project/liaison/crypto/identity"
)

// FederationConfig is this gateway's place in a federation of gateways
// (docs/federation.md): the listener other gateways call, the agencies it
// hosts, and the peer gateways it exchanges records with. Off (no listener,
// no peers) unless federation.listen is set.
type FederationConfig struct {
	// Listen is the gateway-to-gateway listener (mutual TLS with the
	// gateway certificate, tls.cert/tls.key; callers must present a pinned
	// peer gateway's certificate). Empty: federation is off.
	Listen string `yaml:"listen"`
	// Endpoint is the federation listener as peers reach it
	// (https://host:port), advertised in this gateway's signed manifest.
	// Empty: "https://" + Listen, with 127.0.0.1 written localhost (see
	// AdvertisedEndpoint).
	Endpoint string `yaml:"endpoint"`
	// Agencies are the agencies this gateway hosts. A record's recipient
	// hosted by a peer is delivered there; a recipient hosted here is
	// served here. Required when federation is on.
	Agencies []string `yaml:"agencies"`
	// Peers declared in this file. Peers imported from signed manifests
	// (`liaison peers add`) live in PeersDir and are re-read without a
	// restart.
	Peers []PeerConfig `yaml:"peers"`
	// PeersDir holds imported peer manifests (<gateway id>.jws, written by
	// `liaison peers add`).
	PeersDir string `yaml:"peers_dir"`
	// ManifestFile is where the gateway writes its own signed manifest at
	// start and whenever it re-signs it, for the operator to hand over out
	// of band (`liaison peers manifest` prints it).
	ManifestFile string `yaml:"manifest_file"`
	// TrustBundle is the CA file(s) that issue this gateway's certificate,
	// published in its manifest for peers to pin. Empty: those of
	// tls.client_cas that the gateway certificate chains to.
	TrustBundle []string `yaml:"trust_bundle"`
	// ManifestTTL is how long the gateway's signed manifest is valid.
	ManifestTTL time.Duration `yaml:"manifest_ttl"`
	// RetryInitial and RetryMax bound the capped exponential backoff (with
	// jitter) between delivery attempts to a peer.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// GiveUp is how long a share is retried before it is marked failed
	// (the operator is alerted). Recalls never give up.
	GiveUp time.Duration `yaml:"give_up"`
	// MessageTTL is how long a message is valid after it was created; a
	// receiver refuses an expired one (except recalls, which never expire).
	MessageTTL time.Duration `yaml:"message_ttl"`
	// ReconcileInterval is how often each peer's ledger is compared with
	// ours and gaps re-sent; WitnessInterval how often each peer's signed
	// audit checkpoint is fetched and recorded.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	WitnessInterval   time.Duration `yaml:"witness_interval"`
	// ReloadInterval is how often PeersDir is re-read (and this gateway's
	// manifest re-signed when half its validity has passed); each
	// manifest-imported peer's manifest is fetched again every
	// ManifestRefreshEvery reload intervals.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// PeerConfig is one peer gateway declared in liaison.yaml.
type PeerConfig struct {
	// ID is the peer's gateway id; its certificate must carry
	// spiffe://<trust_domain>/gateway/<id>.
	ID          string `yaml:"id"`
	TrustDomain string `yaml:"trust_domain"`
	// Endpoint is the peer's federation listener, https://host:port.
	Endpoint string `yaml:"endpoint"`
	// TrustBundle is the CA file(s) that issue the peer's certificates:
	// kept for this peer only, never merged with tls.client_cas.
	TrustBundle []string `yaml:"trust_bundle"`
	// SigningKeys is the peer's public JWKS file: its message and receipt
	// signatures are verified with it.
	SigningKeys string `yaml:"signing_keys"`
	// AuditKeys is the peer's public audit key set (JWKS file, the
	// audit-keys.jwks.json its audit log publishes): the checkpoints it
	// serves for cross-witnessing are verified with it. Empty: the peer's
	// checkpoints are not witnessed.
	AuditKeys string `yaml:"audit_keys"`
	// Agencies are the agencies the peer hosts: it may speak only for them.
	Agencies []string `yaml:"agencies"`
}

func defaultFederation(dataDir string) FederationConfig {
	return FederationConfig{
		PeersDir:          filepath.Join(dataDir, "peers"),
		ManifestFile:      filepath.Join(dataDir, "manifest.jws"),
		ManifestTTL:       7 * 24 * time.Hour,
		RetryInitial:      200 * time.Millisecond,
		RetryMax:          30 * time.Second,
		GiveUp:            24 * time.Hour,
		MessageTTL:        72 * time.Hour,
		ReconcileInterval: time.Minute,
		WitnessInterval:   time.Minute,
		ReloadInterval:    10 * time.Second,
	}
}

// Enabled reports whether this gateway federates.
func (f FederationConfig) Enabled() bool { return f.Listen != "" }

// Validate checks the federation section.
func (f FederationConfig) Validate() error {
	var p problems
	if !f.Enabled() {
		if len(f.Peers) > 0 || len(f.Agencies) > 0 {
			p.add("federation.listen", "required when federation.peers or federation.agencies is set")
		}
		return p.err()
	}
	if _, _, err := net.SplitHostPort(f.Listen); err != nil {
		p.add("federation.listen", "%q is not host:port", f.Listen)
	}
	if len(f.Agencies) == 0 {
		p.add("federation.agencies", "list the agencies this gateway hosts")
	}
	hosted := map[string]string{}
	for i, a := range f.Agencies {
		if !identity.ValidID(a) {
			p.add(joinIndex("federation.agencies", i), "%q is not an agency id", a)
		}
		hosted[a] = "this gateway"
	}
	seen := map[string]bool{}
	for i, pc := range f.Peers {
		at := joinIndex("federation.peers", i)
		if !identity.ValidID(pc.ID) {
			p.add(at+".id", "%q is not a gateway id", pc.ID)
		}
		if seen[pc.ID] {
			p.add(at+".id", "%q is declared twice", pc.ID)
		}
		seen[pc.ID] = true
		if pc.TrustDomain == "" {
			p.add(at+".trust_domain", "required")
		}
		if !httpsHostPort(pc.Endpoint) {
			p.add(at+".endpoint", "%q must be https://host:port", pc.Endpoint)
		}
		if len(pc.TrustBundle) == 0 {
			p.add(at+".trust_bundle", "required: the CA file that issues the peer's gateway certificate")
		}
		if pc.SigningKeys == "" {
			p.add(at+".signing_keys", "required: the peer's public signing key set (JWKS file)")
		}
		if len(pc.Agencies) == 0 {
			p.add(at+".agencies", "list the agencies the peer hosts")
		}
		for j, a := range pc.Agencies {
			if !identity.ValidID(a) {
				p.add(joinIndex(at+".agencies", j), "%q is not an agency id", a)
			} else if other, ok := hosted[a]; ok {
				p.add(joinIndex(at+".agencies", j), "%q is already hosted by %s: an agency is hosted by one gateway", a, other)
			}
			hosted[a] = "peer " + pc.ID
		}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"manifest_ttl", f.ManifestTTL}, {"retry_initial", f.RetryInitial}, {"retry_max", f.RetryMax}, {"give_up", f.GiveUp},
		{"message_ttl", f.MessageTTL}, {"reconcile_interval", f.ReconcileInterval}, {"witness_interval", f.WitnessInterval},
		{"reload_interval", f.ReloadInterval}} {
		if d.v <= 0 {
			p.add("federation."+d.field, "must be positive")
		}
	}
	if f.RetryMax < f.RetryInitial {
		p.add("federation.retry_max", "must be at least retry_initial")
	}
	if f.PeersDir == "" {
		p.add("federation.peers_dir", "required")
	}
	if f.ManifestFile == "" {
		p.add("federation.manifest_file", "required")
	}
	if f.Endpoint != "" && !httpsHostPort(f.Endpoint) {
		p.add("federation.endpoint", "%q must be https://host:port", f.Endpoint)
	}
	return p.err()
}

// ManifestRefreshEvery is how many reload intervals pass between two
// fetches of a manifest-imported peer's manifest (60s with the default
// reload_interval of 10s): often enough that a peer's re-signed manifest
// (re-signed at half its validity) is picked up long before the old one
// expires, rarely enough to cost nothing.
const ManifestRefreshEvery = 6

// AdvertisedEndpoint is the endpoint this gateway's manifest names:
// Endpoint, or "https://" + Listen with a loopback 127.0.0.1 written
// localhost (peers check the certificate's SPIFFE id, not the host name,
// so either works; localhost is what the dev CLI examples print).
func (f FederationConfig) AdvertisedEndpoint() string {
	if f.Endpoint != "" {
		u, err := url.Parse(f.Endpoint)
		if err == nil {
			return "https://" + u.Host
		}
		return f.Endpoint
	}
	host, port, err := net.SplitHostPort(f.Listen)
	if err != nil {
		return "https://" + f.Listen
	}
	switch host {
	case "127.0.0.1", "", "0.0.0.0", "::":
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// httpsHostPort reports whether s is https://host:port (no path, query,
// user or fragment).
func httpsHostPort(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && (u.Path == "" || u.Path == "/") &&
		u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// Hosts reports whether this gateway hosts agency (every agency, when
// federation is off).
func (f FederationConfig) Hosts(agency string) bool {
	return !f.Enabled() || slices.Contains(f.Agencies, agency)
}
