package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Validity periods of what this package issues.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 365 * 24 * time.Hour
	// backdate absorbs clock skew between the issuer and its verifiers.
	backdate = 5 * time.Minute
)

// CA is a certificate authority whose key is held in memory: the dev
// federation's CA and the throwaway CAs of tests ("a certificate from another
// CA", intermediates). It is not a production CA.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	now     func() time.Time
}

// NewTestCA creates a self-signed ECDSA P-256 root CA named commonName, valid
// for ten years from now. It is exported for other packages' tests.
func NewTestCA(commonName string) (*CA, error) {
	return newRootCA(commonName, time.Now)
}

func newRootCA(commonName string, now func() time.Time) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Liaison"}},
		NotBefore:             t.Add(-time.Hour),
		NotAfter:              t.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// One level of intermediates, so tests can exercise intermediate
		// revocation; leaves cannot mint further CAs.
		MaxPathLen: 1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	return newCAFromDER(der, key, now)
}

func newCAFromDER(der []byte, key crypto.Signer, now func() time.Time) (*CA, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	return &CA{cert: cert, certPEM: encodeCertPEM(der), key: key, now: now}, nil
}

// loadCA parses a CA certificate and its key and checks that they belong
// together and can issue.
func loadCA(certPEM, keyPEM []byte, now func() time.Time) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 || cert.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, errors.New("pki: certificate is not a CA that can sign certificates and CRLs")
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("pki: CA key does not match CA certificate")
	}
	return &CA{cert: cert, certPEM: encodeCertPEM(cert.Raw), key: key, now: now}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// Certificate is the CA certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// CertPEM is the CA certificate in PEM, ready for a trust bundle file.
func (c *CA) CertPEM() []byte { return append([]byte(nil), c.certPEM...) }

// KeyPEM is the CA's private key in PKCS#8 PEM. Tests write it next to the
// certificate; never log it.
func (c *CA) KeyPEM() ([]byte, error) { return encodeKeyPEM(c.key) }

// LeafRequest describes a leaf certificate for CA.Issue.
type LeafRequest struct {
	CommonName  string
	URIs        []string
	DNSNames    []string
	IPAddresses []net.IP
	// ExtKeyUsage is written as given; nil writes no EKU extension (which
	// X.509 reads as "any usage").
	ExtKeyUsage []x509.ExtKeyUsage
	// NotBefore and NotAfter default to now-5m and now+1y.
	NotBefore, NotAfter time.Time
}

// Issue creates a fresh P-256 key and a leaf certificate for it signed by
// the CA. It returns both in PEM.
func (c *CA) Issue(req LeafRequest) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = c.IssueFor(req, key.Public())
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// IssueFor signs a leaf certificate for a public key held elsewhere (the
// key of a certificate signing request).
func (c *CA) IssueFor(req LeafRequest, pub crypto.PublicKey) (certPEM []byte, err error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	uris := make([]*url.URL, 0, len(req.URIs))
	for _, s := range req.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("pki: URI SAN: %w", err)
		}
		uris = append(uris, u)
	}
	t := c.now()
	nb, na := req.NotBefore, req.NotAfter
	if nb.IsZero() {
		nb = t.Add(-backdate)
	}
	if na.IsZero() {
		na = t.Add(LeafValidity)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           req.ExtKeyUsage,
		BasicConstraintsValid: true,
		URIs:                  uris,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, pub, c.key)
	if err != nil {
		return nil, fmt.Errorf("pki: create certificate: %w", err)
	}
	return encodeCertPEM(der), nil
}

// NewIntermediate creates an intermediate CA under c (path length zero: it
// issues leaves only).
func (c *CA) NewIntermediate(commonName string) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	t := c.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Liaison"}},
		NotBefore:             t.Add(-backdate),
		NotAfter:              t.Add(CAValidity / 2),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return nil, fmt.Errorf("pki: create intermediate: %w", err)
	}
	return newCAFromDER(der, key, c.now)
}

// CRLOptions describes a CRL for CA.CRL.
type CRLOptions struct {
	// Revoked lists the serials to revoke; duplicates are written once.
	Revoked []*big.Int
	// RevokedAt is the revocation time written for each entry (default now).
	RevokedAt time.Time
	// Number is the CRL number; it must grow with every CRL the CA issues
	// (default 1).
	Number int64
	// ThisUpdate and NextUpdate default to now-5m and now+1y.
	ThisUpdate, NextUpdate time.Time
}

// CRL returns a CRL signed by the CA, in PEM.
func (c *CA) CRL(opts CRLOptions) ([]byte, error) {
	t := c.now()
	if opts.RevokedAt.IsZero() {
		opts.RevokedAt = t
	}
	if opts.Number <= 0 {
		opts.Number = 1
	}
	if opts.ThisUpdate.IsZero() {
		opts.ThisUpdate = t.Add(-backdate)
	}
	if opts.NextUpdate.IsZero() {
		opts.NextUpdate = t.Add(LeafValidity)
	}
	seen := make(map[string]bool, len(opts.Revoked))
	var entries []x509.RevocationListEntry
	for _, s := range opts.Revoked {
		if s == nil || seen[s.String()] {
			continue
		}
		seen[s.String()] = true
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: opts.RevokedAt})
	}
	return c.signCRL(entries, opts.Number, opts.ThisUpdate, opts.NextUpdate)
}

func (c *CA) signCRL(entries []x509.RevocationListEntry, number int64, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		RevokedCertificateEntries: entries,
		Number:                    big.NewInt(number),
		ThisUpdate:                thisUpdate,
		NextUpdate:                nextUpdate,
	}, c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CRL: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCRL, Bytes: der}), nil
}
