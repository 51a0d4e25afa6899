# request.file: an agency files a request for information with the agency
# that holds a record (docs/requests.md), usually after a search hit.
#
# The subject is the requester; input.info_request names the holder, the
# agreements the request may travel under (the one the hit reference names,
# or the record's own when the requester named a record id it can already
# see, then input.record is set too), urgency, access and kind.
#
# Filing is allowed when one of those agreements is known, active and in
# date, names both the requester and the holder as parties, and permits the
# purpose; a justification is always required (DPA 2018 s.62, LED art. 25).
# The answer deadline is policy data, never code: settings.request_deadlines
# holds the defaults (Directive (EU) 2023/977 art. 5; Prüm II for core data),
# and an agreement may set its own request_deadlines, key by key. An allowed
# decision carries it as obligations.deadline_hours.
package liaison.authz

import data.liaison.schemes.dsa

info_request := input.info_request if {
	input.action == "request.file"
	is_object(input.info_request)
} else := {}

request_holder := h if {
	h := info_request.holder
	is_string(h)
	regex.match(`^[a-z0-9][a-z0-9-]{0,62}$`, h)
}

request_dsa_ids := {id | some id in info_request.dsa_ids; is_string(id)}

request_urgency := u if {
	u := info_request.urgency
	u in {"urgent", "normal"}
}

request_access := a if {
	a := info_request.access
	a in {"direct", "indirect"}
}

request_kind := k if {
	k := info_request.kind
	k in {"information", "prum_core_data"}
}

# A request names a record the requester can already see (input.record),
# or comes from a hit reference (no record): the reference itself proves
# the hit, sealed by this gateway for this requester.
request_visible if not has_record

request_visible if visible_record

visible if {
	input.action == "request.file"
	request_visible
}

# The agreements under which both agencies are parties (any role: the
# holder answers, the requester asks).
request_party(id, org) if dsa.party(id, org)

request_candidate_dsas := {id |
	some id in request_dsa_ids
	is_object(data.dsas[id])
	request_party(id, caller)
	request_party(id, request_holder)
}

request_dsa_ok(id) if {
	dsa.in_force(id, now_ns)
	purpose
	dsa.purpose_ok(id, purpose)
}

request_granting_dsas := {id | some id in request_candidate_dsas; request_dsa_ok(id)}

request_chosen_dsa := min(request_granting_dsas) if count(request_granting_dsas) > 0

# Deadline table: the defaults in settings, overridden key by key by the
# chosen agreement's own.
request_deadline_table := object.union(
	object.get(data.settings, "request_deadlines", {}),
	object.get(data.dsas[request_chosen_dsa], "request_deadlines", {}),
)

# Directive (EU) 2023/977 art. 5(1): 8 hours for urgent requests for
# information directly accessible to the holder, 3 days for urgent requests
# for indirectly accessible information, 7 days for all other requests.
# Prüm II: core data within 48 hours of a confirmed match.
request_deadline_key := "prum_core_data" if {
	request_kind == "prum_core_data"
} else := "urgent_direct" if {
	request_urgency == "urgent"
	request_access == "direct"
} else := "urgent_indirect" if {
	request_urgency == "urgent"
	request_access == "indirect"
} else := "normal" if {
	request_urgency
	request_access
}

request_deadline_hours := h if {
	h := request_deadline_table[request_deadline_key]
	is_number(h)
	h >= 1
	h == floor(h)
}

request_reasons contains reason("invalid_input", "info_request is missing or malformed (holder, dsa_ids, urgency, access, kind)") if {
	not request_input_ok
}

request_input_ok if {
	request_holder
	request_urgency
	request_access
	request_kind
	count(request_dsa_ids) > 0
}

request_reasons contains private_reason("not_recipient", "caller agency is neither the originator nor a recipient of the record") if {
	has_record
	not visible_record
}

request_reasons contains reason("request_to_self", "an agency cannot file a request for information with itself") if {
	request_holder == caller
}

request_reasons contains reason("dsa_unknown", sprintf("DSA %s is not known", [safe_id(id)])) if {
	some id in request_dsa_ids
	not known_dsa(id)
}

request_reasons contains reason("request_party_required", sprintf("requester %s and holder %s must both be parties of DSA %s", [caller, safe_id(request_holder), id])) if {
	count(request_candidate_dsas) == 0
	some id in request_dsa_ids
	known_dsa(id)
}

request_reasons contains x if {
	count(request_granting_dsas) == 0
	some id in request_candidate_dsas
	some x in dsa_state_reasons(id)
}

request_reasons contains reason("purpose_required", "a purpose is required") if not purpose

request_reasons contains reason("purpose_not_permitted", sprintf("purpose %s is not permitted by DSA %s", [purpose_label, id])) if {
	count(request_granting_dsas) == 0
	purpose
	some id in request_candidate_dsas
	not dsa.purpose_ok(id, purpose)
}

request_reasons contains reason("justification_required", sprintf("a request for information requires a justification of at least %d characters", [min_justification_length])) if {
	not justification_ok
}

request_reasons contains reason("request_deadline_undefined", sprintf("no answer deadline is configured for %s requests (settings.request_deadlines)", [request_deadline_key])) if {
	request_chosen_dsa
	request_deadline_key
	not request_deadline_hours
}

deny_reasons contains x if {
	input.action == "request.file"
	some x in request_reasons
}

granted if {
	input.action == "request.file"
	request_input_ok
	request_visible
	request_holder != caller
	request_chosen_dsa
	justification_ok
	request_deadline_hours
}

obligations := object.union(empty_obligations, {"deadline_hours": request_deadline_hours}) if {
	input.action == "request.file"
	allow
}
