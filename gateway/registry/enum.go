package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/policy"
)

var enumValuePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// EnumPolicy is what the enumerations need of the policy engine.
type EnumPolicy interface {
	AgencyTypes() []string
	RecipientTypes() []string
	EnumerationDescription(name, value string) string
}

// Enumerations are the agency and recipient types in force on this
// replica (the policy's, with the registry's additions).
func (r *Registry) Enumerations() api.RegistryEnumerations {
	out := api.RegistryEnumerations{AgencyTypes: []api.RegistryEnumValue{}, RecipientTypes: []api.RegistryEnumValue{}, Version: r.cur.Load().Seq}
	ep, ok := r.o.Policy.(EnumPolicy)
	if !ok {
		return out
	}
	for _, v := range ep.AgencyTypes() {
		out.AgencyTypes = append(out.AgencyTypes, api.RegistryEnumValue{Value: v, Description: ep.EnumerationDescription(policy.EnumAgencyTypes, v)})
	}
	for _, v := range ep.RecipientTypes() {
		d := ep.EnumerationDescription(policy.EnumRecipientTypes, v)
		if d == "" {
			d = ep.EnumerationDescription(policy.EnumAgencyTypes, v)
		}
		out.RecipientTypes = append(out.RecipientTypes, api.RegistryEnumValue{Value: v, Description: d})
	}
	return out
}

// AddEnumValue adds a value to agency_types or recipient_types (an agency
// type is a recipient type too). Values are only added: a value in use by
// an agency, an agreement or a record's handling must not disappear under
// it.
func (r *Registry) AddEnumValue(ctx context.Context, who Who, name string, req api.EnumAdd, before Before) (Change, error) {
	ch := Change{Kind: "enumeration", ID: name, Change: ChangeAdd, New: req.Value}
	if name != policy.EnumAgencyTypes && name != policy.EnumRecipientTypes {
		return ch, fmt.Errorf("%w: no enumeration %q (agency_types, recipient_types)", ErrNotFound, name)
	}
	if !enumValuePattern.MatchString(req.Value) {
		return ch, &FieldError{Pointer: "/value", Detail: "value must be 1-64 of a-z, 0-9 and _, starting with a letter"}
	}
	if len(req.Description) > 200 || !printable(req.Description) {
		return ch, &FieldError{Pointer: "/description", Detail: "description must be printable text of at most 200 characters"}
	}
	return r.commit(ctx, who, before, func(next *State) (Change, error) {
		if ep, ok := r.o.Policy.(EnumPolicy); ok {
			have := ep.RecipientTypes()
			if name == policy.EnumAgencyTypes {
				have = ep.AgencyTypes()
			}
			if slices.Contains(have, req.Value) {
				ch.Unchanged = true
				return ch, nil
			}
		}
		if next.Enumerations == nil {
			next.Enumerations = map[string]map[string]string{}
		} else {
			next.Enumerations = maps.Clone(next.Enumerations)
		}
		vals := maps.Clone(next.Enumerations[name])
		if vals == nil {
			vals = map[string]string{}
		}
		vals[req.Value] = req.Description
		next.Enumerations[name] = vals
		return ch, nil
	})
}

// enumPatches lays the registry's values over data.enumerations.
func (s *State) enumPatches(ov *policy.Overlay) {
	for name, vals := range s.Enumerations {
		m := map[string]map[string]string{}
		for v, d := range vals {
			e := map[string]string{}
			if d != "" {
				e["description"] = d
			}
			m[v] = e
		}
		b, _ := json.Marshal(m)
		put(ov, "enumerations", name, b)
	}
}
