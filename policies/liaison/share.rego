# record.share: onward sharing of a record with more agencies.
#
# The originator may add recipients directly. A recipient may share onward
# only while it still has lawful access (a DSA naming it is in force), and
# only with agencies that are recipient parties of the record's DSAs with a
# transfer basis for their country. When the record or its DSAs restrict
# onward sharing (DSA onward_sharing, handling code C, no_onward_dissemination,
# S2, Europol H2/H3, TLP:RED or AMBER+STRICT, free-text conditions), the only
# reason returned is originator_consent_required: the gateway then files a
# consent request for the originator instead of refusing.
package liaison.authz

# The rules below test input.action rather than `action` so that OPA's rule
# index skips them for every other action (see Decision in authz.rego).

import data.liaison.schemes.dsa
import data.liaison.schemes.grading3x5x2 as grading

share_recipients := {r | some r in input.share.recipients; is_string(r)}

consent_recipients := {r | some r in input.consent.recipients; is_string(r)}

# An approval being executed: given by the originator for these recipients.
share_consented if {
	input.consent.approved_by == originator_id
	count(share_recipients - consent_recipients) == 0
}

# An approval recorded earlier in the record's metadata (meta.consents, each
# with the digest of the originator's signed receipt; the metadata itself is
# signed by the gateway): the same requester may share again with agencies
# the originator already approved for it, and with no others.
share_consented if {
	some c in record.consents
	c.approved_by == originator_id
	c.requested_by == caller
	count(share_recipients - {r | some r in c.recipients}) == 0
}

visible if {
	input.action == "record.share"
	visible_record
}

deny_reasons contains private_reason("not_recipient", "caller agency is neither the originator nor a recipient of the record") if {
	input.action == "record.share"
	not visible_record
}

deny_reasons contains reason("share_recipients_required", "name at least one agency to share with") if {
	input.action == "record.share"
	visible_record
	count(share_recipients) == 0
}

deny_reasons contains reason("recipient_unknown", sprintf("recipient %s is not a known agency", [rc])) if {
	input.action == "record.share"
	visible_record
	some rc in share_recipients
	not data.agencies[rc]
}

deny_reasons contains reason("recipient_not_party", sprintf("recipient %s is not a recipient party of the record's DSAs with a transfer basis for its country", [rc])) if {
	input.action == "record.share"
	visible_record
	some rc in share_recipients
	data.agencies[rc]
	not recipient_transfer_ok(rc)
}

deny_reasons contains reason("originating_agency_only", "the record may not leave the originating agency") if {
	input.action == "record.share"
	visible_record
	handling.conditions.originating_agency_only == true
	some rc in share_recipients
	rc != originator_id
}

# A recipient shares onward only while it has lawful access itself.
deny_reasons contains reason("no_applicable_dsa", sprintf("no DSA listed on the record names agency %s as a recipient", [caller])) if {
	input.action == "record.share"
	visible_record
	not is_originator
	count(candidate_dsas) == 0
}

deny_reasons contains x if {
	input.action == "record.share"
	visible_record
	not is_originator
	count(candidate_dsas) > 0
	count(granting_dsas) == 0
	some [_, x] in dsa_violations
}

# What restricts onward sharing, by source (most restrictive wins: any one
# of them makes the originator's consent necessary).
onward_restrictions contains "dsa_onward_sharing" if {
	some id in record_dsa_ids
	dsa.onward_restricted(id)
}

onward_restrictions contains "handling_code_c" if handling.code == "C"

onward_restrictions contains "no_onward_dissemination" if handling.conditions.no_onward_dissemination == true

onward_restrictions contains "sanitisation_s2" if handling.sanitisation_code == "S2"

onward_restrictions contains sprintf("europol_%s", [lower(c)]) if {
	some c in handling.europol_codes
	c in {"H2", "H3"}
}

onward_restrictions contains sprintf("tlp_%s", [lower(replace(tlp_label, "+", "_"))]) if tlp_label in {"RED", "AMBER+STRICT"}

onward_restrictions contains "free_text_conditions" if grading.consent_required(handling)

share_needs_consent if {
	not is_originator
	not share_consented
	count(onward_restrictions) > 0
}

deny_reasons contains reason("originator_consent_required", sprintf("onward sharing needs the originator's consent (%s)", [concat(", ", sort(onward_restrictions))])) if {
	input.action == "record.share"
	visible_record
	share_needs_consent
}

share_lawful_access if is_originator

share_lawful_access if {
	is_recipient
	count(granting_dsas) > 0
}

granted if {
	input.action == "record.share"
	visible_record
	count(share_recipients) > 0
	share_lawful_access
	not share_needs_consent
}
