package pki

import "testing"

// FuzzParseCSR: a certificate signing request is untrusted bytes (an
// agency's file); parsing never panics and accepts only a self-signed one.
func FuzzParseCSR(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data)
		if err == nil && csr.CheckSignature() != nil {
			t.Fatal("accepted a request whose signature does not verify")
		}
	})
}
