# MoPI review (docs/review.md): a record whose review date (review_due) has
# passed is overdue until its originator reviews it.
#
# - Recipients of an overdue record see a warning in its banner, or, where
#   one of the record's DSAs says overdue_review: "withhold", are denied
#   (review_overdue) until the originator has reviewed it. The originator
#   always reads, lists and reviews its own record.
# - record.review is the originator's review: by a named officer, with a
#   justification; retain sets a new review date no further ahead than the
#   record's DSAs allow (retention.review_interval_days, else
#   settings.review_max_interval_days), dispose recalls the record.
#
# Whether a record is overdue is decided here from input.time and the
# record's review_due (both in the input), so the rule is data and policy,
# not Go: "overdue" means the review date is before today's date (UTC); on
# the date itself the record is due, not overdue. The gateway computes the
# same state for its response headers (gateway/httpapi/review.go).
package liaison.authz

import data.liaison.schemes.dsa

review_due := d if {
	d := record.review_due
	dsa.date_ns(d)
}

# today_ns: the start (00:00 UTC) of input.time's day.
today_ns := now_ns - (now_ns % dsa.day_ns)

review_overdue if dsa.date_ns(review_due) < today_ns

# The DSAs on the record that withhold overdue records (most restrictive
# wins: one is enough). The default is "disclose_with_warning".
review_withholding_dsas := {id |
	some id in record_dsa_ids
	data.dsas[id].overdue_review == "withhold"
}

review_withheld if {
	review_overdue
	count(review_withholding_dsas) > 0
}

# Recipients of a withheld record read, list and share nothing of it until
# the originator has reviewed it. The reason is public: the recipient is
# entitled to know the record exists and why it cannot have it now.
deny_reasons contains reason("review_overdue", sprintf("the record's review was due on %s and its originator has not reviewed it; DSA %s withholds overdue records until they are reviewed", [review_due, safe_id(min(review_withholding_dsas))])) if {
	input.action in {"record.read", "record.list", "record.share"}
	visible_record
	not is_originator
	review_withheld
}

# The warning a recipient sees on an overdue record it may still have, as
# the last part of the banner (authz.rego).
review_banner_part := [sprintf("Review overdue since %s: the originator has not confirmed this record is still needed", [review_due])] if {
	recipient_consult
	review_overdue
} else := []

# ---------------------------------------------------------------------------
# record.review
# ---------------------------------------------------------------------------

review_decision := d if {
	d := input.review.decision
	d in {"retain", "dispose"}
}

review_new_due := d if {
	review_decision == "retain"
	d := input.review.review_due
	dsa.date_ns(d)
}

# review_max_days: how far ahead a retained record's next review may be set:
# the shortest review interval of the record's DSAs, else the setting (ten
# years, the longest MoPI review period, by default).
review_interval_days := {n |
	some id in record_dsa_ids
	n := data.dsas[id].retention.review_interval_days
	is_number(n)
	n > 0
}

review_max_days := min(review_interval_days) if {
	count(review_interval_days) > 0
} else := n if {
	n := data.settings.review_max_interval_days
	is_number(n)
} else := 3650

review_reasons contains private_reason("not_recipient", "caller agency is neither the originator nor a recipient of the record") if not visible_record

review_reasons contains reason("invalid_input", "record metadata is missing") if not has_record

review_reasons contains reason("not_originator", "only the originating agency reviews a record") if {
	visible_record
	not is_originator
}

review_reasons contains reason("review_officer_required", "a review is made by a named officer: send an officer token") if not officer

review_reasons contains reason("justification_required", sprintf("a review needs a justification of at least %d characters", [min_justification_length])) if not justification_ok

review_reasons contains reason("review_decision_invalid", "review.decision must be retain or dispose") if not review_decision

review_reasons contains reason("review_date_invalid", "a retain needs review.review_due, a date (YYYY-MM-DD)") if {
	review_decision == "retain"
	not review_new_due
}

review_reasons contains reason("review_date_not_future", "the next review date must be after today") if {
	dsa.date_ns(review_new_due) <= today_ns
}

review_reasons contains reason("review_date_too_far", sprintf("the next review may be at most %d days ahead under the record's DSAs", [review_max_days])) if {
	dsa.date_ns(review_new_due) > today_ns + (review_max_days * dsa.day_ns)
}

deny_reasons contains x if {
	input.action == "record.review"
	some x in review_reasons
}

granted if {
	input.action == "record.review"
	is_originator
	agency
	officer
	justification_ok
	review_decision
}

visible if {
	input.action == "record.review"
	visible_record
}
