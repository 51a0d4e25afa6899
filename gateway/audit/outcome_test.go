package audit

import "testing"

// The console's Decision filter is Filter.Outcome: each kind of entry must
// land in exactly one outcome, as the console words it.
func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   Event
		want string
	}{
		{"allowed read", Event{Operation: OpDisclosure, Status: 200, Decision: &Decision{Allow: true}}, OutcomeAllowed},
		{"policy denial", Event{Operation: OpDenial, Status: 403, Decision: &Decision{Allow: false}}, OutcomeDenied},
		{"denied without a decision (bad token)", Event{Operation: OpDenial, Status: 401}, OutcomeDenied},
		{"allowed, then refused by the gateway", Event{Operation: OpDenial, Status: 404, Decision: &Decision{Allow: true}}, OutcomeDenied},
		{"rejected policy reload", Event{Operation: OpAlteration, Status: 422, Decision: &Decision{Allow: false}}, OutcomeDenied},
		{"allowed, store down", Event{Operation: OpConsultation, Status: 503, Decision: &Decision{Allow: true}}, OutcomeFailed},
		{"system entry", Event{Operation: OpAlteration, Status: 200}, OutcomeAllowed},
	} {
		if got := tc.ev.Outcome(); got != tc.want {
			t.Errorf("%s: outcome %q, want %q", tc.name, got, tc.want)
		}
		for _, o := range []string{OutcomeAllowed, OutcomeDenied, OutcomeFailed} {
			f := Filter{Outcome: o}
			if f.Match(&tc.ev) != (o == tc.want) {
				t.Errorf("%s: Filter{Outcome: %q}.Match = %v", tc.name, o, f.Match(&tc.ev))
			}
		}
	}
}
