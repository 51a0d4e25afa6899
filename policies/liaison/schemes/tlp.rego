# METADATA
# title: Traffic Light Protocol 2.0 (FIRST)
# description: |
#   Labels, ranks (CLEAR < GREEN < AMBER < AMBER+STRICT < RED) and the
#   recipient conditions each label imposes (DOMAIN.md §2). Ranks and
#   conditions live in data.schemes.tlp and data.schemes.tlp_conditions.
package liaison.schemes.tlp

valid(l) if is_number(data.schemes.tlp[l])

rank(l) := r if {
	r := data.schemes.tlp[l]
	is_number(r)
}

# within holds when label l does not exceed ceiling (a DSA's max_tlp).
# An unknown label or ceiling never holds.
within(l, ceiling) if rank(l) <= rank(ceiling)

# red and amber_strict name the labels with individual/organisation-only
# distribution, so that authz reads as the TLP text does.
red(l) if l == "RED"

amber_strict(l) if l == "AMBER+STRICT"

banner(l) := sprintf("TLP:%s", [l])

# conditions are the onward-sharing conditions the label imposes on the
# recipient, reported as obligations.
conditions(l) := {c | some c in data.schemes.tlp_conditions[l]}
