package registry

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
)

var countryPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// AgencyView is an agency as this replica holds it: the policy data's
// entry (or the registry's own) with its registry state.
func (r *Registry) AgencyView(id string) (api.RegistryAgency, bool) {
	a, ok := r.o.Policy.Agency(id)
	st, inReg := r.cur.Load().Agencies[id]
	if !ok {
		return api.RegistryAgency{}, false
	}
	v := api.RegistryAgency{ID: id, Name: a.Name, Type: a.OrgType, Country: a.Country,
		CompetentAuthority: a.IsCompetentAuthority, Clearance: a.SystemClearance, RequireOfficerToken: a.RequireOfficerToken,
		Status: StatusActive, Source: api.SourcePolicy}
	if inReg {
		if st.Status != "" {
			v.Status = st.Status
		}
		if st.Added {
			v.Source = api.SourceRegistry
		}
		if c := parseCA(st.CACert); c != nil {
			sum := sha256.Sum256(c.Raw)
			v.TrustAnchorSHA256 = hex.EncodeToString(sum[:])
			v.TrustAnchorSubject = c.Subject.String()
			v.TrustAnchorNotAfter = c.NotAfter.UTC().Format(time.RFC3339)
		}
		if set, err := jose.ParsePublicKeySet(st.JWKS); err == nil {
			for i := range set.Len() {
				k, _ := set.Key(i)
				v.OfficerKeyIDs = append(v.OfficerKeyIDs, k.KeyID())
			}
		}
		v.JWKSURL = st.JWKSURL
	}
	return v, true
}

// AgencyList is every agency on this replica.
func (r *Registry) AgencyList() api.RegistryAgencies {
	out := api.RegistryAgencies{Items: []api.RegistryAgency{}, Version: r.cur.Load().Seq}
	for _, id := range r.o.Policy.Agencies() {
		if v, ok := r.AgencyView(id); ok {
			out.Items = append(out.Items, v)
		}
	}
	return out
}

func parseCA(pemText string) *x509.Certificate {
	if pemText == "" {
		return nil
	}
	cs, err := pki.ParseCertsPEM([]byte(pemText))
	if err != nil || len(cs) != 1 {
		return nil
	}
	return cs[0]
}

// CheckAgencyAdd checks a new agency's request: every problem names its
// member. now bounds the trust anchor's validity.
func CheckAgencyAdd(req *api.AgencyAdd, now time.Time) error {
	switch {
	case !identity.ValidID(req.ID):
		return &FieldError{"/id", "id must be 1-63 of a-z, 0-9 and -, starting with a letter or digit"}
	case req.Name == "" || len(req.Name) > 200 || !printable(req.Name):
		return &FieldError{"/name", "name must be printable text of 1 to 200 characters"}
	case req.Type == "" || len(req.Type) > 64:
		return &FieldError{"/org_type", "org_type is required (an agency type of the registry, e.g. uk_police, foreign_le)"}
	case !countryPattern.MatchString(req.Country):
		return &FieldError{"/country", "country must be an ISO 3166-1 alpha-3 code such as GBR or SLE"}
	}
	if req.CACert != "" {
		cs, err := pki.ParseCertsPEM([]byte(req.CACert))
		switch {
		case err != nil || len(cs) != 1:
			return &FieldError{"/ca_cert", "ca_cert must be one PEM certificate"}
		case !cs[0].BasicConstraintsValid || !cs[0].IsCA:
			return &FieldError{"/ca_cert", "ca_cert is not a CA certificate"}
		case now.After(cs[0].NotAfter) || now.Before(cs[0].NotBefore):
			return &FieldError{"/ca_cert", "ca_cert is not valid now (not before " + cs[0].NotBefore.UTC().Format(time.RFC3339) + ", not after " + cs[0].NotAfter.UTC().Format(time.RFC3339) + ")"}
		}
	}
	if len(req.JWKS) > 0 && req.JWKSURL != "" {
		return &FieldError{"/jwks_url", "give the officer-token keys as jwks or as jwks_url, not both"}
	}
	if len(req.JWKS) > 0 {
		if _, err := jose.ParsePublicKeySet(req.JWKS); err != nil {
			return &FieldError{"/jwks", "jwks: " + err.Error()}
		}
	}
	if req.JWKSURL != "" {
		u, err := url.Parse(req.JWKSURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(req.JWKSURL) > 2048 {
			return &FieldError{"/jwks_url", "jwks_url must be an https URL without credentials"}
		}
	}
	if req.RequireOfficerToken && len(req.JWKS) == 0 && req.JWKSURL == "" {
		return &FieldError{"/require_officer_token", "an agency that must send officer tokens needs officer-token keys: jwks or jwks_url"}
	}
	return nil
}

// AddAgency adds an agency with its trust anchor and officer-token keys.
// Its entry is checked with the agency schema (as data/agencies.json is)
// before the version is written.
func (r *Registry) AddAgency(ctx context.Context, who Who, req api.AgencyAdd, before Before) (Change, error) {
	ch := Change{Kind: "agency", ID: req.ID, Change: ChangeAdd, New: StatusActive}
	if err := CheckAgencyAdd(&req, r.o.Now()); err != nil {
		return ch, err
	}
	attrs := map[string]any{"name": req.Name, "org_type": req.Type, "country": req.Country,
		"require_officer_token": req.RequireOfficerToken}
	if req.CompetentAuthority != nil {
		attrs["is_competent_authority"] = *req.CompetentAuthority
	}
	if req.Clearance != "" {
		attrs["system_clearance"] = req.Clearance
	}
	raw, err := json.Marshal(attrs)
	if err != nil {
		return ch, err
	}
	return r.commit(ctx, who, before, func(next *State) (Change, error) {
		if _, ok := r.o.Policy.Agency(req.ID); ok {
			return ch, fmt.Errorf("%w: agency %s is already in the registry", ErrConflict, req.ID)
		}
		next.Agencies[req.ID] = Agency{Status: StatusActive, Added: true, Attributes: raw,
			CACert: req.CACert, JWKS: req.JWKS, JWKSURL: req.JWKSURL}
		return ch, nil
	})
}

// ChangeAgency suspends, activates or removes an agency. Only an agency
// the registry added can be removed; one of the policy data is suspended
// (or removed from data/agencies.json).
func (r *Registry) ChangeAgency(ctx context.Context, who Who, id, change string, before Before) (Change, error) {
	return r.commit(ctx, who, before, func(next *State) (Change, error) {
		ch := Change{Kind: "agency", ID: id, Change: change}
		cur, ok := r.AgencyView(id)
		if !ok {
			return ch, fmt.Errorf("%w: no agency %s", ErrNotFound, id)
		}
		ch.Old = cur.Status
		st := next.Agencies[id]
		switch change {
		case ChangeSuspend, ChangeActivate:
			to := StatusSuspended
			if change == ChangeActivate {
				to = StatusActive
			}
			ch.New = to
			if cur.Status == to {
				ch.Unchanged = true
				return ch, nil
			}
			st.Status = to
			next.Agencies[id] = st
		case ChangeRemove:
			ch.New = api.RegistryRemoved
			if !st.Added {
				return ch, fmt.Errorf("%w: agency %s is defined by the policy data (data/agencies.json): suspend it here, or remove it there", ErrConflict, id)
			}
			delete(next.Agencies, id)
		default:
			return ch, fmt.Errorf("%w: unknown change %q", ErrNotFound, change)
		}
		return ch, nil
	})
}

// TrustAnchors are the CA certificates of the agencies the registry
// added, and the agency each one vouches for. A suspended agency's CA stays
// trusted for the handshake so that its requests get a clear 403 problem
// saying it is suspended (a refused handshake says nothing); every request
// is refused all the same (httpapi). A removed agency's CA is gone.
func (s *State) TrustAnchors() (cas []*x509.Certificate, owner map[string]string) {
	owner = map[string]string{}
	for _, id := range sortedKeys(s.Agencies) {
		a := s.Agencies[id]
		if c := parseCA(a.CACert); c != nil {
			cas = append(cas, c)
			owner[pki.CertFingerprint(c)] = id
		}
	}
	return cas, owner
}

// KeySets are the inline officer-token key sets of the active agencies.
func (s *State) KeySets() map[string]jwk.Set {
	out := map[string]jwk.Set{}
	for id, a := range s.Agencies {
		if a.Status != StatusActive || len(a.JWKS) == 0 {
			continue
		}
		if set, err := jose.ParsePublicKeySet(a.JWKS); err == nil {
			out[id] = set
		}
	}
	return out
}
