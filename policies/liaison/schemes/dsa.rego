# METADATA
# title: Data sharing agreements (DSA / ISA / MoU)
# description: |
#   Predicates over one DSA in data.dsas (shaped like DOMAIN.md §8.2),
#   addressed by id: parties and roles, status and dates, purposes, ceilings
#   (classification, TLP, clearance), justification and third-country
#   transfer. Every predicate is written positively ("ok"), so that authz
#   denies with `not …` and a missing or malformed field fails closed; an
#   unknown id satisfies none of them.
#   Functions take the DSA id rather than the agreement object: passing a
#   whole object to a function costs far more than reading a field.
package liaison.schemes.dsa

import data.liaison.schemes.gsc
import data.liaison.schemes.tlp
import data.liaison.schemes.vetting

day_ns := ((24 * 60) * 60) * 1000000000

roles(id, org) := {p.role | some p in data.dsas[id].parties; p.org_id == org}

party(id, org) if count(roles(id, org)) > 0

provider(id, org) if {
	some r in roles(id, org)
	r in {"provider", "both"}
}

recipient(id, org) if {
	some r in roles(id, org)
	r in {"recipient", "both"}
}

active(id) if data.dsas[id].status == "active"

# date_ns reads a DSA date (YYYY-MM-DD) as midnight UTC at its start.
date_ns(s) := time.parse_rfc3339_ns(sprintf("%sT00:00:00Z", [s])) if {
	is_string(s)
	regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, s)
}

# started: an optional effective_date (not in the §8.2 schema, accepted for
# agreements signed ahead of time) has been reached.
started(id, _) if {
	is_object(data.dsas[id])
	object.get(data.dsas[id], "effective_date", null) == null
}

started(id, now) if date_ns(data.dsas[id].effective_date) <= now

# unexpired: the agreement runs to the end of its expiry_date (UTC). A missing
# or malformed expiry_date never holds: an agreement without an end is not
# accepted.
unexpired(id, now) if now < date_ns(data.dsas[id].expiry_date) + day_ns

in_force(id, now) if {
	active(id)
	started(id, now)
	unexpired(id, now)
}

purpose_ok(id, purpose) if purpose in data.dsas[id].purposes

# purposes_overlap: a record may be published under a DSA only if at least
# one of its allowed purposes is a purpose of the agreement.
purposes_overlap(id, purposes) if {
	some p in purposes
	p in data.dsas[id].purposes
}

classification_ok(id, c) if gsc.within(c, data.dsas[id].max_classification)

# max_tlp falls back to data.settings.default_dsa_max_tlp for agreements
# that predate TLP, so an unlabelled agreement is not read as "no limit".
max_tlp(id) := data.dsas[id].max_tlp if {
	is_string(data.dsas[id].max_tlp)
} else := data.settings.default_dsa_max_tlp

tlp_ok(id, label) if tlp.within(label, max_tlp(id))

min_clearance_ok(id, _) if {
	is_object(data.dsas[id])
	object.get(data.dsas[id], "min_clearance", null) == null
}

min_clearance_ok(id, clearance) if gsc.clearance_at_least(clearance, data.dsas[id].min_clearance)

# vetting_ok: the reader's police vetting reaches the agreement's
# police_vetting, if it sets one.
vetting_ok(id, _) if {
	is_object(data.dsas[id])
	object.get(data.dsas[id], "police_vetting", null) == null
}

vetting_ok(id, v) if vetting.at_least(v, data.dsas[id].police_vetting)

# requires_justification defaults to true: DPA 2018 s.62 and LED Art. 25 log
# the justification of every consultation and disclosure.
requires_justification(id) if not data.dsas[id].require_justification == false

# transfer_ok: a transfer to a recipient in another country needs a transfer
# basis under DPA 2018 s.73 (adequacy, appropriate safeguards, special
# circumstances); "prohibited" or a missing basis fails.
transfer_ok(_, from, to) if {
	is_string(from)
	from == to
}

transfer_ok(id, _, _) if data.dsas[id].onward_sharing.third_country_transfer in data.schemes.transfer_bases

redact_fields(id) := {f | some f in data.dsas[id].redact_fields; is_string(f)}

# onward_restricted: recipients may not pass the record on without the
# originator's authorisation (DPA 2018 s.78).
onward_restricted(id) if not data.dsas[id].onward_sharing.allowed == true

onward_restricted(id) if data.dsas[id].onward_sharing.requires_originator_authorisation == true
