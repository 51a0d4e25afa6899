# Table tests for federation.deliver (the sending gateway) and
# federation.accept (the receiving gateway), on the frozen fixtures: an
# allowed case and every reason of each action, the publicity of the
# reasons, the agreement a delivery travels under, and the positive grant
# held to the violations.
package liaison.authz_test

import data.liaison.authz
import data.liaison.test_fixtures as fx

# met-police's gateway delivers the base record to rocu-nw, hosted by the
# peer gateway gw-north.
deliver_input := {
	"action": "federation.deliver",
	"time": now,
	"subject": {"agency_id": "met-police", "officer": officer, "cert_fingerprint": "cd34"},
	"request": {"purpose": "investigation", "justification": "", "case": ""},
	"record": base_record,
	"federation": {
		"peer_gateway": "gw-north",
		"peer_agencies": ["rocu-nw", "nca"],
		"recipients": ["rocu-nw"],
		"provenance": ["gw-south"],
	},
}

# gw-north accepts the same delivery from gw-south, which hosts met-police
# and hmrc. The subject is the sending agency, with the peer gateway's
# certificate and no officer.
accept_input := {
	"action": "federation.accept",
	"time": now,
	"subject": {"agency_id": "met-police", "cert_fingerprint": "ef56"},
	"request": {"purpose": "", "justification": "", "case": ""},
	"record": base_record,
	"federation": {
		"peer_gateway": "gw-south",
		"peer_agencies": ["met-police", "hmrc"],
		"recipients": ["rocu-nw"],
		"provenance": ["gw-south"],
	},
}

# A record met-police shares with SELEC (in Romania) under dsa-selec-ops.
fed_selec_record := {"record": {"dsa_ids": ["dsa-selec-ops"], "recipients": ["selec"]}}

selec_observer_dsas := {"dsa-selec-ops": {"parties": [
	{"org_id": "met-police", "role": "provider"},
	{"org_id": "hmrc", "role": "both"},
	{"org_id": "selec", "role": "recipient", "selec_status": "observer"},
]}}

deliver_cases := {
	"originator delivers to a recipient the peer hosts": {"allow": true},
	"several recipients at one peer": {
		"patch": {"record": {"recipients": ["rocu-nw", "nca"]}, "federation": {"recipients": ["rocu-nw", "nca"]}},
		"allow": true,
	},
	"a recipient delivers after its onward share": {
		"patch": {"subject": {"agency_id": "hmrc"}, "record": {"recipients": ["rocu-nw", "hmrc", "nca"]}, "federation": {"recipients": ["nca"]}},
		"allow": true,
	},
	"no officer is needed beyond what publication needed": {
		"remove": ["subject/officer"],
		"allow": true,
	},
	"an agency that requires officer tokens still needs one": {
		"remove": ["subject/officer"],
		"agencies": {"met-police": {"require_officer_token": true}},
		"allow": false, "codes": {"officer_token_required"},
	},
	"to SELEC abroad, with the agreement's transfer basis": {
		"patch": object.union(fed_selec_record, {"federation": {"peer_agencies": ["selec"], "recipients": ["selec"]}}),
		"allow": true,
	},
	"an expired agreement is passed over when another covers the delivery": {
		"patch": {"record": {"dsa_ids": ["dsa-legacy-2023", "dsa-uk-soc"]}, "federation": {"peer_agencies": ["hmrc"], "recipients": ["hmrc"]}},
		"allow": true,
	},
	"handling conditions the receiver checks do not stop the sender": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": {"allowed_recipient_orgs": ["hmrc"]}}}},
		"allow": true,
	},
	"recipient not hosted by the peer": {
		"patch": {"federation": {"recipients": ["hmrc"]}},
		"allow": false, "codes": {"recipient_not_hosted_by_peer"},
	},
	"recipient not named on the record": {
		"patch": {"federation": {"recipients": ["nca"]}},
		"allow": false, "codes": {"recipient_not_named"},
	},
	"recipient unknown to the registry": {
		"patch": {"record": {"recipients": ["nowhere-pd"]}, "federation": {"peer_agencies": ["nowhere-pd"], "recipients": ["nowhere-pd"]}},
		"allow": false, "codes": {"recipient_unknown", "recipient_not_party"},
	},
	"caller neither originator nor recipient": {
		"patch": {"subject": {"agency_id": "nca"}},
		"allow": false, "codes": {"not_recipient"},
	},
	"suspended agreement": {
		"dsas": {"dsa-uk-soc": {"status": "suspended"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"terminated agreement": {
		"dsas": {"dsa-uk-soc": {"status": "terminated"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"agreement not yet in force": {
		"dsas": {"dsa-uk-soc": {"effective_date": "2027-01-01"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"agreement expired": {
		"patch": {"time": "2029-01-01T00:00:00Z"},
		"allow": false, "codes": {"dsa_expired"},
	},
	"agreement unknown": {
		"patch": {"record": {"dsa_ids": ["dsa-nowhere"]}},
		"allow": false, "codes": {"dsa_unknown"},
	},
	"record lists no agreement": {
		"patch": {"record": {"dsa_ids": []}},
		"allow": false, "codes": {"no_applicable_dsa"},
	},
	"recipient not a recipient party of the agreement": {
		"patch": {"record": {"dsa_ids": ["dsa-selec-ops"]}},
		"allow": false, "codes": {"recipient_not_party"},
	},
	"recipients under different agreements cannot share one delivery": {
		"patch": {"record": {"dsa_ids": ["dsa-uk-soc", "dsa-selec-ops"], "recipients": ["rocu-nw", "selec"]}, "federation": {"peer_agencies": ["rocu-nw", "selec"], "recipients": ["rocu-nw", "selec"]}},
		"allow": false, "codes": {"recipient_not_party"},
	},
	"transfer abroad without a basis": {
		"patch": object.union(fed_selec_record, {"federation": {"peer_agencies": ["selec"], "recipients": ["selec"]}}),
		"dsas": {"dsa-selec-ops": {"onward_sharing": {"third_country_transfer": "prohibited"}}},
		"allow": false, "codes": {"transfer_not_permitted"},
	},
	"classification above the agreement's ceiling": {
		"dsas": {"dsa-uk-soc": {"max_classification": "OFFICIAL"}},
		"allow": false, "codes": {"classification_exceeds_dsa"},
	},
	"TLP above the agreement's ceiling": {
		"dsas": {"dsa-uk-soc": {"max_tlp": "GREEN"}},
		"allow": false, "codes": {"tlp_exceeds_dsa"},
	},
	"originating-agency-only records stay home": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A1", "sanitisation_code": "S2", "conditions": {"originating_agency_only": true}}}},
		"allow": false, "codes": {"originating_agency_only"},
	},
	"federation missing": {
		"remove": ["federation"],
		"allow": false, "codes": {"invalid_input"},
	},
	"record missing": {
		"remove": ["record"],
		"allow": false, "codes": {"invalid_input", "no_applicable_dsa", "recipient_not_named"},
	},
	"peer gateway malformed": {
		"patch": {"federation": {"peer_gateway": "GW North"}},
		"allow": false, "codes": {"invalid_input"},
	},
	"peer agencies not a list": {
		"patch": {"federation": {"peer_agencies": "rocu-nw"}},
		"allow": false, "codes": {"invalid_input", "recipient_not_hosted_by_peer"},
	},
	"no recipients": {
		"patch": {"federation": {"recipients": []}},
		"allow": false, "codes": {"invalid_input"},
	},
}

test_federation_deliver[name] if {
	some name, tc in deliver_cases
	check(run(deliver_input, tc), tc)
}

accept_cases := {
	"peer delivers for an agency it hosts to a recipient hosted here": {"allow": true},
	"several recipients": {
		"patch": {"record": {"recipients": ["rocu-nw", "nca"]}, "federation": {"recipients": ["rocu-nw", "nca"]}},
		"allow": true,
	},
	"a recipient that is also a provider delivers onward": {
		"patch": {"subject": {"agency_id": "hmrc"}, "record": {"recipients": ["rocu-nw", "hmrc"]}},
		"allow": true,
	},
	"the sender's officer-token requirement does not apply to a peer's delivery": {
		"agencies": {"met-police": {"require_officer_token": true}},
		"allow": true,
	},
	"to SELEC, with the agreement's transfer basis": {
		"patch": object.union(fed_selec_record, {"federation": {"recipients": ["selec"]}}),
		"allow": true,
	},
	"an agreement unknown here is passed over when a known one covers the delivery": {
		"patch": {"record": {"dsa_ids": ["dsa-elsewhere", "dsa-uk-soc"]}},
		"allow": true,
	},
	"SECRET for a recipient whose system is cleared SC": {
		"patch": {"record": {"classification": {"tier": "SECRET", "sensitive": false}, "recipients": ["nca"]}, "federation": {"recipients": ["nca"]}},
		"allow": true,
	},
	"as many gateways as the setting allows": {
		"patch": {"federation": {"provenance": ["gw-a", "gw-b", "gw-c", "gw-south"]}},
		"allow": true,
	},
	"sending agency not hosted by the peer": {
		"patch": {"federation": {"peer_agencies": ["hmrc"]}},
		"allow": false, "codes": {"agency_not_hosted_by_peer"},
	},
	"agreement unknown here": {
		"patch": {"record": {"dsa_ids": ["dsa-elsewhere"]}},
		"allow": false, "codes": {"dsa_unknown"},
	},
	"record lists no agreement": {
		"patch": {"record": {"dsa_ids": []}},
		"allow": false, "codes": {"no_applicable_dsa"},
	},
	"agreement suspended here": {
		"dsas": {"dsa-uk-soc": {"status": "suspended"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"agreement terminated here": {
		"dsas": {"dsa-uk-soc": {"status": "terminated"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"agreement not yet in force": {
		"dsas": {"dsa-uk-soc": {"effective_date": "2027-01-01"}},
		"allow": false, "codes": {"dsa_not_active"},
	},
	"agreement expired": {
		"patch": {"time": "2029-01-01T00:00:00Z"},
		"allow": false, "codes": {"dsa_expired"},
	},
	"sender only a recipient under the agreement": {
		"patch": {"subject": {"agency_id": "selec"}, "record": {"dsa_ids": ["dsa-selec-ops"], "recipients": ["selec", "hmrc"]}, "federation": {"peer_agencies": ["selec"], "recipients": ["hmrc"]}},
		"allow": false, "codes": {"sender_not_party"},
	},
	"recipient not a recipient party": {
		"patch": {"record": {"dsa_ids": ["dsa-selec-ops"]}},
		"allow": false, "codes": {"recipient_not_party"},
	},
	"recipient not named on the record": {
		"patch": {"federation": {"recipients": ["nca"]}},
		"allow": false, "codes": {"recipient_not_named"},
	},
	"recipient unknown here": {
		"patch": {"record": {"recipients": ["nowhere-pd"]}, "federation": {"recipients": ["nowhere-pd"]}},
		"allow": false, "codes": {"recipient_unknown", "recipient_not_party"},
	},
	"classification above the agreement's ceiling": {
		"dsas": {"dsa-uk-soc": {"max_classification": "OFFICIAL"}},
		"allow": false, "codes": {"classification_exceeds_dsa"},
	},
	"TLP above the agreement's ceiling": {
		"dsas": {"dsa-uk-soc": {"max_tlp": "GREEN"}},
		"allow": false, "codes": {"tlp_exceeds_dsa"},
	},
	"transfer abroad without a basis": {
		"patch": object.union(fed_selec_record, {"federation": {"recipients": ["selec"]}}),
		"dsas": {"dsa-selec-ops": {"onward_sharing": {"third_country_transfer": "prohibited"}}},
		"allow": false, "codes": {"transfer_not_permitted"},
	},
	"a SELEC observer receives no operational data": {
		"patch": object.union(fed_selec_record, {"federation": {"recipients": ["selec"]}}),
		"dsas": selec_observer_dsas,
		"allow": false, "codes": {"selec_status_insufficient"},
	},
	"recipient not among the organisations the handling allows": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": {"allowed_recipient_orgs": ["hmrc"]}}}},
		"allow": false, "codes": {"handling_condition_not_met"},
	},
	"handling conditions expired": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A3", "sanitisation_code": "S1", "conditions": {"expires": "2026-01-01T00:00:00Z"}}}},
		"allow": false, "codes": {"handling_expired"},
	},
	"handling code C without its codes": {
		"patch": {"record": {"handling": {"code": "C"}}},
		"allow": false, "codes": {"handling_conditions_incomplete"},
	},
	"handling code unknown": {
		"patch": {"record": {"handling": {"code": "X"}}},
		"allow": false, "codes": {"handling_invalid"},
	},
	"Europol handling code unknown": {
		"patch": {"record": {"handling": {"code": "P", "europol_codes": ["H9"]}}},
		"allow": false, "codes": {"handling_invalid"},
	},
	"originating-agency-only records stay home": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A1", "sanitisation_code": "S2", "conditions": {"originating_agency_only": true}}}},
		"allow": false, "codes": {"originating_agency_only"},
	},
	"a legacy grade's handling applies": {
		"patch": {"record": {"grading": {"source": "1", "intelligence": "A", "legacy_5x5x5": "B24"}}},
		"allow": false, "codes": {"originating_agency_only"},
	},
	"a legacy grade the cross-walk cannot read": {
		"patch": {"record": {"grading": {"source": "1", "intelligence": "A", "legacy_5x5x5": "F11"}}},
		"allow": false, "codes": {"legacy_grading_invalid"},
	},
	"national caveat excludes the recipient's country": {
		"patch": {"record": {"classification": {"eyes_only": ["ROU"]}}},
		"allow": false, "codes": {"caveat_not_met"},
	},
	"recipient's system not cleared for the tier": {
		"patch": {"record": {"classification": {"tier": "SECRET", "sensitive": false}}},
		"allow": false, "codes": {"clearance_insufficient"},
	},
	"classification tier unknown": {
		"patch": {"record": {"classification": {"tier": "RESTRICTED"}}},
		"allow": false, "codes": {"classification_invalid", "classification_exceeds_dsa", "clearance_insufficient"},
	},
	"TLP label invalid": {
		"patch": {"record": {"tlp": "PURPLE"}},
		"allow": false, "codes": {"tlp_invalid", "tlp_exceeds_dsa"},
	},
	"more gateways than the default allows": {
		"patch": {"federation": {"provenance": ["gw-a", "gw-b", "gw-c", "gw-d", "gw-south"]}},
		"allow": false, "codes": {"too_many_hops"},
	},
	"more gateways than the setting allows": {
		"patch": {"federation": {"provenance": ["gw-a", "gw-south"]}},
		"settings": {"federation_max_hops": 1},
		"allow": false, "codes": {"too_many_hops"},
	},
	"provenance missing": {
		"remove": ["federation/provenance"],
		"allow": false, "codes": {"invalid_input"},
	},
	"federation missing": {
		"remove": ["federation"],
		"allow": false, "codes": {"invalid_input", "agency_not_hosted_by_peer"},
	},
	"recipients not a list": {
		"patch": {"federation": {"recipients": "rocu-nw"}},
		"allow": false, "codes": {"invalid_input"},
	},
	"peer gateway missing": {
		"remove": ["federation/peer_gateway"],
		"allow": false, "codes": {"invalid_input"},
	},
}

# In two rules of half the cases each (see chunk in authz_test.rego).
test_federation_accept[name] if {
	some name, tc in chunk(accept_cases, 2, 0)
	check(run(accept_input, tc), tc)
}

test_federation_accept_2[name] if {
	some name, tc in chunk(accept_cases, 2, 1)
	check(run(accept_input, tc), tc)
}

# The receiver returns public reasons to the sender in its signed receipt:
# reasons about the agreement and the markings are public, reasons about
# routing are for the audit log only. The sender's reasons go to its own
# agency, which knows the record.
publicity_cases := {
	"accept: sending agency not hosted": {
		"base": accept_input, "tc": accept_cases["sending agency not hosted by the peer"],
		"public": {"agency_not_hosted_by_peer": false},
	},
	"accept: too many gateways": {
		"base": accept_input, "tc": accept_cases["more gateways than the default allows"],
		"public": {"too_many_hops": false},
	},
	"accept: recipient not named": {
		"base": accept_input, "tc": accept_cases["recipient not named on the record"],
		"public": {"recipient_not_named": false},
	},
	"accept: recipient unknown": {
		"base": accept_input, "tc": accept_cases["recipient unknown here"],
		"public": {"recipient_unknown": false, "recipient_not_party": true},
	},
	"accept: agreement suspended": {
		"base": accept_input, "tc": accept_cases["agreement suspended here"],
		"public": {"dsa_not_active": true},
	},
	"accept: sender not a provider": {
		"base": accept_input, "tc": accept_cases["sender only a recipient under the agreement"],
		"public": {"sender_not_party": true},
	},
	"accept: handling": {
		"base": accept_input, "tc": accept_cases["recipient not among the organisations the handling allows"],
		"public": {"handling_condition_not_met": true},
	},
	"deliver: recipient not hosted": {
		"base": deliver_input, "tc": deliver_cases["recipient not hosted by the peer"],
		"public": {"recipient_not_hosted_by_peer": true},
	},
	"deliver: stranger": {
		"base": deliver_input, "tc": deliver_cases["caller neither originator nor recipient"],
		"public": {"not_recipient": false},
	},
}

test_federation_reason_publicity[name] if {
	some name, pc in publicity_cases
	d := run(pc.base, pc.tc)
	d.visible == true
	{r.code: r.public | some r in d.reasons} == pc.public
}

# Each reason a holding check gives on accept names the recipient.
test_accept_holding_reason_names_recipient if {
	d := run(accept_input, accept_cases["recipient's system not cleared for the tier"])
	[r] := d.reasons
	startswith(r.message, "recipient rocu-nw: ")
}

# An allowed delivery names the agreement it travels under; a denied one
# none.
dsa_id_cases := {
	"deliver": {"base": deliver_input, "tc": deliver_cases["originator delivers to a recipient the peer hosts"], "want": "dsa-uk-soc"},
	"deliver past an expired agreement": {"base": deliver_input, "tc": deliver_cases["an expired agreement is passed over when another covers the delivery"], "want": "dsa-uk-soc"},
	"deliver to SELEC": {"base": deliver_input, "tc": deliver_cases["to SELEC abroad, with the agreement's transfer basis"], "want": "dsa-selec-ops"},
	"accept past an unknown agreement": {"base": accept_input, "tc": accept_cases["an agreement unknown here is passed over when a known one covers the delivery"], "want": "dsa-uk-soc"},
	"denied": {"base": accept_input, "tc": accept_cases["agreement suspended here"], "want": ""},
}

test_federation_dsa_id[name] if {
	some name, c in dsa_id_cases
	run(c.base, c.tc).dsa_id == c.want
}

# fed_dsa_grants (positive) and fed_dsa_violations (reasons) agree on every
# case: an agreement grants exactly when it has no violation.
fed_dsa_sets(base, tc) := [granting, listed, violating] if {
	inp := json.remove(object.union(base, object.get(tc, "patch", {})), object.get(tc, "remove", []))
	agencies := object.union(fx.agencies, object.get(tc, "agencies", {}))
	dsas := object.union(fx.dsas, object.get(tc, "dsas", {}))
	settings := object.union(fx.settings, object.get(tc, "settings", {}))
	granting := authz.fed_granting_dsas with input as inp with data.agencies as agencies with data.dsas as dsas with data.settings as settings with data.crosswalk as fx.crosswalk
	listed := authz.record_dsa_ids with input as inp
	violations := authz.fed_dsa_violations with input as inp with data.agencies as agencies with data.dsas as dsas with data.settings as settings with data.crosswalk as fx.crosswalk
	violating := {id | some [id, _] in violations}
}

test_fed_dsa_grants_match_violations[name] if {
	some name, tc in deliver_cases
	[granting, listed, violating] := fed_dsa_sets(deliver_input, tc)
	granting == listed - violating
}

test_fed_dsa_grants_match_violations_accept[name] if {
	some name, tc in chunk(accept_cases, 2, 0)
	[granting, listed, violating] := fed_dsa_sets(accept_input, tc)
	granting == listed - violating
}

test_fed_dsa_grants_match_violations_accept_2[name] if {
	some name, tc in chunk(accept_cases, 2, 1)
	[granting, listed, violating] := fed_dsa_sets(accept_input, tc)
	granting == listed - violating
}
