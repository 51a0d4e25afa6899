# METADATA
# title: College of Policing 3x5x2 grading and handling codes
# description: |
#   Source (1-3) and intelligence (A-E) grades, the P/C handling code and,
#   under C, the action (A1-A3) and sanitisation (S1-S2) codes and the
#   structured handling conditions (DOMAIN.md §1.1).
#   Under C sharing is denied by default and permitted only when every
#   structured condition holds; free-text conditions cannot be checked by a
#   machine and become the originator_consent_required obligation.
package liaison.schemes.grading3x5x2

# reason builds a deny reason. Every handling reason is safe to show to a
# caller that may know the record exists: messages carry codes, not content.
reason(code, msg) := {"code": code, "message": msg, "public": true}

valid_grading(g) if {
	g.source in data.schemes.grading.sources
	g.intelligence in data.schemes.grading.intelligence
}

# grade is the two-character grade written after an IR item, e.g. "1B".
grade(g) := concat("", [g.source, g.intelligence]) if valid_grading(g)

conditions_of(h) := h.conditions if {
	is_object(h.conditions)
} else := {}

action_code(h) := h.action_code if h.action_code in object.keys(data.schemes.action_codes)

sanitisation_code(h) := h.sanitisation_code if h.sanitisation_code in object.keys(data.schemes.sanitisation_codes)

# complete_c holds when a C record carries everything C requires.
complete_c(h) if {
	h.code == "C"
	action_code(h)
	sanitisation_code(h)
	is_object(h.conditions)
}

# ---------------------------------------------------------------------------
# Publication: is the handling block well formed?
# ---------------------------------------------------------------------------

publish_violations(h) := ((code_violations(h) | c_violations(h)) | p_violations(h)) | expiry_format_violations(h)

code_violations(h) := {reason("handling_invalid", "handling code must be P or C")} if {
	not valid_code(h)
} else := set()

# valid_code wraps the membership test: `not h.code in …` would be undefined,
# not true, when h.code is missing.
valid_code(h) if h.code in data.schemes.grading.handling_codes

c_violations(h) := {reason("handling_conditions_incomplete", "handling code C requires an action code, a sanitisation code and conditions")} if {
	h.code == "C"
	not complete_c(h)
} else := set()

# Under P the A/S codes have no meaning; both public implementations reject
# them (DOMAIN.md §1.1), and accepting them would suggest conditions that are
# never enforced.
p_violations(h) := {reason("handling_invalid", "action and sanitisation codes are only valid with handling code C")} if {
	h.code == "P"
	some k in ["action_code", "sanitisation_code"]
	object.get(h, k, null) != null
} else := set()

expiry_format_violations(h) := {reason("handling_invalid", "handling conditions expiry is not an RFC 3339 time")} if {
	not expiry_well_formed(conditions_of(h))
} else := set()

expiry_well_formed(c) if object.get(c, "expires", null) == null

expiry_well_formed(c) if time.parse_rfc3339_ns(c.expires)

# ---------------------------------------------------------------------------
# Consultation (read/list) by a recipient agency.
# ctx: {"agency_id", "org_types" (array), "purpose" ("" if none), "now_ns"}
# ---------------------------------------------------------------------------

read_violations(h, ctx) := (handling_code_violations(h) | condition_violations(conditions_of(h), ctx)) | action_violations(h, ctx)

# handling_code_violations are code_violations and c_violations: a valid
# code other than C has neither, so the common P record stops here.
handling_code_violations(h) := set() if {
	valid_code(h)
	h.code != "C"
} else := code_violations(h) | c_violations(h)

# condition_violations: the structured conditions c (conditions_of(h),
# computed once by the caller) that the caller does not meet. Without
# conditions none of the checks can fail.
condition_violations(c, ctx) := set() if {
	c == {}
} else := (((org_violations(c, ctx) | type_violations(c, ctx)) | own_agency_violations(c)) | expiry_violations(c, ctx)) | judicial_violations(c, ctx)

org_violations(c, ctx) := {reason("handling_condition_not_met", "caller agency is not among the recipient organisations the handling conditions allow")} if {
	allowed := object.get(c, "allowed_recipient_orgs", [])
	allowed != []
	not ctx.agency_id in allowed
} else := set()

type_violations(c, ctx) := {reason("handling_condition_not_met", "caller agency type is not among the recipient types the handling conditions allow")} if {
	allowed := object.get(c, "allowed_recipient_types", [])
	allowed != []
	not any_type_allowed(allowed, ctx.org_types)
} else := set()

any_type_allowed(allowed, types) if {
	some t in types
	t in allowed
}

# Reached only for callers other than the originator (authz grants the
# originator before handling is checked).
own_agency_violations(c) := {reason("originating_agency_only", "handling conditions restrict the record to the originating agency")} if {
	c.originating_agency_only == true
} else := set()

expiry_violations(c, ctx) := {reason("handling_expired", "the handling conditions permitting this sharing have expired")} if {
	not unexpired(c, ctx.now_ns)
} else := set()

unexpired(c, _) if object.get(c, "expires", null) == null

unexpired(c, now) if time.parse_rfc3339_ns(c.expires) > now

# no_judicial_use and intelligence_use_only both bar judicial purposes
# (prosecution, execution of penalties): the NCA caveat reads "strictly for
# intelligence use only … must not be disclosed in criminal proceedings".
judicial_violations(c, ctx) := {reason("judicial_use_forbidden", sprintf("handling conditions forbid use for purpose %s", [ctx.purpose]))} if {
	some flag in ["no_judicial_use", "intelligence_use_only"]
	c[flag] == true
	ctx.purpose in data.schemes.purpose_classes.judicial
} else := set()

# A1 bars operational use (no direct action without the originator's
# permission); A2 bars evidential use. The purpose classes are data.
action_violations(h, ctx) := {reason("action_code_forbids_use", sprintf("action code %s forbids use for purpose %s", [h.action_code, ctx.purpose]))} if {
	class := data.schemes.action_codes[h.action_code].forbidden_purpose_class
	ctx.purpose in data.schemes.purpose_classes[class]
} else := set()

# ---------------------------------------------------------------------------
# Obligations
# ---------------------------------------------------------------------------

# consent_required: free-text conditions cannot be evaluated by a machine, so
# the read is allowed but the gateway must tell the recipient that any use
# beyond reading needs the originator's consent.
consent_required(h) if free_text(conditions_of(h))

free_text(c) if trim_space(c.free_text) != ""

# forbids_evidential_use: the recipient may not use the record as evidence
# or in judicial proceedings (A1 and A2 by data, no_judicial_use, and the
# NCA's intelligence_use_only caveat).
forbids_evidential_use(h) if data.schemes.action_codes[h.action_code].forbid_evidential_use == true

forbids_evidential_use(h) if conditions_of(h).no_judicial_use == true

forbids_evidential_use(h) if conditions_of(h).intelligence_use_only == true

# condition_codes lists every handling condition that binds the recipient.
# The conditions block is read once (functions are evaluated at every call).
condition_codes(h) := ((boolean_conditions(c) | action_conditions(h)) | sanitisation_conditions(h)) | consent_conditions(c) if {
	c := conditions_of(h)
}

# boolean_conditions: the flags set in the conditions block c.
boolean_conditions(c) := set() if {
	c == {}
} else := {k |
	some k in ["no_onward_dissemination", "no_judicial_use", "originating_agency_only", "intelligence_use_only"]
	c[k] == true
}

action_conditions(h) := {c | some c in data.schemes.action_codes[h.action_code].conditions}

sanitisation_conditions(h) := {c | some c in data.schemes.sanitisation_codes[h.sanitisation_code].conditions}

consent_conditions(c) := {"originator_consent_required"} if {
	free_text(c)
} else := set()

# banner is the grading element, e.g. "3x5x2 1B P" or "3x5x2 2C C A2 S2".
banner(g, h) := concat(" ", array.concat(["3x5x2", grade_or_ungraded(g)], handling_codes(h)))

grade_or_ungraded(g) := grade(g) if {
	valid_grading(g)
} else := "UNGRADED"

handling_codes(h) := [h.code, h.action_code, h.sanitisation_code] if {
	complete_c(h)
} else := [h.code] if {
	is_string(h.code)
} else := ["UNHANDLED"]

# condition_labels are the banner elements for the boolean conditions.
condition_labels(h) := [data.schemes.condition_labels[k] |
	some k in sort(boolean_conditions(conditions_of(h)) | consent_conditions(conditions_of(h)))
	is_string(data.schemes.condition_labels[k])
]
