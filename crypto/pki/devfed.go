package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/identity"
)

// renewBefore: dev files expiring within this window are regenerated, so a
// `liaison dev` started today still works next week.
const renewBefore = 7 * 24 * time.Hour

// Dev federation layout, relative to its directory.
const (
	devCAFile      = "ca.pem"
	devCAKeyFile   = "ca-key.pem"
	devCRLFile     = "crl.pem"
	devGatewayDir  = "gateway"
	devAgenciesDir = "agencies"
	devJWKSDir     = "jwks"
	devCertFile    = "cert.pem"
	devKeyFile     = "key.pem"
	devOfficerKey  = "officer-key.jwk.json"
)

// DevOptions configures EnsureDevFederation. Zero fields take defaults.
type DevOptions struct {
	// TrustDomain of the SPIFFE ids (default "liaison.dev").
	TrustDomain string
	// GatewayID names the gateway's own certificate (default "gw-dev").
	GatewayID string
	// Agencies to provision (ids such as "met-police"); agencies already on
	// disk but not listed are left alone.
	Agencies []string
	// ServerHosts are the gateway certificate's DNS and IP SANs (default
	// localhost, 127.0.0.1, ::1).
	ServerHosts []string
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// DevFederation is a dev PKI on disk: one CA standing in for the whole
// federation (or, in a local federation of several dev gateways, for one
// gateway's domain), the gateway's certificate (server, and client when it
// calls a peer gateway), one client certificate and
// one officer-token signing key per agency, the agencies' public JWKS and a
// CRL. Its methods issue extra certificates and revoke them for tests.
type DevFederation struct {
	Dir         string
	TrustDomain string
	GatewayID   string
	// Agencies are the ids provisioned by the call that returned this value.
	Agencies []string
	// ServerHosts are the gateway certificate's SANs.
	ServerHosts []string

	CAFile          string // trust bundle for clients and the gateway
	CAKeyFile       string
	CRLFile         string
	GatewayCertFile string
	GatewayKeyFile  string
	JWKSDir         string // <agency>.json public key sets for officer tokens

	// Written lists the files (relative to Dir, slash-separated) that the
	// call created or replaced; empty when everything was reused.
	Written []string

	ca  *CA
	now func() time.Time
	mu  sync.Mutex // serialises Revoke's read-modify-write of the CRL
}

// AgencyCertFile is the path of agency id's client certificate.
func (f *DevFederation) AgencyCertFile(id string) string {
	return filepath.Join(f.Dir, devAgenciesDir, id, devCertFile)
}

// AgencyKeyFile is the path of agency id's client key.
func (f *DevFederation) AgencyKeyFile(id string) string {
	return filepath.Join(f.Dir, devAgenciesDir, id, devKeyFile)
}

// OfficerKeyFile is the path of agency id's private officer-token JWK.
func (f *DevFederation) OfficerKeyFile(id string) string {
	return filepath.Join(f.Dir, devAgenciesDir, id, devOfficerKey)
}

// JWKSFile is the path of agency id's public officer-token key set.
func (f *DevFederation) JWKSFile(id string) string {
	return filepath.Join(f.JWKSDir, id+".json")
}

// CA is the federation CA (with its key), for tests that issue certificates.
func (f *DevFederation) CA() *CA { return f.ca }

// ServerTLSOptions are the gateway listener options for this federation.
func (f *DevFederation) ServerTLSOptions() ServerTLSOptions {
	return ServerTLSOptions{
		CertFile:       f.GatewayCertFile,
		KeyFile:        f.GatewayKeyFile,
		ClientCAFiles:  []string{f.CAFile},
		CRLFiles:       []string{f.CRLFile},
		MinVersion:     "1.3",
		ReloadInterval: DefaultReloadInterval,
	}
}

// ClientTLSConfig is the client configuration of agency id, trusting this
// federation's CA for the server.
func (f *DevFederation) ClientTLSConfig(id, serverName string) (*tls.Config, error) {
	return ClientTLSConfig(f.AgencyCertFile(id), f.AgencyKeyFile(id), []string{f.CAFile}, serverName)
}

// EnsureDevFederation makes dir hold a valid dev federation and returns it.
// It is idempotent: files that exist, belong together and do not expire
// within seven days are reused; only what is missing or stale is (re)made.
// A new CA (missing or expiring) therefore re-issues every certificate and
// the CRL, while officer keys, which do not depend on the CA, are kept.
func EnsureDevFederation(dir string, opts DevOptions) (*DevFederation, error) {
	if opts.TrustDomain == "" {
		opts.TrustDomain = "liaison.dev"
	}
	if opts.GatewayID == "" {
		opts.GatewayID = "gw-dev"
	}
	if len(opts.ServerHosts) == 0 {
		opts.ServerHosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if !ValidTrustDomain(opts.TrustDomain) {
		return nil, fmt.Errorf("%w: trust domain %q", ErrInvalidName, opts.TrustDomain)
	}
	if !identity.ValidID(opts.GatewayID) {
		return nil, fmt.Errorf("%w: gateway id %q", ErrInvalidName, opts.GatewayID)
	}
	var agencies []string
	for _, a := range opts.Agencies {
		if !identity.ValidID(a) {
			return nil, fmt.Errorf("%w: agency id %q", ErrInvalidName, a)
		}
		if !slices.Contains(agencies, a) {
			agencies = append(agencies, a)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pki: dev federation directory: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("pki: dev federation directory: %w", err)
	}
	// The directory holds the CA key: keep it owner-only even if it was
	// created beforehand with a looser mode.
	if err := tightenPerm(abs, 0o700); err != nil {
		return nil, err
	}
	f := &DevFederation{
		Dir:             abs,
		TrustDomain:     opts.TrustDomain,
		GatewayID:       opts.GatewayID,
		Agencies:        agencies,
		ServerHosts:     slices.Clone(opts.ServerHosts),
		CAFile:          filepath.Join(abs, devCAFile),
		CAKeyFile:       filepath.Join(abs, devCAKeyFile),
		CRLFile:         filepath.Join(abs, devCRLFile),
		GatewayCertFile: filepath.Join(abs, devGatewayDir, devCertFile),
		GatewayKeyFile:  filepath.Join(abs, devGatewayDir, devKeyFile),
		JWKSDir:         filepath.Join(abs, devJWKSDir),
		now:             opts.Now,
	}
	steps := []func() error{f.ensureCA, f.ensureCRL, f.ensureGateway}
	for _, a := range agencies {
		steps = append(steps, func() error { return f.ensureAgency(a) }, func() error { return f.ensureOfficerKey(a) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// fresh reports whether a validity window covers now and lasts beyond the
// renewal window.
func (f *DevFederation) fresh(notBefore, notAfter time.Time) bool {
	t := f.now()
	return !t.Before(notBefore) && notAfter.Sub(t) > renewBefore
}

func (f *DevFederation) write(path string, data []byte, perm os.FileMode) error {
	if err := writeFileAtomic(path, data, perm); err != nil {
		return err
	}
	rel, err := filepath.Rel(f.Dir, path)
	if err != nil {
		rel = path
	}
	f.Written = append(f.Written, filepath.ToSlash(rel))
	return nil
}

// tightenKeyPerm makes an existing private key file owner-only; it changes
// the mode only, never the content.
func tightenKeyPerm(path string) error { return tightenPerm(path, 0o600) }

func tightenPerm(path string, perm os.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, perm); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
	}
	return nil
}

func (f *DevFederation) ensureCA() error {
	certPEM, errC := os.ReadFile(f.CAFile)
	keyPEM, errK := os.ReadFile(f.CAKeyFile)
	if errC == nil && errK == nil {
		ca, err := loadCA(certPEM, keyPEM, f.now)
		if err == nil && ca.cert.CheckSignatureFrom(ca.cert) == nil && f.fresh(ca.cert.NotBefore, ca.cert.NotAfter) {
			f.ca = ca
			return tightenKeyPerm(f.CAKeyFile)
		}
	}
	ca, err := newRootCA("Liaison dev federation CA ("+f.TrustDomain+")", f.now)
	if err != nil {
		return err
	}
	keyPEM, err = ca.KeyPEM()
	if err != nil {
		return err
	}
	if err := f.write(f.CAKeyFile, keyPEM, 0o600); err != nil {
		return err
	}
	if err := f.write(f.CAFile, ca.CertPEM(), 0o644); err != nil {
		return err
	}
	f.ca = ca
	return nil
}

// readCRL returns the dev CRL if it parses and was signed by the current CA.
func (f *DevFederation) readCRL() (*x509.RevocationList, error) {
	data, err := os.ReadFile(f.CRLFile)
	if err != nil {
		return nil, err
	}
	crls, err := parseCRLs(data)
	if err != nil {
		return nil, err
	}
	if len(crls) != 1 {
		return nil, fmt.Errorf("%w: want one CRL in %s", ErrBadPEM, devCRLFile)
	}
	if err := crls[0].CheckSignatureFrom(f.ca.cert); err != nil {
		return nil, fmt.Errorf("pki: dev CRL not signed by the dev CA: %w", err)
	}
	return crls[0], nil
}

func (f *DevFederation) ensureCRL() error {
	old, err := f.readCRL()
	if err == nil && f.fresh(old.ThisUpdate, old.NextUpdate) {
		return nil
	}
	var (
		entries []x509.RevocationListEntry
		number  int64 = 1
	)
	if err == nil {
		// Stale but ours: re-sign the same revocations under a higher number.
		entries = old.RevokedCertificateEntries
		if old.Number != nil && old.Number.IsInt64() {
			number = old.Number.Int64() + 1
		}
	}
	return f.writeCRL(entries, number)
}

func (f *DevFederation) writeCRL(entries []x509.RevocationListEntry, number int64) error {
	t := f.now()
	crlPEM, err := f.ca.signCRL(entries, number, t.Add(-backdate), t.Add(LeafValidity))
	if err != nil {
		return err
	}
	return f.write(f.CRLFile, crlPEM, 0o644)
}

// leafValid reports whether a cert/key pair on disk matches, was issued by
// the current CA, is fresh and passes want.
func (f *DevFederation) leafValid(certPath, keyPath string, want func(*x509.Certificate) bool) bool {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return false
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return false
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil || len(pair.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	return leaf.CheckSignatureFrom(f.ca.cert) == nil && f.fresh(leaf.NotBefore, leaf.NotAfter) && want(leaf)
}

func (f *DevFederation) ensureLeaf(certPath, keyPath string, req LeafRequest, want func(*x509.Certificate) bool) error {
	if f.leafValid(certPath, keyPath, want) {
		return tightenKeyPerm(keyPath)
	}
	certPEM, keyPEM, err := f.ca.Issue(req)
	if err != nil {
		return err
	}
	if err := f.write(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return f.write(certPath, certPEM, 0o644)
}

func uriStrings(c *x509.Certificate) []string {
	out := make([]string, len(c.URIs))
	for i, u := range c.URIs {
		out[i] = u.String()
	}
	return out
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// gatewayExtKeyUsage is the dev gateway certificate's extended key usage.
var gatewayExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

func (f *DevFederation) ensureGateway() error {
	var (
		dns []string
		ips []net.IP
	)
	for _, h := range f.ServerHosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	uri := GatewayURI(f.TrustDomain, f.GatewayID)
	req := LeafRequest{
		CommonName:  f.GatewayID,
		URIs:        []string{uri},
		DNSNames:    dns,
		IPAddresses: ips,
		// ServerAuth for the agency API and the federation listener;
		// ClientAuth because the same certificate is the gateway's identity
		// when it calls a peer gateway (gateway-to-gateway mTLS). A
		// certificate from before federation lacks ClientAuth and fails
		// want below, so it is re-issued.
		ExtKeyUsage: gatewayExtKeyUsage,
	}
	want := func(c *x509.Certificate) bool {
		var haveIPs, wantIPs []string
		for _, ip := range c.IPAddresses {
			haveIPs = append(haveIPs, ip.String())
		}
		for _, ip := range ips {
			wantIPs = append(wantIPs, ip.String())
		}
		return slices.Equal(c.ExtKeyUsage, req.ExtKeyUsage) &&
			slices.Equal(uriStrings(c), []string{uri}) &&
			sameSet(c.DNSNames, dns) && sameSet(haveIPs, wantIPs)
	}
	return f.ensureLeaf(f.GatewayCertFile, f.GatewayKeyFile, req, want)
}

func (f *DevFederation) agencyRequest(id string) LeafRequest {
	return LeafRequest{
		CommonName:  id,
		URIs:        []string{AgencyURI(f.TrustDomain, id)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func (f *DevFederation) ensureAgency(id string) error {
	req := f.agencyRequest(id)
	want := func(c *x509.Certificate) bool {
		return c.Subject.CommonName == id &&
			slices.Equal(c.ExtKeyUsage, req.ExtKeyUsage) &&
			slices.Equal(uriStrings(c), req.URIs)
	}
	return f.ensureLeaf(f.AgencyCertFile(id), f.AgencyKeyFile(id), req, want)
}

// ensureOfficerKey keeps agency id's ES256 officer-token key and the public
// set that the gateway verifies against in step; the private key stays in
// the agency's directory, the public set is all the gateway needs.
func (f *DevFederation) ensureOfficerKey(id string) error {
	privPath, setPath := f.OfficerKeyFile(id), f.JWKSFile(id)
	priv, err := readOfficerKey(privPath)
	if err != nil {
		priv, err = newOfficerKey()
		if err != nil {
			return err
		}
		data, err := json.MarshalIndent(priv, "", "  ")
		if err != nil {
			return fmt.Errorf("pki: encode officer key: %w", err)
		}
		if err := f.write(privPath, append(data, '\n'), 0o600); err != nil {
			return err
		}
	} else if err := tightenKeyPerm(privPath); err != nil {
		return err
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return fmt.Errorf("pki: officer public key: %w", err)
	}
	if setHolds(setPath, pub) {
		return nil
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return fmt.Errorf("pki: officer key set: %w", err)
	}
	data, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return fmt.Errorf("pki: encode officer key set: %w", err)
	}
	return f.write(setPath, append(data, '\n'), 0o644)
}

func newOfficerKey() (jwk.Key, error) {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate officer key: %w", err)
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("pki: officer key: %w", err)
	}
	if err := k.Set(jwk.AlgorithmKey, jwa.ES256); err != nil {
		return nil, fmt.Errorf("pki: officer key: %w", err)
	}
	if err := k.Set(jwk.KeyUsageKey, jwk.ForSignature); err != nil {
		return nil, fmt.Errorf("pki: officer key: %w", err)
	}
	// kid = RFC 7638 thumbprint, so the public set and the token header
	// agree without any registry.
	if err := jwk.AssignKeyID(k); err != nil {
		return nil, fmt.Errorf("pki: officer key: %w", err)
	}
	return k, nil
}

func readOfficerKey(path string) (jwk.Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := jwk.ParseKey(data)
	if err != nil {
		return nil, errors.New("pki: officer key does not parse")
	}
	ec, ok := k.(jwk.ECDSAPrivateKey)
	if !ok || ec.Crv() != jwa.P256 || k.Algorithm() != jwa.ES256 || k.KeyID() == "" {
		return nil, errors.New("pki: officer key is not a P-256 ES256 private key with a kid")
	}
	return k, nil
}

// setHolds reports whether the JWKS at path holds pub under its kid, and
// only public keys.
func setHolds(path string, pub jwk.Key) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	set, err := jwk.Parse(data)
	if err != nil {
		return false
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if priv, err := jwk.IsPrivateKey(k); err != nil || priv {
			return false
		}
	}
	k, ok := set.LookupKeyID(pub.KeyID())
	return ok && jwk.Equal(k, pub) && k.Algorithm() == pub.Algorithm()
}

// ClientCertOptions adjusts a certificate made by IssueClientCert, so tests
// can make expired, wrong-usage or foreign-identity certificates.
type ClientCertOptions struct {
	// NotBefore and NotAfter default to now-5m and now+1y.
	NotBefore, NotAfter time.Time
	// ExtKeyUsage replaces clientAuth when non-nil.
	ExtKeyUsage []x509.ExtKeyUsage
	// URIs replaces the agency's SPIFFE id when non-nil (an empty, non-nil
	// slice writes no URI SAN).
	URIs []string
	// CommonName replaces the agency id as CN when set.
	CommonName string
}

// IssueClientCert issues a client certificate for agencyID from the dev CA
// without writing it anywhere.
func (f *DevFederation) IssueClientCert(agencyID string, opts ClientCertOptions) (certPEM, keyPEM []byte, err error) {
	req := f.agencyRequest(agencyID)
	if opts.URIs == nil && !identity.ValidID(agencyID) {
		return nil, nil, fmt.Errorf("%w: agency id %q", ErrInvalidName, agencyID)
	}
	req.NotBefore, req.NotAfter = opts.NotBefore, opts.NotAfter
	if opts.ExtKeyUsage != nil {
		req.ExtKeyUsage = opts.ExtKeyUsage
	}
	if opts.URIs != nil {
		req.URIs = opts.URIs
	}
	if opts.CommonName != "" {
		req.CommonName = opts.CommonName
	}
	return f.ca.Issue(req)
}

// Revoke adds serials to the dev CRL and rewrites crl.pem (atomically, under
// a higher CRL number). A gateway picks the change up on its next reload.
func (f *DevFederation) Revoke(serials ...*big.Int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var (
		entries []x509.RevocationListEntry
		number  int64 = 1
	)
	if old, err := f.readCRL(); err == nil {
		entries = slices.Clone(old.RevokedCertificateEntries)
		if old.Number != nil && old.Number.IsInt64() {
			number = old.Number.Int64() + 1
		}
	}
	t := f.now()
	for _, s := range serials {
		if s == nil {
			continue
		}
		if slices.ContainsFunc(entries, func(e x509.RevocationListEntry) bool { return e.SerialNumber.Cmp(s) == 0 }) {
			continue
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: t})
	}
	return f.writeCRL(entries, number)
}
