# METADATA
# title: Europol handling codes H0-H3 and evaluation codes
# description: |
#   SIENA handling codes (DOMAIN.md §4.1) on a record's handling.europol_codes
#   and the Europol Regulation Art. 29 evaluation (grading.europol: source
#   A, B, C, X; information 1-4).
#   H0 (use only to prevent and combat crime) is always on for Europol
#   material: a record that carries any H code, a Europol evaluation, or
#   comes from a Europol originator. H1 (not in judicial proceedings without
#   the provider's permission) denies judicial purposes until the consent
#   workflow records the provider's permission. H2 (no dissemination
#   without permission) becomes an onward-sharing condition. H3 (free text)
#   cannot be checked by a machine: the read is allowed with the
#   originator_consent_required obligation, as for 3x5x2 free text.
package liaison.schemes.europol

reason(code, msg) := {"code": code, "message": msg, "public": true}

# listed: the H codes written on the record (anything, for validation).
listed(h) := {c | some c in h.europol_codes} if {
	is_array(h.europol_codes)
} else := set()

valid_code(c) if is_object(data.schemes.europol.handling_codes[c])

# marked: the record is Europol material. ctx.originator_type is the org_type
# of the originating agency ("" if unknown).
marked(h, _, _) if count(listed(h)) > 0

marked(_, g, _) if is_object(g.europol)

marked(_, _, ctx) if ctx.originator_type in data.schemes.europol.org_types

# codes: the valid H codes that apply, H0 included for Europol material.
codes(h, g, ctx) := {c | some c in listed(h); valid_code(c)} | {"H0" | marked(h, g, ctx)}

valid_evaluation(e) if {
	e.source in data.schemes.europol.source
	e.info in data.schemes.europol.information
}

law_enforcement(p) if p in data.schemes.purpose_classes[data.schemes.europol.handling_codes.H0.allowed_purpose_class]

judicial(p) if p in data.schemes.purpose_classes[data.schemes.europol.handling_codes.H1.consent_purpose_class]

# safe_code echoes a code in a message only when it looks like one.
safe_code(c) := c if {
	is_string(c)
	regex.match(`^H[0-9]{1,2}$`, c)
} else := "(malformed)"

code_violations(h) := {reason("handling_invalid", sprintf("Europol handling code %s is not one of H0-H3", [safe_code(c)])) |
	some c in listed(h)
	not valid_code(c)
} | malformed_list(h)

malformed_list(h) := {reason("handling_invalid", "europol_codes must be an array of H codes")} if {
	object.get(h, "europol_codes", []) != []
	not is_array(h.europol_codes)
} else := set()

# ---------------------------------------------------------------------------
# Checks and obligations. They take the applicable codes, computed once per
# decision with codes(h, g, ctx): a function is evaluated at every call,
# a rule only once, and authz keeps the codes in a rule.
# ---------------------------------------------------------------------------

# Publication.
publish_violations(h, g, codes, purposes) := (code_violations(h) | evaluation_violations(g)) | h0_publish_violations(codes, purposes)

evaluation_violations(g) := {reason("europol_evaluation_invalid", "the Europol evaluation must be a source code A, B, C or X and an information code 1-4")} if {
	object.get(g, "europol", null) != null
	not valid_evaluation(g.europol)
} else := set()

# H0: the provider allows law-enforcement purposes only, so a record may
# not offer any other purpose.
h0_publish_violations(codes, purposes) := {reason("europol_purpose_restricted", sprintf("Europol H0 restricts the record to law-enforcement purposes; %s is not one", [p])) |
	"H0" in codes
	some p in purposes
	not law_enforcement(p)
}

# Consultation, for a purpose ("" if none).
read_violations(h, codes, purpose) := (code_violations(h) | h0_read_violations(codes, purpose)) | h1_read_violations(codes, purpose)

h0_read_violations(codes, purpose) := {reason("europol_purpose_restricted", sprintf("Europol H0 allows law-enforcement purposes only, not %s", [purpose]))} if {
	"H0" in codes
	purpose != ""
	not law_enforcement(purpose)
} else := set()

h1_read_violations(codes, purpose) := {reason("europol_judicial_use_requires_consent", sprintf("Europol H1: use for %s (judicial proceedings) needs the provider's permission", [purpose]))} if {
	"H1" in codes
	judicial(purpose)
} else := set()

# Obligations.
conditions(codes) := {x |
	some c in codes
	some x in data.schemes.europol.handling_codes[c].conditions
}

consent_required(codes) if {
	some c in codes
	data.schemes.europol.handling_codes[c].consent_required == true
}

forbids_evidential_use(codes) if {
	some c in codes
	data.schemes.europol.handling_codes[c].forbid_evidential_use == true
}

# banner is the Europol element, e.g. "EUROPOL B2 H0 H2"; undefined for a
# record that is not Europol material (no codes apply).
banner(codes, g) := concat(" ", array.concat(["EUROPOL"], array.concat(evaluation_part(g), sort(codes)))) if count(codes) > 0

evaluation_part(g) := [concat("", [g.europol.source, g.europol.info])] if {
	valid_evaluation(g.europol)
} else := []
