package audit

import "testing"

// BenchmarkNewProver10k: what GET /v1/audit/proof would pay per call
// without a cached prover — verifying a 10,000-entry log, then one proof.
func BenchmarkNewProver10k(b *testing.B) {
	const n = 10_000
	dir := benchLog(b, n)
	jwks, _ := signer(b).PublicJWKS()
	b.ResetTimer()
	for range b.N {
		p, r, err := NewProver(dir, VerifyOptions{JWKS: jwks})
		if err != nil || !r.OK {
			b.Fatal(err)
		}
		if _, err := p.Prove(n / 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProveCached10k: one proof from a Prover kept between requests
// (GET /v1/audit/proof): a scan of the log for the entry's bytes.
func BenchmarkProveCached10k(b *testing.B) {
	const n = 10_000
	dir := benchLog(b, n)
	jwks, _ := signer(b).PublicJWKS()
	p, r, err := NewProver(dir, VerifyOptions{JWKS: jwks})
	if err != nil || !r.OK {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := p.Prove(uint64(n - i%n)); err != nil { // the newest first: the longest scans
			b.Fatal(err)
		}
	}
}
