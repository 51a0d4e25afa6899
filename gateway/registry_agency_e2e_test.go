package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// newOfficerKey is an agency identity provider's signing key and its
// public key set.
func newOfficerKey(t *testing.T) (jwk.Key, json.RawMessage) {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.AlgorithmKey, jwa.ES256); err != nil {
		t.Fatal(err)
	}
	if err := jwk.AssignKeyID(k); err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return k, b
}

// TestRegistryAgencyOnboarding: an agency added with its own CA and its
// identity provider's keys is accepted at once — a client certificate from
// its CA, an officer token signed by its key — without a restart; its CA
// speaks for it only; suspended, its requests get a 403 problem that says
// so; removed, its CA is no longer trusted. Every change is audited.
func TestRegistryAgencyOnboarding(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	admin := registryAdmin(env)
	ca, err := pki.NewTestCA("Sierra Leone Police CA")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(agency string) (cert, key []byte) {
		cert, key, err := ca.Issue(pki.LeafRequest{CommonName: agency, URIs: []string{pki.AgencyURI(env.Cfg.TrustDomain, agency)},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			t.Fatal(err)
		}
		return cert, key
	}
	cert, key := issue("sl-police")
	sl := env.ClientWithCert(cert, key)
	// Before: the CA is unknown, the handshake fails.
	if _, err := sl.Do("GET", "/v1/records", nil); err == nil {
		t.Fatal("a certificate of an unknown CA was accepted")
	}
	sl.CloseIdle()

	officerKey, jwks := newOfficerKey(t)
	add := api.AgencyAdd{ID: "sl-police", Name: "Sierra Leone Police", Type: "foreign_le", Country: "SLE",
		CACert: string(ca.CertPEM()), JWKS: jwks, RequireOfficerToken: true}
	ch := gatewaytest.Decode[api.RegistryChanged](t, registryChange(t, admin, "POST", "/v1/registry/agencies", add, 200))
	if ch.Change != "add" || ch.New != "active" || ch.Version != 1 {
		t.Fatalf("add: %+v", ch)
	}
	// Adding it twice is a conflict.
	registryChange(t, admin, "POST", "/v1/registry/agencies", add, http.StatusConflict)

	// Without restart: the agency must send an officer token…
	sl = env.ClientWithCert(cert, key)
	if r := sl.MustDo("GET", "/v1/records", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("without an officer token: %d %s", r.Status, r.Body)
	}
	// …and one signed by its identity provider's key is accepted.
	tok, err := jose.IssueOfficerToken(officerKey, "sl-police", env.Cfg.Officers.Audience, jose.Officer{ID: "sl-7", Agency: "sl-police", Clearance: "SC"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	slTok := sl.WithToken(tok)
	if r := slTok.MustDo("GET", "/v1/records", nil); r.Status != 200 {
		t.Fatalf("new agency with its officer token: %d %s", r.Status, r.Body)
	}
	// A token signed by another key is not.
	otherKey, _ := newOfficerKey(t)
	bad, _ := jose.IssueOfficerToken(otherKey, "sl-police", env.Cfg.Officers.Audience, jose.Officer{ID: "sl-7", Agency: "sl-police"}, time.Hour)
	if r := sl.WithToken(bad).MustDo("GET", "/v1/records", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("token of an unknown key: %d", r.Status)
	}
	v := gatewaytest.Decode[api.RegistryAgency](t, registryChange(t, admin, "GET", "/v1/registry/agencies/sl-police", nil, 200))
	if v.Source != "registry" || v.Status != "active" || v.TrustAnchorSHA256 == "" || len(v.OfficerKeyIDs) != 1 || v.Country != "SLE" {
		t.Fatalf("agency view: %+v", v)
	}

	// The agency's CA speaks for it only: a certificate it issues naming
	// the Met is refused.
	mcert, mkey := issue("met-police")
	if r := env.ClientWithCert(mcert, mkey).MustDo("GET", "/v1/records", nil); r.Status != http.StatusForbidden {
		t.Fatalf("another agency's CA naming met-police: %d %s", r.Status, r.Body)
	}

	// Suspended: a clear 403.
	registryChange(t, admin, "POST", "/v1/registry/agencies/sl-police/suspend", nil, 200)
	r := slTok.MustDo("GET", "/v1/records", nil)
	if r.Status != http.StatusForbidden || r.Problem(t).Type != api.ProblemTypeBase+"agency-suspended" {
		t.Fatalf("suspended agency: %d %s", r.Status, r.Body)
	}
	registryChange(t, admin, "POST", "/v1/registry/agencies/sl-police/activate", nil, 200)
	if r := slTok.MustDo("GET", "/v1/records", nil); r.Status != 200 {
		t.Fatalf("reactivated: %d %s", r.Status, r.Body)
	}
	// An agency of the policy data is suspended, not removed; the admin
	// cannot lock its own agency out.
	registryChange(t, admin, "DELETE", "/v1/registry/agencies/hmrc", nil, http.StatusConflict)
	wantReason(t, admin.MustDo("POST", "/v1/registry/agencies/met-police/suspend", nil), http.StatusForbidden, "registry_self_lockout")

	// Removed: the CA is no longer trusted.
	registryChange(t, admin, "DELETE", "/v1/registry/agencies/sl-police", nil, 200)
	sl2 := env.ClientWithCert(cert, key)
	if r, err := sl2.Do("GET", "/v1/records", nil); err == nil {
		t.Fatalf("removed agency's certificate still accepted: %d %s", r.Status, r.Body)
	}

	// Audited: who, what, old and new state.
	var changes []string
	for _, ev := range registryEntries(env, "sl-police") {
		if ev.Operation == audit.OpAlteration && ev.Status == 200 {
			if ev.Agency != "met-police" || ev.Officer != "ra-1" {
				t.Fatalf("entry without who: %+v", ev)
			}
			changes = append(changes, ev.Registry.Change+":"+ev.Registry.Old+">"+ev.Registry.New)
		}
	}
	want := []string{"add:>active", "suspend:active>suspended", "activate:suspended>active", "remove:active>removed"}
	if len(changes) != len(want) {
		t.Fatalf("audited changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("audited changes %v, want %v", changes, want)
		}
	}
}

// TestRegistryAgencyJWKSURL: an agency registered with a jwks_url has its
// officer tokens checked against the set fetched from its identity
// provider, fetched once and then served from the cache.
func TestRegistryAgencyJWKSURL(t *testing.T) {
	officerKey, jwks := newOfficerKey(t)
	var fetches atomic.Int64
	idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	defer idp.Close()
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, BuildOptions: []gateway.Option{gateway.WithJWKSHTTPClient(idp.Client())}})
	admin := registryAdmin(env)
	ca, err := pki.NewTestCA("Guinea Police CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue(pki.LeafRequest{CommonName: "gn-police", URIs: []string{pki.AgencyURI(env.Cfg.TrustDomain, "gn-police")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatal(err)
	}
	registryChange(t, admin, "POST", "/v1/registry/agencies", api.AgencyAdd{ID: "gn-police", Name: "Guinea Police", Type: "foreign_le",
		Country: "GIN", CACert: string(ca.CertPEM()), JWKSURL: idp.URL + "/jwks.json", RequireOfficerToken: true}, 200)
	gn := env.ClientWithCert(cert, key)
	tok, err := jose.IssueOfficerToken(officerKey, "gn-police", env.Cfg.Officers.Audience, jose.Officer{ID: "gn-1", Agency: "gn-police"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if r := gn.WithToken(tok).MustDo("GET", "/v1/records", nil); r.Status != 200 {
			t.Fatalf("request %d with a token of the fetched keys: %d %s", i, r.Status, r.Body)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("the key set was fetched %d times for three requests, want once (cached)", n)
	}
	other, _ := newOfficerKey(t)
	bad, _ := jose.IssueOfficerToken(other, "gn-police", env.Cfg.Officers.Audience, jose.Officer{ID: "gn-1", Agency: "gn-police"}, time.Hour)
	if r := gn.WithToken(bad).MustDo("GET", "/v1/records", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("token of a key the IdP does not publish: %d", r.Status)
	}
	v := gatewaytest.Decode[api.RegistryAgency](t, registryChange(t, admin, "GET", "/v1/registry/agencies/gn-police", nil, 200))
	if v.JWKSURL != idp.URL+"/jwks.json" {
		t.Fatalf("view: %+v", v)
	}
}

// TestRegistryEnumerations: a Sierra Leone deployment adds its own agency
// type instead of filing its police under "other": before, an agency of
// that type and a record naming it as recipient type are refused (400,
// nothing changed); after, both are accepted, and the handling condition
// admits exactly the agency of that type.
func TestRegistryEnumerations(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	admin := registryAdmin(env)
	ca, err := pki.NewTestCA("Sierra Leone Police CA")
	if err != nil {
		t.Fatal(err)
	}
	add := api.AgencyAdd{ID: "sl-police", Name: "Sierra Leone Police", Type: "sl_police", Country: "SLE", CACert: string(ca.CertPEM())}
	p := registryChange(t, admin, "POST", "/v1/registry/agencies", add, http.StatusBadRequest).Problem(t)
	if p.Type != api.ProblemTypeBase+"invalid-registry-change" || len(p.Errors) == 0 {
		t.Fatalf("an agency of an unknown type: %+v", p)
	}
	handling := map[string]any{"code": "C", "action_code": "A3", "sanitisation_code": "S1",
		"conditions": map[string]any{"allowed_recipient_types": []any{"sl_police"}}}
	body := recordBody(func(m map[string]any) {
		m["handling"] = handling
	})
	met := env.Client("met-police")
	r := met.MustDo("POST", "/v1/records", body)
	if r.Status != http.StatusBadRequest || len(r.Problem(t).Errors) == 0 || r.Problem(t).Errors[0].Pointer != "/meta/handling/conditions/allowed_recipient_types/0" {
		t.Fatalf("a record naming an unknown recipient type: %d %s", r.Status, r.Body)
	}

	ch := gatewaytest.Decode[api.RegistryChanged](t, registryChange(t, admin, "POST", "/v1/registry/enumerations/agency_types",
		api.EnumAdd{Value: "sl_police", Description: "Sierra Leone Police"}, 200))
	if ch.Kind != "enumeration" || ch.New != "sl_police" {
		t.Fatalf("enum add: %+v", ch)
	}
	en := gatewaytest.Decode[api.RegistryEnumerations](t, registryChange(t, admin, "GET", "/v1/registry/enumerations", nil, 200))
	var agencyType, recipientType bool
	for _, v := range en.AgencyTypes {
		agencyType = agencyType || (v.Value == "sl_police" && v.Description == "Sierra Leone Police")
	}
	for _, v := range en.RecipientTypes {
		recipientType = recipientType || v.Value == "sl_police"
	}
	if !agencyType || !recipientType || len(en.AgencyTypes) < 11 {
		t.Fatalf("enumerations after the addition: %+v", en)
	}
	registryChange(t, admin, "POST", "/v1/registry/enumerations/agency_types", map[string]any{"value": "Not A Type"}, http.StatusBadRequest)
	registryChange(t, admin, "POST", "/v1/registry/enumerations/colours", map[string]any{"value": "red"}, http.StatusNotFound)

	// Now the agency of that type is accepted, and so is a record whose
	// handling conditions name it: its recipient rocu-nw (type rocu) does
	// not meet them, as it should not.
	registryChange(t, admin, "POST", "/v1/registry/agencies", add, 200)
	if v := gatewaytest.Decode[api.RegistryAgency](t, registryChange(t, admin, "GET", "/v1/registry/agencies/sl-police", nil, 200)); v.Type != "sl_police" {
		t.Fatalf("agency: %+v", v)
	}
	id := publish(t, met, body)
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking")
	wantReason(t, rocu.MustDo("GET", "/v1/records/"+id, nil), http.StatusForbidden, "handling_condition_not_met")
}
