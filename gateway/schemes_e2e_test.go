package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestSchemesThroughTheAPI drives each handling scheme's key cases through
// the HTTP API: publish as met-police, read as rocu-nw.
func TestSchemesThroughTheAPI(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	officer := env.OfficerToken("rocu-nw", jose.Officer{ID: "ds-101", Clearance: "SC", Vetting: "MV", Nationality: "GBR"}, time.Hour)
	cHandling := func(action, sanitisation string, conditions map[string]any) map[string]any {
		return map[string]any{"code": "C", "action_code": action, "sanitisation_code": sanitisation, "conditions": conditions}
	}
	tests := []struct {
		name    string
		meta    func(m map[string]any)
		token   string
		purpose string
		status  int
		reason  string
	}{
		{name: "TLP:RED to an agency system", meta: func(m map[string]any) { m["tlp"] = "RED" }, status: 403, reason: "tlp_red_requires_officer"},
		{name: "TLP:RED to a named officer", meta: func(m map[string]any) { m["tlp"] = "RED" }, token: officer, status: 200},
		{name: "TLP:CLEAR", meta: func(m map[string]any) { m["tlp"] = "CLEAR" }, status: 200},
		{name: "national caveat excludes the reader", meta: func(m map[string]any) {
			m["classification"] = map[string]any{"tier": "OFFICIAL", "eyes_only": []any{"USA"}}
		}, status: 403, reason: "caveat_not_met"},
		{name: "national caveat includes the reader", meta: func(m map[string]any) {
			m["classification"] = map[string]any{"tier": "OFFICIAL", "eyes_only": []any{"GBR"}}
		}, status: 200},
		{name: "3x5x2 C: recipient organisation not allowed", meta: func(m map[string]any) {
			m["handling"] = cHandling("A3", "S1", map[string]any{"allowed_recipient_orgs": []any{"nca"}})
		}, status: 403, reason: "handling_condition_not_met"},
		{name: "3x5x2 C: conditions met", meta: func(m map[string]any) {
			m["handling"] = cHandling("A3", "S1", map[string]any{"allowed_recipient_types": []any{"rocu"}})
		}, status: 200},
		{name: "3x5x2 A2 forbids evidential use", meta: func(m map[string]any) {
			m["handling"] = cHandling("A2", "S1", map[string]any{})
			m["allowed_purposes"] = []any{"investigation", "prosecution"}
		}, purpose: "prosecution", status: 403, reason: "action_code_forbids_use"},
		{name: "no_judicial_use", meta: func(m map[string]any) {
			m["handling"] = cHandling("A3", "S1", map[string]any{"no_judicial_use": true})
			m["allowed_purposes"] = []any{"investigation", "prosecution"}
		}, purpose: "prosecution", status: 403, reason: "judicial_use_forbidden"},
		{name: "Europol H1 judicial use needs the provider", meta: func(m map[string]any) {
			m["handling"] = map[string]any{"code": "P", "europol_codes": []any{"H0", "H1"}}
			m["allowed_purposes"] = []any{"investigation", "prosecution"}
		}, purpose: "prosecution", status: 403, reason: "europol_judicial_use_requires_consent"},
		{name: "Europol H1 for investigation", meta: func(m map[string]any) {
			m["handling"] = map[string]any{"code": "P", "europol_codes": []any{"H0", "H1"}}
		}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := publish(t, met, recordBody(tt.meta))
			purpose := tt.purpose
			if purpose == "" {
				purpose = "investigation"
			}
			c := env.Client("rocu-nw").With(hPurpose, purpose, hJust, "OP-NIGHTJAR tasking 42")
			if tt.token != "" {
				c = c.WithToken(tt.token)
			}
			r := c.MustDo("GET", "/v1/records/"+id, nil)
			if tt.reason == "" {
				if r.Status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
				}
				return
			}
			wantReason(t, r, tt.status, tt.reason)
		})
	}

	t.Run("legacy 5x5x5 record imported through the cross-walk", func(t *testing.T) {
		id := publish(t, met, recordBody(func(m map[string]any) {
			m["grading"] = map[string]any{"legacy_5x5x5": "A11"}
			delete(m, "handling")
		}))
		r := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42").MustDo("GET", "/v1/records/"+id, nil)
		if r.Status != 200 {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
		meta := r.JSON["meta"].(map[string]any)
		g := meta["grading"].(map[string]any)
		if g["source"] != "1" || g["intelligence"] != "A" || g["legacy_5x5x5"] != "A11" || meta["handling"].(map[string]any)["code"] != "P" {
			t.Fatalf("cross-walk not applied or original lost: %v %v", g, meta["handling"])
		}
	})
	t.Run("legacy handling 4 stays in the originating agency", func(t *testing.T) {
		r := met.MustDo("POST", "/v1/records", recordBody(func(m map[string]any) {
			m["grading"] = map[string]any{"legacy_5x5x5": "B24"}
			delete(m, "handling")
		}))
		if r.Status != 403 || !strings.Contains(string(r.Body), "originating_agency_only") {
			t.Fatalf("B24 shared with another agency: %d %s", r.Status, r.Body)
		}
	})
	t.Run("a record with neither 3x5x2 nor legacy grading is invalid", func(t *testing.T) {
		r := met.MustDo("POST", "/v1/records", recordBody(func(m map[string]any) { m["grading"] = map[string]any{} }))
		if r.Status != 400 || !strings.Contains(string(r.Body), "/meta/grading") {
			t.Fatalf("empty grading: %d %s", r.Status, r.Body)
		}
	})
}
