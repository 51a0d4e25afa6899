# METADATA
# title: Liaison authorization decision
# description: |
#   Entrypoint: data.liaison.authz.decision, always defined, deny by default.
#   The gateway builds `input` (action, time, subject, request, record) as
#   described in policies/README.md and acts on the decision: allow, whether
#   the caller may learn the record exists (visible), reasons (public ones
#   may be shown to the caller, all are audited) and obligations (redaction,
#   banner, grading, handling conditions, originator consent).
#
#   Structure: every check is a deny reason written as `not <positive
#   condition>`, so a missing or malformed field produces a reason instead
#   of silently passing. An action is allowed only if no deny reason holds
#   AND a positive grant rule for the action holds (defence in depth: a
#   broken deny rule alone cannot open access).
# entrypoint: true
package liaison.authz

import data.liaison.schemes.dsa
import data.liaison.schemes.europol
import data.liaison.schemes.grading3x5x2 as grading
import data.liaison.schemes.gsc
import data.liaison.schemes.legacy5x5x5 as legacy
import data.liaison.schemes.selec
import data.liaison.schemes.tlp
import data.liaison.schemes.vetting

record_actions := {"record.publish", "record.read", "record.list", "record.recall"}

consult_actions := {"record.read", "record.list"}

known_actions := (((record_actions | {"policy.decide", "policy.inspect", "record.share", "audit.query", "record.review", "request.file"}) | federation_actions) | {"record.discover"}) | registry_actions

reason(code, msg) := {"code": code, "message": msg, "public": true}

# private reasons go to the audit log only, never to the caller.
private_reason(code, msg) := {"code": code, "message": msg, "public": false}

# safe_id echoes an identifier supplied by the caller only when it looks like
# one, so that messages never carry free text.
safe_id(id) := id if {
	is_string(id)
	regex.match(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`, id)
} else := "(malformed id)"

# ---------------------------------------------------------------------------
# Input, normalised. Absent or malformed parts become undefined or empty so
# that the checks below deny rather than error.
# ---------------------------------------------------------------------------

action := input.action if is_string(input.action)

subject := input.subject if {
	is_object(input.subject)
} else := {}

request := input.request if {
	is_object(input.request)
} else := {}

has_record if is_object(input.record)

record := input.record if {
	has_record
} else := {}

caller := id if {
	id := subject.agency_id
	is_string(id)
	regex.match(`^[a-z0-9][a-z0-9-]{0,62}$`, id)
}

agency := data.agencies[caller] if is_object(data.agencies[caller])

caller_country := agency.country if is_string(agency.country)

# officer: present only for a well-formed officer (an object with an id). A
# malformed one is an input error (below), never a silent fall-back to the
# agency's system clearance.
officer := o if {
	o := subject.officer
	is_object(o)
	is_string(o.id)
	o.id != ""
}

officer_roles := {r | some r in officer.roles; is_string(r)}

now_ns := time.parse_rfc3339_ns(input.time) if is_string(input.time)

purpose := p if {
	p := request.purpose
	is_string(p)
	p != ""
}

purpose_or_empty := p if {
	p := purpose
} else := ""

# purpose_label is what messages may say about the requested purpose: its
# name if it is a recognised purpose, never the caller's free text.
purpose_label := purpose if {
	purpose in data.schemes.purposes
} else := "(unrecognised)"

justification := trim_space(request.justification) if {
	is_string(request.justification)
} else := ""

min_justification_length := n if {
	n := data.settings.min_justification_length
	is_number(n)
} else := 8

justification_ok if count(justification) >= min_justification_length

# Clearance of the caller: the officer's own when an officer token was
# presented (even if missing: no fallback to the system's), otherwise the
# clearance assumed for the agency's system.
clearance := c if {
	officer
	c := officer.clearance
} else := c if {
	not officer
	c := agency.system_clearance
}

# caller_types: the types the caller counts as for handling conditions
# (allowed_recipient_types).
caller_types := t if {
	t := agency_types(caller)
} else := set()

# agency_types: the types an agency in the registry counts as: its
# org_type, eea_le or non_eea_le for foreign law enforcement, and its
# recipient_types. A function, because federation.accept asks it for each
# recipient; the caller's are computed once (caller_types).
agency_types(id) := (own_org_type(id) | foreign_le_types(id)) | registry_recipient_types(id)

own_org_type(id) := {t | t := data.agencies[id].org_type; is_string(t)}

foreign_le_types(id) := {"eea_le"} if {
	data.agencies[id].org_type == "foreign_le"
	data.agencies[id].country in data.schemes.eea_countries
} else := {"non_eea_le"} if {
	data.agencies[id].org_type == "foreign_le"
} else := set()

registry_recipient_types(id) := {t | some t in data.agencies[id].recipient_types; is_string(t)}

classification := record.classification if {
	is_object(record.classification)
} else := {}

handling := record.handling if {
	is_object(record.handling)
} else := {}

grading_block := record.grading if {
	is_object(record.grading)
} else := {}

# tlp_label: an unlabelled record is handled as CLEAR; a malformed label is
# kept so that tlp.valid rejects it.
tlp_label := l if {
	l := record.tlp
} else := "CLEAR"

tlp_marked if is_string(record.tlp)

originator_id := record.originator.org_id if is_string(record.originator.org_id)

originator_country := c if {
	c := data.agencies[originator_id].country
	is_string(c)
} else := c if {
	c := record.originator.country
	is_string(c)
}

is_originator if originator_id == caller

originator_type := t if {
	t := data.agencies[originator_id].org_type
	is_string(t)
} else := ""

# Police vetting of the caller: the officer's own with an officer token,
# otherwise the agency's system_vetting; "" (none) if not given.
vetting_level := v if {
	officer
	v := officer.vetting
	is_string(v)
} else := v if {
	not officer
	v := agency.system_vetting
	is_string(v)
} else := ""

# Europol handling applies to Europol material; its context names the
# purpose and whether the originator is Europol itself.
europol_ctx := {"purpose": purpose_or_empty, "originator_type": originator_type}

# europol_codes: the Europol codes that apply, computed once per decision.
europol_codes := europol.codes(handling, grading_block, europol_ctx)

# legacy_handling: the 3x5x2 handling implied by a legacy 5x5x5 grade,
# applied on top of the record's own (most restrictive wins).
has_legacy if legacy.present(grading_block)

legacy_handling := legacy.implied_handling(grading_block)

recipients := {x | some x in record.recipients}

is_recipient if caller in recipients

visible_record if is_originator

visible_record if is_recipient

record_dsa_ids := {id | some id in record.dsa_ids; is_string(id)}

# record_dsa_parties: [DSA id, agency id, role] for every party of every
# agreement the record lists, read once per decision. dsa_provider and
# dsa_recipient below are dsa.provider and dsa.recipient for those
# agreements as set lookups: functions are evaluated at every call, and
# publication asks them once per agreement and per recipient.
record_dsa_parties := {[id, p.org_id, p.role] |
	some id in record_dsa_ids
	some p in data.dsas[id].parties
}

dsa_provider(id, org) if [id, org, "provider"] in record_dsa_parties

dsa_provider(id, org) if [id, org, "both"] in record_dsa_parties

dsa_recipient(id, org) if [id, org, "recipient"] in record_dsa_parties

dsa_recipient(id, org) if [id, org, "both"] in record_dsa_parties

allowed_purposes := {p | some p in record.allowed_purposes; is_string(p)}

# Wrappers for negated checks. OPA evaluates `not f(x)` as undefined, not
# true, when the argument x is undefined, so every negated check below takes
# only arguments that are always defined (or none): a missing clearance,
# country or time must produce a deny reason, never skip it.
known_dsa(id) if is_object(data.dsas[id])

known_agency(id) if is_object(data.agencies[id])

known_purpose(p) if p in data.schemes.purposes

dsa_started(id) if dsa.started(id, now_ns)

dsa_unexpired(id) if dsa.unexpired(id, now_ns)

dsa_min_clearance_ok(id) if dsa.min_clearance_ok(id, clearance)

dsa_transfer_ok(id) if dsa.transfer_ok(id, originator_country, caller_country)

# The record's marking facts that several checks read, computed once per
# decision (a rule is evaluated once, a function at every call).
classification_level := gsc.level(classification)

classification_restricted if gsc.restricted(classification)

tlp_valid if tlp.valid(tlp_label)

caveat_met_by_agency if gsc.caveat_met(classification, caller_country)

caveat_met_by_officer if gsc.caveat_met(classification, officer.nationality)

# ---------------------------------------------------------------------------
# Reasons common to every action
# ---------------------------------------------------------------------------

input_reasons contains reason("invalid_input", "input must be a JSON object") if not input_is_object

input_is_object if is_object(input)

input_reasons contains reason("invalid_input", "action is missing") if not action

input_reasons contains reason("unknown_action", "action is not known") if {
	action
	not action in known_actions
}

input_reasons contains reason("invalid_input", "time is missing or not an RFC 3339 timestamp") if not now_ns

input_reasons contains reason("invalid_input", "subject.agency_id is missing or malformed") if not caller

input_reasons contains reason("invalid_input", "subject.officer is malformed") if {
	object.get(subject, "officer", null) != null
	not officer
}

input_reasons contains reason("unknown_agency", sprintf("agency %s is not in the federation registry", [caller])) if {
	caller
	not agency
}

# federation.accept is asked by this gateway on a peer's delivery on behalf
# of the sending agency: no officer is named, and none can be.
input_reasons contains reason("officer_token_required", sprintf("agency %s requires an officer token", [caller])) if {
	agency.require_officer_token == true
	not officer
	not federation_accept
}

input_reasons contains reason("invalid_input", "record metadata is missing") if {
	action in record_actions
	not has_record
}

# ---------------------------------------------------------------------------
# record.publish
# ---------------------------------------------------------------------------

publish_reasons contains reason("not_originator", "the record's originator must be the publishing agency") if not is_originator

publish_reasons contains reason("invalid_input", "dsa_ids must be an array of DSA ids") if {
	ids := object.get(record, "dsa_ids", [])
	not array_of_strings(ids)
}

publish_reasons contains reason("invalid_input", "recipients must be an array of agency ids") if {
	rs := object.get(record, "recipients", [])
	not array_of_strings(rs)
}

array_of_strings(a) if {
	is_array(a)
	every x in a {
		is_string(x)
	}
}

publish_reasons contains reason("dsa_unknown", sprintf("DSA %s is not known", [safe_id(id)])) if {
	some id in record_dsa_ids
	not known_dsa(id)
}

publish_reasons contains x if {
	some id in record_dsa_ids
	known_dsa(id)
	some x in dsa_state_reasons(id)
}

publish_reasons contains reason("not_dsa_provider", sprintf("agency %s is not a provider under DSA %s", [caller, id])) if {
	some id in record_dsa_ids
	known_dsa(id)
	caller
	not dsa_provider(id, caller)
}

publish_reasons contains reason("classification_exceeds_dsa", sprintf("the record's classification exceeds the ceiling of DSA %s", [id])) if {
	some id in record_dsa_ids
	known_dsa(id)
	not dsa.classification_ok(id, classification)
}

publish_reasons contains reason("tlp_exceeds_dsa", sprintf("the record's TLP exceeds the ceiling of DSA %s", [id])) if {
	some id in record_dsa_ids
	known_dsa(id)
	not dsa.tlp_ok(id, tlp_label)
}

publish_reasons contains reason("purpose_not_permitted", sprintf("none of the record's allowed purposes is permitted by DSA %s", [id])) if {
	some id in record_dsa_ids
	known_dsa(id)
	not dsa.purposes_overlap(id, allowed_purposes)
}

publish_reasons contains reason("purpose_required", "the record must list at least one allowed purpose") if count(allowed_purposes) == 0

publish_reasons contains reason("purpose_not_permitted", "the record lists a purpose that is not a recognised law-enforcement purpose") if {
	some p in object.get(record, "allowed_purposes", [])
	not known_purpose(p)
}

publish_reasons contains reason("classification_invalid", "the record's classification tier is missing or unknown") if not classification_level

publish_reasons contains reason("tlp_invalid", "the record's TLP label is not a TLP 2.0 label") if not tlp_valid

publish_reasons contains reason("grading_invalid", "the record's 3x5x2 grading is missing or invalid") if not grading.valid_grading(grading_block)

publish_reasons contains x if some x in handling_publish_reasons

publish_reasons contains x if some x in europol.publish_violations(handling, grading_block, europol_codes, allowed_purposes)

publish_reasons contains x if some x in legacy.publish_violations(grading_block)

handling_publish_reasons := v if {
	v := grading.publish_violations(handling)
} else := {reason("handling_unverifiable", "the record's handling block could not be evaluated")}

publish_reasons contains reason("recipient_unknown", sprintf("recipient %s is not in the federation registry", [safe_id(rc)])) if {
	some rc in recipients
	not known_agency(rc)
}

publish_reasons contains reason("recipient_not_party", sprintf("recipient %s is not a recipient party of any DSA listed on the record", [rc])) if {
	some rc in recipients
	is_object(data.agencies[rc])
	not rc in party_recipients
}

publish_reasons contains reason("transfer_not_permitted", sprintf("no DSA listed on the record permits transfer to recipient %s in another country", [rc])) if {
	some rc in party_recipients
	not recipient_transfer_ok(rc)
}

publish_reasons contains reason("originating_agency_only", "handling conditions restrict the record to the originating agency, so it cannot name other recipients") if {
	handling.conditions.originating_agency_only == true
	some rc in recipients
	rc != caller
}

publish_reasons contains reason("tlp_red_requires_recipients", "a TLP:RED record must name its individual recipients") if {
	tlp.red(tlp_label)
	count(recipients) == 0
}

# party_recipients: the record's recipients that are a recipient party of
# at least one DSA listed on the record.
party_recipients := {rc |
	some rc in recipients
	some id in record_dsa_ids
	dsa_recipient(id, rc)
}

recipient_transfer_ok(rc) if {
	some id in record_dsa_ids
	dsa_recipient(id, rc)
	dsa.transfer_ok(id, originator_country, data.agencies[rc].country)
}

publish_granted if {
	is_originator
	agency
	classification_level
	every id in record_dsa_ids {
		dsa.in_force(id, now_ns)
		dsa_provider(id, caller)
	}
	every rc in recipients {
		rc in party_recipients
	}
}

# dsa_state_reasons: status and dates of one agreement at input.time.
dsa_state_reasons(id) := (dsa_status_reasons(id) | dsa_start_reasons(id)) | dsa_expiry_reasons(id)

dsa_status_reasons(id) := {reason("dsa_not_active", sprintf("DSA %s is not active (status %v)", [id, object.get(data.dsas[id], "status", "missing")]))} if {
	not dsa.active(id)
} else := set()

dsa_start_reasons(id) := {reason("dsa_not_active", sprintf("DSA %s is not yet in force", [id]))} if {
	not dsa_started(id)
} else := set()

dsa_expiry_reasons(id) := {reason("dsa_expired", sprintf("DSA %s has expired", [id]))} if {
	not dsa_unexpired(id)
} else := set()

# ---------------------------------------------------------------------------
# record.read and record.list (consultation)
# ---------------------------------------------------------------------------

# The originator may always consult its own record; nobody else learns that
# the record exists unless named as a recipient.
consult_reasons contains private_reason("not_recipient", "caller agency is neither the originator nor a recipient of the record") if not visible_record

consult_reasons contains x if {
	visible_record
	not is_originator
	some x in recipient_reasons
}

# Agreements on the record that name the caller as a recipient.
candidate_dsas := {id | some id in record_dsa_ids; dsa_recipient(id, caller)}

dsa_violations contains [id, x] if {
	some id in candidate_dsas
	some x in dsa_state_reasons(id)
}

dsa_violations contains [id, reason("purpose_not_permitted", sprintf("purpose %s is not permitted by DSA %s", [purpose_label, id]))] if {
	some id in candidate_dsas
	purpose
	not dsa.purpose_ok(id, purpose)
}

dsa_violations contains [id, reason("classification_exceeds_dsa", sprintf("the record's classification exceeds the ceiling of DSA %s", [id]))] if {
	some id in candidate_dsas
	not dsa.classification_ok(id, classification)
}

dsa_violations contains [id, reason("tlp_exceeds_dsa", sprintf("the record's TLP exceeds the ceiling of DSA %s", [id]))] if {
	some id in candidate_dsas
	not dsa.tlp_ok(id, tlp_label)
}

dsa_violations contains [id, reason("clearance_insufficient", sprintf("the caller's clearance is below the minimum of DSA %s", [id]))] if {
	some id in candidate_dsas
	not dsa_min_clearance_ok(id)
}

dsa_violations contains [id, reason("transfer_not_permitted", sprintf("DSA %s does not permit transfer to the caller's country", [id]))] if {
	some id in candidate_dsas
	not dsa_transfer_ok(id)
}

dsa_violations contains [id, reason("vetting_insufficient", sprintf("DSA %s requires police vetting %v", [id, data.dsas[id].police_vetting]))] if {
	some id in candidate_dsas
	not dsa_vetting_ok(id)
}

dsa_vetting_ok(id) if dsa.vetting_ok(id, vetting_level)

# SELEC: a participant receives operational data only as a member state (a
# Party to the Convention) or an operational partner (its status under the
# agreement, else in the registry); observers receive strategic data only.
dsa_violations contains [id, reason("selec_status_insufficient", sprintf("under DSA %s, %s receives operational data only as a SELEC member or operational partner", [id, caller]))] if {
	some id in candidate_dsas
	not selec_ok(id)
}

selec_ok(id) if selec.ok(id, caller, record)

# DPA 2018 s.62 / LED Art. 25: a consultation of content must be justified.
# Listing discloses metadata only, so it needs no justification.
dsa_violations contains [id, reason("justification_required", sprintf("DSA %s requires a justification of at least %d characters", [id, min_justification_length]))] if {
	action == "record.read"
	some id in candidate_dsas
	dsa.requires_justification(id)
	not justification_ok
}

# granting_dsas: agreements under which the consultation is lawful. If there
# are several, all of them apply (their redactions are combined) and the
# smallest id is reported as the basis.
granting_dsas := {id | some id in candidate_dsas; dsa_grants(id)}

# dsa_grants: the agreement passes every per-DSA check above. These are the
# checks of dsa_violations written positively, so that an allowed
# consultation (the common case) stops at the first failing check and never
# builds the violations and their messages; dsa_violations are evaluated
# only to explain a denial. test_dsa_grants_match_violations
# (schemes_authz_test.rego) holds the two together on every test case.
dsa_grants(id) if {
	dsa.in_force(id, now_ns)
	dsa_purpose_ok(id)
	dsa.classification_ok(id, classification)
	dsa.tlp_ok(id, tlp_label)
	dsa_min_clearance_ok(id)
	dsa_transfer_ok(id)
	dsa_vetting_ok(id)
	selec_ok(id)
	dsa_justification_ok(id)
}

dsa_purpose_ok(_) if not purpose

dsa_purpose_ok(id) if dsa.purpose_ok(id, purpose)

dsa_justification_ok(_) if action != "record.read"

dsa_justification_ok(id) if not dsa.requires_justification(id)

dsa_justification_ok(_) if justification_ok

chosen_dsa := min(granting_dsas) if count(granting_dsas) > 0

recipient_reasons contains reason("no_applicable_dsa", sprintf("no DSA listed on the record names agency %s as a recipient", [caller])) if count(candidate_dsas) == 0

# When no agreement grants, report why each candidate failed.
recipient_reasons contains x if {
	count(granting_dsas) == 0
	some [_, x] in dsa_violations
}

# Reading content needs a purpose. Listing is the index of what is shared
# with the caller: without a purpose it shows every record the caller could
# read for some permitted purpose; with one, only those it permits.
recipient_reasons contains reason("purpose_required", "a purpose is required (Liaison-Purpose)") if {
	action == "record.read"
	not purpose
}

recipient_reasons contains reason("purpose_not_permitted", sprintf("purpose %s is not among the record's allowed purposes", [purpose_label])) if {
	purpose
	not purpose in allowed_purposes
}

recipient_reasons contains reason("purpose_not_permitted", "the purpose is not a recognised law-enforcement purpose") if {
	purpose
	not known_purpose(purpose)
}

recipient_reasons contains reason("classification_invalid", "the record's classification tier is missing or unknown") if not classification_level

recipient_reasons contains reason("clearance_insufficient", "the caller's clearance does not reach the record's classification tier") if not clearance_ok

clearance_ok if gsc.clearance_sufficient(clearance, classification)

# Need-to-know for OFFICIAL-SENSITIVE and above (threshold in
# data.settings.need_to_know_min_level): content goes only to a named,
# accountable person, so an agency system without an officer token may list
# such records but not read them.
recipient_reasons contains reason("need_to_know_requires_officer", "reading a record at this classification requires an officer token (need-to-know)") if {
	action == "record.read"
	not need_to_know_ok
}

need_to_know_ok if officer

need_to_know_ok if gsc.level_rank(classification_level) < gsc.level_rank(need_to_know_threshold)

need_to_know_threshold := t if {
	t := data.settings.need_to_know_min_level
	is_string(t)
} else := "OFFICIAL-SENSITIVE"

# National caveats: both the agency's country and, when an officer is named,
# the officer's nationality must be listed (most restrictive wins: the data
# would otherwise rest in a system of a country the caveat excludes).
recipient_reasons contains reason("caveat_not_met", "the record carries a national caveat that the caller's agency country does not meet") if {
	classification_restricted
	not caveat_met_by_agency
}

recipient_reasons contains reason("caveat_not_met", "the record carries a national caveat that the officer's nationality does not meet") if {
	classification_restricted
	officer
	not caveat_met_by_officer
}

recipient_reasons contains reason("tlp_invalid", "the record's TLP label is not a TLP 2.0 label") if not tlp_valid

# TLP:RED is for the eyes and ears of individual recipients only.
recipient_reasons contains reason("tlp_red_requires_officer", "a TLP:RED record may only be consulted by a named officer") if {
	tlp.red(tlp_label)
	not officer
}

recipient_reasons contains x if some x in handling_read_reasons

# Police vetting the record demands: MV for CHIS-derived and C/A1
# intelligence, including A1 implied by a legacy 5x5x5 grade.
recipient_reasons contains reason("vetting_insufficient", sprintf("the record requires police vetting %s", [concat(", ", sort(required_vetting))])) if not record_vetting_ok

required_vetting := vetting.required_for(record) | legacy_required_vetting

legacy_required_vetting := vetting.required_for_handling(legacy_handling) if {
	legacy_handling
} else := set()

record_vetting_ok if vetting.met(vetting_level, required_vetting)

recipient_reasons contains x if some x in europol.read_violations(handling, europol_codes, purpose_or_empty)

recipient_reasons contains x if some x in legacy_read_reasons

legacy_read_reasons := set() if {
	not has_legacy
} else := v if {
	v := grading.read_violations(legacy_handling, handling_ctx)
} else := {reason("legacy_grading_invalid", "the record's legacy 5x5x5 grading could not be read through the cross-walk")}

handling_ctx := {
	"agency_id": caller,
	"org_types": caller_types,
	"purpose": purpose_or_empty,
	"now_ns": now_ns,
}

handling_read_reasons := v if {
	v := grading.read_violations(handling, handling_ctx)
} else := {reason("handling_unverifiable", "the record's handling conditions could not be evaluated")}

consult_granted if {
	is_recipient
	not is_originator
	chosen_dsa
	consult_purpose_ok
	clearance_ok
	caveat_met_by_agency
	tlp_valid
}

# A listing without a purpose is the index of what the caller may read for
# some permitted purpose; a read, or a listing that names one, needs it allowed.
consult_purpose_ok if purpose in allowed_purposes

consult_purpose_ok if {
	action == "record.list"
	not purpose
}

# ---------------------------------------------------------------------------
# record.recall
# ---------------------------------------------------------------------------

recall_reasons contains private_reason("not_recipient", "caller agency is neither the originator nor a recipient of the record") if not visible_record

recall_reasons contains reason("not_originator", "only the originating agency may recall a record") if {
	visible_record
	not is_originator
}

# ---------------------------------------------------------------------------
# policy.decide (the /v1/decisions dry-run)
# ---------------------------------------------------------------------------

policy_admin if {
	some r in officer_roles
	r in data.settings.policy_admin_roles
}

decide_reasons contains reason("policy_admin_required", "the policy dry-run requires an officer with a policy administrator role") if not policy_admin

# ---------------------------------------------------------------------------
# Decision
#
# Rules for one action test input.action (equal to `action` whenever it is a
# string) rather than `action`: OPA indexes rules on input values, so a
# decision skips the rules of the other actions without evaluating them.
# ---------------------------------------------------------------------------

deny_reasons contains x if some x in input_reasons

deny_reasons contains x if {
	input.action == "record.publish"
	some x in publish_reasons
}

deny_reasons contains x if {
	action in consult_actions
	some x in consult_reasons
}

deny_reasons contains x if {
	input.action == "record.recall"
	some x in recall_reasons
}

deny_reasons contains x if {
	input.action == "policy.decide"
	some x in decide_reasons
}

granted if {
	input.action == "record.publish"
	publish_granted
}

granted if {
	action in consult_actions
	is_originator
}

granted if {
	action in consult_actions
	consult_granted
}

granted if {
	input.action == "record.recall"
	is_originator
}

granted if {
	input.action == "policy.decide"
	policy_admin
}

default allow := false

allow if {
	count(deny_reasons) == 0
	granted
}

default visible := false

# Publishing and the dry-run concern no existing record.
visible if action in {"record.publish", "policy.decide"}

visible if {
	action in {"record.read", "record.list", "record.recall"}
	visible_record
}

# An allowed decision has no reasons; a denied one its deny reasons or, if
# none (should never happen: no check failed but no rule grants), a reason
# saying so in the audit log only. An else chain, so that an allowed
# decision stops at its first branch.
final_reasons := set() if {
	allow
} else := deny_reasons if {
	count(deny_reasons) > 0
} else := {private_reason("not_permitted", "no policy rule grants this action")}

# Reasons about a record the caller may not know exists are never public.
default shown(_) := false

shown(x) if {
	visible
	x.public == true
}

reason_list := [{"code": x.code, "message": x.message, "public": shown(x)} | some x in final_reasons]

# ---------------------------------------------------------------------------
# Obligations
# ---------------------------------------------------------------------------

empty_obligations := {
	"redact": [],
	"banner": "",
	"attach_grading": false,
	"conditions": [],
	"originator_consent_required": false,
	"forbid_evidential_use": false,
}

recipient_consult if {
	action in consult_actions
	not is_originator
}

default obligations := {
	"redact": [],
	"banner": "",
	"attach_grading": false,
	"conditions": [],
	"originator_consent_required": false,
	"forbid_evidential_use": false,
}

# A recipient gets the content redacted, the banner, the grading (DPA 2018
# s.38(6)(b)) and every condition that binds it.
obligations := {
	"redact": sort(redact_fields),
	"banner": banner,
	"attach_grading": true,
	"conditions": sort(condition_codes),
	"originator_consent_required": consent_required,
	"forbid_evidential_use": forbid_evidential_use,
} if {
	allow
	recipient_consult
} else := object.union(empty_obligations, {"banner": banner}) if {
	# The originator and the other record actions carry the banner only.
	allow
	action in record_actions
}

redact_fields := {f | some f in record.protected_fields; is_string(f)} | {f |
	some id in granting_dsas
	some f in dsa.redact_fields(id)
}

# Every scheme on the record adds its conditions; none removes another's
# (most restrictive wins).
condition_codes := ((((grading.condition_codes(handling) | tlp.conditions(tlp_label)) | dsa_conditions) | transfer_conditions) | europol.conditions(europol_codes)) | legacy_conditions

legacy_conditions := grading.condition_codes(legacy_handling) | legacy.obligation_conditions(grading_block) if {
	legacy_handling
} else := set()

dsa_conditions := {"onward_sharing_requires_originator_authorisation" |
	some id in granting_dsas
	dsa.onward_restricted(id)
}

# DPA 2018 s.78: data transferred abroad may not be transferred further
# without the transferring controller's authorisation. Unknown countries
# count as abroad.
transfer_conditions := {"no_further_transfer_without_originator_authorisation" | not same_country}

same_country if caller_country == originator_country

default consent_required := false

consent_required if grading.consent_required(handling)

consent_required if grading.consent_required(legacy_handling)

consent_required if europol.consent_required(europol_codes)

# forbid_evidential_use: 3x5x2 A1/A2, no_judicial_use, intelligence use
# only, Europol H1, on the record or implied by its legacy grade.
default forbid_evidential_use := false

forbid_evidential_use if grading.forbids_evidential_use(handling)

forbid_evidential_use if grading.forbids_evidential_use(legacy_handling)

forbid_evidential_use if europol.forbids_evidential_use(europol_codes)

# Banner: classification | TLP | grading and handling (with a legacy grade)
# | Europol codes | caveats | descriptors and handling instructions |
# handling conditions | an overdue review (review.rego; recipients only).
#
# Every part is an array of strings (each scheme function builds its
# elements with concat or sprintf, and the parts that take strings from the
# record filter them), so the parts are joined as they are, in this order.
banner := concat(" | ", array.concat(
	array.concat(array.concat(marking_part, tlp_part), array.concat(grading_part, europol_part)),
	array.concat(array.concat(caveat_part, descriptor_part), array.concat(condition_part, review_banner_part)),
))

# Each part calls its scheme once: functions are evaluated at every call.
marking_part := [m] if {
	m := gsc.marking(classification)
} else := ["UNMARKED"]

tlp_part := [tlp.banner(tlp_label)] if {
	tlp_marked
} else := []

grading_part := [concat(" ", [g, l])] if {
	g := grading_banner
	l := legacy.banner(grading_block)
} else := [g] if {
	g := grading_banner
} else := []

grading_banner := grading.banner(grading_block, handling)

europol_part := [b] if {
	b := europol.banner(europol_codes, grading_block)
} else := []

caveat_part := p if {
	p := gsc.caveat_parts(classification)
} else := []

descriptor_part := p if {
	p := gsc.descriptor_parts(classification)
} else := []

# condition_part labels every condition that has a banner label, whichever
# scheme it comes from.
condition_part := [data.schemes.condition_labels[c] |
	some c in sort(condition_codes)
	is_string(data.schemes.condition_labels[c])
]

default decision := {
	"allow": false,
	"visible": false,
	"reasons": [{
		"code": "policy_default_deny",
		"message": "the policy produced no complete decision",
		"public": false,
	}],
	"obligations": {
		"redact": [],
		"banner": "",
		"attach_grading": false,
		"conditions": [],
		"originator_consent_required": false,
		"forbid_evidential_use": false,
	},
	"dsa_id": "",
}

decision := {
	"allow": allow,
	"visible": visible,
	"reasons": reason_list,
	"obligations": obligations,
	"dsa_id": dsa_id,
} if not audit_action

# An audit query's decision also says which entries it may return
# (audit_scope, audit.rego); the gateway filters the log by it.
decision := {
	"allow": allow,
	"visible": visible,
	"reasons": reason_list,
	"obligations": obligations,
	"dsa_id": dsa_id,
	"audit_scope": decision_audit_scope,
} if audit_action

audit_action if input.action == "audit.query"

# dsa_id names the agreement a recipient's consultation was granted under,
# for the DPA 2018 s.62 log, or the one a federation delivery travels under;
# empty otherwise.
dsa_id := chosen_dsa if {
	allow
	recipient_consult
} else := fed_chosen_dsa if {
	# federation.deliver and federation.accept: the agreement the delivery
	# travels under (federation.rego).
	allow
	input.action in federation_actions
} else := discover_dsa if {
	# record.discover: the agreement under which the hit may be reported
	# (search.rego).
	allow
	input.action == "record.discover"
} else := request_chosen_dsa if {
	# request.file: the agreement the request travels under (requests.rego).
	allow
	input.action == "request.file"
} else := ""

# ---------------------------------------------------------------------------
# Explanation (liaison policy eval, POST /v1/decisions): facts established on
# the way to the decision, in words. Not part of the decision; the gateway
# does not evaluate it on the request path.
# ---------------------------------------------------------------------------

explain := {"facts": [f | some f in explain_parts; is_string(f)]}

explain_parts := [role_fact, dsa_fact, clearance_fact, handling_fact, federation_fact]

role_fact := sprintf("%s is the record's originator", [caller]) if {
	has_record
	is_originator
} else := sprintf("%s is a named recipient of the record (originator %s)", [caller, originator_id]) if {
	has_record
	is_recipient
} else := sprintf("%s is neither the originator nor a named recipient of the record", [caller]) if {
	has_record
} else := null

dsa_fact := sprintf("agreements on the record naming %s as recipient: %s; of these, granting this request: %s", [
	caller,
	list_or_none(candidate_dsas),
	list_or_none(granting_dsas),
]) if {
	recipient_consult
	is_recipient
} else := null

clearance_fact := sprintf("clearance used: %s (officer %s's own)", [clearance, officer.id]) if {
	recipient_consult
	officer
	is_string(clearance)
} else := sprintf("clearance used: %s (the agency's system clearance; no officer token)", [clearance]) if {
	recipient_consult
	not officer
	is_string(clearance)
} else := null

handling_fact := sprintf("handling conditions binding the recipient: %s", [list_or_none(condition_codes)]) if {
	recipient_consult
	is_recipient
} else := null

list_or_none(s) := "none" if {
	count(s) == 0
} else := concat(", ", sort(s))
