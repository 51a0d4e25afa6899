package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrCSR: a certificate signing request that is not one PEM CSR with a
// valid self-signature.
var ErrCSR = errors.New("pki: invalid certificate signing request")

// ParseCSR reads one PEM "CERTIFICATE REQUEST" and checks its signature
// (the requester holds the key). The requested names are ignored: the CA
// writes the agency identity itself.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: not a PEM CERTIFICATE REQUEST", ErrCSR)
	}
	if len(trimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: data after the request", ErrCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrCSR, err)
	}
	return csr, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// IssueAgencyFromCSR issues agency id's client certificate (the agency
// identity of trustDomain, client auth only) from the dev federation CA in
// caCertFile/caKeyFile for the key of csrPEM. For dev federations: in
// production an agency brings its own CA (the registry's ca_cert).
func IssueAgencyFromCSR(caCertFile, caKeyFile, trustDomain, id string, csrPEM []byte) ([]byte, error) {
	certPEM, err := os.ReadFile(caCertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(caKeyFile)
	if err != nil {
		return nil, err
	}
	ca, err := loadCA(certPEM, keyPEM, time.Now)
	if err != nil {
		return nil, err
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	f := &DevFederation{TrustDomain: trustDomain}
	return ca.IssueFor(f.agencyRequest(id), csr.PublicKey)
}
