# policy.inspect: the policy in force, its reload history (accepted and
# rejected changes, with file:line problems) and the shadow report (the
# decisions a candidate policy would change, with their inputs) —
# GET /v1/policy, /v1/policy/reloads, /v1/policy/shadow. They show how the
# policy decides and, through recorded inputs, what officers asked, so
# they are for the officers who administer the policy
# (settings.policy_admin_roles), as the dry run is.
package liaison.authz

visible if input.action == "policy.inspect"

deny_reasons contains reason("policy_admin_required", "the policy in force, its reload history and the shadow report are for officers with a policy administrator role") if {
	input.action == "policy.inspect"
	not policy_admin
}

granted if {
	input.action == "policy.inspect"
	policy_admin
}
