# METADATA
# title: Test fixtures
# description: |
#   The demo federation (agencies, DSAs, settings) and the legacy cross-walk
#   frozen for the Rego unit
#   tests, which install it with `with data.agencies as fx.agencies …`. The
#   tests therefore check the rules, not the live federation data: a
#   deployment that replaces data/agencies.json and data/dsas.json with its
#   own federation, or suspends an agreement, still passes them (the
#   gateway runs them before every reload). Decisions about the live data
#   are checked by samples.json instead.
package liaison.test_fixtures

agencies := {
	"met-police": {
		"name": "Metropolitan Police Service",
		"org_type": "uk_police",
		"country": "GBR",
		"is_competent_authority": true,
		"system_clearance": "BPSS",
		"require_officer_token": false,
		"tlp_org": "met-police",
	},
	"rocu-nw": {
		"name": "North West Regional Organised Crime Unit",
		"org_type": "rocu",
		"country": "GBR",
		"is_competent_authority": true,
		"system_clearance": "BPSS",
		"require_officer_token": false,
		"tlp_org": "rocu-nw",
	},
	"nca": {
		"name": "National Crime Agency",
		"org_type": "nca",
		"country": "GBR",
		"is_competent_authority": true,
		"system_clearance": "SC",
		"require_officer_token": false,
		"tlp_org": "nca",
	},
	"hmrc": {
		"name": "HM Revenue and Customs (customs and excise)",
		"org_type": "hmrc",
		"country": "GBR",
		"is_competent_authority": true,
		"system_clearance": "BPSS",
		"require_officer_token": false,
		"tlp_org": "hmrc",
	},
	"selec": {
		"name": "Southeast European Law Enforcement Center",
		"org_type": "selec",
		"country": "ROU",
		"is_competent_authority": false,
		"system_clearance": "BPSS",
		"require_officer_token": false,
		"selec_status": "operational_partner",
		"tlp_org": "selec",
	},
	"border-force": {
		"name": "Border Force",
		"org_type": "border_force",
		"country": "GBR",
		"is_competent_authority": true,
		"system_clearance": "BPSS",
		"require_officer_token": true,
		"tlp_org": "border-force",
	},
}

dsas := {
	"dsa-uk-soc": {
		"dsa_id": "dsa-uk-soc",
		"version": "1.2",
		"status": "active",
		"parties": [
			{
				"org_id": "met-police",
				"role": "both",
				"org_type": "uk_police",
				"country": "GBR",
				"is_competent_authority": true,
			},
			{
				"org_id": "rocu-nw",
				"role": "both",
				"org_type": "rocu",
				"country": "GBR",
				"is_competent_authority": true,
			},
			{
				"org_id": "nca",
				"role": "both",
				"org_type": "nca",
				"country": "GBR",
				"is_competent_authority": true,
			},
			{
				"org_id": "hmrc",
				"role": "both",
				"org_type": "hmrc",
				"country": "GBR",
				"is_competent_authority": true,
			},
		],
		"purposes": [
			"prevention",
			"investigation",
			"detection",
			"prosecution",
		],
		"lawful_basis": [
			{
				"party": "met-police",
				"regime": "DPA2018_Part3",
				"gateway": "common law policing purpose",
			},
			{
				"party": "nca",
				"regime": "DPA2018_Part3",
				"gateway": "Crime and Courts Act 2013 s.7",
			},
			{
				"party": "hmrc",
				"regime": "DPA2018_Part3",
				"gateway": "Commissioners for Revenue and Customs Act 2005 s.18",
			},
			{
				"party": "rocu-nw",
				"regime": "DPA2018_Part3",
				"gateway": "Police Act 1996 s.22A collaboration agreement",
			},
		],
		"data_scope": {
			"record_types": [
				"intelligence_report",
			],
			"subject_categories": [
				"suspect",
				"convicted",
				"victim",
				"witness",
				"other",
				"none",
			],
			"special_category": false,
		},
		"max_classification": "SECRET",
		"max_tlp": "RED",
		"tlp_community": "uk-soc",
		"min_clearance": "BPSS",
		"require_justification": true,
		"redact_fields": [],
		"onward_sharing": {
			"allowed": false,
			"requires_originator_authorisation": true,
			"permitted_recipient_types": [],
			"third_country_transfer": "prohibited",
		},
		"retention": {
			"max_days": 2190,
			"review_interval_days": 365,
			"on_expiry": "review",
		},
		"security": {
			"systems": [
				"liaison",
			],
			"encryption": "AES-256-GCM envelope, Vault Transit KEK",
			"logging": "DPA2018_s62",
		},
		"breach": {
			"notify_hours": 24,
			"contact": "dpo@liaison.example",
		},
		"review_date": "2027-12-31",
		"expiry_date": "2028-12-31",
	},
	"dsa-selec-ops": {
		"dsa_id": "dsa-selec-ops",
		"version": "1.0",
		"status": "active",
		"parties": [
			{
				"org_id": "met-police",
				"role": "provider",
				"org_type": "uk_police",
				"country": "GBR",
				"is_competent_authority": true,
			},
			{
				"org_id": "hmrc",
				"role": "both",
				"org_type": "hmrc",
				"country": "GBR",
				"is_competent_authority": true,
			},
			{
				"org_id": "selec",
				"role": "recipient",
				"org_type": "selec",
				"country": "ROU",
				"is_competent_authority": false,
				"is_relevant_authority": true,
				"selec_status": "operational_partner",
			},
		],
		"purposes": [
			"investigation",
			"prevention",
		],
		"lawful_basis": [
			{
				"party": "met-police",
				"regime": "DPA2018_Part3",
				"gateway": "DPA 2018 s.73 transfer, appropriate safeguards (s.75)",
			},
			{
				"party": "selec",
				"regime": "SELEC_CONV",
			},
		],
		"data_scope": {
			"record_types": [
				"intelligence_report",
			],
			"subject_categories": [
				"suspect",
				"convicted",
			],
			"special_category": false,
		},
		"max_classification": "OFFICIAL-SENSITIVE",
		"max_tlp": "AMBER",
		"tlp_community": "selec-operational",
		"min_clearance": "BPSS",
		"require_justification": true,
		"redact_fields": [
			"officer_contact",
		],
		"onward_sharing": {
			"allowed": false,
			"requires_originator_authorisation": true,
			"permitted_recipient_types": [],
			"third_country_transfer": "appropriate_safeguards",
		},
		"retention": {
			"max_days": 1825,
			"review_interval_days": 365,
			"on_expiry": "delete",
		},
		"security": {
			"systems": [
				"liaison",
			],
			"encryption": "AES-256-GCM envelope, Vault Transit KEK",
			"logging": "DPA2018_s62",
		},
		"breach": {
			"notify_hours": 24,
			"contact": "dpo@liaison.example",
		},
		"review_date": "2027-06-30",
		"expiry_date": "2028-06-30",
	},
	"dsa-legacy-2023": {
		"dsa_id": "dsa-legacy-2023",
		"version": "1.0",
		"status": "active",
		"parties": [
			{
				"org_id": "met-police",
				"role": "both",
				"org_type": "uk_police",
				"country": "GBR",
				"is_competent_authority": true,
			},
			{
				"org_id": "hmrc",
				"role": "both",
				"org_type": "hmrc",
				"country": "GBR",
				"is_competent_authority": true,
			},
		],
		"purposes": [
			"prevention",
			"investigation",
			"detection",
		],
		"lawful_basis": [
			{
				"party": "met-police",
				"regime": "DPA2018_Part3",
			},
			{
				"party": "hmrc",
				"regime": "DPA2018_Part3",
			},
		],
		"data_scope": {
			"record_types": [
				"intelligence_report",
			],
		},
		"max_classification": "OFFICIAL-SENSITIVE",
		"max_tlp": "AMBER",
		"tlp_community": "uk-customs",
		"min_clearance": "BPSS",
		"require_justification": true,
		"redact_fields": [],
		"onward_sharing": {
			"allowed": false,
			"requires_originator_authorisation": true,
			"third_country_transfer": "prohibited",
		},
		"retention": {
			"max_days": 730,
			"on_expiry": "delete",
		},
		"security": {
			"logging": "DPA2018_s62",
		},
		"breach": {
			"notify_hours": 24,
		},
		"review_date": "2024-09-30",
		"expiry_date": "2025-03-31",
	},
}

settings := {
	"policy_admin_roles": [
		"security_officer",
	],
	"auditor_roles": [
		"auditor",
		"dpo",
	],
	"federation_auditor_roles": ["federation_auditor"],
	"min_justification_length": 8,
	"need_to_know_min_level": "OFFICIAL-SENSITIVE",
	"default_dsa_max_tlp": "AMBER",
	"request_deadlines": {"urgent_direct": 8, "urgent_indirect": 72, "normal": 168, "prum_core_data": 48},
}

crosswalk := {
	"legacy_5x5x5": {
		"description": "Legacy 5x5x5 (NIM/MoPI 2006) gradings read as 3x5x2, DOMAIN.md \u00a71.3. There is no official mapping: this table is a policy choice, held as data so that an agency can change it, or add a cross-walk for its own scheme, without a code change. A record imported with a legacy grade keeps the original in grading.legacy_5x5x5; the policy applies the handling this table derives from it in addition to the record's own handling (the most restrictive wins).",
		"source": {
			"A": "1",
			"B": "1",
			"C": "2",
			"E": "2",
			"D": "3",
		},
		"intelligence": {
			"1": "A",
			"2": "A",
			"3": "B",
			"4": "D",
			"5": "E",
		},
		"notes": {
			"intelligence_4": "5x5x5 intelligence 4 ('cannot be judged') becomes D ('not known'); re-grade as C where the source was in fact assessed and the information is known indirectly.",
			"action_and_sanitisation": "3x5x2 handling C requires action and sanitisation codes, which 5x5x5 did not have: handling 2 and 3 take A3 (action as the originator specifies), 4 and 5 take A1 (no action without the originator's permission); all take S2 (no sanitisation without consulting the originator), because 5x5x5 handling was reviewed on every dissemination.",
		},
		"handling": {
			"1": {
				"handling": {
					"code": "P",
				},
				"conditions": [],
			},
			"2": {
				"handling": {
					"code": "C",
					"action_code": "A3",
					"sanitisation_code": "S2",
					"conditions": {
						"allowed_recipient_types": [
							"uk_police",
							"rocu",
							"nca",
							"hmrc",
							"border_force",
							"uk_non_prosecuting",
						],
					},
				},
				"conditions": [
					"record_authorisation",
				],
			},
			"3": {
				"handling": {
					"code": "C",
					"action_code": "A3",
					"sanitisation_code": "S2",
					"conditions": {
						"allowed_recipient_types": [
							"uk_police",
							"rocu",
							"nca",
							"hmrc",
							"border_force",
							"eea_le",
							"non_eea_le",
							"europol",
							"interpol",
							"selec",
						],
					},
				},
				"conditions": [
					"special_conditions",
				],
			},
			"4": {
				"handling": {
					"code": "C",
					"action_code": "A1",
					"sanitisation_code": "S2",
					"conditions": {
						"originating_agency_only": true,
					},
				},
				"conditions": [],
			},
			"5": {
				"handling": {
					"code": "C",
					"action_code": "A1",
					"sanitisation_code": "S2",
					"conditions": {
						"no_onward_dissemination": true,
						"free_text": "Legacy 5x5x5 handling code 5: no further dissemination; refer to the originator, whose special handling requirements apply.",
					},
				},
				"conditions": [
					"refer_to_originator",
				],
			},
		},
	},
}
