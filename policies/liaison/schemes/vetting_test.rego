package liaison.schemes.vetting_test

import data.liaison.schemes.vetting

test_at_least[name] if {
	some name, tc in {
		"MV meets MV": {"v": "MV", "min": "MV", "want": true},
		"NPPV3 meets MV": {"v": "NPPV3", "min": "MV", "want": true},
		"RV does not meet MV": {"v": "RV", "min": "MV", "want": false},
		"NPPV2 does not meet MV": {"v": "NPPV2", "min": "MV", "want": false},
		"RV meets RV": {"v": "RV", "min": "RV", "want": true},
		"NPPV2 meets RV": {"v": "NPPV2", "min": "RV", "want": true},
		"MV meets NPPV2": {"v": "MV", "min": "NPPV2", "want": true},
		"NPPV1 (premises only) meets nothing": {"v": "NPPV1", "min": "RV", "want": false},
		"none meets nothing": {"v": "", "min": "RV", "want": false},
		"unknown minimum is never met": {"v": "MV", "min": "XV", "want": false},
	}
	{true | vetting.at_least(tc.v, tc.min)} == {true | tc.want}
}

test_required_for[name] if {
	some name, tc in {
		"CHIS source": {"rec": {"source_type": "chis", "handling": {"code": "P"}}, "want": {"MV"}},
		"C with A1": {"rec": {"handling": {"code": "C", "action_code": "A1"}}, "want": {"MV"}},
		"C with A2": {"rec": {"handling": {"code": "C", "action_code": "A2"}}, "want": set()},
		"human source, P": {"rec": {"source_type": "human", "handling": {"code": "P"}}, "want": set()},
		"no handling": {"rec": {}, "want": set()},
	}
	vetting.required_for(tc.rec) == tc.want
}

test_met[name] if {
	some name, tc in {
		"nothing required, no vetting": {"v": "", "req": set(), "want": true},
		"MV required, MV": {"v": "MV", "req": {"MV"}, "want": true},
		"MV required, RV": {"v": "RV", "req": {"MV"}, "want": false},
	}
	{true | vetting.met(tc.v, tc.req)} == {true | tc.want}
}
