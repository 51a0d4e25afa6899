# audit.query: the audit log API (GET /v1/audit) is for officers with an
# auditor role (settings.auditor_roles, e.g. auditor, dpo). Entries carry no
# record content; they are still personal data about officers and subjects.
package liaison.authz

auditor if {
	some r in officer_roles
	r in data.settings.auditor_roles
}

visible if input.action == "audit.query"

deny_reasons contains reason("auditor_required", "the audit log is for officers with an auditor role") if {
	input.action == "audit.query"
	not auditor
}

granted if {
	input.action == "audit.query"
	auditor
}
