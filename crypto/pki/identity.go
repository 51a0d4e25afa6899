package pki

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/liaison-project/liaison/crypto/identity"
)

var (
	// ErrNoIdentity: the certificate carries no usable agency identity (no,
	// several or malformed URI SANs, another trust domain, a bad agency id).
	ErrNoIdentity = errors.New("pki: certificate carries no valid agency identity")
	// ErrUnverified: identity was requested from a connection whose peer
	// chain was not verified; identity is only ever taken from verified chains.
	ErrUnverified = errors.New("pki: peer certificate chain not verified")
	// ErrRevoked: a certificate in the peer's chain is listed on its issuer's CRL.
	ErrRevoked = errors.New("pki: certificate revoked")
	// ErrInvalidName: an agency id, gateway id or trust domain is malformed.
	ErrInvalidName = errors.New("pki: invalid name")
)

// trustDomainPattern follows the SPIFFE trust-domain alphabet.
var trustDomainPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,252}$`)

// ValidTrustDomain reports whether td is a well-formed trust domain.
func ValidTrustDomain(td string) bool { return trustDomainPattern.MatchString(td) }

// AgencyURI is the URI SAN naming agency id in trust domain td.
func AgencyURI(td, id string) string { return "spiffe://" + td + "/agency/" + id }

// GatewayURI is the URI SAN naming gateway id in trust domain td.
func GatewayURI(td, id string) string { return "spiffe://" + td + "/gateway/" + id }

// AgencyFromCert returns the agency id named by cert. The certificate must
// carry exactly one URI SAN and it must be spiffe://<trustDomain>/agency/<id>
// with a valid id; anything else (including a second URI SAN, which could be
// used to smuggle a second identity) is ErrNoIdentity. Callers must pass the
// leaf of a verified chain.
func AgencyFromCert(cert *x509.Certificate, trustDomain string) (string, error) {
	if cert == nil {
		return "", fmt.Errorf("%w: no certificate", ErrNoIdentity)
	}
	if len(cert.URIs) != 1 {
		return "", fmt.Errorf("%w: want exactly one URI SAN, have %d", ErrNoIdentity, len(cert.URIs))
	}
	return agencyFromURI(cert.URIs[0], trustDomain)
}

func agencyFromURI(u *url.URL, trustDomain string) (string, error) {
	if u.Scheme != "spiffe" || u.Opaque != "" || u.User != nil || u.RawQuery != "" ||
		u.Fragment != "" || u.Port() != "" {
		return "", fmt.Errorf("%w: URI SAN is not a SPIFFE id", ErrNoIdentity)
	}
	if u.Host != trustDomain {
		return "", fmt.Errorf("%w: URI SAN names another trust domain", ErrNoIdentity)
	}
	// RawPath is set when the path had escapes; an escaped id is never valid.
	if u.RawPath != "" {
		return "", fmt.Errorf("%w: URI SAN path is escaped", ErrNoIdentity)
	}
	id, ok := strings.CutPrefix(u.Path, "/agency/")
	if !ok || !identity.ValidID(id) {
		return "", fmt.Errorf("%w: URI SAN is not an agency id", ErrNoIdentity)
	}
	return id, nil
}

// AgencyFromConnState returns the agency and leaf certificate of a TLS peer.
// It refuses connections whose chain was not verified, so that a
// misconfigured listener (RequestClientCert, say) cannot yield an identity.
func AgencyFromConnState(cs *tls.ConnectionState, trustDomain string) (string, *x509.Certificate, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", nil, ErrUnverified
	}
	leaf := cs.VerifiedChains[0][0]
	id, err := AgencyFromCert(leaf, trustDomain)
	if err != nil {
		return "", nil, err
	}
	return id, leaf, nil
}

// CertFingerprint is the lowercase hex SHA-256 of the certificate's DER, the
// form used in audit records and logs.
func CertFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// CertThumbprintS256 is the base64url (unpadded) SHA-256 of the certificate's
// DER: the x5t#S256 confirmation value of RFC 8705 that binds a token to it.
func CertThumbprintS256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
