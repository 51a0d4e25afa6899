package policy

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Enumerations are the registry's extensible vocabularies, data rather
// than schema enums (data.enumerations, policies/data/enumerations.json):
// agency_types (an agency's org_type, a DSA party's) and recipient_types
// (the types a record's handling conditions may name in
// allowed_recipient_types: every agency type, plus types such as eea_le
// or private_sector that describe recipients rather than members). A
// deployment — SELEC, Sierra Leone — adds its own bodies' types in its
// policy data or through the registry API, instead of filing them under
// "other". Each entry is {"description": "..."}, keyed by the value.
//
// The defaults below — the values the schemas enumerated before they
// became data — are always values: data.enumerations adds to them (and
// describes them), so a policy without it, or a registry overlay that adds
// one value, never loses the others.
var (
	DefaultAgencyTypes = []string{"uk_police", "rocu", "nca", "hmrc", "border_force", "foreign_le", "europol", "interpol", "selec", "other"}
	// Recipient types beyond the agency types.
	defaultRecipientOnly = []string{"uk_non_prosecuting", "eea_le", "non_eea_le", "private_sector"}
)

// enumValuePattern is what an enumeration value may look like.
var enumValuePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Enumeration names.
const (
	EnumAgencyTypes    = "agency_types"
	EnumRecipientTypes = "recipient_types"
)

type enumerations struct {
	agencyTypes    []string // sorted
	recipientTypes []string // sorted; includes every agency type
	// descriptions by enumeration and value.
	descriptions map[string]map[string]string
}

// buildEnumerations reads data.enumerations (or the defaults), reporting
// every malformed value.
func buildEnumerations(data map[string]any, report func(ptr []string, msg string)) enumerations {
	raw, ok := data["enumerations"]
	if !ok {
		rt := append(slices.Clone(DefaultAgencyTypes), defaultRecipientOnly...)
		sort.Strings(rt)
		at := slices.Clone(DefaultAgencyTypes)
		sort.Strings(at)
		return enumerations{agencyTypes: at, recipientTypes: rt}
	}
	top, ok := raw.(map[string]any)
	if !ok {
		report([]string{"enumerations"}, "data.enumerations must be an object of enumerations")
		return enumerations{}
	}
	desc := map[string]map[string]string{EnumAgencyTypes: {}, EnumRecipientTypes: {}}
	read := func(name string) []string {
		if _, present := top[name]; !present {
			return nil
		}
		m, ok := top[name].(map[string]any)
		if !ok {
			report([]string{"enumerations", name}, "must be an object keyed by value, each {\"description\": \"...\"}")
			return nil
		}
		var out []string
		for _, v := range sortedKeys(m) {
			if !enumValuePattern.MatchString(v) {
				report([]string{"enumerations", name, v}, fmt.Sprintf("value %q does not match %s", v, enumValuePattern))
				continue
			}
			entry, ok := m[v].(map[string]any)
			if !ok {
				report([]string{"enumerations", name, v}, "must be an object, e.g. {\"description\": \"...\"}")
				continue
			}
			for k, x := range entry {
				s, isStr := x.(string)
				if k != "description" || !isStr || len(s) > 200 {
					report([]string{"enumerations", name, v, k}, "an entry holds only description, text of at most 200 characters")
				}
			}
			if d, ok := entry["description"].(string); ok {
				desc[name][v] = d
			}
			out = append(out, v)
		}
		return out
	}
	for _, k := range sortedKeys(top) {
		if k != EnumAgencyTypes && k != EnumRecipientTypes {
			report([]string{"enumerations", k}, "unknown enumeration (agency_types, recipient_types)")
		}
	}
	at := read(EnumAgencyTypes)
	for _, t := range DefaultAgencyTypes {
		if !slices.Contains(at, t) {
			at = append(at, t)
		}
	}
	sort.Strings(at)
	e := enumerations{agencyTypes: at, descriptions: desc}
	rt := read(EnumRecipientTypes)
	for _, t := range append(slices.Clone(e.agencyTypes), defaultRecipientOnly...) {
		if !slices.Contains(rt, t) {
			rt = append(rt, t)
		}
	}
	sort.Strings(rt)
	e.recipientTypes = rt
	return e
}

func (e enumerations) agencyType(t string) bool    { return slices.Contains(e.agencyTypes, t) }
func (e enumerations) recipientType(t string) bool { return slices.Contains(e.recipientTypes, t) }

func oneOf(name string, values []string) string {
	return fmt.Sprintf("value must be one of enumerations.%s: %s (add a value there, or through the registry API)", name, strings.Join(values, ", "))
}

// checkEnumerations: the agencies' and DSA parties' org_type are agency
// types, the DSAs' permitted_recipient_types recipient types.
func checkEnumerations(data map[string]any, e enumerations, report func(key string, ptr []string, msg string)) {
	if agencies, ok := data["agencies"].(map[string]any); ok {
		for _, id := range sortedKeys(agencies) {
			if t, ok := asMap(agencies[id])["org_type"].(string); ok && !e.agencyType(t) {
				report("agencies", []string{"agencies", id, "org_type"}, oneOf(EnumAgencyTypes, e.agencyTypes))
			}
		}
	}
	if dsas, ok := data["dsas"].(map[string]any); ok {
		for _, id := range sortedKeys(dsas) {
			d := asMap(dsas[id])
			for i, p := range asSlice(d["parties"]) {
				if t, ok := asMap(p)["org_type"].(string); ok && !e.agencyType(t) {
					report("dsas", []string{"dsas", id, "parties", fmt.Sprint(i), "org_type"}, oneOf(EnumAgencyTypes, e.agencyTypes))
				}
			}
			for i, t := range asSlice(asMap(d["onward_sharing"])["permitted_recipient_types"]) {
				if s, ok := t.(string); ok && !e.recipientType(s) {
					report("dsas", []string{"dsas", id, "onward_sharing", "permitted_recipient_types", fmt.Sprint(i)}, oneOf(EnumRecipientTypes, e.recipientTypes))
				}
			}
		}
	}
}

// AgencyTypes are the agency types of the policy in force, sorted.
func (e *Engine) AgencyTypes() []string { return slices.Clone(e.cur.Load().reg.enums.agencyTypes) }

// RecipientTypes are the recipient types of the policy in force (every
// agency type included), sorted.
func (e *Engine) RecipientTypes() []string {
	return slices.Clone(e.cur.Load().reg.enums.recipientTypes)
}

// EnumerationDescription is the description of a value of an enumeration
// in the policy in force, if it has one.
func (e *Engine) EnumerationDescription(name, value string) string {
	return e.cur.Load().reg.enums.descriptions[name][value]
}
