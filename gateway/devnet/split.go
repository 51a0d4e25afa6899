package devnet

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/policy"
)

// MinGateways and MaxGateways bound the size of a local federation: one
// gateway is plain `liaison dev`, and more than five on one machine adds
// ports and processes without showing anything new.
const (
	MinGateways = 2
	MaxGateways = 5
)

// Gateway is one gateway of a layout: its identity and the agencies it
// hosts.
type Gateway struct {
	ID          string   `json:"id"`
	TrustDomain string   `json:"trust_domain"`
	Agencies    []string `json:"agencies"`
}

// The three tiers a layout starts from, in node order. The node order
// fixes the ports (node i listens on base+i), so it never changes for a
// given registry and N.
var tiers = []Gateway{
	{ID: "gw-police", TrustDomain: "police.liaison.dev"},
	{ID: "gw-national", TrustDomain: "national.liaison.dev"},
	{ID: "gw-intl", TrustDomain: "intl.liaison.dev"},
}

const (
	tierPolice = iota
	tierNational
	tierIntl
)

// tierOf places an agency: an international body (a non-UK country, or an
// international centre by type) on the international gateway, a police
// force or regional organised crime unit on the police gateway, every other
// (UK) body — customs, the national agencies, Border Force — on the
// national gateway.
func tierOf(a policy.Agency) int {
	switch {
	case a.Country != "" && a.Country != "GBR",
		slices.Contains([]string{"selec", "europol", "interpol", "eurojust"}, a.OrgType):
		return tierIntl
	case a.OrgType == "uk_police" || a.OrgType == "rocu" || strings.Contains(a.OrgType, "police"):
		return tierPolice
	default:
		return tierNational
	}
}

// Split divides agencies between n gateways (MinGateways..MaxGateways),
// deterministically: the same registry and n always give the same layout.
//
//   - n = 3: police forces and ROCUs on gw-police, customs and the other UK
//     bodies on gw-national, international centres on gw-intl. With the
//     bundled registry: gw-police {met-police, rocu-nw}, gw-national
//     {border-force, hmrc, nca}, gw-intl {selec}.
//   - n = 2: gw-national also hosts the international centres.
//   - n > 3: the gateway hosting the most agencies (the first on a tie)
//     gives its last agency (in sorted order) to a new gateway named after
//     it (gw-<agency>, trust domain <agency>.liaison.dev), until there are
//     n. Bundled registry, n = 4: gw-nca {nca} is added; n = 5: gw-rocu-nw
//     {rocu-nw} as well.
//
// In every layout of the bundled registry met-police is on the first
// gateway and hmrc on the second, which the examples rely on. Tiers with no
// agency are dropped; fewer agencies than gateways is an error.
func Split(agencies []policy.Agency, n int) ([]Gateway, error) {
	if n < MinGateways || n > MaxGateways {
		return nil, fmt.Errorf("devnet: %d gateways: want %d to %d", n, MinGateways, MaxGateways)
	}
	if len(agencies) < n {
		return nil, fmt.Errorf("devnet: %d agencies cannot be split between %d gateways", len(agencies), n)
	}
	groups := slices.Clone(tiers)
	for _, a := range agencies {
		if !identity.ValidID(a.ID) {
			return nil, fmt.Errorf("devnet: agency id %q is not valid", a.ID)
		}
		t := tierOf(a)
		if slices.Contains(groups[t].Agencies, a.ID) {
			return nil, fmt.Errorf("devnet: agency %q listed twice", a.ID)
		}
		groups[t].Agencies = append(groups[t].Agencies, a.ID)
	}
	if n == 2 && len(groups[tierIntl].Agencies) > 0 && len(groups[tierNational].Agencies) > 0 {
		groups[tierNational].Agencies = append(groups[tierNational].Agencies, groups[tierIntl].Agencies...)
		groups[tierIntl].Agencies = nil
	}
	groups = slices.DeleteFunc(groups, func(g Gateway) bool { return len(g.Agencies) == 0 })
	for i := range groups {
		slices.Sort(groups[i].Agencies)
	}
	for len(groups) > n {
		// Only possible when tiers are missing their usual members (n = 2
		// with no national body): fold the last gateway into the one before.
		last := groups[len(groups)-1]
		groups = groups[:len(groups)-1]
		prev := &groups[len(groups)-1]
		prev.Agencies = append(prev.Agencies, last.Agencies...)
		slices.Sort(prev.Agencies)
	}
	for len(groups) < n {
		big := 0
		for i, g := range groups {
			if len(g.Agencies) > len(groups[big].Agencies) {
				big = i
			}
		}
		from := &groups[big]
		if len(from.Agencies) < 2 {
			return nil, errors.New("devnet: not enough agencies to split")
		}
		a := from.Agencies[len(from.Agencies)-1]
		from.Agencies = from.Agencies[:len(from.Agencies)-1]
		groups = append(groups, Gateway{ID: "gw-" + a, TrustDomain: a + ".liaison.dev", Agencies: []string{a}})
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if !identity.ValidID(g.ID) || seen[g.ID] {
			return nil, fmt.Errorf("devnet: gateway id %q is not valid or not unique", g.ID)
		}
		seen[g.ID] = true
	}
	return groups, nil
}
