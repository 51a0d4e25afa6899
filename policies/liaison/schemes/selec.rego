# METADATA
# title: SELEC participation status
# description: |
#   SELEC (Southeast European Law Enforcement Center, DOMAIN.md §4.2) has
#   member, operational partner and observer statuses. An agency taking part
#   through SELEC (org_type selec, or a selec_status on its DSA party entry
#   or registry entry) receives operational data only as a member (a Party
#   to the SELEC Convention: member states are the centre's primary users)
#   or an operational partner (data.schemes.selec.operational_statuses);
#   an observer, or a participant with no status, receives strategic data
#   only. Operational data is anything about persons: every record
#   except those whose data_subject_category is strategic ("none") and that
#   carry no PERSONAL_DATA descriptor; a record that does not say is
#   treated as operational (fail closed).
package liaison.schemes.selec

# status of org under DSA id: the DSA's party entry wins over the registry.
status(id, org) := s if {
	some p in data.dsas[id].parties
	p.org_id == org
	s := p.selec_status
	is_string(s)
} else := s if {
	s := data.agencies[org].selec_status
	is_string(s)
}

participant(_, org) if data.agencies[org].org_type == "selec"

participant(id, org) if status(id, org)

personal_data(rec) if "PERSONAL_DATA" in rec.classification.descriptors

strategic(rec) if {
	rec.data_subject_category in data.schemes.selec.strategic_subject_categories
	not personal_data(rec)
}

operational(rec) if not strategic(rec)

# operational_access: the status under DSA id admits operational data
# (member or operational partner; observers get strategic data only).
operational_access(id, org) if status(id, org) in data.schemes.selec.operational_statuses

# ok: org may receive rec under DSA id as far as SELEC status goes.
ok(id, org, _) if not participant(id, org)

ok(_, _, rec) if not operational(rec)

ok(id, org, _) if operational_access(id, org)
