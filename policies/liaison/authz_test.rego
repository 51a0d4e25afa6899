# Table-driven tests for data.liaison.authz.decision against the demo
# federation frozen in test_fixtures_test.rego (not the live data/). Each case patches a base input
# (object.union deep-merges; "remove" lists JSON paths to delete) and may
# patch data.agencies / data.dsas / data.settings, then asserts allow, visible and the exact
# set of reason codes.
package liaison.authz_test

import data.liaison.authz
import data.liaison.test_fixtures as fx

now := "2026-11-21T10:00:00Z"

officer := {
	"id": "dc-77",
	"clearance": "SC",
	"vetting": "MV",
	"roles": ["analyst"],
	"nationality": "GBR",
}

base_record := {
	"record_id": "rec_01JD8X3Q",
	"version": 1,
	"created": "2026-11-20T09:00:00Z",
	"originator": {"org_id": "met-police", "officer_ref": "pc-1234"},
	"classification": {"tier": "OFFICIAL", "sensitive": true, "descriptors": ["PERSONAL_DATA"]},
	"tlp": "AMBER",
	"grading": {"source": "1", "intelligence": "B"},
	"handling": {"code": "P"},
	"allowed_purposes": ["prevention", "investigation", "detection", "prosecution"],
	"data_subject_category": "suspect",
	"content_basis": "fact",
	"dsa_ids": ["dsa-uk-soc"],
	"recipients": ["rocu-nw", "hmrc"],
	"protected_fields": ["source_details"],
	"review_due": "2027-06-01",
}

read_input := {
	"action": "record.read",
	"time": now,
	"subject": {"agency_id": "rocu-nw", "officer": officer, "cert_fingerprint": "ab12"},
	"request": {
		"purpose": "investigation",
		"justification": "Operation KINGFISHER: subject linked to lead 42",
		"case": "OP-KINGFISHER",
	},
	"record": base_record,
}

# A met-police officer publishing the base record.
publish_input := {
	"action": "record.publish",
	"time": now,
	"subject": {"agency_id": "met-police", "officer": officer, "cert_fingerprint": "cd34"},
	"request": {"purpose": "investigation", "justification": "", "case": ""},
	"record": base_record,
}

# A record shared with SELEC under dsa-selec-ops.
selec_record := {
	"dsa_ids": ["dsa-selec-ops"],
	"recipients": ["selec"],
	"allowed_purposes": ["investigation", "prevention", "prosecution"],
}

selec_subject := {"agency_id": "selec", "officer": {"nationality": "ROU"}}

# C handling that every test caller satisfies.
c_handling := {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": {}}

# A foreign federation for the recipient-type rules: a Dutch (EEA) and a US
# (non-EEA) law-enforcement agency under an agreement with an adequacy basis.
foreign_agencies := {
	"nl-politie": {"name": "Politie", "org_type": "foreign_le", "country": "NLD", "is_competent_authority": true, "system_clearance": "BPSS", "require_officer_token": false},
	"us-hsi": {"name": "HSI", "org_type": "foreign_le", "country": "USA", "is_competent_authority": true, "system_clearance": "BPSS", "require_officer_token": false},
}

eu_dsas := {"dsa-foreign-test": {
	"status": "active",
	"parties": [
		{"org_id": "met-police", "role": "provider", "country": "GBR"},
		{"org_id": "nl-politie", "role": "recipient", "country": "NLD"},
		{"org_id": "us-hsi", "role": "recipient", "country": "USA"},
	],
	"purposes": ["investigation"],
	"max_classification": "SECRET",
	"max_tlp": "AMBER",
	"expiry_date": "2028-01-01",
	"onward_sharing": {"third_country_transfer": "adequacy"},
}}

eu_record := {
	"dsa_ids": ["dsa-foreign-test"],
	"recipients": ["nl-politie"],
	"handling": {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": {"allowed_recipient_types": ["eea_le"]}},
}

run(base, tc) := d if {
	inp := json.remove(object.union(base, object.get(tc, "patch", {})), object.get(tc, "remove", []))
	agencies := object.union(fx.agencies, object.get(tc, "agencies", {}))
	dsas := object.union(fx.dsas, object.get(tc, "dsas", {}))
	settings := object.union(fx.settings, object.get(tc, "settings", {}))
	d := authz.decision with input as inp with data.agencies as agencies with data.dsas as dsas with data.settings as settings with data.crosswalk as fx.crosswalk
}

codes(d) := {r.code | some r in d.reasons}

# check compares a decision with a case's expectation; visible defaults to
# true, codes to none (an allowed decision never carries reasons).
check(d, tc) if {
	d.allow == tc.allow
	d.visible == object.get(tc, "visible", true)
	codes(d) == object.get(tc, "codes", set())
}

read_cases := {
	"recipient officer reads under dsa-uk-soc": {"allow": true},
	"caller neither originator nor recipient is told nothing": {
		"patch": {"subject": {"agency_id": "nca"}},
		"allow": false, "visible": false, "codes": {"not_recipient"},
	},
	"originator reads its own record without purpose": {
		"patch": {"subject": {"agency_id": "met-police"}, "request": {"purpose": "", "justification": ""}},
		"allow": true,
	},
	"expired DSA": {
		"patch": {"subject": {"agency_id": "hmrc"}, "record": {"dsa_ids": ["dsa-legacy-2023"]}},
		"allow": false, "codes": {"dsa_expired"},
	},
	"expired DSA ignored when another DSA grants": {
		"patch": {"subject": {"agency_id": "hmrc"}, "record": {"dsa_ids": ["dsa-legacy-2023", "dsa-uk-soc"]}},
		"allow": true,
	},
	"suspended DSA": {
		"dsas": {"dsa-uk-soc": {"status": "suspended"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"terminated DSA": {
		"dsas": {"dsa-uk-soc": {"status": "terminated"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"DSA not yet in force": {
		"dsas": {"dsa-uk-soc": {"effective_date": "2027-01-01"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"DSA valid through its expiry day": {
		"patch": {"time": "2028-12-31T23:59:59Z"},
		"allow": true,
	},
	"DSA expired the day after": {
		"patch": {"time": "2029-01-01T00:00:00Z"},
		"allow": false, "codes": {"dsa_expired"},
	},
	"recipient not a party to any listed DSA": {
		"patch": {"subject": selec_subject, "record": {"recipients": ["selec"]}},
		"allow": false, "codes": {"no_applicable_dsa"},
	},
	"purpose missing": {
		"patch": {"request": {"purpose": ""}},
		"allow": false, "codes": {"purpose_required"},
	},
	"purpose not in the record's allowed purposes": {
		"patch": {"record": {"allowed_purposes": ["prevention"]}},
		"allow": false, "codes": {"purpose_not_permitted"},
	},
	"purpose not a recognised purpose": {
		"patch": {"request": {"purpose": "curiosity"}},
		"allow": false, "codes": {"purpose_not_permitted"},
	},
	"SELEC reads for investigation under dsa-selec-ops": {
		"patch": {"subject": selec_subject, "record": selec_record},
		"allow": true,
	},
	"SELEC purpose not permitted by dsa-selec-ops": {
		"patch": {"subject": selec_subject, "record": selec_record, "request": {"purpose": "prosecution"}},
		"allow": false, "codes": {"purpose_not_permitted"},
	},
	"justification missing": {
		"patch": {"request": {"justification": ""}},
		"allow": false, "codes": {"justification_required"},
	},
	"justification too short": {
		"patch": {"request": {"justification": "  lead  "}},
		"allow": false, "codes": {"justification_required"},
	},
	"justification not required when the DSA says so": {
		"patch": {"request": {"justification": ""}},
		"dsas": {"dsa-uk-soc": {"require_justification": false}},
		"allow": true,
	},
	"SECRET read by an SC officer": {
		"patch": {"record": {"classification": {"tier": "SECRET", "sensitive": false}}},
		"allow": true,
	},
	"SECRET read by a BPSS officer": {
		"patch": {"record": {"classification": {"tier": "SECRET"}}, "subject": {"officer": {"clearance": "BPSS"}}},
		"allow": false, "codes": {"clearance_insufficient"},
	},
	"TOP_SECRET exceeds the SC officer and the DSA": {
		"patch": {"record": {"classification": {"tier": "TOP_SECRET"}}},
		"allow": false, "codes": {"clearance_insufficient", "classification_exceeds_dsa"},
	},
	"officer without a clearance gets no system fallback": {
		"patch": {"record": {"classification": {"tier": "OFFICIAL", "sensitive": false}}},
		"remove": ["subject/officer/clearance"],
		"allow": false, "codes": {"clearance_insufficient"},
	},
	"DSA minimum clearance not met": {
		"patch": {"subject": {"officer": {"clearance": "BPSS"}}},
		"dsas": {"dsa-uk-soc": {"min_clearance": "SC"}},
		"allow": false, "codes": {"clearance_insufficient"},
	},
	"agency system reads OFFICIAL with its system clearance": {
		"patch": {"record": {"classification": {"sensitive": false}}},
		"remove": ["subject/officer"],
		"allow": true,
	},
	"agency system cannot read OFFICIAL-SENSITIVE content (need-to-know)": {
		"remove": ["subject/officer"],
		"allow": false, "codes": {"need_to_know_requires_officer"},
	},
	"agency system cannot read SECRET": {
		"patch": {"record": {"classification": {"tier": "SECRET"}}},
		"remove": ["subject/officer"],
		"allow": false, "codes": {"clearance_insufficient", "need_to_know_requires_officer"},
	},
	"officer token required by the agency": {
		"patch": {"record": {"classification": {"sensitive": false}}},
		"remove": ["subject/officer"],
		"agencies": {"rocu-nw": {"require_officer_token": true}},
		"allow": false, "codes": {"officer_token_required"},
	},
	"eyes only GBR met by a GBR agency and officer": {
		"patch": {"record": {"classification": {"eyes_only": ["GBR"]}}},
		"allow": true,
	},
	"eyes only UK alias": {
		"patch": {"record": {"classification": {"eyes_only": ["UK"]}}},
		"allow": true,
	},
	"eyes only GBR not met by a foreign-national officer": {
		"patch": {"record": {"classification": {"eyes_only": ["GBR"]}}, "subject": {"officer": {"nationality": "FRA"}}},
		"allow": false, "codes": {"caveat_not_met"},
	},
	"eyes only GBR not met by an officer without nationality": {
		"patch": {"record": {"classification": {"eyes_only": ["GBR"]}}},
		"remove": ["subject/officer/nationality"],
		"allow": false, "codes": {"caveat_not_met"},
	},
	"eyes only GBR not met by SELEC": {
		"patch": {"subject": selec_subject, "record": object.union(selec_record, {"classification": {"eyes_only": ["GBR"]}})},
		"allow": false, "codes": {"caveat_not_met"},
	},
	"TLP RED to a named officer": {
		"patch": {"record": {"tlp": "RED"}},
		"allow": true,
	},
	"TLP RED to an agency system": {
		"patch": {"record": {"tlp": "RED", "classification": {"sensitive": false}}},
		"remove": ["subject/officer"],
		"allow": false, "codes": {"tlp_red_requires_officer"},
	},
	"TLP AMBER+STRICT to an explicit recipient": {
		"patch": {"record": {"tlp": "AMBER+STRICT"}},
		"allow": true,
	},
	"TLP above the DSA ceiling": {
		"patch": {"subject": selec_subject, "record": object.union(selec_record, {"tlp": "AMBER+STRICT"})},
		"allow": false, "codes": {"tlp_exceeds_dsa"},
	},
	"malformed TLP": {
		"patch": {"record": {"tlp": "WHITE"}},
		"allow": false, "codes": {"tlp_invalid", "tlp_exceeds_dsa"},
	},
	"classification above the DSA ceiling": {
		"patch": {
			"subject": {"agency_id": "selec", "officer": {"nationality": "ROU", "clearance": "SC"}},
			"record": object.union(selec_record, {"classification": {"tier": "SECRET"}}),
		},
		"allow": false, "codes": {"classification_exceeds_dsa"},
	},
	"unknown classification tier": {
		"patch": {"record": {"classification": {"tier": "RESTRICTED"}}},
		"allow": false, "codes": {"classification_invalid", "classification_exceeds_dsa", "clearance_insufficient", "need_to_know_requires_officer"},
		"remove": ["subject/officer"],
	},
	"third-country transfer prohibited by the DSA": {
		"patch": {"subject": selec_subject, "record": selec_record},
		"dsas": {"dsa-selec-ops": {"onward_sharing": {"third_country_transfer": "prohibited"}}},
		"allow": false, "codes": {"transfer_not_permitted"},
	},
	"handling C with every condition met": {
		"patch": {"record": {"handling": c_handling}},
		"allow": true,
	},
	"handling C incomplete": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A3", "conditions": {}}}},
		"allow": false, "codes": {"handling_conditions_incomplete"},
	},
	"handling code unknown": {
		"patch": {"record": {"handling": {"code": "X"}}},
		"allow": false, "codes": {"handling_invalid"},
	},
	"handling C allowed recipient orgs include the caller": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"allowed_recipient_orgs": ["rocu-nw"]}})}},
		"allow": true,
	},
	"handling C allowed recipient orgs exclude the caller": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"allowed_recipient_orgs": ["nca"]}})}},
		"allow": false, "codes": {"handling_condition_not_met"},
	},
	"handling C allowed recipient types include the caller": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"allowed_recipient_types": ["rocu", "nca"]}})}},
		"allow": true,
	},
	"handling C allowed recipient types exclude the caller": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"allowed_recipient_types": ["hmrc"]}})}},
		"allow": false, "codes": {"handling_condition_not_met"},
	},
	"handling C conditions still valid": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"expires": "2027-01-01T00:00:00Z"}})}},
		"allow": true,
	},
	"handling C conditions expired": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"expires": "2026-11-01T00:00:00Z"}})}},
		"allow": false, "codes": {"handling_expired"},
	},
	"handling C originating agency only": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"originating_agency_only": true}})}},
		"allow": false, "codes": {"originating_agency_only"},
	},
	"handling C originating agency only, read by the originator": {
		"patch": {
			"subject": {"agency_id": "met-police"},
			"record": {"handling": object.union(c_handling, {"conditions": {"originating_agency_only": true}})},
		},
		"allow": true,
	},
	"A1 allows analysis for investigation": {
		"patch": {"record": {"handling": object.union(c_handling, {"action_code": "A1"})}},
		"allow": true,
	},
	"A1 forbids prosecution": {
		"patch": {"record": {"handling": object.union(c_handling, {"action_code": "A1"})}, "request": {"purpose": "prosecution"}},
		"allow": false, "codes": {"action_code_forbids_use"},
	},
	"A2 forbids prosecution": {
		"patch": {"record": {"handling": object.union(c_handling, {"action_code": "A2"})}, "request": {"purpose": "prosecution"}},
		"allow": false, "codes": {"action_code_forbids_use"},
	},
	"A3 allows prosecution": {
		"patch": {"record": {"handling": c_handling}, "request": {"purpose": "prosecution"}},
		"allow": true,
	},
	"no judicial use forbids prosecution": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"no_judicial_use": true}})}, "request": {"purpose": "prosecution"}},
		"allow": false, "codes": {"judicial_use_forbidden"},
	},
	"no judicial use allows investigation": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"no_judicial_use": true}})}},
		"allow": true,
	},
	"intelligence use only forbids prosecution": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"intelligence_use_only": true}})}, "request": {"purpose": "prosecution"}},
		"allow": false, "codes": {"judicial_use_forbidden"},
	},
	"free-text condition still allows the read": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"free_text": "Contact DS Smith before any action"}})}},
		"allow": true,
	},
	"EEA agency meets an eea_le condition": {
		"patch": {"subject": {"agency_id": "nl-politie", "officer": {"nationality": "NLD"}}, "record": eu_record},
		"agencies": foreign_agencies, "dsas": eu_dsas,
		"allow": true,
	},
	"EEA agency fails a non_eea_le condition": {
		"patch": {
			"subject": {"agency_id": "nl-politie", "officer": {"nationality": "NLD"}},
			"record": object.union(eu_record, {"handling": {"conditions": {"allowed_recipient_types": ["non_eea_le"]}}}),
		},
		"agencies": foreign_agencies, "dsas": eu_dsas,
		"allow": false, "codes": {"handling_condition_not_met"},
	},
	"non-EEA agency meets a non_eea_le condition": {
		"patch": {
			"subject": {"agency_id": "us-hsi", "officer": {"nationality": "USA"}},
			"record": object.union(eu_record, {"recipients": ["us-hsi"], "handling": {"conditions": {"allowed_recipient_types": ["non_eea_le"]}}}),
		},
		"agencies": foreign_agencies, "dsas": eu_dsas,
		"allow": true,
	},
	"extra recipient types listed for an agency": {
		"patch": {
			"subject": {"agency_id": "us-hsi", "officer": {"nationality": "USA"}},
			"record": object.union(eu_record, {"recipients": ["us-hsi"], "handling": {"conditions": {"allowed_recipient_types": ["interpol"]}}}),
		},
		"agencies": object.union(foreign_agencies, {"us-hsi": {"recipient_types": ["interpol"]}}), "dsas": eu_dsas,
		"allow": true,
	},
	"originator outside the registry with its country given": {
		"patch": {"record": {"originator": {"org_id": "gmp-legacy", "country": "GBR"}}},
		"allow": true,
	},
	"originator outside the registry without a country": {
		"patch": {"record": {"originator": {"org_id": "gmp-legacy"}}},
		"allow": false, "codes": {"transfer_not_permitted"},
	},
	"unknown caller agency": {
		"patch": {"subject": {"agency_id": "gmp"}},
		"allow": false, "visible": false, "codes": {"unknown_agency", "not_recipient"},
	},
	"officer without an id": {
		"patch": {"subject": {"officer": {"id": ""}}},
		"allow": false, "codes": {"invalid_input", "need_to_know_requires_officer"},
	},
	"officer not an object": {
		"patch": {"subject": {"officer": "dc-77"}},
		"allow": false, "codes": {"invalid_input", "need_to_know_requires_officer"},
	},
	"missing time": {
		"remove": ["time"],
		"allow": false, "codes": {"invalid_input", "dsa_expired", "dsa_not_active", "handling_unverifiable"},
	},
}

# The read table is run as two test rules of half the cases each. opa test
# evaluates a table test (a rule with a case name in its head) with a query
# tracer to report each case, which costs several times the evaluation
# itself; one rule over all 70 cases ran close to opa test's default
# per-test timeout of 5 s on a busy two-core machine (issue 9 item 25).
# chunk(cases, n, k) is the k-th of n parts of a case table, by sorted
# case name. (Filtering inside the test rule would not do: opa test counts
# every name the rule iterates over as a case.)
chunk(cases, n, k) := {name: tc |
	some i, name in sort(object.keys(cases))
	i % n == k
	tc := cases[name]
}

test_read[name] if {
	some name, tc in chunk(read_cases, 2, 0)
	check(run(read_input, tc), tc)
}

test_read_2[name] if {
	some name, tc in chunk(read_cases, 2, 1)
	check(run(read_input, tc), tc)
}

# record.list is record.read without the justification requirement and the
# need-to-know rule (metadata only).
list_cases := {
	"recipient lists without justification": {
		"patch": {"request": {"justification": ""}},
		"allow": true,
	},
	"agency system lists OFFICIAL-SENSITIVE metadata": {
		"remove": ["subject/officer"],
		"allow": true,
	},
	"stranger does not see the record": {
		"patch": {"subject": {"agency_id": "nca"}},
		"allow": false, "visible": false, "codes": {"not_recipient"},
	},
	"list without a purpose shows what some permitted purpose allows": {
		"patch": {"request": {"purpose": ""}},
		"allow": true,
	},
	"list with a purpose the record does not permit": {
		"patch": {"request": {"purpose": "execution_of_penalties"}},
		"allow": false, "codes": {"purpose_not_permitted"},
	},
	"list still checks the DSA": {
		"patch": {"subject": {"agency_id": "hmrc"}, "record": {"dsa_ids": ["dsa-legacy-2023"]}},
		"allow": false, "codes": {"dsa_expired"},
	},
	"list still checks clearance": {
		"patch": {"record": {"classification": {"tier": "SECRET"}}, "subject": {"officer": {"clearance": "BPSS"}}},
		"allow": false, "codes": {"clearance_insufficient"},
	},
}

test_list[name] if {
	some name, tc in list_cases
	check(run(object.union(read_input, {"action": "record.list"}), tc), tc)
}

publish_cases := {
	"originator publishes under dsa-uk-soc": {"allow": true},
	"agency system publishes": {"remove": ["subject/officer"], "allow": true},
	"caller is not the originator": {
		"patch": {"subject": {"agency_id": "nca"}},
		"allow": false, "codes": {"not_originator"},
	},
	"unknown DSA": {
		"patch": {"record": {"dsa_ids": ["dsa-nope"], "recipients": []}},
		"allow": false, "codes": {"dsa_unknown"},
	},
	"expired DSA": {
		"patch": {"record": {"dsa_ids": ["dsa-legacy-2023"], "recipients": ["hmrc"], "allowed_purposes": ["investigation"]}},
		"allow": false, "codes": {"dsa_expired"},
	},
	"suspended DSA": {
		"dsas": {"dsa-uk-soc": {"status": "suspended"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"caller is recipient-only under the DSA": {
		"patch": {
			"subject": {"agency_id": "selec"},
			"record": object.union(selec_record, {"originator": {"org_id": "selec"}, "recipients": []}),
		},
		"allow": false, "codes": {"not_dsa_provider"},
	},
	"publish to SELEC under dsa-selec-ops": {
		"patch": {"record": selec_record},
		"allow": true,
	},
	"unknown recipient": {
		"patch": {"record": {"recipients": ["rocu-nw", "gmp"]}},
		"allow": false, "codes": {"recipient_unknown"},
	},
	"recipient not a party of any listed DSA": {
		"patch": {"record": {"recipients": ["border-force"]}},
		"allow": false, "codes": {"recipient_not_party"},
	},
	"classification above a DSA ceiling": {
		"patch": {"record": object.union(selec_record, {"classification": {"tier": "SECRET"}})},
		"allow": false, "codes": {"classification_exceeds_dsa"},
	},
	"OFFICIAL-SENSITIVE within an OFFICIAL-SENSITIVE ceiling": {
		"patch": {"record": object.union(selec_record, {"classification": {"tier": "OFFICIAL", "sensitive": true}})},
		"allow": true,
	},
	"OFFICIAL-SENSITIVE above an OFFICIAL ceiling": {
		"dsas": {"dsa-uk-soc": {"max_classification": "OFFICIAL"}},
		"allow": false, "codes": {"classification_exceeds_dsa"},
	},
	"TLP above a DSA ceiling": {
		"patch": {"record": object.union(selec_record, {"tlp": "RED"})},
		"allow": false, "codes": {"tlp_exceeds_dsa"},
	},
	"no allowed purpose overlaps the DSA": {
		"patch": {"record": object.union(selec_record, {"allowed_purposes": ["prosecution"]})},
		"allow": false, "codes": {"purpose_not_permitted"},
	},
	"no allowed purposes at all": {
		"patch": {"record": {"allowed_purposes": []}},
		"allow": false, "codes": {"purpose_required", "purpose_not_permitted"},
	},
	"handling C complete": {
		"patch": {"record": {"handling": c_handling}},
		"allow": true,
	},
	"handling C without sanitisation code": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A1", "conditions": {}}}},
		"allow": false, "codes": {"handling_conditions_incomplete"},
	},
	"handling C without conditions": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A1", "sanitisation_code": "S2"}}},
		"allow": false, "codes": {"handling_conditions_incomplete"},
	},
	"handling P with an action code": {
		"patch": {"record": {"handling": {"code": "P", "action_code": "A1"}}},
		"allow": false, "codes": {"handling_invalid"},
	},
	"originating agency only without other recipients": {
		"patch": {"record": {"recipients": [], "handling": object.union(c_handling, {"conditions": {"originating_agency_only": true}})}},
		"allow": true,
	},
	"originating agency only naming other recipients": {
		"patch": {"record": {"handling": object.union(c_handling, {"conditions": {"originating_agency_only": true}})}},
		"allow": false, "codes": {"originating_agency_only"},
	},
	"TLP RED with named recipients": {
		"patch": {"record": {"tlp": "RED"}},
		"allow": true,
	},
	"TLP RED without recipients": {
		"patch": {"record": {"tlp": "RED", "recipients": []}},
		"allow": false, "codes": {"tlp_red_requires_recipients"},
	},
	"transfer to a foreign recipient without a transfer basis": {
		"patch": {"record": selec_record},
		"dsas": {"dsa-selec-ops": {"onward_sharing": {"third_country_transfer": "prohibited"}}},
		"allow": false, "codes": {"transfer_not_permitted"},
	},
	"invalid grading": {
		"patch": {"record": {"grading": {"source": "5", "intelligence": "B"}}},
		"allow": false, "codes": {"grading_invalid"},
	},
	"unknown tier": {
		"patch": {"record": {"classification": {"tier": "CONFIDENTIAL"}}},
		"allow": false, "codes": {"classification_invalid", "classification_exceeds_dsa"},
	},
	"dsa_ids not an array": {
		"patch": {"record": {"dsa_ids": "dsa-uk-soc"}},
		"allow": false, "codes": {"invalid_input", "recipient_not_party"},
	},
	"recipients not an array": {
		"patch": {"record": {"recipients": "rocu-nw"}},
		"allow": false, "codes": {"invalid_input"},
	},
	"unrecognised allowed purpose": {
		"patch": {"record": {"allowed_purposes": ["investigation", "curiosity"]}},
		"allow": false, "codes": {"purpose_not_permitted"},
	},
	"invalid TLP": {
		"patch": {"record": {"tlp": "WHITE"}},
		"allow": false, "codes": {"tlp_invalid", "tlp_exceeds_dsa"},
	},
	"record metadata missing": {
		"remove": ["record"],
		"allow": false, "codes": {"invalid_input", "not_originator", "purpose_required", "grading_invalid", "classification_invalid", "handling_invalid"},
	},
}

test_publish[name] if {
	some name, tc in publish_cases
	check(run(publish_input, tc), tc)
}

recall_cases := {
	"originator recalls": {"patch": {"subject": {"agency_id": "met-police"}}, "allow": true},
	"recipient may not recall": {"allow": false, "codes": {"not_originator"}},
	"stranger is told nothing": {
		"patch": {"subject": {"agency_id": "nca"}},
		"allow": false, "visible": false, "codes": {"not_recipient"},
	},
}

test_recall[name] if {
	some name, tc in recall_cases
	check(run(object.union(read_input, {"action": "record.recall"}), tc), tc)
}

decide_input := {
	"action": "policy.decide",
	"time": now,
	"subject": {"agency_id": "nca", "officer": {"id": "so-1", "clearance": "SC", "roles": ["security_officer"]}},
	"request": {"purpose": "", "justification": "", "case": ""},
}

decide_cases := {
	"security officer may dry-run": {"allow": true},
	"analyst may not": {
		"patch": {"subject": {"officer": {"roles": ["analyst"]}}},
		"allow": false, "codes": {"policy_admin_required"},
	},
	"agency system may not": {
		"remove": ["subject/officer"],
		"allow": false, "codes": {"policy_admin_required"},
	},
}

test_decide[name] if {
	some name, tc in decide_cases
	check(run(decide_input, tc), tc)
}

# Garbage never errors and never allows.
test_garbage_denied[name] if {
	some name, inp in {
		"number": 42,
		"string": "record.read",
		"null": null,
		"array": [read_input],
		"empty object": {},
		"unknown action": object.union(read_input, {"action": "record.delete"}),
		"action not a string": object.union(read_input, {"action": ["record.read"]}),
		"record not an object": object.union(read_input, {"record": "rec_01"}),
		"subject not an object": object.union(read_input, {"subject": "rocu-nw"}),
		"malformed agency id": object.union(read_input, {"subject": {"agency_id": "ROCU NW"}}),
		"malformed time": object.union(read_input, {"time": "yesterday"}),
		"recipients not an array": object.union(read_input, {"record": {"recipients": "rocu-nw"}}),
		"classification not an object": object.union(read_input, {"record": {"classification": "SECRET"}}),
		"handling not an object": object.union(read_input, {"record": {"handling": "P"}}),
		"eyes_only not an array": object.union(read_input, {"record": {"classification": {"eyes_only": "GBR"}}}),
	}
	d := authz.decision with input as inp with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	d.allow == false
	count(d.reasons) > 0
	not "policy_default_deny" in codes(d)
}

test_unknown_action_reason if {
	d := authz.decision with input as object.union(read_input, {"action": "record.delete"}) with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	"unknown_action" in codes(d)
	d.visible == false
}

test_invisible_reasons_are_private if {
	d := authz.decision with input as object.union(read_input, {"subject": {"agency_id": "nca"}}) with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	d.visible == false
	every r in d.reasons {
		r.public == false
	}
}

test_visible_reasons_are_public if {
	d := authz.decision with input as object.union(read_input, {"request": {"purpose": ""}}) with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	d.visible == true
	d.reasons == [{"code": "purpose_required", "message": "a purpose is required (Liaison-Purpose)", "public": true}]
}

test_recipient_obligations if {
	d := authz.decision with input as read_input with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	d.allow
	d.dsa_id == "dsa-uk-soc"
	d.obligations == {
		"redact": ["source_details"],
		"banner": "OFFICIAL-SENSITIVE | TLP:AMBER | 3x5x2 1B P | PERSONAL DATA",
		"attach_grading": true,
		"conditions": ["onward_sharing_requires_originator_authorisation", "tlp_amber_organisation_and_clients_need_to_know"],
		"originator_consent_required": false,
		"forbid_evidential_use": false,
	}
}

test_selec_obligations_combine_redactions_and_transfer_condition if {
	d := authz.decision with input as object.union(read_input, {"subject": selec_subject, "record": selec_record}) with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	d.allow
	d.dsa_id == "dsa-selec-ops"
	d.obligations.redact == ["officer_contact", "source_details"]
	"no_further_transfer_without_originator_authorisation" in d.obligations.conditions
}

test_originator_gets_banner_only if {
	d := authz.decision with input as object.union(read_input, {"subject": {"agency_id": "met-police"}}) with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	d.allow
	d.dsa_id == ""
	d.obligations == {
		"redact": [],
		"banner": "OFFICIAL-SENSITIVE | TLP:AMBER | 3x5x2 1B P | PERSONAL DATA",
		"attach_grading": false,
		"conditions": [],
		"originator_consent_required": false,
		"forbid_evidential_use": false,
	}
}

test_handling_c_banner_and_conditions if {
	h := {"code": "C", "action_code": "A2", "sanitisation_code": "S2", "conditions": {"no_judicial_use": true, "free_text": "Consult originator"}}
	rec := object.union(base_record, {
		"handling": h,
		"classification": {"uk_prefix": true, "eyes_only": ["UK"], "handling_instructions": ["RECIPIENTS ONLY"]},
		"grading": {"source": "2", "intelligence": "C"},
	})
	d := authz.decision with input as object.union(read_input, {"record": rec}) with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	d.allow
	d.obligations.banner == "UK OFFICIAL-SENSITIVE | TLP:AMBER | 3x5x2 2C C A2 S2 | UK EYES ONLY | PERSONAL DATA | RECIPIENTS ONLY | NO JUDICIAL USE | ORIGINATOR CONSENT REQUIRED"
	d.obligations.originator_consent_required == true
	d.obligations.conditions == [
		"covert_action_only",
		"no_evidential_use",
		"no_judicial_use",
		"no_sanitisation_without_originator",
		"onward_sharing_requires_originator_authorisation",
		"originator_consent_required",
		"tlp_amber_organisation_and_clients_need_to_know",
	]
}

test_denied_decision_has_no_obligations if {
	d := authz.decision with input as object.union(read_input, {"request": {"purpose": ""}}) with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	not d.allow
	d.obligations.redact == []
	d.obligations.banner == ""
	d.dsa_id == ""
}

test_reason_messages_carry_no_free_text if {
	d := authz.decision with input as object.union(read_input, {"request": {"purpose": "SECRET-NAME-OF-INFORMANT"}}) with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	not d.allow
	every r in d.reasons {
		not contains(r.message, "INFORMANT")
	}
}

test_malformed_ids_are_not_echoed if {
	d := authz.decision with input as object.union(publish_input, {"record": {"dsa_ids": ["<b>secret</b>"], "recipients": []}}) with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	d.reasons == [{"code": "dsa_unknown", "message": "DSA (malformed id) is not known", "public": true}]
}

test_settings_defaults[name] if {
	some name, tc in {
		"7 characters are too few": {"justification": "1234567", "allow": false},
		"8 characters are enough": {"justification": "12345678", "allow": true},
	}
	inp := object.union(read_input, {"request": {"justification": tc.justification}})
	d := authz.decision with input as inp with data.settings as {"policy_admin_roles": ["security_officer"]} with data.crosswalk as fx.crosswalk with data.agencies as fx.agencies with data.dsas as fx.dsas
	d.allow == tc.allow
}

test_need_to_know_default_threshold if {
	inp := json.remove(read_input, ["subject/officer"])
	d := authz.decision with input as inp with data.settings as {} with data.crosswalk as fx.crosswalk with data.agencies as fx.agencies with data.dsas as fx.dsas
	codes(d) == {"need_to_know_requires_officer"}
}

# If no check fails but no rule grants (a policy bug), the decision still
# denies, with a reason for the audit log only.
test_no_grant_without_reason_denies if {
	d := authz.decision with input as read_input with authz.granted as false with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	not d.allow
	d.reasons == [{"code": "not_permitted", "message": "no policy rule grants this action", "public": false}]
}
