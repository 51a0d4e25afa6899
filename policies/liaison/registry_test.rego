# Who may read and change the registry (registry.rego).
package liaison.authz_test

registry_input := {
	"action": "registry.change",
	"time": now,
	"subject": {"agency_id": "met-police", "officer": object.union(officer, {"roles": ["registry_admin"]})},
	"request": {"purpose": "", "justification": "", "case": ""},
	"registry": {"kind": "dsa", "id": "dsa-uk-soc", "change": "suspend"},
}

registry_admin_agency := {"met-police": {"registry_admin": true}}

registry_cases := {
	"a registry administrator of an agency allowed the role suspends a DSA": {
		"agencies": registry_admin_agency,
		"allow": true,
	},
	"the role claimed by an agency not allowed it is refused": {
		"allow": false, "codes": {"registry_admin_required"},
	},
	"an analyst may not change the registry": {
		"agencies": registry_admin_agency,
		"patch": {"subject": {"officer": {"roles": ["analyst"]}}},
		"allow": false, "codes": {"registry_admin_required"},
	},
	"an agency system without an officer may not": {
		"agencies": registry_admin_agency,
		"remove": ["subject/officer"],
		"allow": false, "codes": {"registry_admin_required"},
	},
	"an administrator may not suspend its own agency": {
		"agencies": registry_admin_agency,
		"patch": {"registry": {"kind": "agency", "id": "met-police", "change": "suspend"}},
		"allow": false, "codes": {"registry_self_lockout"},
	},
	"an administrator may not remove its own agency": {
		"agencies": registry_admin_agency,
		"patch": {"registry": {"kind": "agency", "id": "met-police", "change": "remove"}},
		"allow": false, "codes": {"registry_self_lockout"},
	},
	"an administrator suspends another agency": {
		"agencies": registry_admin_agency,
		"patch": {"registry": {"kind": "agency", "id": "hmrc", "change": "suspend"}},
		"allow": true,
	},
	"an administrator adds an agency type": {
		"agencies": registry_admin_agency,
		"patch": {"registry": {"kind": "enumeration", "id": "agency_types", "change": "add"}},
		"allow": true,
	},
	"a change of an unknown kind is malformed": {
		"agencies": registry_admin_agency,
		"patch": {"registry": {"kind": "settings", "id": "x", "change": "add"}},
		"allow": false, "codes": {"invalid_input"},
	},
	"a change must say what it changes": {
		"agencies": registry_admin_agency,
		"remove": ["registry"],
		"allow": false, "codes": {"invalid_input"},
	},
	"an auditor reads the registry": {
		"patch": {"action": "registry.read", "subject": {"officer": {"roles": ["dpo"]}}},
		"allow": true,
	},
	"an auditor may not change it": {
		"patch": {"subject": {"officer": {"roles": ["dpo"]}}},
		"allow": false, "codes": {"registry_admin_required"},
	},
	"an analyst may not read it": {
		"patch": {"action": "registry.read", "subject": {"officer": {"roles": ["analyst"]}}},
		"allow": false, "codes": {"registry_admin_required"},
	},
}

test_registry[name] if {
	some name, tc in registry_cases
	tc2 := object.union(tc, {"settings": {"registry_admin_roles": ["registry_admin"]}})
	check(run(registry_input, tc2), tc2)
}
