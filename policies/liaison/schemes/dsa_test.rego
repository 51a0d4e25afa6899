package liaison.schemes.dsa_test

import data.liaison.schemes.dsa
import data.liaison.test_fixtures as fx

ns(t) := time.parse_rfc3339_ns(t)

# variant is dsa-uk-soc with some fields replaced, installed under the id
# "variant" with `with data.dsas as variants(patch)`.
variants(patch) := object.union(fx.dsas, {"variant": object.union(fx.dsas["dsa-uk-soc"], patch)})

test_roles[name] if {
	some name, tc in {
		"met-police provides under selec-ops": {"dsa": "dsa-selec-ops", "org": "met-police", "provider": true, "recipient": false},
		"selec receives under selec-ops": {"dsa": "dsa-selec-ops", "org": "selec", "provider": false, "recipient": true},
		"hmrc both under selec-ops": {"dsa": "dsa-selec-ops", "org": "hmrc", "provider": true, "recipient": true},
		"nca not a party of selec-ops": {"dsa": "dsa-selec-ops", "org": "nca", "provider": false, "recipient": false},
		"unknown DSA": {"dsa": "dsa-nope", "org": "nca", "provider": false, "recipient": false},
	}
	{true | dsa.provider(tc.dsa, tc.org)} == {true | tc.provider} with data.dsas as fx.dsas
	{true | dsa.recipient(tc.dsa, tc.org)} == {true | tc.recipient} with data.dsas as fx.dsas
}

test_in_force[name] if {
	some name, tc in {
		"uk-soc today": {"id": "dsa-uk-soc", "t": "2026-11-21T10:00:00Z", "want": true},
		"uk-soc last second of expiry day": {"id": "dsa-uk-soc", "t": "2028-12-31T23:59:59Z", "want": true},
		"uk-soc day after expiry": {"id": "dsa-uk-soc", "t": "2029-01-01T00:00:00Z", "want": false},
		"legacy expired": {"id": "dsa-legacy-2023", "t": "2026-11-21T10:00:00Z", "want": false},
		"legacy before expiry": {"id": "dsa-legacy-2023", "t": "2025-03-31T12:00:00Z", "want": true},
		"unknown DSA": {"id": "dsa-nope", "t": "2026-11-21T10:00:00Z", "want": false},
		"suspended": {"patch": {"status": "suspended"}, "t": "2026-11-21T10:00:00Z", "want": false},
		"draft": {"patch": {"status": "draft"}, "t": "2026-11-21T10:00:00Z", "want": false},
		"not yet effective": {"patch": {"effective_date": "2027-01-01"}, "t": "2026-11-21T10:00:00Z", "want": false},
		"effective": {"patch": {"effective_date": "2026-01-01"}, "t": "2026-11-21T10:00:00Z", "want": true},
		"no expiry date": {"patch": {"expiry_date": null}, "t": "2026-11-21T10:00:00Z", "want": false},
		"malformed expiry date": {"patch": {"expiry_date": "31/12/2028"}, "t": "2026-11-21T10:00:00Z", "want": false},
	}
	id := object.get(tc, "id", "variant")
	got := {true | dsa.in_force(id, ns(tc.t))} with data.dsas as variants(object.get(tc, "patch", {}))
	got == {true | tc.want}
}

test_ceilings[name] if {
	some name, tc in {
		"selec-ops takes OFFICIAL-SENSITIVE": {"dsa": "dsa-selec-ops", "c": {"tier": "OFFICIAL", "sensitive": true}, "tlp": "AMBER", "want": true},
		"selec-ops refuses SECRET": {"dsa": "dsa-selec-ops", "c": {"tier": "SECRET"}, "tlp": "AMBER", "want": false},
		"selec-ops refuses AMBER+STRICT": {"dsa": "dsa-selec-ops", "c": {"tier": "OFFICIAL"}, "tlp": "AMBER+STRICT", "want": false},
		"uk-soc takes SECRET and RED": {"dsa": "dsa-uk-soc", "c": {"tier": "SECRET"}, "tlp": "RED", "want": true},
		"unknown DSA takes nothing": {"dsa": "dsa-nope", "c": {"tier": "OFFICIAL"}, "tlp": "CLEAR", "want": false},
	}
	got := {true | dsa.classification_ok(tc.dsa, tc.c); dsa.tlp_ok(tc.dsa, tc.tlp)} with data.dsas as fx.dsas
	got == {true | tc.want}
}

test_max_tlp_defaults_to_settings if {
	got := dsa.max_tlp("variant") with data.dsas as variants({"max_tlp": null}) with data.settings as fx.settings
	got == fx.settings.default_dsa_max_tlp
}

test_justification_default[name] if {
	some name, tc in {
		"absent means required": {"patch": {"require_justification": null}, "want": true},
		"true": {"patch": {"require_justification": true}, "want": true},
		"false": {"patch": {"require_justification": false}, "want": false},
	}
	got := {true | dsa.requires_justification("variant")} with data.dsas as variants(tc.patch)
	got == {true | tc.want}
}

test_transfer[name] if {
	some name, tc in {
		"same country": {"patch": {}, "from": "GBR", "to": "GBR", "want": true},
		"abroad with safeguards": {"patch": {"onward_sharing": {"third_country_transfer": "appropriate_safeguards"}}, "from": "GBR", "to": "ROU", "want": true},
		"abroad prohibited": {"patch": {"onward_sharing": {"third_country_transfer": "prohibited"}}, "from": "GBR", "to": "ROU", "want": false},
		"abroad without a basis": {"patch": {"onward_sharing": {"third_country_transfer": null}}, "from": "GBR", "to": "ROU", "want": false},
		"unknown origin": {"patch": {"onward_sharing": {"third_country_transfer": "prohibited"}}, "from": null, "to": "GBR", "want": false},
	}
	got := {true | dsa.transfer_ok("variant", tc.from, tc.to)} with data.dsas as variants(tc.patch)
	got == {true | tc.want}
}

test_min_clearance[name] if {
	some name, tc in {
		"no minimum": {"patch": {"min_clearance": null}, "cl": "BPSS", "want": true},
		"SC minimum, SC": {"patch": {"min_clearance": "SC"}, "cl": "SC", "want": true},
		"SC minimum, BPSS": {"patch": {"min_clearance": "SC"}, "cl": "BPSS", "want": false},
	}
	got := {true | dsa.min_clearance_ok("variant", tc.cl)} with data.dsas as variants(tc.patch)
	got == {true | tc.want}
}

test_redact_and_onward if {
	dsa.redact_fields("dsa-selec-ops") == {"officer_contact"} with data.dsas as fx.dsas
	dsa.onward_restricted("dsa-uk-soc") with data.dsas as fx.dsas
	not dsa.onward_restricted("variant") with data.dsas as variants({"onward_sharing": {"allowed": true, "requires_originator_authorisation": false}})
}
