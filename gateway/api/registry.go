package api

import (
	"encoding/json"
	"fmt"
)

// The gateway's registry of agencies and agreements (docs/registry.md):
// GET/POST /v1/registry/agencies, GET /v1/registry/agencies/{id}, POST
// /v1/registry/agencies/{id}/suspend|activate, DELETE
// /v1/registry/agencies/{id}, GET /v1/registry/dsas, GET
// /v1/registry/dsas/{id}, POST /v1/registry/dsas/{id}/activate|suspend|
// terminate|renew.

// Registry agency and agreement states.
const (
	RegistryActive     = "active"
	RegistrySuspended  = "suspended"
	RegistryTerminated = "terminated"
	// RegistryRemoved is the new state of an agency removed from the registry.
	RegistryRemoved = "removed"
)

// Where a registry entry comes from.
const (
	// SourcePolicy: the policy data (data/agencies.json, data/dsas.json),
	// possibly with a state the registry laid over it.
	SourcePolicy = "policy"
	// SourceRegistry: added through the registry API.
	SourceRegistry = "registry"
)

// RegistryAgency is one agency as the registry holds it.
type RegistryAgency struct {
	ID                  string   `json:"id"`
	Name                string   `json:"name"`
	Type                string   `json:"org_type"`
	Country             string   `json:"country"`
	CompetentAuthority  bool     `json:"is_competent_authority"`
	Clearance           string   `json:"system_clearance,omitempty"`
	RequireOfficerToken bool     `json:"require_officer_token"`
	Status              string   `json:"status"`
	Source              string   `json:"source"`
	TrustAnchorSHA256   string   `json:"trust_anchor_sha256,omitempty"`
	TrustAnchorSubject  string   `json:"trust_anchor_subject,omitempty"`
	TrustAnchorNotAfter string   `json:"trust_anchor_not_after,omitempty"`
	OfficerKeyIDs       []string `json:"officer_key_ids,omitempty"`
	JWKSURL             string   `json:"jwks_url,omitempty"`
}

// Check implements Response.
func (a *RegistryAgency) Check() error {
	switch {
	case a.ID == "":
		return missing("id")
	case a.Status == "":
		return missing("status")
	case a.Source == "":
		return missing("source")
	}
	return nil
}

// RegistryAgencies is GET /v1/registry/agencies.
type RegistryAgencies struct {
	Items []RegistryAgency `json:"items"`
	// Version is the registry version in force on the answering replica.
	Version uint64 `json:"registry_version"`
}

// Check implements Response.
func (l *RegistryAgencies) Check() error {
	if l.Items == nil {
		return missing("items")
	}
	for i := range l.Items {
		if err := l.Items[i].Check(); err != nil {
			return fmt.Errorf("items[%d]: %w", i, err)
		}
	}
	return nil
}

// AgencyAdd is the body of POST /v1/registry/agencies: a new agency, its
// trust anchor and its officer-token keys.
type AgencyAdd struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	Type                string `json:"org_type"`
	Country             string `json:"country"`
	CompetentAuthority  *bool  `json:"is_competent_authority,omitempty"`
	Clearance           string `json:"system_clearance,omitempty"`
	RequireOfficerToken bool   `json:"require_officer_token,omitempty"`
	// CACert is the agency's own CA certificate (PEM): the trust anchor of
	// its client certificates.
	CACert string `json:"ca_cert"`
	// JWKS is the public key set of the agency's identity provider (officer
	// tokens), or JWKSURL where it is fetched from (https).
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURL string          `json:"jwks_url,omitempty"`
}

// RegistryDSA is one data-sharing agreement as the registry holds it: the
// policy data's agreement with the state the registry laid over it.
type RegistryDSA struct {
	ID         string   `json:"id"`
	Title      string   `json:"title,omitempty"`
	Version    string   `json:"version"`
	Status     string   `json:"status"`
	ReviewDate string   `json:"review_date"`
	ExpiryDate string   `json:"expiry_date"`
	Parties    []string `json:"parties"`
	// Purposes are the purposes the agreement allows sharing for (the
	// policy data's purposes; the registry does not change them).
	Purposes []string `json:"purposes"`
	// Changed says whether the registry changed the policy data's entry
	// (status, version or dates).
	Changed bool `json:"changed_by_registry"`
}

// Check implements Response.
func (d *RegistryDSA) Check() error {
	switch {
	case d.ID == "":
		return missing("id")
	case d.Status == "":
		return missing("status")
	case d.Parties == nil:
		return missing("parties")
	}
	return nil
}

// RegistryDSAs is GET /v1/registry/dsas.
type RegistryDSAs struct {
	Items   []RegistryDSA `json:"items"`
	Version uint64        `json:"registry_version"`
}

// Check implements Response.
func (l *RegistryDSAs) Check() error {
	if l.Items == nil {
		return missing("items")
	}
	for i := range l.Items {
		if err := l.Items[i].Check(); err != nil {
			return fmt.Errorf("items[%d]: %w", i, err)
		}
	}
	return nil
}

// DSARenew is the body of POST /v1/registry/dsas/{id}/renew: a later
// expiry date, and optionally a new review date and version.
type DSARenew struct {
	ExpiryDate string `json:"expiry_date"`
	ReviewDate string `json:"review_date,omitempty"`
	Version    string `json:"version,omitempty"`
}

// RegistryChanged answers every registry change: what changed, from which
// state to which, and the registry version that holds it.
type RegistryChanged struct {
	// Kind is "agency" or "dsa".
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Change is add, suspend, activate, remove, terminate or renew.
	Change string `json:"change"`
	// Old and New are the states before and after ("active → suspended";
	// for a renewal the expiry dates).
	Old string `json:"old"`
	New string `json:"new"`
	// Unchanged: the entry was already in the state asked for; no new
	// version was written.
	Unchanged  bool   `json:"unchanged,omitempty"`
	Version    uint64 `json:"registry_version"`
	DecisionID string `json:"decision_id"`
}

// Check implements Response.
func (c *RegistryChanged) Check() error {
	switch {
	case c.Kind == "":
		return missing("kind")
	case c.ID == "":
		return missing("id")
	case c.Change == "":
		return missing("change")
	case c.DecisionID == "":
		return missing("decision_id")
	}
	return nil
}

// RegistryEnumValue is one value of an enumeration of the registry.
type RegistryEnumValue struct {
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
}

// RegistryEnumerations is GET /v1/registry/enumerations: the agency types
// (org_type) and recipient types (handling conditions) in force — the
// policy data's with the registry's additions.
type RegistryEnumerations struct {
	AgencyTypes    []RegistryEnumValue `json:"agency_types"`
	RecipientTypes []RegistryEnumValue `json:"recipient_types"`
	Version        uint64              `json:"registry_version"`
}

// Check implements Response.
func (e *RegistryEnumerations) Check() error {
	switch {
	case e.AgencyTypes == nil:
		return missing("agency_types")
	case e.RecipientTypes == nil:
		return missing("recipient_types")
	}
	return nil
}

// EnumAdd is the body of POST /v1/registry/enumerations/{name}: a value
// to add to agency_types or recipient_types.
type EnumAdd struct {
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
}
