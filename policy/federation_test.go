package policy_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policy"
)

// fedRecord is a record met-police published on gw-south for rocu-nw and
// hmrc under dsa-uk-soc (the demo data in policies/data).
func fedRecord() *record.Meta {
	return &record.Meta{
		RecordID:            "rec_01JD8X3Q",
		Version:             1,
		Created:             "2026-11-20T09:00:00Z",
		Originator:          record.Originator{OrgID: "met-police", OfficerRef: "pc-1234"},
		Classification:      record.Classification{Tier: "OFFICIAL", Sensitive: true, Descriptors: []string{"PERSONAL_DATA"}},
		TLP:                 "AMBER",
		Grading:             record.Grading{Source: "1", Intelligence: "B"},
		Handling:            record.Handling{Code: "P"},
		AllowedPurposes:     []string{"investigation", "prevention"},
		DataSubjectCategory: "suspect",
		ContentBasis:        "fact",
		DSAIDs:              []string{"dsa-uk-soc"},
		Recipients:          []string{"rocu-nw", "hmrc"},
		ReviewDue:           "2027-06-01",
	}
}

// fedDeliver is what gw-south asks before delivering the record to rocu-nw,
// hosted by gw-north, right after met-police's officer published it.
func fedDeliver() policy.Input {
	return policy.Input{
		Action: policy.ActionDeliver,
		Time:   "2026-11-21T10:00:00Z",
		Subject: policy.Subject{
			AgencyID: "met-police",
			Officer:  &policy.Officer{ID: "dc-77", Clearance: "SC", Vetting: "MV", Roles: []string{"analyst"}, Nationality: "GBR"},
		},
		Request: policy.Request{Purpose: "investigation"},
		Record:  fedRecord(),
		Federation: &policy.Federation{
			PeerGateway:  "gw-north",
			PeerAgencies: []string{"rocu-nw", "nca"},
			Recipients:   []string{"rocu-nw"},
			Provenance:   []string{"gw-south"},
		},
	}
}

// fedAccept is what gw-north asks when gw-south delivers it: the subject is
// the sending agency, with the peer gateway's certificate and no officer.
func fedAccept() policy.Input {
	return policy.Input{
		Action:  policy.ActionAccept,
		Time:    "2026-11-21T10:00:00Z",
		Subject: policy.Subject{AgencyID: "met-police", CertFingerprint: "9f86d081884c7d65"},
		Record:  fedRecord(),
		Federation: &policy.Federation{
			PeerGateway:  "gw-south",
			PeerAgencies: []string{"met-police", "hmrc"},
			Recipients:   []string{"rocu-nw"},
			Provenance:   []string{"gw-south"},
		},
	}
}

// TestFederationTypedInput decides the gateway's typed input for both
// federation actions through the embedded policy: the Federation field
// reaches the policy by its JSON tags, and a decision says which agreement
// the delivery travels under.
func TestFederationTypedInput(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	cases := []struct {
		name    string
		in      func() policy.Input
		allow   bool
		codes   []string
		public  map[string]bool // code → public, for a refusal
		dsaID   string
		explain map[string]string // check id → result
	}{
		{name: "deliver allowed", in: fedDeliver, allow: true, dsaID: "dsa-uk-soc",
			explain: map[string]string{"federation": policy.CheckPass, "dsa": policy.CheckPass, "grant": policy.CheckPass}},
		{name: "deliver without an officer, as after an agency system's publish", in: func() policy.Input {
			in := fedDeliver()
			in.Subject.Officer = nil
			return in
		}, allow: true, dsaID: "dsa-uk-soc"},
		{name: "deliver to an agency the peer does not host", in: func() policy.Input {
			in := fedDeliver()
			in.Federation.Recipients = []string{"hmrc"}
			return in
		}, codes: []string{"recipient_not_hosted_by_peer"}, public: map[string]bool{"recipient_not_hosted_by_peer": true},
			explain: map[string]string{"federation": policy.CheckFail, "dsa": policy.CheckPass}},
		{name: "deliver under an agreement that has expired", in: func() policy.Input {
			in := fedDeliver()
			in.Time = "2029-01-01T00:00:00Z"
			return in
		}, codes: []string{"dsa_expired"}, public: map[string]bool{"dsa_expired": true},
			explain: map[string]string{"dsa": policy.CheckFail, "federation": policy.CheckPass}},
		{name: "deliver without the federation context", in: func() policy.Input {
			in := fedDeliver()
			in.Federation = nil
			return in
		}, codes: []string{"invalid_input"}, public: map[string]bool{"invalid_input": true}},
		{name: "accept allowed", in: fedAccept, allow: true, dsaID: "dsa-uk-soc",
			explain: map[string]string{"federation": policy.CheckPass, "dsa": policy.CheckPass, "handling": policy.CheckPass, "clearance": policy.CheckPass, "purpose": policy.CheckNotApplicable}},
		{name: "accept from a peer that does not host the sender", in: func() policy.Input {
			in := fedAccept()
			in.Federation.PeerAgencies = []string{"hmrc"}
			return in
		}, codes: []string{"agency_not_hosted_by_peer"}, public: map[string]bool{"agency_not_hosted_by_peer": false},
			explain: map[string]string{"federation": policy.CheckFail}},
		{name: "accept a record restricted to its originating agency", in: func() policy.Input {
			in := fedAccept()
			in.Record.Handling = record.Handling{Code: "C", ActionCode: "A1", SanitisationCode: "S2", Conditions: &record.Conditions{OriginatingAgencyOnly: true}}
			return in
		}, codes: []string{"originating_agency_only"}, public: map[string]bool{"originating_agency_only": true},
			explain: map[string]string{"relationship": policy.CheckFail, "dsa": policy.CheckPass}},
		{name: "accept after too many gateways", in: func() policy.Input {
			in := fedAccept()
			in.Federation.Provenance = []string{"gw-a", "gw-b", "gw-c", "gw-d", "gw-south"}
			return in
		}, codes: []string{"too_many_hops"}, public: map[string]bool{"too_many_hops": false}},
		{name: "accept with a nil provenance", in: func() policy.Input {
			in := fedAccept()
			in.Federation.Provenance = nil // encodes as null, not []
			return in
		}, codes: []string{"invalid_input"}, public: map[string]bool{"invalid_input": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in()
			d, err := e.Decide(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tc.allow || !d.Visible {
				t.Fatalf("allow=%v visible=%v %v, want allow=%v visible", d.Allow, d.Visible, d.Reasons, tc.allow)
			}
			if got := codes(d); !slices.Equal(got, tc.codes) {
				t.Fatalf("codes %v, want %v (%v)", got, tc.codes, d.Reasons)
			}
			for _, r := range d.Reasons {
				if r.Public != tc.public[r.Code] {
					t.Errorf("%s: public %v, want %v", r.Code, r.Public, tc.public[r.Code])
				}
			}
			if d.DSAID != tc.dsaID {
				t.Errorf("dsa_id %q, want %q", d.DSAID, tc.dsaID)
			}
			// The typed input decides as its JSON does.
			j, err := e.DecideJSON(ctx, js(t, in))
			if err != nil || j.Allow != d.Allow || !slices.Equal(codes(j), codes(d)) || j.DSAID != d.DSAID {
				t.Errorf("as JSON: allow=%v %v %q (%v)", j.Allow, codes(j), j.DSAID, err)
			}

			x := e.Explain(ctx, d, in)
			for id, want := range tc.explain {
				i := slices.IndexFunc(x.Checks, func(c policy.CheckResult) bool { return c.ID == id })
				if i < 0 {
					t.Errorf("explanation has no check %s", id)
					continue
				}
				if c := x.Checks[i]; c.Result != want || c.Result != policy.CheckNotApplicable && len(c.Details) == 0 {
					t.Errorf("check %s: %s %v, want %s in words", id, c.Result, c.Details, want)
				}
			}
		})
	}
}

// TestFederationExplainedInWords: an explanation of a federation decision
// names the peer gateway and the recipients, says the caller sends the
// record, and words the checks for the delivery rather than for a reader.
func TestFederationExplainedInWords(t *testing.T) {
	e := engine(t)
	ctx := context.Background()

	in := fedDeliver()
	d, err := e.Decide(ctx, in)
	if err != nil || !d.Allow {
		t.Fatalf("deliver: %v %v", d.Reasons, err)
	}
	x := e.Explain(ctx, d, in)
	if want := "federation.deliver by met-police (officer dc-77) on record rec_01JD8X3Q of met-police, caller is sender, purpose investigation, delivered to rocu-nw through peer gateway gw-north"; x.Request != want {
		t.Errorf("request %q, want %q", x.Request, want)
	}
	containsEach(t, "facts", x.Facts, []string{"delivery through peer gateway gw-north to rocu-nw (the peer hosts nca, rocu-nw); agreements on the record covering the delivery: dsa-uk-soc"})
	checkWords(t, x, "federation", "every recipient (rocu-nw) is named on the record and hosted by peer gateway gw-north")
	checkWords(t, x, "dsa", "dsa-uk-soc is active and in date and names every recipient (rocu-nw) as a recipient")

	in = fedAccept()
	d, err = e.Decide(ctx, in)
	if err != nil || !d.Allow {
		t.Fatalf("accept: %v %v", d.Reasons, err)
	}
	x = e.Explain(ctx, d, in)
	if want := "federation.accept by met-police (no officer token) on record rec_01JD8X3Q of met-police, caller is sender, delivered by peer gateway gw-south to rocu-nw"; x.Request != want {
		t.Errorf("request %q, want %q", x.Request, want)
	}
	containsEach(t, "facts", x.Facts, []string{"peer gateway gw-south delivers for met-police to rocu-nw after 1 gateway(s) (at most 4 accepted)"})
	checkWords(t, x, "handling", "allows every recipient (rocu-nw) to hold it")
	checkWords(t, x, "clearance", "the system clearance of every recipient (rocu-nw) reaches the record's tier")
	checkWords(t, x, "federation", "peer gateway gw-south hosts met-police")
}

func checkWords(t *testing.T, x *policy.Explanation, id, words string) {
	t.Helper()
	for _, c := range x.Checks {
		if c.ID == id {
			if c.Result != policy.CheckPass || len(c.Details) == 0 || !strings.Contains(c.Details[0], words) {
				t.Errorf("check %s: %s %q, want a pass containing %q", id, c.Result, c.Details, words)
			}
			return
		}
	}
	t.Errorf("explanation has no check %s", id)
}
