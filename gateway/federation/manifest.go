package federation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/google/renameio/v2"
	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
)

// Signed manifests (docs/federation.md, "Manifests"). A gateway publishes
// what a peer needs to trust it — its id and trust domain, its federation
// endpoint, the CA(s) issuing its certificate, its public signing keys and
// audit key (so a peer imported by manifest is witnessed like one declared
// with federation.peers[].audit_keys), the agencies it hosts and the DSAs
// it is party to — as a compact JWS under its own signing key, with an
// expiry. The manifest verifies with the keys it carries, so on its own it
// proves nothing; what makes it trusted is the fingerprint (RFC 7638
// thumbprint, the kid) of the signing key, exchanged by the operators out
// of band and given to `liaison peers add`. That pin is kept: the stored
// manifest is signed by the pinned key, and a refreshed manifest is
// accepted only if signed by the same key.

const (
	manifestFormat = "liaison.fed.manifest/v1"
	// maxManifest bounds a manifest JWS (a few keys and CA certificates).
	maxManifest = 256 << 10
	// maxManifestAgencies and maxManifestDSAs bound the lists.
	maxManifestAgencies = 1024
	maxManifestDSAs     = 1024
	manifestExt         = ".jws"
)

// Manifest is the signed statement a gateway publishes about itself.
type Manifest struct {
	Format      string `json:"format"`
	GatewayID   string `json:"gateway_id"`
	TrustDomain string `json:"trust_domain"`
	// Endpoint is the federation listener, https://host:port.
	Endpoint string `json:"endpoint"`
	// TrustBundle is the PEM text of the CA(s) issuing the gateway's
	// certificate: peers verify its certificate against it only.
	TrustBundle string `json:"trust_bundle"`
	// SigningKeys is the public JWKS of the gateway's signing key(s): its
	// messages, receipts and this manifest verify with it.
	SigningKeys json.RawMessage `json:"signing_keys"`
	// AuditKeys is the public JWKS of the gateway's audit key: peers
	// verify its signed audit checkpoints with it (cross-witnessing).
	// Absent: the gateway is not witnessed by peers that import it.
	AuditKeys json.RawMessage `json:"audit_keys,omitempty"`
	// Agencies are the agencies the gateway hosts (and may speak for).
	Agencies []string `json:"agencies"`
	// DSAs are the agreements the gateway's policy holds that name one of
	// its agencies as a party (informative: each side decides with its own
	// copy). Absent when the policy engine cannot list them.
	DSAs    []string `json:"dsas,omitempty"`
	Issued  string   `json:"issued"`
	Expires string   `json:"expires"`
}

// SignedManifest is a manifest whose signature verified under a pinned key.
type SignedManifest struct {
	Manifest
	// JWS is the manifest as signed (what is stored and served).
	JWS []byte
	// Fingerprint is the pinned signing key's RFC 7638 thumbprint.
	Fingerprint     string
	Issued, Expires time.Time

	roots     *x509.CertPool
	keys      *jose.Verifier
	auditKeys []byte
}

// Expired reports whether the manifest is no longer valid at now.
func (m *SignedManifest) Expired(now time.Time) bool { return !now.Before(m.Expires) }

// errManifest: a manifest that does not parse, verify or match its pin.
var errManifest = errors.New("federation: manifest refused")

// parseManifest decodes a manifest payload strictly (unknown members,
// trailing data and out-of-range values are refused) and checks what can be
// checked without a pin. FuzzParseManifest exercises it.
func parseManifest(payload []byte) (*Manifest, time.Time, time.Time, error) {
	var zero time.Time
	var m Manifest
	if err := strictJSON(payload, &m); err != nil {
		return nil, zero, zero, fmt.Errorf("%w: %v", errManifest, err)
	}
	bad := func(what string) (*Manifest, time.Time, time.Time, error) {
		return nil, zero, zero, fmt.Errorf("%w: %s", errManifest, what)
	}
	if m.Format != manifestFormat {
		return bad("format is not " + manifestFormat)
	}
	if !identity.ValidID(m.GatewayID) {
		return bad("gateway_id")
	}
	if !pki.ValidTrustDomain(m.TrustDomain) {
		return bad("trust_domain")
	}
	if u, err := url.Parse(m.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" || m.Endpoint != "https://"+u.Host {
		return bad("endpoint must be https://host:port")
	}
	if m.TrustBundle == "" {
		return bad("trust_bundle is empty")
	}
	if len(m.SigningKeys) == 0 || m.SigningKeys[0] != '{' {
		return bad("signing_keys must be a JWKS object")
	}
	if len(m.AuditKeys) > 0 && m.AuditKeys[0] != '{' {
		return bad("audit_keys must be a JWKS object")
	}
	if len(m.Agencies) == 0 || len(m.Agencies) > maxManifestAgencies {
		return bad("agencies")
	}
	for i, a := range m.Agencies {
		if !identity.ValidID(a) || slices.Contains(m.Agencies[:i], a) {
			return bad("agencies")
		}
	}
	if len(m.DSAs) > maxManifestDSAs {
		return bad("dsas")
	}
	for i, d := range m.DSAs {
		if !validDSAID(d) || slices.Contains(m.DSAs[:i], d) {
			return bad("dsas")
		}
	}
	issued, err1 := time.Parse(time.RFC3339, m.Issued)
	expires, err2 := time.Parse(time.RFC3339, m.Expires)
	if err1 != nil || err2 != nil || !expires.After(issued) {
		return bad("issued and expires must be RFC 3339 times, expires after issued")
	}
	return &m, issued, expires, nil
}

// validDSAID: DSA ids are the policy data's keys; a manifest carries them
// for information only, so a loose, bounded alphabet is enough.
func validDSAID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// OpenManifest verifies a manifest JWS against the pinned fingerprint: the
// manifest must carry a key with that RFC 7638 thumbprint (every key it
// carries has its thumbprint as kid), be signed by that key, and parse
// strictly. Expiry is the caller's to judge (an expired manifest keeps a
// known peer known: see Peer.Expired).
func OpenManifest(jws []byte, fingerprint string) (*SignedManifest, error) {
	jws = bytes.TrimSpace(jws)
	if len(jws) == 0 || len(jws) > maxManifest {
		return nil, fmt.Errorf("%w: not a manifest (empty or over %d bytes)", errManifest, maxManifest)
	}
	if fingerprint == "" {
		return nil, fmt.Errorf("%w: a fingerprint is required", errManifest)
	}
	// The payload is read before the signature is checked only to find
	// the keys to check it with; nothing in it is used unless the
	// signature by the pinned key verifies over these exact bytes.
	parts := strings.Split(string(jws), ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWS", errManifest)
	}
	unverified, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: not a compact JWS", errManifest)
	}
	m, issued, expires, err := parseManifest(unverified)
	if err != nil {
		return nil, err
	}
	keys, err := jose.NewVerifier(m.SigningKeys)
	if err != nil {
		return nil, fmt.Errorf("%w: signing_keys: %v", errManifest, err)
	}
	if _, err := keys.Fingerprints(); err != nil {
		return nil, fmt.Errorf("%w: signing_keys: %v", errManifest, err)
	}
	pinned, err := keys.Pinned(fingerprint)
	if err != nil {
		return nil, fmt.Errorf("%w: the manifest carries no key with the pinned fingerprint %s", errManifest, printable(fingerprint))
	}
	payload, err := pinned.Verify(jws)
	if err != nil || !bytes.Equal(payload, unverified) {
		return nil, fmt.Errorf("%w: not signed by the key with the pinned fingerprint %s", errManifest, printable(fingerprint))
	}
	var auditKeys []byte
	if len(m.AuditKeys) > 0 {
		if _, err := audit.NoteVerifierKeys(m.AuditKeys, m.GatewayID); err != nil {
			return nil, fmt.Errorf("%w: audit_keys: %v", errManifest, err)
		}
		auditKeys = slices.Clone([]byte(m.AuditKeys))
	}
	certs, err := pki.ParseCertsPEM([]byte(m.TrustBundle))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("%w: trust_bundle holds no certificate", errManifest)
	}
	roots := x509.NewCertPool()
	for _, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("%w: trust_bundle holds a certificate that is not a CA", errManifest)
		}
		roots.AddCert(c)
	}
	return &SignedManifest{Manifest: *m, JWS: slices.Clone(jws), Fingerprint: fingerprint, Issued: issued, Expires: expires,
		roots: roots, keys: keys, auditKeys: auditKeys}, nil
}

// openStored opens a manifest kept by this gateway (imported or its own):
// its pin is the key it is signed with, which OpenManifest checked at
// import against the operator's fingerprint.
func openStored(jws []byte) (*SignedManifest, error) {
	kid, err := jwsKeyID(bytes.TrimSpace(jws))
	if err != nil {
		return nil, err
	}
	return OpenManifest(jws, kid)
}

// jwsKeyID reads the kid of a compact JWS's protected header (unverified).
func jwsKeyID(jws []byte) (string, error) {
	h, _, ok := strings.Cut(string(jws), ".")
	if !ok || len(jws) > maxManifest {
		return "", fmt.Errorf("%w: not a compact JWS", errManifest)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(h)
	if err != nil {
		return "", fmt.Errorf("%w: not a compact JWS", errManifest)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(b, &hdr) != nil || hdr.Kid == "" {
		return "", fmt.Errorf("%w: the JWS names no key", errManifest)
	}
	return hdr.Kid, nil
}

func printable(s string) string {
	if len(s) > 64 {
		return "(too long)"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return "(malformed)"
		}
	}
	return s
}

// SignManifest signs m with signer (the gateway signing key).
func SignManifest(signer Signer, m Manifest) ([]byte, error) {
	m.Format = manifestFormat
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return signer.Sign(b)
}

// peer is the peer a verified manifest describes.
func (m *SignedManifest) peer() *Peer {
	return &Peer{ID: m.GatewayID, TrustDomain: m.TrustDomain, Endpoint: m.Endpoint, Agencies: slices.Clone(m.Agencies),
		Source: "manifest", roots: m.roots, keys: m.keys, auditKeys: m.auditKeys, manifest: m}
}

// ManifestPath is where `liaison peers add` keeps peer id's manifest.
func ManifestPath(cfg config.Config, id string) string {
	return filepath.Join(cfg.Federation.PeersDir, id+manifestExt)
}

// loadManifests reads every <gateway id>.jws in dir (none if dir does not
// exist). A file that does not verify, or that names another gateway than
// its file name, is an error: the caller keeps the last good set.
func loadManifests(dir string) ([]*SignedManifest, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("federation: peers dir: %w", err)
	}
	var out []*SignedManifest
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), manifestExt)
		if !ok || e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("federation: peer manifest %s: %w", e.Name(), err)
		}
		m, err := openStored(b)
		if err != nil {
			return nil, fmt.Errorf("federation: peer manifest %s: %w", e.Name(), err)
		}
		if m.GatewayID != id {
			return nil, fmt.Errorf("federation: peer manifest %s is gateway %s's", e.Name(), m.GatewayID)
		}
		out = append(out, m)
	}
	return out, nil
}

// CheckImport verifies a peer's manifest for import into the gateway that
// cfg configures: the signature under the pinned fingerprint, the expiry,
// that it is not this gateway nor a peer declared in liaison.yaml, that
// none of its agencies is hosted here or by another peer, and that it is
// not older than a manifest already imported for the same gateway.
func CheckImport(cfg config.Config, jws []byte, fingerprint string, now time.Time) (*SignedManifest, error) {
	m, err := OpenManifest(jws, fingerprint)
	if err != nil {
		return nil, err
	}
	if m.Expired(now) {
		return nil, fmt.Errorf("%w: it expired at %s", errManifest, m.Manifest.Expires)
	}
	if m.GatewayID == cfg.GatewayID {
		return nil, fmt.Errorf("%w: it is this gateway's own manifest (%s)", errManifest, m.GatewayID)
	}
	for _, pc := range cfg.Federation.Peers {
		if pc.ID == m.GatewayID {
			return nil, fmt.Errorf("%w: peer %s is declared in liaison.yaml (federation.peers): remove it there first", errManifest, m.GatewayID)
		}
	}
	set := &peerSet{peers: map[string]*Peer{}, byAgency: map[string]*Peer{}}
	for _, pc := range cfg.Federation.Peers {
		p := &Peer{ID: pc.ID, Agencies: pc.Agencies, Source: "config"}
		if err := set.add(p, cfg); err != nil {
			return nil, err
		}
	}
	held, err := loadManifests(cfg.Federation.PeersDir)
	if err != nil {
		return nil, err
	}
	for _, h := range held {
		if h.GatewayID == m.GatewayID {
			if h.Issued.After(m.Issued) {
				return nil, fmt.Errorf("%w: the manifest held for %s was issued later (%s)", errManifest, h.GatewayID, h.Manifest.Issued)
			}
			continue
		}
		if err := set.add(h.peer(), cfg); err != nil {
			return nil, err
		}
	}
	if err := set.add(m.peer(), cfg); err != nil {
		return nil, fmt.Errorf("%w: %v", errManifest, err)
	}
	return m, nil
}

// ImportManifest is `liaison peers add`: CheckImport, then the manifest is
// written to <peers_dir>/<gateway id>.jws (mode 0600, atomically), where
// the running gateway picks it up within federation.reload_interval.
func ImportManifest(cfg config.Config, jws []byte, fingerprint string, now time.Time) (*SignedManifest, string, error) {
	m, err := CheckImport(cfg, jws, fingerprint, now)
	if err != nil {
		return nil, "", err
	}
	path := ManifestPath(cfg, m.GatewayID)
	if err := writeAtomic(path, append(slices.Clone(m.JWS), '\n'), 0o600); err != nil {
		return nil, "", err
	}
	return m, path, nil
}

// RemoveManifest is `liaison peers remove`: it deletes an imported peer's
// manifest; the running gateway drops the peer at its next reload (what
// was queued for it stays queued). A peer declared in liaison.yaml is not
// removed this way.
func RemoveManifest(cfg config.Config, id string) (string, error) {
	if !identity.ValidID(id) {
		return "", fmt.Errorf("federation: %q is not a gateway id", id)
	}
	for _, pc := range cfg.Federation.Peers {
		if pc.ID == id {
			return "", fmt.Errorf("federation: peer %s is declared in liaison.yaml (federation.peers), not imported: remove it from the file and restart the gateway", id)
		}
	}
	path := ManifestPath(cfg, id)
	if err := os.Remove(path); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("federation: no imported manifest for peer %s (%s)", id, path)
	} else if err != nil {
		return "", err
	}
	return path, nil
}

// ReadOwnManifest reads the manifest the gateway configured by cfg wrote to
// federation.manifest_file, checked against the key it names.
func ReadOwnManifest(cfg config.Config) (*SignedManifest, error) {
	b, err := os.ReadFile(cfg.Federation.ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("federation: %w (the gateway writes it when it starts with federation on)", err)
	}
	return openStored(b)
}

// writeAtomic writes data to path so that a reader never sees half a file: a
// temporary file in the same directory (never os.TempDir: some of these
// files hold keys or pin trust), written, fsynced and renamed over path by
// renameio, with exactly perm whatever the file it replaces had.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithPermissions(perm))
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.CloseAtomicallyReplace()
}

// manifestState is the Service's manifest side: this gateway's current
// signed manifest, and the requests to reload or refresh peers, which the
// runManifests loop serves one at a time (so reloads never race).
type manifestState struct {
	mu      sync.Mutex
	own     *SignedManifest
	dsas    DSASource
	reqOnce sync.Once
	reqC    chan manifestReq
}

type manifestReq struct {
	refresh bool
	done    chan error
}

func (m *manifestState) requests() chan manifestReq {
	m.reqOnce.Do(func() { m.reqC = make(chan manifestReq) })
	return m.reqC
}

// DSASource lists the agreements the gateway's policy holds (policy.Engine).
type DSASource interface {
	DSAs() []string
	DSA(id string) (map[string]any, bool)
}

// UseDSAs sets where the manifest's DSA list comes from (the live policy
// engine; without it, the Decider is asked if it can list DSAs, and
// otherwise the manifest carries none).
func (s *Service) UseDSAs(src DSASource) {
	s.mf.mu.Lock()
	s.mf.dsas = src
	s.mf.mu.Unlock()
}

// Manifest returns this gateway's current signed manifest, signing a new
// one when there is none or half of its validity has passed (and writing
// it to federation.manifest_file).
func (s *Service) Manifest() (*SignedManifest, error) {
	now := s.now().UTC()
	s.mf.mu.Lock()
	defer s.mf.mu.Unlock()
	if own := s.mf.own; own != nil && now.Before(own.Issued.Add(own.Expires.Sub(own.Issued)/2)) && !now.Before(own.Issued) {
		return own, nil
	}
	m, err := s.buildManifest(now)
	if err != nil {
		return nil, err
	}
	jws, err := SignManifest(s.signer, m)
	if err != nil {
		return nil, err
	}
	own, err := openStored(jws)
	if err != nil {
		return nil, fmt.Errorf("federation: own manifest does not verify: %w", err)
	}
	if err := writeAtomic(s.cfg.Federation.ManifestFile, append(slices.Clone(jws), '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("federation: write manifest: %w", err)
	}
	s.mf.own = own
	return own, nil
}

// buildManifest assembles the manifest's content (caller holds s.mf.mu).
func (s *Service) buildManifest(now time.Time) (Manifest, error) {
	pub, ok := s.signer.(interface{ PublicJWKS() ([]byte, error) })
	if !ok {
		return Manifest{}, errors.New("federation: the signer cannot publish its public keys")
	}
	jwks, err := pub.PublicJWKS()
	if err != nil {
		return Manifest{}, err
	}
	bundle, err := s.trustBundle()
	if err != nil {
		return Manifest{}, err
	}
	auditKeys, err := ownAuditKeys(s.cfg)
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Format: manifestFormat, GatewayID: s.cfg.GatewayID, TrustDomain: s.cfg.TrustDomain,
		Endpoint: s.cfg.Federation.AdvertisedEndpoint(), TrustBundle: bundle, SigningKeys: compactJSON(jwks), AuditKeys: auditKeys,
		Agencies: slices.Clone(s.cfg.Federation.Agencies), DSAs: s.partyDSAs(),
		Issued: now.Format(time.RFC3339), Expires: now.Add(s.cfg.Federation.ManifestTTL).Format(time.RFC3339)}
	return m, nil
}

// ownAuditKeys is the public half of the audit key (audit.signing_key),
// which the audit log created when it opened; none yet: the manifest
// carries no audit keys.
func ownAuditKeys(cfg config.Config) (json.RawMessage, error) {
	if _, err := os.Stat(cfg.Audit.SigningKey); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	k, err := jose.LoadOrCreateSigner(cfg.Audit.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("federation: audit key: %w", err)
	}
	pub, err := k.PublicJWKS()
	if err != nil {
		return nil, err
	}
	return compactJSON(pub), nil
}

func compactJSON(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// partyDSAs lists the DSAs of the policy data that name an agency hosted
// here as a party.
func (s *Service) partyDSAs() []string {
	src := s.mf.dsas
	if src == nil {
		src, _ = s.policy.(DSASource)
	}
	if src == nil {
		return nil
	}
	var out []string
	for _, id := range src.DSAs() {
		d, ok := src.DSA(id)
		if !ok || !validDSAID(id) {
			continue
		}
		parties, _ := d["parties"].([]any)
		for _, p := range parties {
			pm, _ := p.(map[string]any)
			if org, _ := pm["org_id"].(string); org != "" && slices.Contains(s.cfg.Federation.Agencies, org) {
				out = append(out, id)
				break
			}
		}
	}
	if len(out) > maxManifestDSAs {
		out = out[:maxManifestDSAs]
	}
	return out
}

// trustBundle is the PEM of the CA(s) issuing the gateway's certificate:
// federation.trust_bundle, else the tls.client_cas certificates the
// gateway's current certificate chains to.
func (s *Service) trustBundle() (string, error) {
	var buf bytes.Buffer
	if len(s.cfg.Federation.TrustBundle) > 0 {
		for _, f := range s.cfg.Federation.TrustBundle {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("federation.trust_bundle: %w", err)
			}
			certs, err := pki.ParseCertsPEM(b)
			if err != nil || len(certs) == 0 {
				return "", fmt.Errorf("federation.trust_bundle: %s holds no certificate", f)
			}
			for _, c := range certs {
				_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
			}
		}
		return buf.String(), nil
	}
	if s.cert == nil || s.cert() == nil || len(s.cert().Certificate) == 0 {
		return "", errors.New("federation: no gateway certificate to publish the issuer of")
	}
	chain := s.cert().Certificate
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return "", err
	}
	inter := x509.NewCertPool()
	for _, der := range chain[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	seen := map[string]bool{}
	for _, f := range s.cfg.TLS.ClientCAs {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("tls.client_cas: %w", err)
		}
		certs, _ := pki.ParseCertsPEM(b)
		for _, c := range certs {
			roots := x509.NewCertPool()
			roots.AddCert(c)
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil || seen[string(c.Raw)] {
				continue
			}
			seen[string(c.Raw)] = true
			_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
	}
	if buf.Len() == 0 {
		return "", errors.New("federation: the gateway certificate chains to none of tls.client_cas: set federation.trust_bundle")
	}
	return buf.String(), nil
}

// serveManifest answers GET /fed/v1/manifest with the current manifest.
func (s *Service) serveManifest(w http.ResponseWriter, _ *http.Request) {
	m, err := s.Manifest()
	if err != nil {
		s.unavailable(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/jose")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(m.JWS)
}

// runManifests publishes this gateway's manifest, re-reads the peers
// directory every reload interval (re-signing the own manifest when half
// its validity has passed) and fetches every manifest-imported peer's
// manifest every config.ManifestRefreshEvery intervals. Reloads and
// refreshes asked for by ReloadPeers and RefreshPeers run here too, one at
// a time.
func (s *Service) runManifests(ctx context.Context) {
	if _, err := s.Manifest(); err != nil {
		s.log.Error("federation manifest not published", zap.Error(err))
	}
	t := time.NewTicker(s.cfg.Federation.ReloadInterval)
	defer t.Stop()
	ticks := 0
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-s.mf.requests():
			var err error
			if req.refresh {
				err = s.refreshPeers(ctx)
			} else {
				err = s.reloadPeers(ctx)
			}
			req.done <- err
		case <-t.C:
			ticks++
			if _, err := s.Manifest(); err != nil {
				s.log.Error("federation manifest not re-signed", zap.Error(err))
			}
			if ticks%config.ManifestRefreshEvery == 0 {
				_ = s.refreshPeers(ctx) // logs each peer's failure; reloads
			} else {
				_ = s.reloadPeers(ctx)
			}
		}
	}
}

// ReloadPeers re-reads the peers directory now (the loop does it every
// federation.reload_interval) and starts or stops senders to match. On a
// bad set (a conflict, a manifest that does not verify) the last good set
// stays in force and the error says why.
func (s *Service) ReloadPeers(ctx context.Context) error { return s.ask(ctx, false) }

// RefreshPeers fetches every manifest-imported peer's manifest now, keeps
// those that are newer and verify under the same pin, then reloads.
func (s *Service) RefreshPeers(ctx context.Context) error { return s.ask(ctx, true) }

func (s *Service) ask(ctx context.Context, refresh bool) error {
	req := manifestReq{refresh: refresh, done: make(chan error, 1)}
	select {
	case s.mf.requests() <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reloadPeers is ReloadPeers, in the loop (ctx: the service's).
func (s *Service) reloadPeers(ctx context.Context) error {
	changed, err := s.peers.reload()
	if err != nil {
		s.log.Error("federation peers not reloaded: the last good set stays in force", zap.Error(err))
		return err
	}
	if changed {
		s.syncSenders(ctx)
		ids := make([]string, 0)
		for _, p := range s.peers.Peers() {
			ids = append(ids, p.ID)
		}
		s.log.Info("federation peers reloaded", zap.Strings("peers", ids))
	}
	return nil
}

// refreshPeers fetches each manifest-imported peer's manifest over its
// pinned mutual TLS. An unreachable peer, or an answer that does not verify
// under the pin, keeps the last good manifest.
func (s *Service) refreshPeers(ctx context.Context) error {
	var errs []error
	for _, p := range s.peers.Peers() {
		if p.manifest == nil {
			continue
		}
		if err := s.refreshPeer(ctx, p); err != nil {
			s.log.Warn("federation peer manifest not refreshed: the last good one is kept", zap.String("peer", p.ID), zap.Error(err))
			errs = append(errs, err)
		}
	}
	if err := s.reloadPeers(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Service) refreshPeer(ctx context.Context, p *Peer) error {
	tr := &http.Transport{TLSClientConfig: p.ClientTLS(s.cert), ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Endpoint+"/fed/v1/manifest", nil)
	if err != nil {
		return err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("fetch manifest of %s: %w", p.ID, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return fmt.Errorf("fetch manifest of %s: %w", p.ID, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch manifest of %s: %d %s", p.ID, resp.StatusCode, problemDetail(b))
	}
	m, err := OpenManifest(b, p.manifest.Fingerprint)
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", p.ID, err)
	}
	if m.GatewayID != p.ID {
		return fmt.Errorf("manifest of %s names gateway %s", p.ID, m.GatewayID)
	}
	if !m.Issued.After(p.manifest.Issued) {
		return nil // not newer: nothing to do
	}
	return writeAtomic(filepath.Join(s.cfg.Federation.PeersDir, p.ID+manifestExt), append(slices.Clone(m.JWS), '\n'), 0o600)
}
