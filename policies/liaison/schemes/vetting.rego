# METADATA
# title: Police vetting (Vetting Code of Practice 2023)
# description: |
#   Police vetting is an integrity regime separate from national security
#   clearance (DOMAIN.md §3.3): RV (recruitment, everyone), MV (management
#   vetting, designated posts with access to sensitive intelligence or
#   covert material), NPPV1-3 for non-police personnel (NPPV2 ≈ RV for
#   police information, NPPV3 ≈ MV). Ranks are data
#   (data.schemes.police_vetting); anything unknown ranks 0 and satisfies
#   nothing. A DSA may set police_vetting; CHIS-derived material and C/A1
#   intelligence need MV (data.schemes.vetting_requirements).
package liaison.schemes.vetting

rank(v) := r if {
	r := data.schemes.police_vetting[v]
	is_number(r)
} else := 0

# at_least: the holder's vetting reaches a named minimum.
at_least(v, minimum) if {
	rank(v) >= rank(minimum)
	rank(minimum) > 0
}

# required_for(record) lists the minimum vettings the record itself demands:
# by its source type and by its handling.
required_for(rec) := {v | v := data.schemes.vetting_requirements.source_types[rec.source_type]} | required_for_handling(object.get(rec, "handling", {}))

required_for_handling(h) := {v |
	h.code == "C"
	v := data.schemes.vetting_requirements.action_codes[h.action_code]
}

# met: vetting v reaches every minimum in required (a set).
met(v, required) if {
	every minimum in required {
		at_least(v, minimum)
	}
}
