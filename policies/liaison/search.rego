# record.discover: may a search tell the caller that a record it may NOT
# read exists — "hit: held by agency X under DSA Y" (Prüm step 1)?
#
# The gateway asks this only for a record that matched a searched selector
# and that the caller cannot list. The answer is a bare hit and a
# reference for a follow-up request, never content or other metadata. A
# hit is reported only when an agreement on the record:
#   - says so (discovery: "hit_no_hit"; the default "none" reveals nothing),
#   - is in force, names the originator as a provider and the caller as a
#     party, and permits the search's purpose;
# and the record's handling does not forbid its existence being known:
# TLP:RED, Europol H3, a classification above OFFICIAL, or handling
# conditions restricting it to the originating agency. The search itself
# needs a purpose and a justification (DPA 2018 s.62: searching personal
# data is processing that must be justified).
package liaison.authz

import data.liaison.schemes.dsa

discover_reasons contains private_reason("own_record", "the caller can consult the record itself; discovery is for records it cannot read") if visible_record

discover_reasons contains private_reason("justification_required", sprintf("a search must be justified in at least %d characters", [min_justification_length])) if {
	input.action == "record.discover"
	not justification_ok
}

discover_reasons contains private_reason("discovery_forbidden_by_handling", "the record's handling forbids revealing that it exists (TLP:RED, Europol H3, above OFFICIAL, or originating agency only)") if {
	input.action == "record.discover"
	discovery_forbidden
}

discover_reasons contains private_reason("no_discovery_agreement", "no agreement on the record lets the caller discover it") if {
	input.action == "record.discover"
	count(discovering_dsas) == 0
}

deny_reasons contains x if {
	input.action == "record.discover"
	some x in discover_reasons
}

granted if {
	input.action == "record.discover"
	not visible_record
	justification_ok
	not discovery_forbidden
	count(discovering_dsas) > 0
}

# An allowed discovery is exactly the caller learning that the record
# exists; a refused one reveals nothing (every reason is private).
visible if {
	input.action == "record.discover"
	allow
}

discovery_forbidden if tlp_label == "RED"

discovery_forbidden if "H3" in europol_codes

discovery_forbidden if classification.tier != "OFFICIAL"

discovery_forbidden if handling.conditions.originating_agency_only == true

discovering_dsas := {id |
	input.action == "record.discover"
	some id in record_dsa_ids
	data.dsas[id].discovery == "hit_no_hit"
	dsa.in_force(id, now_ns)
	dsa_provider(id, originator_id)
	dsa_party(id, caller)
	purpose
	dsa.purpose_ok(id, purpose)
}

dsa_party(id, org) if dsa_provider(id, org)

dsa_party(id, org) if dsa_recipient(id, org)

discover_dsa := min(discovering_dsas)
