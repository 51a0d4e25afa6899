package liaison.schemes.grading3x5x2_test

import data.liaison.schemes.grading3x5x2 as grading

ctx := {
	"agency_id": "rocu-nw",
	"org_types": ["rocu"],
	"purpose": "investigation",
	"now_ns": time.parse_rfc3339_ns("2026-11-21T10:00:00Z"),
}

c(conditions) := {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": conditions}

codes(s) := {r.code | some r in s}

test_grading[name] if {
	some name, tc in {
		"1B": {"g": {"source": "1", "intelligence": "B"}, "want": "1B"},
		"3E": {"g": {"source": "3", "intelligence": "E"}, "want": "3E"},
	}
	grading.grade(tc.g) == tc.want
}

test_invalid_grading[name] if {
	some name, g in {
		"5x5x5 source letter": {"source": "A", "intelligence": "1"},
		"source 4": {"source": "4", "intelligence": "A"},
		"numeric source": {"source": 1, "intelligence": "A"},
		"missing": {},
	}
	not grading.valid_grading(g)
}

test_publish_violations[name] if {
	some name, tc in {
		"P": {"h": {"code": "P"}, "want": set()},
		"C complete": {"h": c({}), "want": set()},
		"C without action code": {"h": {"code": "C", "sanitisation_code": "S1", "conditions": {}}, "want": {"handling_conditions_incomplete"}},
		"C with unknown action code": {"h": {"code": "C", "action_code": "A9", "sanitisation_code": "S1", "conditions": {}}, "want": {"handling_conditions_incomplete"}},
		"C without conditions": {"h": {"code": "C", "action_code": "A1", "sanitisation_code": "S1"}, "want": {"handling_conditions_incomplete"}},
		"P with sanitisation code": {"h": {"code": "P", "sanitisation_code": "S2"}, "want": {"handling_invalid"}},
		"unknown code": {"h": {"code": "Q"}, "want": {"handling_invalid"}},
		"missing code": {"h": {}, "want": {"handling_invalid"}},
		"malformed expiry": {"h": c({"expires": "tomorrow"}), "want": {"handling_invalid"}},
	}
	codes(grading.publish_violations(tc.h)) == tc.want
}

test_read_violations[name] if {
	some name, tc in {
		"P": {"h": {"code": "P"}, "want": set()},
		"C no conditions": {"h": c({}), "want": set()},
		"C incomplete": {"h": {"code": "C"}, "want": {"handling_conditions_incomplete"}},
		"org allowed": {"h": c({"allowed_recipient_orgs": ["rocu-nw"]}), "want": set()},
		"org not allowed": {"h": c({"allowed_recipient_orgs": ["nca"]}), "want": {"handling_condition_not_met"}},
		"type allowed": {"h": c({"allowed_recipient_types": ["rocu"]}), "want": set()},
		"type not allowed": {"h": c({"allowed_recipient_types": ["eea_le"]}), "want": {"handling_condition_not_met"}},
		"malformed org list fails closed": {"h": c({"allowed_recipient_orgs": "rocu-nw"}), "want": {"handling_condition_not_met"}},
		"originating agency only": {"h": c({"originating_agency_only": true}), "want": {"originating_agency_only"}},
		"expired": {"h": c({"expires": "2026-11-21T09:59:59Z"}), "want": {"handling_expired"}},
		"not expired": {"h": c({"expires": "2026-11-21T10:00:01Z"}), "want": set()},
		"malformed expiry fails closed": {"h": c({"expires": "soon"}), "want": {"handling_expired"}},
		"no judicial use, investigation": {"h": c({"no_judicial_use": true}), "want": set()},
		"no onward dissemination does not restrict the read": {"h": c({"no_onward_dissemination": true}), "want": set()},
	}
	codes(grading.read_violations(tc.h, ctx)) == tc.want
}

test_purpose_restrictions[name] if {
	some name, tc in {
		"A1 investigation": {"h": object.union(c({}), {"action_code": "A1"}), "purpose": "investigation", "want": set()},
		"A1 prosecution": {"h": object.union(c({}), {"action_code": "A1"}), "purpose": "prosecution", "want": {"action_code_forbids_use"}},
		"A1 execution of penalties": {"h": object.union(c({}), {"action_code": "A1"}), "purpose": "execution_of_penalties", "want": {"action_code_forbids_use"}},
		"A2 prosecution": {"h": object.union(c({}), {"action_code": "A2"}), "purpose": "prosecution", "want": {"action_code_forbids_use"}},
		"A2 detection": {"h": object.union(c({}), {"action_code": "A2"}), "purpose": "detection", "want": set()},
		"A3 prosecution": {"h": c({}), "purpose": "prosecution", "want": set()},
		"no judicial use, prosecution": {"h": c({"no_judicial_use": true}), "purpose": "prosecution", "want": {"judicial_use_forbidden"}},
		"intelligence use only, prosecution": {"h": c({"intelligence_use_only": true}), "purpose": "prosecution", "want": {"judicial_use_forbidden"}},
	}
	codes(grading.read_violations(tc.h, object.union(ctx, {"purpose": tc.purpose}))) == tc.want
}

test_obligations[name] if {
	some name, tc in {
		"P": {"h": {"code": "P"}, "consent": false, "conditions": set(), "banner": "3x5x2 1B P"},
		"C A1 S2 with free text": {
			"h": {"code": "C", "action_code": "A1", "sanitisation_code": "S2", "conditions": {"free_text": "ring first", "no_onward_dissemination": true}},
			"consent": true,
			"conditions": {"no_direct_action_without_originator_permission", "no_sanitisation_without_originator", "no_onward_dissemination", "originator_consent_required"},
			"banner": "3x5x2 1B C A1 S2",
		},
		"blank free text needs no consent": {
			"h": c({"free_text": "   "}),
			"consent": false,
			"conditions": {"overt_action_as_specified_by_originator"},
			"banner": "3x5x2 1B C A3 S1",
		},
	}
	{true | grading.consent_required(tc.h)} == {true | tc.consent}
	grading.condition_codes(tc.h) == tc.conditions
	grading.banner({"source": "1", "intelligence": "B"}, tc.h) == tc.banner
}

test_banner_ungraded if {
	grading.banner({}, {"code": "P"}) == "3x5x2 UNGRADED P"
}
