# federation.deliver and federation.accept: a record crossing from one
# gateway to another (docs/federation.md).
#
# Policy is evaluated on both sides. The sending gateway asks
# federation.deliver once per peer gateway, right after the publish or share
# that names recipients hosted there was allowed: it checks what publish and
# share check for a local recipient (known agency, recipient party of an
# agreement in force, transfer basis, ceilings, originating_agency_only) and
# that the peer hosts every recipient it is asked to carry the record to. The
# receiving gateway asks federation.accept with its OWN copy of the registry
# and the agreements: the peer must host the sending agency, one agreement
# named by the record must be known and in force here and cover the sender as
# a provider and every recipient as a recipient, and the record's markings
# must be within what that agreement and each recipient allow a holder of the
# record (the recipient rules of read and list that depend on neither an
# officer nor a purpose). The receiver returns public reasons to the sender
# in its signed receipt, so reasons about agreements and markings are public
# and reasons about routing (hosting, hops, recipients not named) are audited
# only.
#
# One agreement must cover every recipient of a delivery: the message names
# one agreement (decision.dsa_id), so recipients under different agreements
# travel in separate deliveries.
package liaison.authz

# The rules below test input.action rather than `action` so that OPA's rule
# index skips them for every other action (see Decision in authz.rego).

import data.liaison.schemes.dsa
import data.liaison.schemes.europol
import data.liaison.schemes.grading3x5x2 as grading
import data.liaison.schemes.gsc
import data.liaison.schemes.selec

federation_actions := {"federation.deliver", "federation.accept"}

federation_accept if input.action == "federation.accept"

# ---------------------------------------------------------------------------
# input.federation, normalised
# ---------------------------------------------------------------------------

has_federation if is_object(input.federation)

federation := input.federation if {
	has_federation
} else := {}

fed_peer_gateway := g if {
	g := federation.peer_gateway
	is_string(g)
	regex.match(`^[a-z0-9][a-z0-9-]{0,62}$`, g)
}

fed_peer_agencies := {a | some a in federation.peer_agencies; is_string(a)}

fed_recipients := {r | some r in federation.recipients; is_string(r)}

fed_hops := count(federation.provenance) if {
	array_of_strings(federation.provenance)
} else := 0

# federation_max_hops bounds how many gateways a record may have passed
# through before this one (input.federation.provenance), so that a
# misconfigured chain of peers cannot pass a record on without end.
federation_max_hops := n if {
	n := data.settings.federation_max_hops
	is_number(n)
} else := 4

fed_hops_ok if fed_hops <= federation_max_hops

fed_peer_label := safe_id(federation.peer_gateway) if {
	has_federation
} else := "(none)"

# ---------------------------------------------------------------------------
# Input checks common to both actions
# ---------------------------------------------------------------------------

federation_input_reasons contains reason("invalid_input", "record metadata is missing") if not has_record

federation_input_reasons contains reason("invalid_input", "federation is missing or not an object") if not has_federation

federation_input_reasons contains reason("invalid_input", "federation.peer_gateway is missing or not a gateway id") if {
	has_federation
	not fed_peer_gateway
}

federation_input_reasons contains reason("invalid_input", "federation.peer_agencies must be an array of agency ids") if {
	has_federation
	not array_of_strings(object.get(federation, "peer_agencies", null))
}

federation_input_reasons contains reason("invalid_input", "federation.recipients must be a non-empty array of agency ids") if {
	has_federation
	not fed_recipients_listed
}

fed_recipients_listed if {
	array_of_strings(federation.recipients)
	count(federation.recipients) > 0
}

# ---------------------------------------------------------------------------
# The agreement a delivery travels under (both actions)
# ---------------------------------------------------------------------------

# fed_dsa_grants: one agreement listed on the record covers the whole
# delivery. Written positively, like dsa_grants in authz.rego, so that a
# broken deny rule alone cannot open access; fed_dsa_violations say why an
# agreement does not grant (test_fed_dsa_grants_match_violations holds the
# two together).
fed_dsa_grants(id) if {
	dsa.in_force(id, now_ns)
	dsa.classification_ok(id, classification)
	dsa.tlp_ok(id, tlp_label)
	every rc in fed_recipients {
		dsa_recipient(id, rc)
		fed_transfer_ok(id, rc)
	}
	fed_sender_ok(id)
}

# The sending gateway checks what publish and share check for a recipient;
# the receiving one also that the sending agency may provide under the
# agreement and that SELEC status admits each recipient.
fed_sender_ok(_) if input.action == "federation.deliver"

fed_sender_ok(id) if {
	federation_accept
	dsa_provider(id, caller)
	every rc in fed_recipients {
		selec.ok(id, rc, record)
	}
}

fed_transfer_ok(id, rc) if dsa.transfer_ok(id, originator_country, data.agencies[rc].country)

fed_granting_dsas := {id | some id in record_dsa_ids; fed_dsa_grants(id)}

fed_chosen_dsa := min(fed_granting_dsas) if count(fed_granting_dsas) > 0

fed_dsa_violations contains [id, reason("dsa_unknown", sprintf("DSA %s is not known", [safe_id(id)]))] if {
	some id in record_dsa_ids
	not known_dsa(id)
}

fed_dsa_violations contains [id, x] if {
	some id in record_dsa_ids
	known_dsa(id)
	some x in dsa_state_reasons(id)
}

fed_dsa_violations contains [id, reason("recipient_not_party", sprintf("recipient %s is not a recipient party of DSA %s", [safe_id(rc), id]))] if {
	some id in record_dsa_ids
	known_dsa(id)
	some rc in fed_recipients
	not dsa_recipient(id, rc)
}

fed_dsa_violations contains [id, reason("classification_exceeds_dsa", sprintf("the record's classification exceeds the ceiling of DSA %s", [id]))] if {
	some id in record_dsa_ids
	known_dsa(id)
	not dsa.classification_ok(id, classification)
}

fed_dsa_violations contains [id, reason("tlp_exceeds_dsa", sprintf("the record's TLP exceeds the ceiling of DSA %s", [id]))] if {
	some id in record_dsa_ids
	known_dsa(id)
	not dsa.tlp_ok(id, tlp_label)
}

fed_dsa_violations contains [id, reason("transfer_not_permitted", sprintf("DSA %s does not permit transfer to recipient %s in another country", [id, rc]))] if {
	some id in record_dsa_ids
	some rc in fed_recipients
	dsa_recipient(id, rc)
	known_agency(rc)
	not fed_transfer_ok(id, rc)
}

fed_dsa_violations contains [id, reason("sender_not_party", sprintf("agency %s is not a provider party of DSA %s", [caller, id]))] if {
	federation_accept
	some id in record_dsa_ids
	known_dsa(id)
	caller
	not dsa_provider(id, caller)
}

fed_dsa_violations contains [id, reason("selec_status_insufficient", sprintf("under DSA %s, %s receives operational data only as a SELEC member or operational partner", [id, rc]))] if {
	federation_accept
	some id in record_dsa_ids
	some rc in fed_recipients
	dsa_recipient(id, rc)
	not selec.ok(id, rc, record)
}

fed_dsa_reasons contains reason("no_applicable_dsa", "the record lists no DSA under which it may be delivered") if count(record_dsa_ids) == 0

# When no agreement covers the delivery, report why each listed one fails.
fed_dsa_reasons contains x if {
	count(fed_granting_dsas) == 0
	some [_, x] in fed_dsa_violations
}

# ---------------------------------------------------------------------------
# federation.deliver (the sending gateway)
# ---------------------------------------------------------------------------

deliver_reasons contains x if some x in federation_input_reasons

deliver_reasons contains x if some x in fed_dsa_reasons

# Only the record's originator, or a recipient whose share was allowed,
# sends it on.
deliver_reasons contains private_reason("not_recipient", "caller agency is neither the originator nor a recipient of the record") if {
	has_record
	not visible_record
}

deliver_reasons contains reason("recipient_not_named", sprintf("recipient %s is not named on the record", [safe_id(rc)])) if {
	some rc in fed_recipients
	not rc in recipients
}

deliver_reasons contains reason("recipient_not_hosted_by_peer", sprintf("recipient %s is not hosted by peer gateway %s", [safe_id(rc), fed_peer_label])) if {
	some rc in fed_recipients
	not rc in fed_peer_agencies
}

deliver_reasons contains reason("recipient_unknown", sprintf("recipient %s is not in the federation registry", [safe_id(rc)])) if {
	some rc in fed_recipients
	not known_agency(rc)
}

deliver_reasons contains reason("originating_agency_only", "handling conditions restrict the record to the originating agency, so it cannot be delivered to other agencies") if {
	handling.conditions.originating_agency_only == true
	some rc in fed_recipients
	not is_originator_id(rc)
}

is_originator_id(id) if id == originator_id

deliver_granted if {
	has_federation
	fed_peer_gateway
	visible_record
	count(fed_recipients) > 0
	every rc in fed_recipients {
		rc in recipients
		rc in fed_peer_agencies
		known_agency(rc)
	}
	fed_chosen_dsa
}

# ---------------------------------------------------------------------------
# federation.accept (the receiving gateway)
# ---------------------------------------------------------------------------

accept_reasons contains x if some x in federation_input_reasons

accept_reasons contains reason("invalid_input", "federation.provenance must be an array of gateway ids") if {
	has_federation
	not array_of_strings(object.get(federation, "provenance", null))
}

accept_reasons contains x if some x in fed_dsa_reasons

# A peer gateway speaks only for the agencies it hosts.
accept_reasons contains private_reason("agency_not_hosted_by_peer", sprintf("agency %s is not hosted by peer gateway %s", [caller, fed_peer_label])) if {
	caller
	not caller in fed_peer_agencies
}

accept_reasons contains private_reason("too_many_hops", sprintf("the record has passed through %d gateways; this gateway accepts at most %v", [fed_hops, federation_max_hops])) if not fed_hops_ok

accept_reasons contains private_reason("recipient_not_named", sprintf("recipient %s is not named on the record", [safe_id(rc)])) if {
	some rc in fed_recipients
	not rc in recipients
}

accept_reasons contains private_reason("recipient_unknown", sprintf("recipient %s is not in the federation registry", [safe_id(rc)])) if {
	some rc in fed_recipients
	not known_agency(rc)
}

accept_reasons contains reason("classification_invalid", "the record's classification tier is missing or unknown") if not classification_level

accept_reasons contains reason("tlp_invalid", "the record's TLP label is not a TLP 2.0 label") if not tlp_valid

# What each recipient may hold: the recipient rules of read and list that
# depend on neither an officer nor a purpose, evaluated for the recipient
# instead of the caller, each reason naming the recipient.
accept_reasons contains x if {
	some rc in fed_holders
	some r in holding_reasons(rc)

	# The scheme's messages speak of the caller; here it is the recipient.
	x := object.union(r, {"message": sprintf("recipient %s: %s", [rc, replace(r.message, "caller agency", "the agency")])})
}

# fed_holders: the recipients the holding checks apply to (a known agency
# other than the originator, which may always hold its own record).
fed_holders := {rc |
	some rc in fed_recipients
	known_agency(rc)
	not is_originator_id(rc)
}

holding_reasons(rc) := (((holding_handling_reasons(rc) | holding_legacy_reasons(rc)) | europol.read_violations(handling, europol_codes, "")) | holding_caveat_reasons(rc)) | holding_clearance_reasons(rc)

# holding_ctx: the handling context of grading.read_violations for
# recipient rc, with no purpose (none is asked of a delivery).
holding_ctx(rc) := {
	"agency_id": rc,
	"org_types": agency_types(rc),
	"purpose": "",
	"now_ns": now_ns,
}

holding_handling_reasons(rc) := v if {
	v := grading.read_violations(handling, holding_ctx(rc))
} else := {reason("handling_unverifiable", "the record's handling conditions could not be evaluated")}

holding_legacy_reasons(rc) := set() if {
	not has_legacy
} else := v if {
	v := grading.read_violations(legacy_handling, holding_ctx(rc))
} else := {reason("legacy_grading_invalid", "the record's legacy 5x5x5 grading could not be read through the cross-walk")}

holding_caveat_reasons(rc) := {reason("caveat_not_met", "the record carries a national caveat that the agency's country does not meet")} if {
	classification_restricted
	not holding_caveat_met(rc)
} else := set()

holding_caveat_met(rc) if gsc.caveat_met(classification, data.agencies[rc].country)

# The recipient agency's system must be cleared for the record's tier: the
# record rests in a system that holds it for the agency (its accreditation,
# data.agencies[rc].system_clearance), whatever its officers' clearances.
holding_clearance_reasons(rc) := {reason("clearance_insufficient", "the agency's system clearance does not reach the record's classification tier")} if {
	not holding_cleared(rc)
} else := set()

holding_cleared(rc) if gsc.clearance_sufficient(data.agencies[rc].system_clearance, classification)

accept_granted if {
	has_federation
	fed_peer_gateway
	caller in fed_peer_agencies
	fed_hops_ok
	count(fed_recipients) > 0
	every rc in fed_recipients {
		rc in recipients
		known_agency(rc)
	}
	classification_level
	tlp_valid
	fed_chosen_dsa
}

# ---------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------

visible if input.action == "federation.deliver"

visible if input.action == "federation.accept"

deny_reasons contains x if {
	input.action == "federation.deliver"
	some x in deliver_reasons
}

deny_reasons contains x if {
	input.action == "federation.accept"
	some x in accept_reasons
}

granted if {
	input.action == "federation.deliver"
	deliver_granted
}

granted if {
	input.action == "federation.accept"
	accept_granted
}

# federation_fact: what an explanation says about the delivery.
federation_fact := sprintf("delivery through peer gateway %s to %s (the peer hosts %s); agreements on the record covering the delivery: %s", [
	fed_peer_label,
	list_or_none({safe_id(r) | some r in fed_recipients}),
	list_or_none({safe_id(a) | some a in fed_peer_agencies}),
	list_or_none(fed_granting_dsas),
]) if {
	input.action == "federation.deliver"
} else := sprintf("peer gateway %s delivers for %s to %s after %d gateway(s) (at most %v accepted); agreements on the record covering the delivery here: %s", [
	fed_peer_label,
	caller,
	list_or_none({safe_id(r) | some r in fed_recipients}),
	fed_hops,
	federation_max_hops,
	list_or_none(fed_granting_dsas),
]) if {
	input.action == "federation.accept"
	caller
} else := null
