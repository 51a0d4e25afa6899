package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ClientTLSConfig is an mTLS client configuration (TLS 1.3 minimum) that
// presents certFile/keyFile and trusts only the CAs in caFiles for the
// server, whose name must match serverName.
func ClientTLSConfig(certFile, keyFile string, caFiles []string, serverName string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: client certificate %s: %w", ErrConfig, certFile, err)
	}
	if len(caFiles) == 0 {
		return nil, fmt.Errorf("%w: at least one server CA file is required", ErrConfig)
	}
	pool := x509.NewCertPool()
	for _, p := range caFiles {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		certs, err := ParseCertsPEM(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConfig, p, err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ServerName:   serverName,
	}, nil
}
