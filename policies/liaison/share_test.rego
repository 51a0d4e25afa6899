# Table tests for record.share (onward sharing) and audit.query.
package liaison.authz_test

share_input := object.union(read_input, {"action": "record.share", "share": {"recipients": ["nca"]}})

onward_open := {"dsa-uk-soc": {"onward_sharing": {"allowed": true, "requires_originator_authorisation": false}}}

share_cases := {
	"recipient needs consent under a restrictive DSA": {
		"allow": false, "codes": {"originator_consent_required"},
	},
	"recipient shares directly when the DSA permits onward sharing": {
		"dsas": onward_open, "allow": true,
	},
	"originator adds a recipient directly": {
		"patch": {"subject": {"agency_id": "met-police"}},
		"allow": true,
	},
	"originator adds an unknown agency": {
		"patch": {"subject": {"agency_id": "met-police"}, "share": {"recipients": ["nowhere-pd"]}},
		"allow": false, "codes": {"recipient_unknown"},
	},
	"originator adds an agency outside the record's DSAs": {
		"patch": {"subject": {"agency_id": "met-police"}, "share": {"recipients": ["selec"]}},
		"allow": false, "codes": {"recipient_not_party"},
	},
	"stranger learns nothing": {
		"patch": {"subject": {"agency_id": "nca"}},
		"allow": false, "visible": false, "codes": {"not_recipient"},
	},
	"no recipients named": {
		"patch": {"share": {"recipients": []}},
		"dsas": onward_open, "allow": false, "codes": {"share_recipients_required"},
	},
	"handling code C needs consent": {
		"patch": {"record": {"handling": c_handling}},
		"dsas": onward_open, "allow": false, "codes": {"originator_consent_required"},
	},
	"no_onward_dissemination needs consent": {
		"patch": {"record": {"handling": {"code": "P", "conditions": {"no_onward_dissemination": true}}}},
		"dsas": onward_open, "allow": false, "codes": {"originator_consent_required"},
	},
	"S2 needs consent": {
		"patch": {"record": {"handling": object.union(c_handling, {"sanitisation_code": "S2"})}},
		"dsas": onward_open, "allow": false, "codes": {"originator_consent_required"},
	},
	"Europol H2 needs consent": {
		"patch": {"record": {"handling": {"code": "P", "europol_codes": ["H0", "H2"]}}},
		"dsas": onward_open, "allow": false, "codes": {"originator_consent_required"},
	},
	"TLP:RED needs consent": {
		"patch": {"record": {"tlp": "RED"}},
		"dsas": onward_open, "allow": false, "codes": {"originator_consent_required"},
	},
	"free-text conditions need consent": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"free_text": "Ask DS Smith first"}})}},
		"dsas": onward_open, "allow": false, "codes": {"originator_consent_required"},
	},
	"an approval covering the recipients lets a recipient share": {
		"patch": {"consent": {"id": "con_x", "approved_by": "met-police", "recipients": ["nca"]}},
		"allow": true,
	},
	"an approval from someone else is no approval": {
		"patch": {"consent": {"id": "con_x", "approved_by": "hmrc", "recipients": ["nca"]}},
		"allow": false, "codes": {"originator_consent_required"},
	},
	"an approval for fewer recipients does not stretch": {
		"patch": {"share": {"recipients": ["nca", "rocu-nw"]}, "consent": {"id": "con_x", "approved_by": "met-police", "recipients": ["nca"]}},
		"allow": false, "codes": {"originator_consent_required"},
	},
	"an approval recorded in the metadata is honoured later": {
		"patch": {"record": {"consents": [{"id": "con_y", "requested_by": "rocu-nw", "recipients": ["nca"], "approved_by": "met-police", "approved_at": now, "receipt_digest": "sha256:00"}]}},
		"allow": true,
	},
	"a recorded approval covers only its requester": {
		"patch": {"subject": {"agency_id": "hmrc"}, "record": {"consents": [{"id": "con_y", "requested_by": "rocu-nw", "recipients": ["nca"], "approved_by": "met-police", "approved_at": now, "receipt_digest": "sha256:00"}]}},
		"allow": false, "codes": {"originator_consent_required"},
	},
	"a recorded approval does not stretch to other agencies": {
		"patch": {"share": {"recipients": ["nca", "rocu-nw"]}, "record": {"consents": [{"id": "con_y", "requested_by": "rocu-nw", "recipients": ["nca"], "approved_by": "met-police", "approved_at": now, "receipt_digest": "sha256:00"}]}},
		"allow": false, "codes": {"originator_consent_required"},
	},
	"originating-agency-only records stay home": {
		"patch": {"subject": {"agency_id": "met-police"}, "record": {"handling": {"code": "C", "action_code": "A1", "sanitisation_code": "S2", "conditions": {"originating_agency_only": true}}}},
		"allow": false, "codes": {"originating_agency_only"},
	},
	"recipient whose DSA expired cannot share": {
		"patch": {"subject": {"agency_id": "hmrc"}, "record": {"dsa_ids": ["dsa-legacy-2023"]}},
		"allow": false, "codes": {"dsa_expired", "originator_consent_required", "recipient_not_party"},
	},
}

test_share[name] if {
	some name, tc in share_cases
	check(run(share_input, tc), tc)
}

audit_input := {
	"action": "audit.query",
	"time": now,
	"subject": {"agency_id": "met-police", "officer": object.union(officer, {"roles": ["dpo"]})},
	"request": {"purpose": "", "justification": "", "case": ""},
}

audit_cases := {
	"a DPO queries the audit log": {"allow": true},
	"an analyst may not": {
		"patch": {"subject": {"officer": {"roles": ["analyst"]}}},
		"allow": false, "codes": {"auditor_required"},
	},
	"an agency system without an officer may not": {
		"remove": ["subject/officer"],
		"allow": false, "codes": {"auditor_required"},
	},
}

test_audit_query[name] if {
	some name, tc in audit_cases
	check(run(audit_input, tc), tc)
}

# The scope an allowed audit query carries (issue 9 item 2): an agency's
# auditor sees its own part of the log, a federation auditor all of it,
# and only where the registry allows the agency to hold the role.
audit_scope_cases := {
	"a DPO sees its agency and the DSAs it is party to": {
		"want": {"federation": false, "agency": "met-police", "dsas": ["dsa-legacy-2023", "dsa-selec-ops", "dsa-uk-soc"]},
	},
	"an agency party to no DSA sees its own entries only": {
		"patch": {"subject": {"agency_id": "border-force"}},
		"want": {"federation": false, "agency": "border-force", "dsas": []},
	},
	"a federation auditor of an agency allowed to hold the role sees everything": {
		"patch": {"subject": {"agency_id": "nca", "officer": {"roles": ["federation_auditor"]}}},
		"agencies": {"nca": {"federation_auditor": true}},
		"want": {"federation": true, "agency": "nca", "dsas": []},
	},
	"the federation auditor role claimed by an agency not allowed it is refused": {
		"patch": {"subject": {"agency_id": "nca", "officer": {"roles": ["federation_auditor"]}}},
		"want": null,
	},
	"a DPO of an agency allowed federation auditors is still scoped to its agency": {
		"patch": {"subject": {"agency_id": "nca"}},
		"agencies": {"nca": {"federation_auditor": true}},
		"want": {"federation": false, "agency": "nca", "dsas": ["dsa-uk-soc"]},
	},
}

test_audit_scope[name] if {
	some name, tc in audit_scope_cases
	d := run(audit_input, tc)
	d.audit_scope == tc.want
	d.allow == tc.want != null
}
