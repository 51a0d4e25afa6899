package policy_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/liaison-project/liaison/policy"
)

// gatewayRead is the input of gateway/bench_test.go BenchmarkDecisionLatency:
// a system (no officer token) reading a P-handled OFFICIAL record.
const gatewayRead = `{"action":"record.read","time":"2026-11-21T10:00:00Z",
 "subject":{"agency_id":"rocu-nw"},
 "request":{"purpose":"investigation","justification":"benchmark run 2026","case":""},
 "record":{"record_id":"rec_01jd0000000000000000000000","version":1,"created":"2026-11-20T09:00:00Z",
  "originator":{"org_id":"met-police"},"classification":{"tier":"OFFICIAL"},"tlp":"AMBER",
  "grading":{"source":"1","intelligence":"B"},"handling":{"code":"P"},
  "allowed_purposes":["investigation"],"data_subject_category":"suspect","content_basis":"fact",
  "dsa_ids":["dsa-uk-soc"],"recipients":["rocu-nw"],"protected_fields":["source_details"],"review_due":"2027-06-01"}}`

// BenchmarkDecideAction measures the decisions the gateway makes on its hot
// paths, each allowed: the gateway benchmark's read, an officer's read of
// an OFFICIAL-SENSITIVE record (baseRead), a listing, and the originator's
// publish of that record to three recipients.
func BenchmarkDecideAction(b *testing.B) {
	var gw map[string]any
	if err := json.Unmarshal([]byte(gatewayRead), &gw); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		in   policy.Input
	}{
		{"gateway-read", typed(b, gw)},
		{"read", typed(b, input(b, baseRead, nil))},
		{"list", typed(b, input(b, baseRead, map[string]any{"action": "record.list"}))},
		{"publish", typed(b, input(b, baseRead, map[string]any{"action": "record.publish", "subject.agency_id": "met-police", "record.recipients": []any{"rocu-nw", "hmrc", "nca"}}))},
	}
	e := engine(b)
	ctx := context.Background()
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			percentiles(b, func() {
				if d, err := e.Decide(ctx, tc.in); err != nil || !d.Allow {
					b.Fatalf("Decide = %v %v, %v", d.Allow, d.Codes(), err)
				}
			})
		})
	}
}

// BenchmarkDecideFreshGoroutine decides each time on a new goroutine, as a
// server does for every request (net/http runs each on its own), against
// deciding on one goroutine, in the same run.
func BenchmarkDecideFreshGoroutine(b *testing.B) {
	var gw map[string]any
	if err := json.Unmarshal([]byte(gatewayRead), &gw); err != nil {
		b.Fatal(err)
	}
	in := typed(b, gw)
	e := engine(b)
	ctx := context.Background()
	decide := func() {
		if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
			b.Fatalf("Decide = %v %v", d.Allow, err)
		}
	}
	b.Run("same-goroutine", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			decide()
		}
	})
	b.Run("fresh-goroutine", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			done := make(chan struct{})
			go func() { defer close(done); decide() }()
			<-done
		}
	})
}
