package liaison.schemes.gsc_test

import data.liaison.schemes.gsc

test_level[name] if {
	some name, tc in {
		"OFFICIAL": {"c": {"tier": "OFFICIAL"}, "want": "OFFICIAL"},
		"OFFICIAL sensitive false": {"c": {"tier": "OFFICIAL", "sensitive": false}, "want": "OFFICIAL"},
		"OFFICIAL-SENSITIVE": {"c": {"tier": "OFFICIAL", "sensitive": true}, "want": "OFFICIAL-SENSITIVE"},
		"SECRET ignores sensitive": {"c": {"tier": "SECRET", "sensitive": true}, "want": "SECRET"},
		"TOP_SECRET": {"c": {"tier": "TOP_SECRET"}, "want": "TOP_SECRET"},
	}
	gsc.level(tc.c) == tc.want
}

test_level_undefined_for_unknown_tiers[name] if {
	some name, c in {
		"legacy RESTRICTED": {"tier": "RESTRICTED"},
		"missing tier": {},
		"tier not a string": {"tier": 2},
	}
	not gsc.level(c)
}

test_within[name] if {
	some name, tc in {
		"OFFICIAL under SECRET": {"c": {"tier": "OFFICIAL"}, "max": "SECRET", "want": true},
		"SECRET at SECRET": {"c": {"tier": "SECRET"}, "max": "SECRET", "want": true},
		"TOP_SECRET over SECRET": {"c": {"tier": "TOP_SECRET"}, "max": "SECRET", "want": false},
		"OFFICIAL-SENSITIVE at OFFICIAL-SENSITIVE": {"c": {"tier": "OFFICIAL", "sensitive": true}, "max": "OFFICIAL-SENSITIVE", "want": true},
		"OFFICIAL-SENSITIVE over OFFICIAL": {"c": {"tier": "OFFICIAL", "sensitive": true}, "max": "OFFICIAL", "want": false},
		"unknown ceiling": {"c": {"tier": "OFFICIAL"}, "max": "UNCLASSIFIED", "want": false},
		"unknown tier": {"c": {"tier": "CONFIDENTIAL"}, "max": "TOP_SECRET", "want": false},
	}

	# {true | cond} is {true} or the empty set, so false cases compare too.
	{true | gsc.within(tc.c, tc.max)} == {true | tc.want}
}

test_clearance_sufficient[name] if {
	some name, tc in {
		"BPSS for OFFICIAL": {"cl": "BPSS", "tier": "OFFICIAL", "want": true},
		"BPSS for SECRET": {"cl": "BPSS", "tier": "SECRET", "want": false},
		"SC for SECRET": {"cl": "SC", "tier": "SECRET", "want": true},
		"eSC for SECRET": {"cl": "eSC", "tier": "SECRET", "want": true},
		"SC for TOP_SECRET": {"cl": "SC", "tier": "TOP_SECRET", "want": false},
		"DV for TOP_SECRET": {"cl": "DV", "tier": "TOP_SECRET", "want": true},
		"CTC is no clearance": {"cl": "CTC", "tier": "OFFICIAL", "want": false},
		"unknown tier": {"cl": "DV", "tier": "COSMIC", "want": false},
	}
	got := {true | gsc.clearance_sufficient(tc.cl, {"tier": tc.tier})}
	got == {true | tc.want}
}

test_clearance_at_least[name] if {
	some name, tc in {
		"SC meets BPSS": {"cl": "SC", "min": "BPSS", "want": true},
		"BPSS misses SC": {"cl": "BPSS", "min": "SC", "want": false},
		"unknown minimum never met": {"cl": "DV", "min": "NPPV3", "want": false},
	}
	got := {true | gsc.clearance_at_least(tc.cl, tc.min)}
	got == {true | tc.want}
}

test_caveat_met[name] if {
	some name, tc in {
		"no caveat": {"c": {"tier": "OFFICIAL"}, "country": "ROU", "want": true},
		"empty caveat": {"c": {"eyes_only": []}, "country": "ROU", "want": true},
		"GBR eyes only, GBR": {"c": {"eyes_only": ["GBR"]}, "country": "GBR", "want": true},
		"GBR eyes only, ROU": {"c": {"eyes_only": ["GBR"]}, "country": "ROU", "want": false},
		"UK alias": {"c": {"eyes_only": ["UK"]}, "country": "GBR", "want": true},
		"FVEY alias": {"c": {"eyes_only": ["FVEY"]}, "country": "NZL", "want": true},
		"UK/US": {"c": {"eyes_only": ["UK", "US"]}, "country": "USA", "want": true},
		"malformed caveat fails closed": {"c": {"eyes_only": "GBR"}, "country": "GBR", "want": false},
		"null caveat fails closed": {"c": {"eyes_only": null}, "country": "GBR", "want": false},
	}
	got := {true | gsc.caveat_met(tc.c, tc.country)}
	got == {true | tc.want}
}

test_marking[name] if {
	some name, tc in {
		"OFFICIAL": {"c": {"tier": "OFFICIAL"}, "want": "OFFICIAL"},
		"UK OFFICIAL-SENSITIVE": {"c": {"tier": "OFFICIAL", "sensitive": true, "uk_prefix": true}, "want": "UK OFFICIAL-SENSITIVE"},
		"TOP SECRET label": {"c": {"tier": "TOP_SECRET"}, "want": "TOP SECRET"},
	}
	gsc.marking(tc.c) == tc.want
}

test_banner_parts if {
	c := {
		"tier": "SECRET",
		"eyes_only": ["GBR", "USA"],
		"rel_to": ["EU"],
		"descriptors": ["PERSONAL_DATA", "LPP"],
		"handling_instructions": ["RECIPIENTS ONLY"],
	}
	gsc.caveat_parts(c) == ["GBR/USA EYES ONLY", "REL EU"]
	gsc.descriptor_parts(c) == ["PERSONAL DATA", "LEGAL PROFESSIONAL PRIVILEGE", "RECIPIENTS ONLY"]
}
