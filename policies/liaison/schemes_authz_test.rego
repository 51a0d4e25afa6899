# Decisions for the Europol, legacy 5x5x5, police vetting and SELEC rules,
# end to end through data.liaison.authz.decision, with the helpers and the
# frozen demo federation of authz_test.rego. Each rule has allow and deny
# cases; the most-restrictive-wins cases are in most_restrictive_test.rego.
package liaison.schemes_authz_test

import data.liaison.authz
import data.liaison.authz_test as at
import data.liaison.test_fixtures as fx

# A Europol-marked record: any H code also brings H0.
eu(codes) := {"record": {"handling": {"code": "P", "europol_codes": codes}}}

read_cases := {
	# Europol H0-H3
	"Europol H0: investigation": {"patch": eu(["H0"]), "allow": true},
	"Europol H0: public security is not a law-enforcement purpose": {
		"patch": object.union(eu(["H0"]), {"request": {"purpose": "public_security"}, "record": {"allowed_purposes": ["public_security"]}}),
		"dsas": {"dsa-uk-soc": {"purposes": ["investigation", "public_security"]}},
		"allow": false, "codes": {"europol_purpose_restricted"},
	},
	"Europol H1: prosecution needs the provider's consent": {
		"patch": object.union(eu(["H1"]), {"request": {"purpose": "prosecution"}}),
		"allow": false, "codes": {"europol_judicial_use_requires_consent"},
	},
	"Europol H1: investigation": {"patch": eu(["H1"]), "allow": true},
	"Europol H2: prosecution is not dissemination": {"patch": object.union(eu(["H2"]), {"request": {"purpose": "prosecution"}}), "allow": true},
	"Europol H3: read allowed, consent obligation": {"patch": eu(["H3"]), "allow": true},
	"Europol unknown code": {"patch": eu(["H7"]), "allow": false, "codes": {"handling_invalid"}},
	# Legacy 5x5x5 through the cross-walk
	"legacy handling 1": {"patch": {"record": {"grading": {"legacy_5x5x5": "B21"}}}, "allow": true},
	"legacy handling 2 to a UK agency": {"patch": {"record": {"grading": {"legacy_5x5x5": "B22"}}}, "allow": true},
	"legacy handling 2 not to SELEC": {
		"patch": {"subject": at.selec_subject, "record": object.union(at.selec_record, {"grading": {"legacy_5x5x5": "B22"}})},
		"allow": false, "codes": {"handling_condition_not_met"},
	},
	"legacy handling 3 to SELEC": {
		"patch": {"subject": at.selec_subject, "record": object.union(at.selec_record, {"grading": {"legacy_5x5x5": "B23"}})},
		"allow": true,
	},
	"legacy handling 4 is for the originating agency only": {
		"patch": {"record": {"grading": {"legacy_5x5x5": "B24"}}},
		"allow": false, "codes": {"originating_agency_only"},
	},
	"legacy handling 5: read allowed, consent obligation": {"patch": {"record": {"grading": {"legacy_5x5x5": "B25"}}}, "allow": true},
	"legacy handling 5 implies A1: no prosecution": {
		"patch": {"record": {"grading": {"legacy_5x5x5": "B25"}}, "request": {"purpose": "prosecution"}},
		"allow": false, "codes": {"action_code_forbids_use"},
	},
	"legacy handling 5 implies A1: MV vetting": {
		"patch": {"record": {"grading": {"legacy_5x5x5": "B25"}}, "subject": {"officer": {"vetting": "RV"}}},
		"allow": false, "codes": {"vetting_insufficient"},
	},
	"legacy grade unreadable": {"patch": {"record": {"grading": {"legacy_5x5x5": "Z99"}}}, "allow": false, "codes": {"legacy_grading_invalid"}},
	# Police vetting
	"DSA requires MV, officer has MV": {"dsas": {"dsa-uk-soc": {"police_vetting": "MV"}}, "allow": true},
	"DSA requires MV, officer has RV": {
		"patch": {"subject": {"officer": {"vetting": "RV"}}},
		"dsas": {"dsa-uk-soc": {"police_vetting": "MV"}},
		"allow": false, "codes": {"vetting_insufficient"},
	},
	"DSA requires RV, officer has NPPV2": {
		"patch": {"subject": {"officer": {"vetting": "NPPV2"}}},
		"dsas": {"dsa-uk-soc": {"police_vetting": "RV"}},
		"allow": true,
	},
	"DSA requires RV, officer has none": {
		"remove": ["subject/officer/vetting"],
		"dsas": {"dsa-uk-soc": {"police_vetting": "RV"}},
		"allow": false, "codes": {"vetting_insufficient"},
	},
	"DSA requires RV, agency system vetted RV": {
		"patch": {"record": {"classification": {"sensitive": false}}},
		"remove": ["subject/officer"],
		"agencies": {"rocu-nw": {"system_vetting": "RV"}},
		"dsas": {"dsa-uk-soc": {"police_vetting": "RV"}},
		"allow": true,
	},
	"DSA requires RV, agency system not vetted": {
		"patch": {"record": {"classification": {"sensitive": false}}},
		"remove": ["subject/officer"],
		"dsas": {"dsa-uk-soc": {"police_vetting": "RV"}},
		"allow": false, "codes": {"vetting_insufficient"},
	},
	"CHIS-derived record, MV officer": {"patch": {"record": {"source_type": "chis"}}, "allow": true},
	"CHIS-derived record, RV officer": {
		"patch": {"record": {"source_type": "chis"}, "subject": {"officer": {"vetting": "RV"}}},
		"allow": false, "codes": {"vetting_insufficient"},
	},
	"C/A1 record, RV officer": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A1", "sanitisation_code": "S1", "conditions": {}}}, "subject": {"officer": {"vetting": "RV"}}},
		"allow": false, "codes": {"vetting_insufficient"},
	},
	# SELEC status
	"SELEC operational partner reads operational data": {"patch": {"subject": at.selec_subject, "record": at.selec_record}, "allow": true},
	"SELEC observer denied operational data": {
		"patch": {"subject": at.selec_subject, "record": at.selec_record},
		"agencies": {"selec": {"selec_status": "observer"}},
		"dsas": {"dsa-selec-ops": {"parties": [
			{"org_id": "met-police", "role": "provider", "country": "GBR"},
			{"org_id": "selec", "role": "recipient", "country": "ROU"},
		]}},
		"allow": false, "codes": {"selec_status_insufficient"},
	},
	"SELEC member state reads operational data": {
		"patch": {"subject": at.selec_subject, "record": at.selec_record},
		"agencies": {"selec": {"selec_status": "member"}},
		"dsas": {"dsa-selec-ops": {"parties": [
			{"org_id": "met-police", "role": "provider", "country": "GBR"},
			{"org_id": "selec", "role": "recipient", "country": "ROU"},
		]}},
		"allow": true,
	},
	"SELEC member state made observer by its DSA party entry denied operational data": {
		"patch": {"subject": at.selec_subject, "record": at.selec_record},
		"agencies": {"selec": {"selec_status": "member"}},
		"dsas": {"dsa-selec-ops": {"parties": [
			{"org_id": "met-police", "role": "provider", "country": "GBR"},
			{"org_id": "selec", "role": "recipient", "country": "ROU", "selec_status": "observer"},
		]}},
		"allow": false, "codes": {"selec_status_insufficient"},
	},
	"SELEC observer reads strategic data": {
		"patch": {"subject": at.selec_subject, "record": object.union(at.selec_record, {"data_subject_category": "none", "classification": {"descriptors": []}})},
		"agencies": {"selec": {"selec_status": "observer"}},
		"dsas": {"dsa-selec-ops": {"parties": [
			{"org_id": "met-police", "role": "provider", "country": "GBR"},
			{"org_id": "selec", "role": "recipient", "country": "ROU"},
		]}},
		"allow": true,
	},
}

test_read[name] if {
	some name, tc in read_cases
	at.check(at.run(at.read_input, tc), tc)
}

publish_cases := {
	"Europol codes and evaluation": {"patch": {"record": {"handling": {"code": "P", "europol_codes": ["H1", "H2"]}, "grading": {"europol": {"source": "B", "info": "2"}}}}, "allow": true},
	"Europol evaluation invalid": {"patch": {"record": {"grading": {"europol": {"source": "E", "info": "2"}}}}, "allow": false, "codes": {"europol_evaluation_invalid"}},
	"Europol H0 record offering public security": {
		"patch": {"record": {"handling": {"code": "P", "europol_codes": ["H0"]}, "allowed_purposes": ["investigation", "public_security"]}},
		"allow": false, "codes": {"europol_purpose_restricted"},
	},
	"legacy grade kept with its 3x5x2 reading": {"patch": {"record": {"grading": {"legacy_5x5x5": "B24"}}}, "allow": true},
	"legacy grade malformed": {"patch": {"record": {"grading": {"legacy_5x5x5": "B2"}}}, "allow": false, "codes": {"legacy_grading_invalid"}},
}

test_publish[name] if {
	some name, tc in publish_cases
	at.check(at.run(at.publish_input, tc), tc)
}

obligation_cases := {
	"P: evidential use allowed": {"patch": {}, "evidential": false},
	"A2 forbids evidential use": {"patch": {"record": {"handling": {"code": "C", "action_code": "A2", "sanitisation_code": "S1", "conditions": {}}}}, "evidential": true, "conditions": {"covert_action_only", "no_evidential_use"}},
	"A1 forbids evidential use": {"patch": {"record": {"handling": {"code": "C", "action_code": "A1", "sanitisation_code": "S1", "conditions": {}}}}, "evidential": true},
	"A3 allows it": {"patch": {"record": {"handling": {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": {}}}}, "evidential": false},
	"no judicial use forbids it": {"patch": {"record": {"handling": {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": {"no_judicial_use": true}}}}, "evidential": true},
	"intelligence use only forbids it": {"patch": {"record": {"handling": {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": {"intelligence_use_only": true}}}}, "evidential": true},
	"Europol H1 forbids it": {"patch": eu(["H1"]), "evidential": true, "conditions": {"europol_law_enforcement_purposes_only", "no_judicial_use_without_provider_consent"}},
	"Europol H2": {"patch": eu(["H2"]), "evidential": false, "conditions": {"no_onward_dissemination_without_provider_consent"}},
	"Europol H3 needs consent": {"patch": eu(["H3"]), "evidential": false, "consent": true},
	"legacy 2 must record the authorisation": {"patch": {"record": {"grading": {"legacy_5x5x5": "B22"}}}, "evidential": false, "conditions": {"record_authorisation", "no_sanitisation_without_originator"}},
	"legacy 3 special conditions": {"patch": {"record": {"grading": {"legacy_5x5x5": "B23"}}}, "evidential": false, "conditions": {"special_conditions"}},
	"legacy 5 refers to the originator": {"patch": {"record": {"grading": {"legacy_5x5x5": "B25"}}}, "evidential": true, "consent": true, "conditions": {"refer_to_originator", "no_onward_dissemination"}},
}

test_obligations[name] if {
	some name, tc in obligation_cases
	d := at.run(at.read_input, tc)
	d.allow
	d.obligations.forbid_evidential_use == tc.evidential
	d.obligations.originator_consent_required == object.get(tc, "consent", false)
	every c in object.get(tc, "conditions", set()) {
		c in d.obligations.conditions
	}
}

test_banners[name] if {
	some name, tc in {
		"Europol codes and evaluation": {
			"patch": {"record": {"handling": {"code": "P", "europol_codes": ["H2", "H1"]}, "grading": {"europol": {"source": "B", "info": "2"}}}},
			"banner": "OFFICIAL-SENSITIVE | TLP:AMBER | 3x5x2 1B P | EUROPOL B2 H0 H1 H2 | PERSONAL DATA | NO JUDICIAL USE WITHOUT PROVIDER CONSENT | NO DISSEMINATION WITHOUT PROVIDER CONSENT",
		},
		"legacy grade": {
			"patch": {"record": {"grading": {"legacy_5x5x5": "B25"}}},
			"banner": "OFFICIAL-SENSITIVE | TLP:AMBER | 3x5x2 1B P (5x5x5 B25) | PERSONAL DATA | NO ONWARD DISSEMINATION | ORIGINATOR CONSENT REQUIRED",
		},
	}
	d := at.run(at.read_input, tc)
	d.obligations.banner == tc.banner
}

# granting_dsas (positive checks, used on the allow path) and dsa_violations
# (the reasons, used to explain a denial) must agree on every case.
dsa_sets(base, tc) := [granting, candidates, violating] if {
	inp := json.remove(object.union(base, object.get(tc, "patch", {})), object.get(tc, "remove", []))
	agencies := object.union(fx.agencies, object.get(tc, "agencies", {}))
	dsas := object.union(fx.dsas, object.get(tc, "dsas", {}))
	granting := authz.granting_dsas with input as inp with data.agencies as agencies with data.dsas as dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	candidates := authz.candidate_dsas with input as inp with data.agencies as agencies with data.dsas as dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	violating := {id | some [id, _] in authz.dsa_violations} with input as inp with data.agencies as agencies with data.dsas as dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
}

# Every read case, in three rules of a third each (see at.chunk: one rule
# over all 100 cases ran close to opa test's per-test timeout).
all_read_cases := object.union(at.read_cases, read_cases)

test_dsa_grants_match_violations[name] if {
	some name, tc in at.chunk(all_read_cases, 3, 0)
	[granting, candidates, violating] := dsa_sets(at.read_input, tc)
	granting == candidates - violating
}

test_dsa_grants_match_violations_2[name] if {
	some name, tc in at.chunk(all_read_cases, 3, 1)
	[granting, candidates, violating] := dsa_sets(at.read_input, tc)
	granting == candidates - violating
}

test_dsa_grants_match_violations_3[name] if {
	some name, tc in at.chunk(all_read_cases, 3, 2)
	[granting, candidates, violating] := dsa_sets(at.read_input, tc)
	granting == candidates - violating
}

test_dsa_grants_match_violations_list[name] if {
	some name, tc in at.list_cases
	[granting, candidates, violating] := dsa_sets(object.union(at.read_input, {"action": "record.list"}), tc)
	granting == candidates - violating
}
