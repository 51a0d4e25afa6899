# METADATA
# title: UK Government Security Classifications (GSCP)
# description: |
#   Tiers, the OFFICIAL-SENSITIVE marking, national caveats (EYES ONLY),
#   personnel clearance ranks and the classification part of the banner.
#   Every rank and label comes from data.schemes so that a security officer
#   can adjust them without touching Rego (DOMAIN.md §3).
package liaison.schemes.gsc

# level is the effective marking used for ceilings: OFFICIAL with the
# -SENSITIVE marking is handled as its own step between OFFICIAL and SECRET
# (GSCP: OFFICIAL-SENSITIVE is not a tier, but DSAs cap at it).
# Undefined for an unknown tier, so callers fail closed.
level(c) := "OFFICIAL-SENSITIVE" if {
	c.tier == "OFFICIAL"
	c.sensitive == true
} else := c.tier if {
	is_number(data.schemes.tiers[c.tier])
}

# level_rank orders effective levels and DSA ceilings (max_classification).
level_rank(name) := r if {
	r := data.schemes.classification_levels[name]
	is_number(r)
}

# within holds when the record's effective level does not exceed ceiling
# (a level name such as "OFFICIAL-SENSITIVE"). An unknown ceiling never holds.
within(c, ceiling) if level_rank(level(c)) <= level_rank(ceiling)

# tier_rank is the GSCP tier rank (OFFICIAL=1, SECRET=2, TOP_SECRET=3),
# compared directly against clearance ranks.
tier_rank(c) := r if {
	r := data.schemes.tiers[c.tier]
	is_number(r)
}

# clearance_rank is the rank of a personnel or system clearance; anything
# unknown ranks 0 (below BPSS) so that it never satisfies a tier.
clearance_rank(name) := r if {
	r := data.schemes.clearances[name]
	is_number(r)
} else := 0

# clearance_sufficient: the holder's clearance rank reaches the tier rank.
clearance_sufficient(clearance, c) if clearance_rank(clearance) >= tier_rank(c)

# clearance_at_least: the holder's clearance reaches a named minimum (a DSA's
# min_clearance).
clearance_at_least(clearance, minimum) if {
	clearance_rank(clearance) >= clearance_rank(minimum)
	clearance_rank(minimum) > 0
}

# A national caveat restricts by nationality; an absent or empty eyes_only
# list means no caveat. Anything else (even malformed) counts as restricted,
# so a bad marking fails closed.
unrestricted(c) if object.get(c, "eyes_only", []) == []

restricted(c) if not unrestricted(c)

# expand turns a caveat token into alpha-3 country codes ("UK" -> GBR,
# "FVEY" -> five countries); a plain alpha-3 code stands for itself.
expand(token) := {x | some x in data.schemes.country_aliases[token]} if {
	is_array(data.schemes.country_aliases[token])
} else := {token}

eyes_only_countries(c) := {x | some t in c.eyes_only; some x in expand(t)}

caveat_met(c, _) if unrestricted(c)

caveat_met(c, country) if {
	restricted(c)
	is_string(country)
	country in eyes_only_countries(c)
}

# marking is the classification banner element, e.g. "UK OFFICIAL-SENSITIVE".
marking(c) := concat(" ", array.concat(uk_prefix(c), [data.schemes.classification_labels[level(c)]]))

uk_prefix(c) := ["UK"] if {
	c.uk_prefix == true
} else := []

# caveat_parts are the national-caveat and release banner elements.
caveat_parts(c) := array.concat(eyes_only_part(c), rel_to_part(c))

eyes_only_part(c) := [sprintf("%s EYES ONLY", [concat("/", c.eyes_only)])] if {
	restricted(c)
	is_array(c.eyes_only)
} else := []

rel_to_part(c) := [sprintf("REL %s", [concat(", ", c.rel_to)])] if {
	is_array(c.rel_to)
	count(c.rel_to) > 0
} else := []

# descriptor_parts lists descriptors (PERSONAL DATA, LPP, …) and the GSCP
# handling instructions (RECIPIENTS ONLY, …) as banner elements.
descriptor_parts(c) := array.concat(
	[descriptor_label(d) | some d in object.get(c, "descriptors", [])],
	[h | some h in object.get(c, "handling_instructions", []); is_string(h)],
)

descriptor_label(d) := data.schemes.descriptor_labels[d] if {
	is_string(data.schemes.descriptor_labels[d])
} else := replace(d, "_", " ") if {
	is_string(d)
} else := "UNKNOWN DESCRIPTOR"
