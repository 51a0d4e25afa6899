package policy

import (
	"context"
	"testing"

	"github.com/liaison-project/liaison/policies"
)

// TestDecisionCacheReviewedCode: the decision cache serves only the Rego
// code its key was reviewed against (cache.go). When the bundled modules
// change, this fails: review the projections in cache.go against the new
// code (what the policy reads of input.time, the record's identifying
// fields, the justification, the officer id, the certificate fingerprint
// and the case), run `make decide-diff`, and only then set reviewedModules
// to the digest printed here. Until then the gateway decides every input in
// full (correct, slower).
func TestDecisionCacheReviewedCode(t *testing.T) {
	b, err := readBundle(policies.FS(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := moduleDigest(b.modules); got != reviewedModules {
		t.Fatalf("the bundled Rego modules changed (digest %s, reviewed %s): review cache.go's projections against them before updating reviewedModules", got, reviewedModules)
	}
}

// BenchmarkDecisionCacheKey: the key of a read input, and a whole hit
// (key, lookup, copy with a new id).
func BenchmarkDecisionCacheKey(b *testing.B) {
	e, err := New(context.Background(), Options{ReloadInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	p, err := PrepareJSON([]byte(`{"action":"record.read","time":"2026-11-21T10:00:00Z","subject":{"agency_id":"rocu-nw","officer":{"id":"dc-77","clearance":"SC","vetting":"MV","roles":["analyst"],"nationality":"GBR"},"cert_fingerprint":"9f86d081884c7d65"},"request":{"purpose":"investigation","justification":"Operation KINGFISHER: lead 42","case":"OP-KINGFISHER"},"record":{"record_id":"rec_01JD8X3Q","version":1,"created":"2026-11-20T09:00:00Z","originator":{"org_id":"met-police","officer_ref":"pc-1234"},"classification":{"tier":"OFFICIAL","sensitive":true,"descriptors":["PERSONAL_DATA"]},"tlp":"AMBER","grading":{"source":"1","intelligence":"B"},"handling":{"code":"P"},"allowed_purposes":["prevention","investigation","detection","prosecution"],"data_subject_category":"suspect","content_basis":"fact","dsa_ids":["dsa-uk-soc"],"recipients":["rocu-nw","hmrc","selec"],"protected_fields":["source_details"],"review_due":"2027-06-01"}}`))
	if err != nil {
		b.Fatal(err)
	}
	c := e.cur.Load().cache
	b.Run("key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.key(p.v)
		}
	})
	b.Run("hit", func(b *testing.B) {
		ctx := context.Background()
		_, _ = e.DecidePrepared(ctx, p)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = e.DecidePrepared(ctx, p)
		}
	})
}
