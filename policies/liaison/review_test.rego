# Table tests for MoPI review (review.rego): the overdue banner, DSAs that
# withhold overdue records, and record.review. The base record's review date
# is 2027-06-01 and the tests' clock (now) 2026-11-21, so a case makes the
# record overdue by moving review_due into the past.
package liaison.authz_test

overdue := {"record": {"review_due": "2026-11-20"}}

withholding := {"dsa-uk-soc": {"overdue_review": "withhold"}}

originator_subject := {"subject": {"agency_id": "met-police"}}

overdue_banner := "Review overdue since 2026-11-20: the originator has not confirmed this record is still needed"

review_read_cases := {
	"a recipient reads a record not yet overdue": {"allow": true},
	"the review date itself is due, not overdue": {
		"patch": {"record": {"review_due": "2026-11-21"}},
		"allow": true,
	},
	"a recipient reads an overdue record by default": {"patch": overdue, "allow": true},
	"a DSA that withholds denies the recipient an overdue record": {
		"patch": overdue, "dsas": withholding,
		"allow": false, "codes": {"review_overdue"},
	},
	"a DSA that withholds lets recipients read a record not yet overdue": {
		"dsas": withholding, "allow": true,
	},
	"a DSA that discloses with a warning is the default": {
		"patch": overdue, "dsas": {"dsa-uk-soc": {"overdue_review": "disclose_with_warning"}},
		"allow": true,
	},
	"the originator reads its overdue record even where a DSA withholds": {
		"patch": object.union(overdue, originator_subject), "dsas": withholding,
		"allow": true,
	},
	"a stranger learns nothing of a withheld record": {
		"patch": object.union(overdue, {"subject": {"agency_id": "nca"}}), "dsas": withholding,
		"allow": false, "visible": false, "codes": {"not_recipient"},
	},
}

test_review_read[name] if {
	some name, tc in review_read_cases
	check(run(read_input, tc), tc)
}

test_review_list_withheld if {
	tc := {"patch": object.union(overdue, {"action": "record.list"}), "dsas": withholding, "allow": false, "codes": {"review_overdue"}}
	check(run(read_input, tc), tc)
}

test_review_share_withheld if {
	tc := {"patch": overdue, "dsas": object.union(withholding, onward_open), "allow": false, "codes": {"review_overdue"}}
	check(run(share_input, tc), tc)
}

test_review_banner_recipient if {
	d := run(read_input, {"patch": overdue})
	endswith(d.obligations.banner, concat("", [" | ", overdue_banner]))
}

test_review_banner_absent_when_not_overdue if {
	d := run(read_input, {})
	not contains(d.obligations.banner, "Review overdue")
}

test_review_banner_not_for_originator if {
	d := run(read_input, {"patch": object.union(overdue, originator_subject)})
	d.allow
	not contains(d.obligations.banner, "Review overdue")
}

test_review_reason_is_public_and_names_the_date if {
	d := run(read_input, {"patch": overdue, "dsas": withholding})
	some r in d.reasons
	r.code == "review_overdue"
	r.public == true
	contains(r.message, "2026-11-20")
	contains(r.message, "dsa-uk-soc")
}

review_input := object.union(read_input, {
	"action": "record.review",
	"subject": {"agency_id": "met-police"},
	"review": {"decision": "retain", "review_due": "2027-06-01"},
})

review_cases := {
	"the originator's officer retains with a justification": {"allow": true},
	"the originator's officer disposes": {
		"patch": {"review": {"decision": "dispose", "review_due": null}},
		"allow": true,
	},
	"a recipient may not review": {
		"patch": {"subject": {"agency_id": "rocu-nw"}},
		"allow": false, "codes": {"not_originator"},
	},
	"a stranger learns nothing": {
		"patch": {"subject": {"agency_id": "nca"}},
		"allow": false, "visible": false, "codes": {"not_recipient"},
	},
	"an agency system without an officer may not": {
		"remove": ["subject/officer"],
		"allow": false, "codes": {"review_officer_required"},
	},
	"a review needs a justification": {
		"patch": {"request": {"justification": "ok"}},
		"allow": false, "codes": {"justification_required"},
	},
	"an unknown decision": {
		"patch": {"review": {"decision": "archive"}},
		"allow": false, "codes": {"review_decision_invalid"},
	},
	"retain without a date": {
		"remove": ["review/review_due"],
		"allow": false, "codes": {"review_date_invalid"},
	},
	"retain until today is not a review": {
		"patch": {"review": {"review_due": "2026-11-21"}},
		"allow": false, "codes": {"review_date_not_future"},
	},
	"retain until tomorrow": {
		"patch": {"review": {"review_due": "2026-11-22"}},
		"allow": true,
	},
	"retain beyond the DSA's review interval": {
		"dsas": {"dsa-uk-soc": {"retention": {"review_interval_days": 30}}},
		"allow": false, "codes": {"review_date_too_far"},
	},
	"retain within the DSA's review interval": {
		"dsas": {"dsa-uk-soc": {"retention": {"review_interval_days": 365}}},
		"patch": {"review": {"review_due": "2027-11-21"}},
		"allow": true,
	},
	"one day past the DSA's review interval": {
		"dsas": {"dsa-uk-soc": {"retention": {"review_interval_days": 365}}},
		"patch": {"review": {"review_due": "2027-11-22"}},
		"allow": false, "codes": {"review_date_too_far"},
	},
	"without a DSA interval the setting bounds it": {
		"settings": {"review_max_interval_days": 10},
		"dsas": {"dsa-uk-soc": {"retention": {"review_interval_days": null}}},
		"patch": {"review": {"review_due": "2026-12-02"}},
		"allow": false, "codes": {"review_date_too_far"},
	},
	"the originator reviews an overdue record a DSA withholds": {
		"patch": overdue, "dsas": withholding,
		"allow": true,
	},
}

test_review[name] if {
	some name, tc in review_cases
	check(run(review_input, tc), tc)
}
