# Who may inspect the policy in force, its reload history and the shadow
# report (inspect.rego).
package liaison.authz_test

inspect_input := {
	"action": "policy.inspect",
	"time": now,
	"subject": {"agency_id": "nca", "officer": {"id": "so-1", "clearance": "SC", "roles": ["security_officer"]}},
	"request": {"purpose": "", "justification": "", "case": ""},
}

inspect_cases := {
	"a policy administrator may inspect": {"allow": true, "visible": true},
	"an analyst may not": {
		"patch": {"subject": {"officer": {"roles": ["analyst"]}}},
		"allow": false, "visible": true, "codes": {"policy_admin_required"},
	},
	"an auditor may not (the audit log is theirs, the policy's inputs are not)": {
		"patch": {"subject": {"officer": {"roles": ["auditor", "dpo"]}}},
		"allow": false, "visible": true, "codes": {"policy_admin_required"},
	},
	"an agency system without an officer may not": {
		"remove": ["subject/officer"],
		"allow": false, "visible": true, "codes": {"policy_admin_required"},
	},
	"the role must be one settings names": {
		"settings": {"policy_admin_roles": ["policy_admin"]},
		"allow": false, "visible": true, "codes": {"policy_admin_required"},
	},
}

test_inspect[name] if {
	some name, tc in inspect_cases
	check(run(inspect_input, tc), tc)
}
