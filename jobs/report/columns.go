package report

import "strings"

// Types of report (Rocky v4's valid report_type values). Standard is the
// blank report_type.
const (
	TypeStandard = ""
	TypeExtended = "extended"
)

// unsupportedTypes are Rocky's other report types: they report on data
// Turnout does not hold (pledges, absentee ballot requests, status lookups,
// the PA canvassing app), so they are refused by name.
var unsupportedTypes = map[string]string{
	"alert_request_report":       "Pledge to Vote report",
	"abr_report":                 "Absentee Ballot Request report",
	"lookup_report":              "Voter Status Lookup report",
	"grommet_registrants_report": "PA Registration Report (PA App only)",
	"canvassing_shift_report":    "Canvassing Shift Report (PA App only)",
	"grommet_shift_report":       "PA Shift Report (Old versions of PA App only)",
}

// column is one CSV column: Rocky's header and the SQL expression (over
// rocky_registrants r) that fills it. Text cells pass through
// turnout_csv_cell (migration 00400), which neutralises spreadsheet
// formulas; "" means Turnout holds no such data and the cell is empty.
type column struct {
	header string
	sql    string
}

func text(expr string) string { return "turnout_csv_cell(" + expr + ")" }

// yesNo is Rocky's yes_no helper: "Yes" or "No".
func yesNo(expr string) string { return "CASE WHEN " + expr + " THEN 'Yes' ELSE 'No' END" }

const empty = "NULL"

// standardColumns is Rocky's registrants CSV, in Rocky's order.
//
// Source: TrustTheVote-Project/Rocky-OVR, app/models/registrant.rb
// (Registrant::CSV_HEADER and Registrant#to_csv_array, used by
// app/models/report.rb's registrants_report). That CSV has no ID number
// column ("Has State License" / "Has SSN" only say whether one was given);
// Turnout's is encrypted and never leaves the registration job.
//
// Values follow Rocky's formatting: yes/no flags as "Yes"/"No", the status
// humanised ("step_2" → "Step 2"), the language by its English name, the
// date of birth as MM/DD/YYYY and "Started registration" as the creation
// time in America/New_York in Ruby's Time#to_s form
// ("2026-01-10 10:00:00 -0500"). Columns about data Turnout does not
// have — Open Tracking ID, the state API submission, home and mailing
// county, Has SSN (it would need decrypting the ID number), the VR
// application status fields — are empty; "Built via API" is always Yes
// (every Turnout registrant came through the API) and "Submitted Via State
// API" always No (Turnout submits to no state API).
var standardColumns = []column{
	{"Status", text("upper(left(r.status, 1)) || replace(substr(r.status, 2), '_', ' ')")},
	{"Tracking Source", text("r.source_tracking_id")},
	{"Tracking ID", text("r.partner_tracking_id")},
	{"Open Tracking ID", empty},
	{"State API Submission Result", empty},
	{"Language", text("CASE r.locale WHEN 'en' THEN 'English' WHEN 'es' THEN 'Spanish' ELSE r.locale END")},
	{"Date of birth", "to_char(r.date_of_birth, 'MM/DD/YYYY')"},
	{"Email address", text("r.email_address")},
	{"US citizen?", yesNo("r.us_citizen")},
	{"Salutation", text("r.name_title")},
	{"First name", text("r.first_name")},
	{"Middle name", text("r.middle_name")},
	{"Last name", text("r.last_name")},
	{"Name suffix", text("r.name_suffix")},
	{"Home address", text("r.home_address")},
	{"Home unit", text("r.home_unit")},
	{"Home city", text("r.home_city")},
	{"Home County", empty},
	{"Home state", text("r.home_state_id")},
	{"Home zip code", text("r.home_zip_code")},
	{"Has mailing address?", yesNo("r.has_mailing_address")},
	{"Mailing address", text("r.mailing_address")},
	{"Mailing unit", text("r.mailing_unit")},
	{"Mailing city", text("r.mailing_city")},
	{"Mailing County", empty},
	{"Mailing state", text("r.mailing_state_id")},
	{"Mailing zip code", text("r.mailing_zip_code")},
	{"Party", text("r.party")},
	{"Race", text("r.race")},
	{"Phone", text("r.phone")},
	{"Phone type", text("r.phone_type")},
	{"Opt-in to RTV email?", yesNo("r.opt_in_email")},
	{"Opt-in to RTV sms?", yesNo("r.opt_in_sms")},
	{"Opt-in to Partner email?", yesNo("r.partner_opt_in_email")},
	{"Opt-in to Partner SMS/robocall", yesNo("r.partner_opt_in_sms")},
	{"Survey question 1", text("r.survey_question_1")},
	{"Survey answer 1", text("r.survey_answer_1")},
	{"Survey question 2", text("r.survey_question_2")},
	{"Survey answer 2", text("r.survey_answer_2")},
	{"Volunteer for RTV", yesNo("r.opt_in_volunteer")},
	{"Volunteer for partner", yesNo("r.partner_opt_in_volunteer")},
	{"Ineligible reason", `CASE WHEN r.ineligible_non_citizen THEN 'Not a US citizen'
		WHEN r.ineligible_non_participating_state THEN 'State doesn''t participate'
		WHEN r.ineligible_age THEN 'Not old enough to register' END`},
	{"Pre-Registered", yesNo("r.status = 'complete' AND r.ineligible_age AND r.under_18_ok")},
	{"Started registration", "to_char(r.created_at, 'YYYY-MM-DD HH24:MI:SS ') || to_char(r.created_at, 'TZH') || to_char(r.created_at, 'TZM')"},
	{"Finish with State", yesNo("r.finish_with_state")},
	{"Built via API", "'Yes'"},
	{"Has State License", yesNo("r.has_state_license")},
	{"Has SSN", empty},
	{"VR Application Submission Modifications", empty},
	{"VR Application Submission Errors", empty},
	{"VR Application Status", empty},
	{"VR Application Status Details", empty},
	{"VR Application Status Imported DateTime", empty},
	{"Submitted Via State API", "'No'"},
	{"Submitted Signature to State API", empty},
}

// extendedColumns is report_type "extended": Rocky's CSV_HEADER_EXTENDED
// (same source: "Registrant UID", the standard columns, then Registration
// Source, Registration Medium, Shift ID, Blocks Shift ID, the over-18
// affirmation and Preferred Language), followed by the fields Rocky v4's API
// document lists for extended reports that this Rocky version
// lacks (utm_*, Other_parameters, the change of name and previous name,
// State Flow Status, State API Transaction ID), named as the document
// names them. PA-app, shift and tracking-parameter fields are empty: Turnout has
// no such data.
var extendedColumns = func() []column {
	cols := []column{{"Registrant UID", text("r.uid")}}
	cols = append(cols, standardColumns...)
	return append(cols,
		column{"Registration Source", "'Rocky API'"},
		column{"Registration Medium", "CASE WHEN r.finish_with_state THEN 'Redirected to SOS' ELSE 'Paper' END"},
		column{"Shift ID", empty},
		column{"Blocks Shift ID", empty},
		column{"Over 18 Affirmed", yesNo("r.is_eighteen_or_older")},
		column{"Preferred Language", empty},
		column{"utm_source", empty},
		column{"utm_medium", empty},
		column{"utm_campaign", empty},
		column{"utm_term", empty},
		column{"utm_content", empty},
		column{"Other_parameters", empty},
		column{"Change of Name", yesNo("r.change_of_name")},
		column{"Prev Name Title", text("r.prev_name_title")},
		column{"Prev First Name", text("r.prev_first_name")},
		column{"Prev Middle Name", text("r.prev_middle_name")},
		column{"Prev Last Name", text("r.prev_last_name")},
		column{"Prev Name Suffix", text("r.prev_name_suffix")},
		column{"State Flow Status", empty},
		column{"State API Transaction ID", empty},
	)
}()

func columnsOf(reportType string) []column {
	if reportType == TypeExtended {
		return extendedColumns
	}
	return standardColumns
}

// Header returns the CSV header of a report type.
func Header(reportType string) []string {
	cols := columnsOf(reportType)
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.header
	}
	return out
}

// SelectList returns the SQL select list of a report type, over
// rocky_registrants aliased r. The benchmark feeds the same list to psql.
func SelectList(reportType string) string {
	cols := columnsOf(reportType)
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.sql
	}
	return strings.Join(parts, ",\n\t")
}

// TimeZone formats "Started registration" (Rocky reports it in
// America/New_York).
const TimeZone = "America/New_York"
