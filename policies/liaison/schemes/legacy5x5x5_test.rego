package liaison.schemes.legacy5x5x5_test

import data.liaison.schemes.legacy5x5x5 as legacy
import data.liaison.test_fixtures as fx

uk_le := ["uk_police", "rocu", "nca", "hmrc", "border_force"]

# Every source letter, intelligence digit and handling digit of the legacy
# scheme, read through the cross-walk in data/crosswalk.json.
test_crosswalk[name] if {
	some name, tc in {
		"A11": {"source": "1", "intelligence": "A", "handling": {"code": "P"}, "conditions": []},
		"B21 mostly reliable, known personally": {"code": "B21", "source": "1", "intelligence": "A", "handling": {"code": "P"}, "conditions": []},
		"C32 sometimes reliable": {"code": "C32", "source": "2", "intelligence": "B", "handling": {"code": "C", "action_code": "A3", "sanitisation_code": "S2", "conditions": {"allowed_recipient_types": array.concat(uk_le, ["uk_non_prosecuting"])}}, "conditions": ["record_authorisation"]},
		"D43 unreliable, cannot be judged": {"code": "D43", "source": "3", "intelligence": "D", "handling": {"code": "C", "action_code": "A3", "sanitisation_code": "S2", "conditions": {"allowed_recipient_types": array.concat(uk_le, ["eea_le", "non_eea_le", "europol", "interpol", "selec"])}}, "conditions": ["special_conditions"]},
		"E54 untested, suspected false": {"code": "E54", "source": "2", "intelligence": "E", "handling": {"code": "C", "action_code": "A1", "sanitisation_code": "S2", "conditions": {"originating_agency_only": true}}, "conditions": []},
		"A35 refer to originator": {"code": "A35", "source": "1", "intelligence": "B", "handling": {"code": "C", "action_code": "A1", "sanitisation_code": "S2", "conditions": {"no_onward_dissemination": true, "free_text": "Legacy 5x5x5 handling code 5: no further dissemination; refer to the originator, whose special handling requirements apply."}}, "conditions": ["refer_to_originator"]},
	}
	code := object.get(tc, "code", name)
	cw := legacy.crosswalk(code) with data.crosswalk as fx.crosswalk
	cw.grading == {"source": tc.source, "intelligence": tc.intelligence, "legacy_5x5x5": code}
	cw.handling == tc.handling
	cw.conditions == tc.conditions
}

test_invalid_codes[name] if {
	some name, code in {
		"source F": "F11",
		"intelligence 6": "A61",
		"handling 0": "A10",
		"lower case": "a11",
		"too short": "A1",
		"too long": "A111",
		"number": 111,
	}
	not legacy.crosswalk(code) with data.crosswalk as fx.crosswalk
	v := legacy.publish_violations({"source": "1", "intelligence": "A", "legacy_5x5x5": code}) with data.crosswalk as fx.crosswalk
	v == {{"code": "legacy_grading_invalid", "message": "the legacy 5x5x5 grading must be a source A-E, an intelligence 1-5 and a handling 1-5, e.g. B24", "public": true}}
}

test_valid_or_absent_legacy_publishes[name] if {
	some name, g in {
		"absent": {"source": "1", "intelligence": "A"},
		"valid": {"source": "1", "intelligence": "A", "legacy_5x5x5": "B24"},
	}
	v := legacy.publish_violations(g) with data.crosswalk as fx.crosswalk
	v == set()
}

test_implied_handling_and_banner if {
	g := {"source": "1", "intelligence": "A", "legacy_5x5x5": "B24"}
	h := legacy.implied_handling(g) with data.crosswalk as fx.crosswalk
	h.conditions.originating_agency_only == true
	legacy.banner(g) == "(5x5x5 B24)"
	conditions := legacy.obligation_conditions({"legacy_5x5x5": "B22"}) with data.crosswalk as fx.crosswalk
	conditions == {"record_authorisation"}
}
