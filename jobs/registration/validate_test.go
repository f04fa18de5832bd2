package registration

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
)

var testNow = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

func testValidator(t testing.TB) *Validator {
	return &Validator{Ref: mustRef(t), Blocklist: NewBlocklist(DefaultBlockedDomains), Now: func() time.Time { return testNow }}
}

// zipOf returns a ZIP code of the state from the 5-digit table.
func zipOf(t testing.TB, st string) string {
	raw, err := os.ReadFile("data/zip5-state.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasSuffix(line, ","+st) {
			return line[:5]
		}
	}
	t.Fatalf("no ZIP for %s", st)
	return ""
}

// validFields is a complete, valid registration in state st.
func validFields(t testing.TB, st string) map[string]any {
	return map[string]any{
		"lang": "en", "partner_id": "1", "send_confirmation_reminder_emails": true,
		"created_at": "01102026 10:00:00", "updated_at": "01102026 10:05:00",
		"date_of_birth": "05-17-1990", "id_number": "D1234567", "email_address": "ada@example.org",
		"first_registration": true, "home_zip_code": zipOf(t, st), "us_citizen": true,
		"has_state_license": true, "is_eighteen_or_older": true, "name_title": "Ms.",
		"first_name": "Ada", "last_name": "Lovelace", "home_address": "12 Main St",
		"home_city": "Springfield", "home_state_id": st, "has_mailing_address": false,
		"race": "White (not Hispanic)", "party": "democratic", "change_of_name": false,
		"change_of_address": false, "opt_in_email": false, "opt_in_sms": false, "opt_in_volunteer": false,
		"partner_opt_in_email": false, "partner_opt_in_sms": false, "partner_opt_in_volunteer": false,
	}
}

func toInput(t testing.TB, m map[string]any) Input {
	in := Input{}
	for k, v := range m {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		in[k] = raw
	}
	return in
}

// errOf runs Validate and returns the reported field and message ("" and
// "" on success).
func errOf(t *testing.T, v *Validator, m map[string]any, mode Mode) (string, string) {
	t.Helper()
	_, err := v.Validate(toInput(t, m), mode)
	if err == nil {
		return "", ""
	}
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Invalid {
		t.Fatalf("want a fault.Invalid, got %v", err)
	}
	return FieldOf(fe)
}

func TestValidRegistrationPasses(t *testing.T) {
	v := testValidator(t)
	out, err := v.Validate(toInput(t, validFields(t, "CA")), ModeRegistration)
	if err != nil {
		t.Fatalf("valid registration rejected: %v", err)
	}
	r := out.Registrant
	if r.Kind != "registration" || r.PDFStatus != "pending" || r.Party != "democratic" || r.Race != "White (not Hispanic)" ||
		r.HomeStateID != "CA" || out.IDNumber != "D1234567" || !out.Async || r.PartnerID != 1 {
		t.Fatalf("unexpected result %+v", r)
	}
}

// Each case changes a valid registration and names the field (and part of
// the message) Rocky reports.
func TestFieldRules(t *testing.T) {
	v := testValidator(t)
	type edit func(m map[string]any)
	set := func(k string, val any) edit { return func(m map[string]any) { m[k] = val } }
	del := func(k string) edit { return func(m map[string]any) { delete(m, k) } }
	all := func(es ...edit) edit {
		return func(m map[string]any) {
			for _, e := range es {
				e(m)
			}
		}
	}
	cases := []struct {
		name, field, msg string
		edit             edit
	}{
		{"unknown field is a syntax error", "favourite_color", "Invalid parameter type", set("favourite_color", "red")},
		{"lang required", "lang", "Required", del("lang")},
		{"partner_id required", "partner_id", "Required", del("partner_id")},
		{"partner_id digits", "partner_id", "digits", set("partner_id", "abc")},
		{"partner_id as a number", "", "", set("partner_id", 1)},
		{"send_confirmation_reminder_emails required", "send_confirmation_reminder_emails", "Required", del("send_confirmation_reminder_emails")},
		{"boolean as string", "", "", set("send_confirmation_reminder_emails", "false")},
		{"boolean as 1", "", "", set("opt_in_email", "1")},
		{"boolean garbage", "opt_in_email", "true or false", set("opt_in_email", "maybe")},
		{"created_at absent is now", "", "", del("created_at")},
		{"created_at ISO 8601", "", "", set("created_at", "2026-01-10T10:00:00Z")},
		{"updated_at absent is now", "", "", del("updated_at")},
		{"updated_at unparsable is now", "", "", set("updated_at", "yesterday-ish")},
		{"date_of_birth required", "date_of_birth", "Required", del("date_of_birth")},
		{"date_of_birth year first", "", "", set("date_of_birth", "1990-05-17")},
		{"date_of_birth with slashes and one digit", "", "", set("date_of_birth", "5/7/1990")},
		{"date_of_birth format", "date_of_birth", "mm-dd-yyyy", set("date_of_birth", "May 17 1990")},
		{"date_of_birth real date", "date_of_birth", "mm-dd-yyyy", set("date_of_birth", "02-30-1990")},
		{"date_of_birth future", "date_of_birth", "future", set("date_of_birth", "01-01-2030")},
		{"id_number required", "id_number", "Required", del("id_number")},
		{"id_number none", "", "", set("id_number", "NONE")},
		{"id_number last four of the SSN", "", "", set("id_number", "1234")},
		{"id_number with a dash", "", "", set("id_number", "D123-4567")},
		{"id_number with spaces and asterisk", "", "", set("id_number", "D123 4567*")},
		{"id_number five digits", "id_number", "7 to 42", set("id_number", "12345")},
		{"id_number punctuation", "id_number", "7 to 42", set("id_number", "D123/4567")},
		{"id_number of 43", "id_number", "7 to 42", set("id_number", strings.Repeat("A", 43))},
		{"id_number of 42 with the SSN digits", "", "", set("id_number", strings.Repeat("A", 42)+" 1234")},
		{"email required", "email_address", "Required", del("email_address")},
		{"email not required when collect_email_address is no", "", "", all(del("email_address"), set("collect_email_address", "no"))},
		{"email syntax", "email_address", "Invalid email", set("email_address", "ada@")},
		{"email with name part", "email_address", "Invalid email", set("email_address", "Ada <ada@example.org>")},
		{"email block list", "email_address", "not accepted", set("email_address", "x@mailinator.com")},
		{"email block list subdomain", "email_address", "not accepted", set("email_address", "x@eu.mailinator.com")},
		{"first_registration required", "first_registration", "Required", del("first_registration")},
		{"home_zip_code required", "home_zip_code", "Required", del("home_zip_code")},
		{"home_zip_code 5 digits", "home_zip_code", "5 digit", set("home_zip_code", "9021")},
		{"us_citizen required", "us_citizen", "Required", del("us_citizen")},
		{"us_citizen must be true", "us_citizen", "citizen", set("us_citizen", false)},
		{"has_state_license required", "has_state_license", "Required", del("has_state_license")},
		{"is_eighteen_or_older required", "is_eighteen_or_older", "Required", del("is_eighteen_or_older")},
		{"name_title required", "name_title", "Required", del("name_title")},
		{"name_title enumeration", "name_title", "Must be one of", set("name_title", "Dr.")},
		{"name_title Spanish", "", "", set("name_title", "Srta.")},
		{"first_name optional", "", "", del("first_name")},
		{"last_name required", "last_name", "Required", del("last_name")},
		{"name_suffix enumeration", "name_suffix", "Must be one of", set("name_suffix", "Esq.")},
		{"name_suffix valid", "", "", set("name_suffix", "III")},
		{"home_address required", "home_address", "Required", del("home_address")},
		{"home_city required", "home_city", "Required", del("home_city")},
		{"home_state_id required", "home_state_id", "Required", del("home_state_id")},
		{"home_state_id valid", "home_state_id", "Invalid state", set("home_state_id", "AJ")},
		{"has_mailing_address required", "has_mailing_address", "Required", del("has_mailing_address")},
		{"mailing_address required if has_mailing_address", "mailing_address", "Required", set("has_mailing_address", true)},
		{"mailing_city required if has_mailing_address", "mailing_city", "Required", all(set("has_mailing_address", true), set("mailing_address", "PO Box 1"))},
		{"mailing_state_id required if has_mailing_address", "mailing_state_id", "Required", all(set("has_mailing_address", true), set("mailing_address", "PO Box 1"), set("mailing_city", "X"))},
		{"mailing_zip_code required if has_mailing_address", "mailing_zip_code", "Required", all(set("has_mailing_address", true), set("mailing_address", "PO Box 1"), set("mailing_city", "X"), set("mailing_state_id", "CA"))},
		{"mailing address complete", "", "", all(set("has_mailing_address", true), set("mailing_address", "PO Box 1"), set("mailing_city", "X"), set("mailing_state_id", "CA"), set("mailing_zip_code", "90210"))},
		{"race invalid", "race", "Invalid race", set("race", "Martian")},
		{"race by key", "", "", set("race", "asian")},
		{"race in Spanish", "", "", set("race", "Hispano")},
		{"party free text", "", "", set("party", "Decline to State")},
		{"party absent", "", "", del("party")},
		{"party too long", "party", "at most 255", set("party", strings.Repeat("p", 256))},
		{"NUL in a name", "first_name", "NUL", set("first_name", "Ad\x00a")},
		{"NUL in state_ovr_data", "state_ovr_data", "NUL", set("state_ovr_data", map[string]any{"k": "a\x00"})},
		{"language tag with region", "", "", set("lang", "en-US")},
		{"phone format", "phone", "10 digit", all(set("phone", "555-12"), set("phone_type", "Home"))},
		{"phone_type required with phone", "phone_type", "Required", set("phone", "(415) 555-1212")},
		{"phone_type enumeration", "phone_type", "Must be one of", all(set("phone", "4155551212"), set("phone_type", "Pager"))},
		{"phone valid", "", "", all(set("phone", "415-555-1212"), set("phone_type", "Movil"))},
		{"change_of_name required", "change_of_name", "Required", del("change_of_name")},
		{"prev_last_name required if change_of_name", "prev_last_name", "Required", set("change_of_name", true)},
		{"prev_name_title enumeration", "prev_name_title", "Must be one of", all(set("change_of_name", true), set("prev_last_name", "Byron"), set("prev_name_title", "Lady"))},
		{"change_of_address required", "change_of_address", "Required", del("change_of_address")},
		{"prev_address required if change_of_address", "prev_address", "Required", set("change_of_address", true)},
		{"prev_city required if change_of_address", "prev_city", "Required", all(set("change_of_address", true), set("prev_address", "1 Old Rd"))},
		{"prev_state_id required if change_of_address", "prev_state_id", "Required", all(set("change_of_address", true), set("prev_address", "1 Old Rd"), set("prev_city", "Old"))},
		{"prev_zip_code required if change_of_address", "prev_zip_code", "Required", all(set("change_of_address", true), set("prev_address", "1 Old Rd"), set("prev_city", "Old"), set("prev_state_id", "NY"))},
		{"opt_in_email required", "opt_in_email", "Required", del("opt_in_email")},
		{"opt_in_sms required", "opt_in_sms", "Required", del("opt_in_sms")},
		{"opt_in_volunteer required", "opt_in_volunteer", "Required", del("opt_in_volunteer")},
		{"partner_opt_in_email required", "partner_opt_in_email", "Required", del("partner_opt_in_email")},
		{"partner_opt_in_sms required", "partner_opt_in_sms", "Required", del("partner_opt_in_sms")},
		{"partner_opt_in_volunteer required", "partner_opt_in_volunteer", "Required", del("partner_opt_in_volunteer")},
		{"survey answer 1 needs question 1", "", "Question 1 required when Answer 1 provided", set("survey_answer_1", "yes")},
		{"survey answer 2 needs question 2", "", "Question 2 required when Answer 2 provided", all(set("survey_question_1", "Q"), set("survey_answer_1", "A"), set("survey_answer_2", "B"))},
		{"survey question without answer", "", "", set("survey_question_1", "Why?")},
		{"custom_stop_reminders_url format", "custom_stop_reminders_url", "URL", set("custom_stop_reminders_url", "not a url")},
		{"custom_stop_reminders_url with UID", "", "", set("custom_stop_reminders_url", "https://example.org/stop/<UID>")},
		{"async boolean", "async", "true or false", set("async", "later")},
		{"short_form boolean", "short_form", "true or false", set("short_form", "x")},
		{"unsupported language", "", "Unsupported language", set("lang", "fr")},
		{"string field given an object", "first_name", "Invalid parameter type", set("first_name", map[string]any{"a": 1})},
		{"partner_API_key accepted beside the data", "", "", set("partner_API_key", "trn_x")},
		{"ZIP does not match state", "home_zip_code", "does not match", set("home_zip_code", "10001")},
		{"too young", "date_of_birth", "", set("date_of_birth", "01-01-2015")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := validFields(t, "CA")
			c.edit(m)
			field, message := errOf(t, v, m, ModeRegistration)
			if field != c.field || !strings.Contains(message, c.msg) || (c.msg == "" && c.field == "" && message != "") {
				t.Fatalf("got field %q message %q; want field %q message containing %q", field, message, c.field, c.msg)
			}
		})
	}
}

func TestMessagesInSpanish(t *testing.T) {
	v := testValidator(t)
	m := validFields(t, "CA")
	m["lang"] = "es"
	delete(m, "last_name")
	if f, msg := errOf(t, v, m, ModeRegistration); f != "last_name" || msg != "Obligatorio" {
		t.Fatalf("got %q %q, want last_name Obligatorio", f, msg)
	}
	m = validFields(t, "CA")
	m["lang"], m["survey_answer_2"], m["survey_question_1"] = "es", "x", "q"
	if _, msg := errOf(t, v, m, ModeRegistration); msg != "Se requiere la Pregunta 2 cuando se da la Respuesta 2" {
		t.Fatalf("survey message in Spanish: %q", msg)
	}
}

// One case per state for each state rule, from states.json itself.
func TestStateRules(t *testing.T) {
	v := testValidator(t)
	for _, st := range statesFixture(t) {
		t.Run(st.Abbreviation, func(t *testing.T) {
			base := func() map[string]any {
				m := validFields(t, st.Abbreviation)
				m["race"] = "Asian / Pacific Islander"
				m["party"] = st.Parties[0]
				return m
			}
			f, msg := errOf(t, v, base(), ModeRegistration)
			if !st.Participating {
				// Participation: NH, ND, WY refuse with a state-specific message.
				if f != "home_state_id" || !strings.Contains(msg, st.Name) {
					t.Fatalf("non-participating state: got %q %q", f, msg)
				}
				return
			}
			if f != "" {
				t.Fatalf("valid registration rejected: %s: %s", f, msg)
			}
			// Party is free text, optional in every state.
			for _, p := range []string{"whig", ""} {
				m := base()
				m["party"] = p
				if f, msg := errOf(t, v, m, ModeRegistration); f != "" {
					t.Errorf("party %q rejected: %s", p, msg)
				}
			}
			// Race where required.
			m := base()
			delete(m, "race")
			f, _ = errOf(t, v, m, ModeRegistration)
			if want := map[bool]string{true: "race", false: ""}[st.RequiresRace]; f != want {
				t.Errorf("no race: got field %q, want %q (requires_race %v)", f, want, st.RequiresRace)
			}
			// The state's ID length bounds only inform: a 4-digit SSN is
			// accepted everywhere.
			m = base()
			m["id_number"] = "1234"
			if f, msg := errOf(t, v, m, ModeRegistration); f != "" {
				t.Errorf("last four of the SSN rejected: %s", msg)
			}
		})
	}
}

func TestGRegistrationNeedsOnlyNineFields(t *testing.T) {
	v := testValidator(t)
	m := map[string]any{
		"lang": "en", "partner_id": "1", "send_confirmation_reminder_emails": false,
		"date_of_birth": "05-17-1990", "email_address": "ada@example.org", "home_zip_code": "90210",
		"us_citizen": true, "name_title": "Ms.", "last_name": "Lovelace",
	}
	out, err := v.Validate(toInput(t, m), ModeGRegistration)
	if err != nil {
		t.Fatalf("gregistration with the nine fields rejected: %v", err)
	}
	if out.Registrant.HomeStateID != "CA" || out.Registrant.Kind != "gregistration" || out.Registrant.PDFStatus != "none" {
		t.Fatalf("got %+v", out.Registrant)
	}
	for _, k := range []string{"lang", "partner_id", "send_confirmation_reminder_emails", "date_of_birth", "email_address", "home_zip_code", "us_citizen", "name_title", "last_name"} {
		mm := map[string]any{}
		for kk, vv := range m {
			mm[kk] = vv
		}
		delete(mm, k)
		if f, _ := errOf(t, v, mm, ModeGRegistration); f != k {
			t.Errorf("without %s: got error on %q", k, f)
		}
	}
	// Arkansas has no online registration: unsupported state.
	m["home_zip_code"] = zipOf(t, "AR")
	if _, msg := errOf(t, v, m, ModeGRegistration); msg != "Unsupported state" {
		t.Errorf("AR gregistration: got %q, want Unsupported state", msg)
	}
}

func TestStateRequirements(t *testing.T) {
	ref := mustRef(t)
	for _, c := range []struct {
		name string
		q    RequirementsQuery
		err  string
	}{
		{"invalid state", RequirementsQuery{Lang: "en", HomeStateID: "AJ"}, "Invalid state ID"},
		{"invalid zip", RequirementsQuery{Lang: "en", HomeZIPCode: "1234"}, "Invalid ZIP code"},
		{"zip not in state", RequirementsQuery{Lang: "en", HomeStateID: "CA", HomeZIPCode: "10001"}, "ZIP code does not match state"},
		{"non-participating", RequirementsQuery{Lang: "en", HomeStateID: "NH"}, "New Hampshire does not accept"},
		{"non-participating by zip, Spanish", RequirementsQuery{Lang: "es", HomeZIPCode: "82001"}, "Wyoming no acepta"},
		{"too young", RequirementsQuery{Lang: "en", HomeStateID: "TX", DateOfBirth: "06-01-2008"}, "within two months"},
		{"unsupported language", RequirementsQuery{Lang: "de", HomeStateID: "TX"}, "Unsupported language"},
		{"neither state nor zip", RequirementsQuery{Lang: "en"}, "home_state_id or home_zip_code"},
		{"under 18 without pre-registration", RequirementsQuery{Lang: "en", HomeStateID: "CA", DateOfBirth: "01-01-2010"}, "pre-register from age 16"},
		{"pre-registration enabled", RequirementsQuery{Lang: "en", HomeStateID: "CA", DateOfBirth: "01-01-2010", PreRegistration: true}, ""},
		{"pre-registration enabled, too young for the state", RequirementsQuery{Lang: "en", HomeStateID: "CA", DateOfBirth: "01-01-2012", PreRegistration: true}, "pre-register"},
		{"18 today", RequirementsQuery{Lang: "en", HomeStateID: "CA", DateOfBirth: "01-10-2008"}, ""},
		{"region tag", RequirementsQuery{Lang: "es-MX", HomeStateID: "CA"}, ""},
	} {
		_, err := ref.StateRequirements(c.q, testNow)
		got := ""
		if err != nil {
			_, got = FieldOf(fault.As(err))
		}
		if (c.err == "") != (got == "") || !strings.Contains(got, c.err) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.err)
		}
	}
	req, err := ref.StateRequirements(RequirementsQuery{Lang: "es", HomeZIPCode: "90210"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !req.RequiresParty || req.RequiresRace || req.NoPartyMsg != "Ninguno / Sin afiliación" || req.PartyList[0] != "Demócrata" ||
		req.IDLengthMin != 6 || req.IDLengthMax != 60 || !strings.Contains(req.SOSAddress, "Sacramento") {
		t.Fatalf("CA in Spanish: %+v", req)
	}
}

// An e-mail address that is not one is Salsa's 2008, the code surfaces
// with numeric codes show; other problems stay 2011.
func TestInvalidEmailIsCode2008(t *testing.T) {
	v := testValidator(t)
	m := validFields(t, "CA")
	m["email_address"] = "ada@"
	m["race"] = "Martian"
	_, err := v.Validate(toInput(t, m), ModeRegistration)
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatalf("want a fault, got %v", err)
	}
	codes := map[string]int{}
	for _, f := range fe.Fields {
		codes[f.Field] = f.Code
	}
	if codes["email_address"] != fault.CodeInvalidEmail || codes["race"] != fault.CodeInvalidValue {
		t.Errorf("codes %v, want email_address 2008 and race 2011", codes)
	}
}
