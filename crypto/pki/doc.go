// Package pki holds Liaison's X.509 side of mutual TLS: the server tls.Config
// with a reloadable federation trust bundle and CRLs, the client tls.Config
// used by the CLI and tests, agency identity taken only from verified
// certificate chains (SPIFFE-style URI SANs), and the dev federation PKI that
// `liaison dev` writes to its data directory.
//
// Identity rule: an agency is named by exactly one URI SAN
// spiffe://<trust-domain>/agency/<id> on a client certificate whose chain
// verified against the trust bundle with the clientAuth extended key usage and
// whose serial (or any intermediate's) is not on a CRL signed by its issuer.
package pki
