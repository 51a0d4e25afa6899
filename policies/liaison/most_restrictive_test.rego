# Most restrictive wins: when several schemes mark one record, every
# scheme's checks apply and none relaxes another's; conditions and
# obligations accumulate. Each case pairs a permissive marking with a
# restrictive one and expects the restrictive outcome.
package liaison.most_restrictive_test

import data.liaison.authz_test as at

c(conditions) := {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": conditions}

cases := {
	"TLP CLEAR does not lift originating agency only": {
		"patch": {"record": {"tlp": "CLEAR", "handling": c({"originating_agency_only": true})}},
		"allow": false, "codes": {"originating_agency_only"},
	},
	"P handling does not lift a legacy originating-agency-only grade": {
		"patch": {"record": {"handling": {"code": "P"}, "grading": {"legacy_5x5x5": "A14"}}},
		"allow": false, "codes": {"originating_agency_only"},
	},
	"A3 does not lift Europol H1 for prosecution": {
		"patch": {"record": {"handling": object.union(c({}), {"europol_codes": ["H1"]})}, "request": {"purpose": "prosecution"}},
		"allow": false, "codes": {"europol_judicial_use_requires_consent"},
	},
	"Europol H0 and 3x5x2 A2 both deny prosecution": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A2", "sanitisation_code": "S1", "conditions": {}, "europol_codes": ["H1"]}}, "request": {"purpose": "prosecution"}},
		"allow": false, "codes": {"action_code_forbids_use", "europol_judicial_use_requires_consent"},
	},
	"DSA ceiling binds even with TLP RED to a named officer": {
		"patch": {"subject": at.selec_subject, "record": object.union(at.selec_record, {"tlp": "RED"})},
		"allow": false, "codes": {"tlp_exceeds_dsa"},
	},
	"clearance and vetting both apply": {
		"patch": {"record": {"classification": {"tier": "SECRET"}, "source_type": "chis"}, "subject": {"officer": {"clearance": "BPSS", "vetting": "RV"}}},
		"allow": false, "codes": {"clearance_insufficient", "vetting_insufficient"},
	},
	"legacy handling types narrow the record's own types": {
		"patch": {"subject": at.selec_subject, "record": object.union(at.selec_record, {"handling": c({"allowed_recipient_types": ["rocu", "selec"]}), "grading": {"legacy_5x5x5": "B22"}})},
		"allow": false, "codes": {"handling_condition_not_met"},
	},
	"the record's own types narrow the legacy types": {
		"patch": {"record": {"handling": c({"allowed_recipient_types": ["hmrc"]}), "grading": {"legacy_5x5x5": "B23"}}},
		"allow": false, "codes": {"handling_condition_not_met"},
	},
	"every scheme permits: allowed": {
		"patch": {"record": {"tlp": "GREEN", "handling": object.union(c({}), {"europol_codes": ["H2"]}), "grading": {"legacy_5x5x5": "B21"}}},
		"allow": true,
	},
}

test_most_restrictive_wins[name] if {
	some name, tc in cases
	at.check(at.run(at.read_input, tc), tc)
}

# Conditions from every scheme accumulate on one record.
test_conditions_accumulate if {
	d := at.run(at.read_input, {"patch": {"record": {
		"tlp": "AMBER+STRICT",
		"handling": object.union(c({"no_judicial_use": true}), {"europol_codes": ["H2"]}),
		"grading": {"legacy_5x5x5": "B25"},
	}}})
	d.allow
	every cond in {
		"tlp_amber_strict_organisation_only", # TLP
		"no_judicial_use", # 3x5x2 condition
		"overt_action_as_specified_by_originator", # 3x5x2 A3
		"no_direct_action_without_originator_permission", # legacy 5 implies A1
		"no_onward_dissemination", # legacy 5
		"refer_to_originator", # legacy 5
		"no_onward_dissemination_without_provider_consent", # Europol H2
		"europol_law_enforcement_purposes_only", # Europol H0
		"onward_sharing_requires_originator_authorisation", # DSA
	} {
		cond in d.obligations.conditions
	}
	d.obligations.forbid_evidential_use
	d.obligations.originator_consent_required
}
