package liaison.schemes.selec_test

import data.liaison.schemes.selec

agencies := {
	"selec": {"org_type": "selec", "country": "ROU", "selec_status": "operational_partner"},
	"md-police": {"org_type": "foreign_le", "country": "MDA", "selec_status": "observer"},
	"ro-police": {"org_type": "foreign_le", "country": "ROU", "selec_status": "member"},
	"nl-politie": {"org_type": "foreign_le", "country": "NLD"},
	"bg-police": {"org_type": "foreign_le", "country": "BGR", "selec_status": "member"},
	"gr-police": {"org_type": "foreign_le", "country": "GRC", "selec_status": "member"},
}

dsas := {"dsa-selec": {"parties": [
	{"org_id": "met-police", "role": "provider"},
	{"org_id": "selec", "role": "recipient"},
	{"org_id": "md-police", "role": "recipient"},
	{"org_id": "ro-police", "role": "recipient", "selec_status": "operational_partner"},
	{"org_id": "nl-politie", "role": "recipient"},
	{"org_id": "bg-police", "role": "recipient"},
	{"org_id": "gr-police", "role": "recipient", "selec_status": "observer"},
]}}

suspect := {"data_subject_category": "suspect"}

strategic := {"data_subject_category": "none", "classification": {"tier": "OFFICIAL"}}

test_status[name] if {
	some name, tc in {
		"registry": {"org": "md-police", "want": "observer"},
		"DSA party entry wins over the registry": {"org": "ro-police", "want": "operational_partner"},
	}
	selec.status("dsa-selec", tc.org) == tc.want with data.agencies as agencies with data.dsas as dsas
}

test_operational[name] if {
	some name, tc in {
		"suspect": {"rec": suspect, "want": true},
		"no data subject": {"rec": strategic, "want": false},
		"no data subject but personal data": {"rec": {"data_subject_category": "none", "classification": {"descriptors": ["PERSONAL_DATA"]}}, "want": true},
		"category missing": {"rec": {}, "want": true},
	}
	{true | selec.operational(tc.rec)} == {true | tc.want}
}

test_ok[name] if {
	some name, tc in {
		"operational partner, operational data": {"org": "selec", "rec": suspect, "want": true},
		"observer, operational data": {"org": "md-police", "rec": suspect, "want": false},
		"observer, strategic data": {"org": "md-police", "rec": strategic, "want": true},
		"member made operational partner by the DSA": {"org": "ro-police", "rec": suspect, "want": true},
		"member state (Party to the Convention), operational data": {"org": "bg-police", "rec": suspect, "want": true},
		"member state, strategic data": {"org": "bg-police", "rec": strategic, "want": true},
		"DSA makes a member an observer": {"org": "gr-police", "rec": suspect, "want": false},
		"not a SELEC participant": {"org": "nl-politie", "rec": suspect, "want": true},
	}
	got := {true | selec.ok("dsa-selec", tc.org, tc.rec)} with data.agencies as agencies with data.dsas as dsas
	got == {true | tc.want}
}

test_selec_without_status_gets_no_operational_data if {
	not selec.ok("dsa-selec", "selec", suspect) with data.agencies as {"selec": {"org_type": "selec"}} with data.dsas as dsas
}
