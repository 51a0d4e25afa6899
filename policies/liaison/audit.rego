# audit.query: the audit log API (GET /v1/audit) is for officers with an
# auditor role (settings.auditor_roles, e.g. auditor, dpo). Entries carry no
# record content; they are still personal data about officers and subjects,
# and they name other agencies' records, recipients and agreements, so an
# auditor sees only the part of the log that concerns its own agency
# (audit_scope below); the gateway filters the log by that scope and never
# returns an entry outside it.
package liaison.authz

auditor if {
	some r in officer_roles
	r in data.settings.auditor_roles
}

auditor if federation_auditor

# A federation-level auditor sees every entry. The role must be named in
# settings.federation_auditor_roles AND the officer's agency must be marked
# federation_auditor: true in the registry: an agency's identity provider
# alone cannot make its officers federation auditors.
federation_auditor if {
	some r in officer_roles
	r in object.get(data.settings, "federation_auditor_roles", [])
	data.agencies[caller].federation_auditor == true
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

# audit_scope is what an allowed audit.query may return:
#   federation: true   every entry (a federation auditor);
#   otherwise          entries where agency is the caller (the agency that
#                      acted), the record's originator or controller, or a
#                      recipient, and entries under one of dsas: the
#                      agreements the agency is a party to.
audit_scope := {"federation": true, "agency": caller, "dsas": []} if {
	input.action == "audit.query"
	federation_auditor
} else := {"federation": false, "agency": caller, "dsas": sort(audit_party_dsas)} if {
	input.action == "audit.query"
	auditor
}

audit_party_dsas contains id if {
	some id, d in data.dsas
	some p in d.parties
	p.org_id == caller
}

# decision_audit_scope is the scope the decision carries: none for a denial.
decision_audit_scope := s if {
	allow
	s := audit_scope
} else := null
