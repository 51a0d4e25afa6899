# Table tests for request.file (requests for information, requests.rego).
package liaison.authz_test

import data.liaison.authz
import data.liaison.test_fixtures as fx

# nca asks met-police under dsa-uk-soc, after a hit (no record in input).
request_input := {
	"action": "request.file",
	"time": now,
	"subject": {"agency_id": "nca", "officer": officer},
	"request": {
		"purpose": "investigation",
		"justification": "Operation KINGFISHER: hit on a phone number",
		"case": "OP-KINGFISHER",
	},
	"info_request": {
		"holder": "met-police",
		"dsa_ids": ["dsa-uk-soc"],
		"urgency": "normal",
		"access": "direct",
		"kind": "information",
	},
}

request_cases := {
	"a party files a normal request": {"allow": true, "hours": 168, "dsa": "dsa-uk-soc"},
	"urgent, directly accessible: 8 hours (Directive 2023/977 art. 5(1)(a))": {
		"patch": {"info_request": {"urgency": "urgent", "access": "direct"}},
		"allow": true, "hours": 8,
	},
	"urgent, indirectly accessible: 3 days (art. 5(1)(b))": {
		"patch": {"info_request": {"urgency": "urgent", "access": "indirect"}},
		"allow": true, "hours": 72,
	},
	"normal, indirectly accessible: 7 days (art. 5(1)(c))": {
		"patch": {"info_request": {"access": "indirect"}},
		"allow": true, "hours": 168,
	},
	"Prüm core data after a confirmed match: 48 hours": {
		"patch": {"info_request": {"kind": "prum_core_data", "urgency": "urgent"}},
		"allow": true, "hours": 48,
	},
	"a DSA's own deadline overrides the default": {
		"dsas": {"dsa-uk-soc": {"request_deadlines": {"normal": 120}}},
		"allow": true, "hours": 120,
	},
	"a DSA's override leaves the other defaults": {
		"dsas": {"dsa-uk-soc": {"request_deadlines": {"normal": 120}}},
		"patch": {"info_request": {"urgency": "urgent"}},
		"allow": true, "hours": 8,
	},
	"no usable deadline configured: denied, never a default in code": {
		"settings": {"request_deadlines": {"normal": 0}},
		"allow": false, "codes": {"request_deadline_undefined"},
	},
	"holder not a party of the DSA": {
		"patch": {"info_request": {"holder": "selec"}},
		"allow": false, "codes": {"request_party_required"},
	},
	"requester not a party of the DSA": {
		"patch": {"subject": {"agency_id": "border-force"}},
		"allow": false, "codes": {"request_party_required"},
	},
	"a request to oneself": {
		"patch": {"subject": {"agency_id": "met-police"}},
		"allow": false, "codes": {"request_to_self"},
	},
	"suspended DSA": {
		"dsas": {"dsa-uk-soc": {"status": "suspended"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"expired DSA": {
		"patch": {"subject": {"agency_id": "hmrc"}, "info_request": {"dsa_ids": ["dsa-legacy-2023"]}},
		"allow": false, "codes": {"dsa_expired"},
	},
	"unknown DSA": {
		"patch": {"info_request": {"dsa_ids": ["dsa-nowhere"]}},
		"allow": false, "codes": {"dsa_unknown"},
	},
	"purpose outside the DSA": {
		"patch": {"subject": {"agency_id": "hmrc"}, "info_request": {"dsa_ids": ["dsa-selec-ops"]}, "request": {"purpose": "prosecution"}},
		"allow": false, "codes": {"purpose_not_permitted"},
	},
	"no purpose": {
		"patch": {"request": {"purpose": ""}},
		"allow": false, "codes": {"purpose_required"},
	},
	"justification required": {
		"patch": {"request": {"justification": "short"}},
		"allow": false, "codes": {"justification_required"},
	},
	"urgency malformed": {
		"patch": {"info_request": {"urgency": "asap"}},
		"allow": false, "codes": {"invalid_input"},
	},
	"info_request missing": {
		"remove": ["info_request"],
		"allow": false, "codes": {"invalid_input"},
	},
	"a recipient names a record it can see": {
		"patch": {"subject": {"agency_id": "rocu-nw"}, "record": base_record},
		"allow": true, "hours": 168,
	},
	"a stranger naming a record id learns nothing": {
		"patch": {"record": base_record},
		"allow": false, "visible": false, "codes": {"not_recipient"},
	},
}

test_request_file[name] if {
	some name, tc in request_cases
	d := run(request_input, tc)
	check(d, tc)
	object.get(d.obligations, "deadline_hours", 0) == object.get(tc, "hours", 0)
	d.dsa_id == object.get(tc, "dsa", d.dsa_id)
}

# A denied request carries no deadline, and other actions never carry one.
test_request_denied_has_no_deadline if {
	d := run(request_input, {"patch": {"request": {"purpose": ""}}})
	not d.obligations.deadline_hours
	d.dsa_id == ""
}

test_read_has_no_deadline if {
	d := authz.decision with input as read_input with data.agencies as fx.agencies with data.dsas as fx.dsas with data.settings as fx.settings with data.crosswalk as fx.crosswalk
	d.allow
	not d.obligations.deadline_hours
}
