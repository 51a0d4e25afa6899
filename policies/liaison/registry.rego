# registry.read and registry.change: the gateway's registry of agencies and
# agreements (docs/registry.md) — adding, suspending and removing an
# agency, activating, suspending, terminating and renewing a DSA through
# the API. A change alters who may see what, like a policy change, so it
# is for officers with a role in settings.registry_admin_roles whose agency
# the registry marks registry_admin: true (an agency's identity provider
# alone cannot make its officers registry administrators). Auditors may
# read the registry. input.registry names what is changed: {kind: "agency",
# "dsa" or "enumeration", id, change}.
package liaison.authz

registry_actions := {"registry.read", "registry.change"}

registry_admin if {
	some r in officer_roles
	r in object.get(data.settings, "registry_admin_roles", [])
	data.agencies[caller].registry_admin == true
}

registry_target := input.registry if is_object(input.registry)

visible if action in registry_actions

deny_reasons contains reason("registry_admin_required", "changing the registry is for officers with a registry administrator role of an agency allowed to hold it") if {
	input.action == "registry.change"
	not registry_admin
}

deny_reasons contains reason("registry_admin_required", "the registry is for registry administrators and auditors") if {
	input.action == "registry.read"
	not registry_admin
	not auditor
}

deny_reasons contains reason("invalid_input", "registry is missing or malformed") if {
	input.action == "registry.change"
	not valid_registry_target
}

valid_registry_target if {
	registry_target.kind in {"agency", "dsa", "enumeration"}
	is_string(registry_target.id)
	is_string(registry_target.change)
}

# An administrator cannot lock its own agency out: suspending or removing
# it is for another registry administrator.
deny_reasons contains reason("registry_self_lockout", "a registry administrator may not suspend or remove its own agency") if {
	input.action == "registry.change"
	registry_target.kind == "agency"
	registry_target.id == caller
	registry_target.change in {"suspend", "remove"}
}

granted if {
	input.action == "registry.change"
	registry_admin
}

granted if {
	input.action == "registry.read"
	registry_admin
}

granted if {
	input.action == "registry.read"
	auditor
}
