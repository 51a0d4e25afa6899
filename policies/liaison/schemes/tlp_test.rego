package liaison.schemes.tlp_test

import data.liaison.schemes.tlp

test_within[name] if {
	some name, tc in {
		"CLEAR under AMBER": {"l": "CLEAR", "max": "AMBER", "want": true},
		"AMBER at AMBER": {"l": "AMBER", "max": "AMBER", "want": true},
		"AMBER+STRICT over AMBER": {"l": "AMBER+STRICT", "max": "AMBER", "want": false},
		"RED over AMBER+STRICT": {"l": "RED", "max": "AMBER+STRICT", "want": false},
		"RED at RED": {"l": "RED", "max": "RED", "want": true},
		"legacy WHITE is unknown": {"l": "WHITE", "max": "RED", "want": false},
		"unknown ceiling": {"l": "CLEAR", "max": "PURPLE", "want": false},
	}
	got := {true | tlp.within(tc.l, tc.max)}
	got == {true | tc.want}
}

test_malformed_labels_are_invalid[name] if {
	some name, l in {"legacy WHITE": "WHITE", "lower case": "amber", "number": 3, "null": null}
	not tlp.valid(l)
}

test_conditions if {
	tlp.conditions("RED") == {"tlp_red_named_recipients_only"}
	tlp.conditions("CLEAR") == set()
	tlp.banner("AMBER+STRICT") == "TLP:AMBER+STRICT"
}
