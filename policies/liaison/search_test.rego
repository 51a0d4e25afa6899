# Table tests for record.discover (hit/no-hit search).
package liaison.authz_test

# nca is a party of dsa-uk-soc but not a recipient of the base record.
discover_input := object.union(read_input, {"action": "record.discover", "subject": {"agency_id": "nca"}})

discoverable := {"dsa-uk-soc": {"discovery": "hit_no_hit"}}

discover_cases := {
	"a party of a discovery DSA gets a hit": {"dsas": discoverable, "allow": true},
	"no DSA allows discovery by default": {
		"allow": false, "visible": false, "codes": {"no_discovery_agreement"},
	},
	"a non-party gets nothing": {
		"patch": {"subject": {"agency_id": "selec"}},
		"dsas": discoverable, "allow": false, "visible": false, "codes": {"no_discovery_agreement"},
	},
	"TLP:RED is never revealed": {
		"patch": {"record": {"tlp": "RED"}},
		"dsas": discoverable, "allow": false, "visible": false, "codes": {"discovery_forbidden_by_handling"},
	},
	"Europol H3 is never revealed": {
		"patch": {"record": {"handling": {"code": "P", "europol_codes": ["H3"]}}},
		"dsas": discoverable, "allow": false, "visible": false, "codes": {"discovery_forbidden_by_handling"},
	},
	"above OFFICIAL is never revealed": {
		"patch": {"record": {"classification": {"tier": "SECRET"}}},
		"dsas": discoverable, "allow": false, "visible": false, "codes": {"discovery_forbidden_by_handling"},
	},
	"originating agency only is never revealed": {
		"patch": {"record": {"handling": {"code": "C", "action_code": "A1", "sanitisation_code": "S2", "conditions": {"originating_agency_only": true}}}},
		"dsas": discoverable, "allow": false, "visible": false, "codes": {"discovery_forbidden_by_handling"},
	},
	"a suspended DSA reveals nothing": {
		"dsas": {"dsa-uk-soc": {"discovery": "hit_no_hit", "status": "suspended"}},
		"allow": false, "visible": false, "codes": {"no_discovery_agreement"},
	},
	"a purpose the DSA does not permit reveals nothing": {
		"patch": {"request": {"purpose": "vetting"}},
		"dsas": discoverable, "allow": false, "visible": false, "codes": {"no_discovery_agreement"},
	},
	"a search must be justified": {
		"patch": {"request": {"justification": "x"}},
		"dsas": discoverable, "allow": false, "visible": false, "codes": {"justification_required"},
	},
	"a recipient is told to read instead": {
		"patch": {"subject": {"agency_id": "rocu-nw"}},
		"dsas": discoverable, "allow": false, "visible": false, "codes": {"own_record"},
	},
}

test_discover[name] if {
	some name, tc in discover_cases
	check(run(discover_input, tc), tc)
}

test_discover_names_the_dsa if {
	d := run(discover_input, {"dsas": discoverable})
	d.dsa_id == "dsa-uk-soc"
}
