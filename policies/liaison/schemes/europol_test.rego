package liaison.schemes.europol_test

import data.liaison.schemes.europol

h(codes) := {"code": "P", "europol_codes": codes}

no_ctx := {"purpose": "", "originator_type": "uk_police"}

ctx(purpose) := {"purpose": purpose, "originator_type": "uk_police"}

codes(s) := {r.code | some r in s}

test_applicable_codes[name] if {
	some name, tc in {
		"no Europol marking": {"h": {"code": "P"}, "g": {}, "ctx": no_ctx, "want": set()},
		"H2 listed brings H0": {"h": h(["H2"]), "g": {}, "ctx": no_ctx, "want": {"H0", "H2"}},
		"all four": {"h": h(["H0", "H1", "H2", "H3"]), "g": {}, "ctx": no_ctx, "want": {"H0", "H1", "H2", "H3"}},
		"evaluation alone brings H0": {"h": {"code": "P"}, "g": {"europol": {"source": "B", "info": "2"}}, "ctx": no_ctx, "want": {"H0"}},
		"Europol originator brings H0": {"h": {"code": "P"}, "g": {}, "ctx": {"purpose": "", "originator_type": "europol"}, "want": {"H0"}},
		"unknown code ignored": {"h": h(["H9"]), "g": {}, "ctx": no_ctx, "want": {"H0"}},
	}
	europol.codes(tc.h, tc.g, tc.ctx) == tc.want
}

test_publish_violations[name] if {
	some name, tc in {
		"H1 and H2 with law-enforcement purposes": {"h": h(["H1", "H2"]), "g": {}, "purposes": {"investigation", "prosecution"}, "want": set()},
		"H0 forbids public security": {"h": h(["H0"]), "g": {}, "purposes": {"investigation", "public_security"}, "want": {"europol_purpose_restricted"}},
		"implied H0 forbids public security": {"h": h(["H3"]), "g": {}, "purposes": {"public_security"}, "want": {"europol_purpose_restricted"}},
		"no Europol marking allows public security": {"h": {"code": "P"}, "g": {}, "purposes": {"public_security"}, "want": set()},
		"unknown H code": {"h": h(["H5"]), "g": {}, "purposes": {"investigation"}, "want": {"handling_invalid"}},
		"codes not an array": {"h": {"code": "P", "europol_codes": "H1"}, "g": {}, "purposes": {"investigation"}, "want": {"handling_invalid"}},
		"valid evaluation B2": {"h": {"code": "P"}, "g": {"europol": {"source": "B", "info": "2"}}, "purposes": {"investigation"}, "want": set()},
		"valid evaluation X4": {"h": {"code": "P"}, "g": {"europol": {"source": "X", "info": "4"}}, "purposes": {"investigation"}, "want": set()},
		"evaluation source D": {"h": {"code": "P"}, "g": {"europol": {"source": "D", "info": "1"}}, "purposes": {"investigation"}, "want": {"europol_evaluation_invalid"}},
		"evaluation info 5": {"h": {"code": "P"}, "g": {"europol": {"source": "A", "info": "5"}}, "purposes": {"investigation"}, "want": {"europol_evaluation_invalid"}},
		"evaluation not an object": {"h": {"code": "P"}, "g": {"europol": "A1"}, "purposes": {"investigation"}, "want": {"europol_evaluation_invalid"}},
	}
	codes(europol.publish_violations(tc.h, tc.g, europol.codes(tc.h, tc.g, no_ctx), tc.purposes)) == tc.want
}

test_read_violations[name] if {
	some name, tc in {
		"H0 investigation": {"h": h(["H0"]), "p": "investigation", "want": set()},
		"H0 public security": {"h": h(["H0"]), "p": "public_security", "want": {"europol_purpose_restricted"}},
		"H0 listing without purpose": {"h": h(["H0"]), "p": "", "want": set()},
		"H1 prosecution needs consent": {"h": h(["H1"]), "p": "prosecution", "want": {"europol_judicial_use_requires_consent"}},
		"H1 execution of penalties needs consent": {"h": h(["H1"]), "p": "execution_of_penalties", "want": {"europol_judicial_use_requires_consent"}},
		"H1 investigation": {"h": h(["H1"]), "p": "investigation", "want": set()},
		"H2 prosecution": {"h": h(["H2"]), "p": "prosecution", "want": set()},
		"H3 prosecution": {"h": h(["H3"]), "p": "prosecution", "want": set()},
		"H1 and H0 on public security": {"h": h(["H1"]), "p": "public_security", "want": {"europol_purpose_restricted"}},
		"unknown code": {"h": h(["H4"]), "p": "investigation", "want": {"handling_invalid"}},
		"not Europol material": {"h": {"code": "P"}, "p": "public_security", "want": set()},
	}
	codes(europol.read_violations(tc.h, europol.codes(tc.h, {}, ctx(tc.p)), tc.p)) == tc.want
}

test_obligations[name] if {
	some name, tc in {
		"H0": {"codes": ["H0"], "conditions": {"europol_law_enforcement_purposes_only"}, "consent": false, "evidential": false},
		"H1": {"codes": ["H1"], "conditions": {"europol_law_enforcement_purposes_only", "no_judicial_use_without_provider_consent"}, "consent": false, "evidential": true},
		"H2": {"codes": ["H2"], "conditions": {"europol_law_enforcement_purposes_only", "no_onward_dissemination_without_provider_consent"}, "consent": false, "evidential": false},
		"H3": {"codes": ["H3"], "conditions": {"europol_law_enforcement_purposes_only", "originator_consent_required"}, "consent": true, "evidential": false},
	}
	applied := europol.codes(h(tc.codes), {}, no_ctx)
	europol.conditions(applied) == tc.conditions
	{true | europol.consent_required(applied)} == {true | tc.consent}
	{true | europol.forbids_evidential_use(applied)} == {true | tc.evidential}
}

test_banner[name] if {
	some name, tc in {
		"codes and evaluation": {"h": h(["H2", "H1"]), "g": {"europol": {"source": "B", "info": "2"}}, "want": "EUROPOL B2 H0 H1 H2"},
		"evaluation only": {"h": {"code": "P"}, "g": {"europol": {"source": "A", "info": "1"}}, "want": "EUROPOL A1 H0"},
	}
	europol.banner(europol.codes(tc.h, tc.g, no_ctx), tc.g) == tc.want
}

test_no_banner_without_marking if {
	not europol.banner(europol.codes({"code": "P"}, {}, no_ctx), {})
}

test_malformed_code_not_echoed if {
	some r in europol.publish_violations(h(["<script>"]), {}, {"H0"}, {"investigation"})
	r.message == "Europol handling code (malformed) is not one of H0-H3"
}
