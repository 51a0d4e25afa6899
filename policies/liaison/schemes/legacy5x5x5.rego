# METADATA
# title: Legacy 5x5x5 gradings and their cross-walk to 3x5x2
# description: |
#   Records graded under the legacy 5x5x5 model (NIM/MoPI 2006, DOMAIN.md
#   §1.2) keep the original code in grading.legacy_5x5x5 ("B24": source B,
#   intelligence 2, handling 4). The cross-walk to 3x5x2 (DOMAIN.md §1.3) is
#   data (data.crosswalk.legacy_5x5x5), not code. crosswalk(code) gives the
#   3x5x2 grading and handling an importer should record; at decision time
#   the handling implied by the legacy code applies in addition to the
#   record's own (most restrictive wins), so an import that lost a
#   restriction cannot widen access.
package liaison.schemes.legacy5x5x5

reason(code, msg) := {"code": code, "message": msg, "public": true}

table := data.crosswalk.legacy_5x5x5

valid(code) if {
	is_string(code)
	regex.match(`^[A-E][1-5][1-5]$`, code)
}

present(g) if object.get(g, "legacy_5x5x5", null) != null

# crosswalk is the 3x5x2 reading of a legacy code:
# {"legacy_5x5x5", "grading", "handling", "conditions"} where conditions are
# the legacy handling's obligations that 3x5x2 has no field for.
crosswalk(code) := {
	"legacy_5x5x5": code,
	"grading": {
		"source": table.source[substring(code, 0, 1)],
		"intelligence": table.intelligence[substring(code, 1, 1)],
		"legacy_5x5x5": code,
	},
	"handling": entry.handling,
	"conditions": object.get(entry, "conditions", []),
} if {
	valid(code)
	entry := table.handling[substring(code, 2, 1)]
}

# implied_handling is the 3x5x2 handling a record's legacy grade implies.
implied_handling(g) := crosswalk(g.legacy_5x5x5).handling

# obligation_conditions are the legacy handling's own conditions
# (record_authorisation, special_conditions, refer_to_originator).
obligation_conditions(g) := {c | some c in crosswalk(g.legacy_5x5x5).conditions}

publish_violations(g) := {reason("legacy_grading_invalid", "the legacy 5x5x5 grading must be a source A-E, an intelligence 1-5 and a handling 1-5, e.g. B24")} if {
	present(g)
	not crosswalk(g.legacy_5x5x5)
} else := set()

banner(g) := sprintf("(5x5x5 %s)", [g.legacy_5x5x5]) if valid(g.legacy_5x5x5)
