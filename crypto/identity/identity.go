// Package identity is the one rule for the names Liaison trusts: agency
// ids and gateway ids appear in certificate URI SANs, file names (officer
// key sets), storage prefixes, key names, audit entries and policy data, so
// one safe alphabet is enforced everywhere they enter — certificates
// (crypto/pki), officer tokens (crypto/jose), configuration
// (gateway/config), share requests (gateway) and policy data (policy).
// Officer ids are chosen by each agency's identity provider, so their rule
// is looser (printable text), but it too lives here.
//
// The JSON Schemas and the Rego policy repeat the rule as a pattern
// (they cannot import Go); the tests of this package check that each copy
// equals Pattern.
package identity

import (
	"errors"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// Pattern is the shape of agency and gateway ids: 1 to 63 of a-z, 0-9 and
// '-', not starting with '-' (a DNS label's alphabet, safe in URIs, file
// names and object keys).
const Pattern = `^[a-z0-9][a-z0-9-]{0,62}$`

var idPattern = regexp.MustCompile(Pattern)

// ErrInvalid: a string is not a well-formed id.
var ErrInvalid = errors.New("identity: invalid id")

// AgencyID names an agency: the id in its client certificate
// (spiffe://<trust-domain>/agency/<id>) and its key in the policy data.
// A value made by ParseAgencyID is valid; the zero value is not.
type AgencyID string

// ParseAgencyID returns s as an AgencyID, or an error wrapping ErrInvalid
// that quotes s (ids are not secret).
func ParseAgencyID(s string) (AgencyID, error) {
	if !ValidID(s) {
		return "", fmt.Errorf("%w: agency id %q must be 1-63 of a-z, 0-9 and '-'", ErrInvalid, s)
	}
	return AgencyID(s), nil
}

// Valid reports whether a is a well-formed agency id.
func (a AgencyID) Valid() bool { return ValidID(string(a)) }

func (a AgencyID) String() string { return string(a) }

// GatewayID names a gateway node (gateway_id in liaison.yaml, the URI SAN
// spiffe://<trust-domain>/gateway/<id>). It follows the agency-id rule.
type GatewayID string

// ParseGatewayID returns s as a GatewayID, or an error wrapping ErrInvalid.
func ParseGatewayID(s string) (GatewayID, error) {
	if !ValidID(s) {
		return "", fmt.Errorf("%w: gateway id %q must be 1-63 of a-z, 0-9 and '-'", ErrInvalid, s)
	}
	return GatewayID(s), nil
}

// Valid reports whether g is a well-formed gateway id.
func (g GatewayID) Valid() bool { return ValidID(string(g)) }

func (g GatewayID) String() string { return string(g) }

// ValidID reports whether s is a well-formed agency or gateway id (for
// callers that hold a plain string: file names, JSON members, flags).
func ValidID(s string) bool { return idPattern.MatchString(s) }

// MaxOfficerIDLen bounds an officer id (bytes).
const MaxOfficerIDLen = 256

// OfficerID names an officer within their agency: the sub of an officer
// token, chosen by the agency's identity provider, so its alphabet is wide
// (any printable UTF-8) but it is written to the audit log and the process
// log, so nothing in it may forge or disguise a line.
type OfficerID string

// Valid reports whether o is a well-formed officer id.
func (o OfficerID) Valid() bool { return ValidOfficerID(string(o)) }

func (o OfficerID) String() string { return string(o) }

// ValidOfficerID reports whether s is 1 to MaxOfficerIDLen bytes of valid
// UTF-8 without control characters, line or paragraph separators or format
// characters (bidi overrides and isolates reorder what an auditor sees);
// zero-width joiner and non-joiner are kept, as some scripts need them.
func ValidOfficerID(s string) bool {
	if s == "" || len(s) > MaxOfficerIDLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || (r != 0x200c && r != 0x200d && unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)) {
			return false
		}
	}
	return true
}
