package registry_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/registry"
)

// FuzzCheckAgencyAdd: the body of POST /v1/registry/agencies is untrusted
// bytes (a CA certificate, a JWKS, a URL). Checking it never panics, and
// what it accepts has a valid id, a country code and at most one source
// of officer-token keys.
func FuzzCheckAgencyAdd(f *testing.F) {
	f.Add([]byte(`{"id":"sl-police","name":"Sierra Leone Police","org_type":"foreign_le","country":"SLE"}`))
	f.Add([]byte(`{"id":"x","name":"x","org_type":"x","country":"SLE","ca_cert":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}`))
	f.Add([]byte(`{"id":"x","name":"x","org_type":"x","country":"SLE","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"k"}]}}`))
	f.Add([]byte(`{"id":"x","name":"x","org_type":"x","country":"SLE","jwks_url":"https://idp.example/jwks"}`))
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req api.AgencyAdd
		if json.Unmarshal(body, &req) != nil {
			return
		}
		if err := registry.CheckAgencyAdd(&req, now); err != nil {
			if _, ok := err.(*registry.FieldError); !ok {
				t.Fatalf("not a field error: %T %v", err, err)
			}
			return
		}
		if !identity.ValidID(req.ID) || len(req.Country) != 3 || (len(req.JWKS) > 0 && req.JWKSURL != "") {
			t.Fatalf("accepted %+v", req)
		}
	})
}
