package registration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// Mode selects the rule set: a full registration, or a gregistration (the
// registrant finished on the state's own site: only nine fields are
// required and no PDF is made).
type Mode int

const (
	ModeRegistration Mode = iota
	ModeGRegistration
)

// InvalidParameterType is the message of the syntax error, as Rocky words it.
const InvalidParameterType = "Invalid parameter type"

// registrationFields are the fields of a Rocky registration, in the order
// of Rocky's documentation (the order errors are looked for).
var registrationFields = []string{
	"lang", "partner_id", "send_confirmation_reminder_emails", "collect_email_address",
	"source_tracking_id", "partner_tracking_id", "short_form", "state_ovr_data", "created_at",
	"updated_at", "date_of_birth", "id_number", "email_address", "first_registration",
	"home_zip_code", "us_citizen", "has_state_license", "is_eighteen_or_older", "name_title",
	"first_name", "middle_name", "last_name", "name_suffix", "home_address", "home_unit",
	"home_city", "home_state_id", "has_mailing_address", "mailing_address", "mailing_unit",
	"mailing_city", "mailing_state_id", "mailing_zip_code", "race", "party", "phone", "phone_type",
	"change_of_name", "prev_name_title", "prev_first_name", "prev_middle_name", "prev_last_name",
	"prev_name_suffix", "change_of_address", "prev_address", "prev_unit", "prev_city",
	"prev_state_id", "prev_zip_code", "opt_in_email", "opt_in_sms", "opt_in_volunteer",
	"partner_opt_in_email", "partner_opt_in_sms", "partner_opt_in_volunteer",
	"survey_question_1", "survey_answer_1", "survey_question_2", "survey_answer_2",
	"callback", "custom_stop_reminders_url", "async",
}

// bulkFields are the extra fields of bulk registrations.
var bulkFields = []string{
	"status", "ineligible_non_participating_state", "ineligible_age", "ineligible_non_citizen",
	"under_18_ok", "remind_when_18", "age", "javascript_disabled", "using_state_online_registration",
	"finish_with_state",
}

// credentialFields may accompany a registration (clients send the key
// beside the data); they are accepted and never stored.
var credentialFields = []string{"partner_API_key"}

// Input is a registration object as posted: field name → raw JSON value.
type Input map[string]json.RawMessage

// Validated is a registration that passed every rule, ready to store.
type Validated struct {
	Registrant *storage.Registrant // IDNumberEnc and UID not yet set
	IDNumber   string
	State      *State
	Async      bool
}

// Validator applies the field and state rules.
type Validator struct {
	Ref       *Reference
	Blocklist *Blocklist
	Now       func() time.Time
	// PreRegistration accepts registrants under 18 whom their state's
	// pre-registration rule admits; off, everyone must be 18 (the rule of
	// the Rocky API).
	PreRegistration bool
}

// checker collects the problems of one registration, in the registrant's
// language.
type checker struct {
	in     Input
	lang   string
	errs   []fault.FieldError
	failed map[string]bool
}

func (c *checker) fail(field string, m msg, a ...any) {
	if c.failed[field] {
		return
	}
	c.failed[field] = true
	text := m.in(c.lang)
	if len(a) > 0 {
		text = fmt.Sprintf(text, a...)
	}
	code := fault.CodeInvalidValue
	if m == msgEmail {
		code = fault.CodeInvalidEmail
	}
	c.errs = append(c.errs, fault.FieldError{Field: field, Code: code, Message: text})
}

func (c *checker) present(field string) bool {
	raw, ok := c.in[field]
	if !ok {
		return false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return false
	}
	if s, isStr := c.text(field); isStr && strings.TrimSpace(s) == "" {
		return false
	}
	return true
}

// text returns a scalar field as text (strings as is, numbers and booleans
// as written); ok is false for objects and arrays.
func (c *checker) text(field string) (string, bool) {
	raw := bytes.TrimSpace(c.in[field])
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		// PostgreSQL text holds neither NUL nor invalid UTF-8 (which
		// encoding/json would silently replace): both are refused here,
		// naming the field, before anything is stored.
		if !utf8.Valid(raw) || strings.ContainsRune(s, 0) {
			c.fail(field, msgText)
			return "", true
		}
		return s, true
	case '{', '[':
		return "", false
	}
	return string(raw), true
}

// str returns a string field, trimmed; required makes a missing value an
// error.
func (c *checker) str(field string, required bool) string {
	s, ok := c.text(field)
	if !ok {
		c.fail(field, msg{InvalidParameterType, InvalidParameterType})
		return ""
	}
	s = strings.TrimSpace(s)
	if s == "" && required {
		c.fail(field, msgRequired)
	}
	return s
}

// boolean parses true/false as JSON or as the strings and numbers form
// posts use ("true", "false", "1", "0").
func (c *checker) boolean(field string, required bool) bool {
	if !c.present(field) {
		if required {
			c.fail(field, msgRequired)
		}
		return false
	}
	s, _ := c.text(field)
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "t", "yes", "y":
		return true
	case "false", "0", "f", "no", "n":
		return false
	}
	c.fail(field, msgBoolean)
	return false
}

func (c *checker) oneOf(field string, allowed []string, required bool) string {
	v := c.str(field, required)
	if v == "" {
		return ""
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	c.fail(field, msgOneOf, strings.Join(allowed, ", "))
	return v
}

func (c *checker) zip(field string, required bool) string {
	v := c.str(field, required)
	if v == "" {
		return ""
	}
	z, ok := ZIP5(v)
	if !ok {
		c.fail(field, msgZIP)
		return v
	}
	return z
}

func (c *checker) stateCode(ref *Reference, field string, required bool) (string, *State) {
	v := strings.ToUpper(c.str(field, required))
	if v == "" {
		return "", nil
	}
	s, ok := ref.State(v)
	if !ok {
		c.fail(field, msgState)
		return v, nil
	}
	return v, s
}

// dateTimeLayout is Rocky's documented format of created_at and updated_at.
const dateTimeLayout = "01022006 15:04:05"

// timeLayouts are the forms of created_at and updated_at accepted: the
// documented one, ISO 8601 and the forms Rails parses for a datetime attribute
// (Ruby's Time#to_s, US dates). Times without a zone are UTC.
var timeLayouts = []string{
	dateTimeLayout, "01022006", time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05",
	"2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05Z07:00", "2006-01-02",
	"01/02/2006 15:04:05", "01/02/2006", "2006/01/02 15:04:05", "2006/01/02",
}

// parseTime reads v in any of timeLayouts.
func parseTime(v string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// clientTime reads created_at or updated_at. Like Rocky, which keeps the
// time it can parse and otherwise stamps the record itself, an absent or
// unparsable value is no error: it is nil, and the registrant's own time
// of arrival is used.
func (c *checker) clientTime(field string) *time.Time {
	v := c.str(field, false)
	if v == "" {
		return nil
	}
	if t, ok := parseTime(v); ok {
		return &t
	}
	return nil
}

// Dates of birth are read as Rocky reads them: month, day and year
// (mm-dd-yyyy, the documented form, or with any separators and one-digit
// month or day, e.g. 5/7/1990), or year, month and day (1990-05-07).
var (
	dateMDY = regexp.MustCompile(`^(\d{1,2})\D+(\d{1,2})\D+(\d{4})$`)
	dateYMD = regexp.MustCompile(`^(\d{4})\D+(\d{1,2})\D+(\d{1,2})$`)
)

// ParseDate reads a date of birth; false for anything else or for a day
// that does not exist (02-30-1990).
func ParseDate(v string) (time.Time, bool) {
	var y, m, d int
	if p := dateMDY.FindStringSubmatch(v); p != nil {
		m, d, y = atoi(p[1]), atoi(p[2]), atoi(p[3])
	} else if p := dateYMD.FindStringSubmatch(v); p != nil {
		y, m, d = atoi(p[1]), atoi(p[2]), atoi(p[3])
	} else {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// idNumberPattern is the ID numbers Rocky accepts: "none" (no ID at all),
// exactly four digits (the last four of the SSN, which the state's
// id_number_msg asks for when there is no license), or 7 to 42 letters,
// digits, dashes, asterisks and spaces, optionally followed by a space and
// the four SSN digits. The state's id_length_min/max only inform the
// caller: Rocky does not enforce them, so neither does Turnout.
var idNumberPattern = regexp.MustCompile(`(?i)^(none|\d{4}|[-*A-Z0-9 ]{7,42}( \d{4})?)$`)

// maxChoice caps the free-text party and race: Rocky stores them in
// 255-character columns.
const maxChoice = 255

// Unknown returns the first field of in (sorted) that the mode does not
// define; bulk allows the bulk fields too.
func Unknown(in Input, bulk bool) string {
	var names []string
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if slices.Contains(registrationFields, k) || slices.Contains(credentialFields, k) {
			continue
		}
		if bulk && slices.Contains(bulkFields, k) {
			continue
		}
		return k
	}
	return ""
}

// Validate checks a registration. Errors are fault.Invalid: with Fields for
// a field problem (the first is the one Rocky would report), without for
// the message-only errors (unsupported language, survey pairing,
// unsupported state).
func (v *Validator) Validate(in Input, mode Mode) (*Validated, error) {
	c, err := v.begin(in)
	if err != nil {
		return nil, err
	}
	full := mode == ModeRegistration
	r := &storage.Registrant{Locale: c.lang, Status: "complete", PDFStatus: storage.PDFNone}
	out := &Validated{Registrant: r, Async: true}
	// The fields are read in the order of the registration table, which is
	// the order their errors are reported in.
	readTracking(c, r)
	dob := v.readBirth(c, r)
	out.IDNumber = readIDNumber(c, full)
	v.readEmail(c, r)
	state := v.readHome(c, r, full)
	readMailing(c, v.Ref, r, full)
	readChoicesAndPhone(c, r)
	readPrevious(c, v.Ref, r, full)
	readOptInsAndSurvey(c, r, full)
	readDelivery(c, out)
	if full && state != nil {
		v.stateRules(c, out, state, dob)
	} else {
		v.withoutStateRules(c, out, state, full)
	}
	if len(c.errs) > 0 {
		return nil, fault.Validation(c.errs...)
	}
	return finish(out, full, c.lang)
}

// begin refuses unknown fields, settles the language every later message
// is in, and checks that each survey answer comes with its question.
func (v *Validator) begin(in Input) (*checker, error) {
	if f := Unknown(in, false); f != "" {
		return nil, fault.Validation(fault.FieldError{Field: f, Code: fault.CodeInvalidValue, Message: InvalidParameterType})
	}
	c := &checker{in: in, lang: "en", failed: map[string]bool{}}
	lang := NormalizeLanguage(c.str("lang", true))
	if len(c.errs) > 0 {
		return nil, fault.Validation(c.errs...)
	}
	if !SupportedLanguage(lang) {
		return nil, fault.New(fault.Invalid, "%s", UnsupportedLanguage)
	}
	c.lang = lang
	// A survey answer needs its question.
	for n := 1; n <= 2; n++ {
		q, a := fmt.Sprintf("survey_question_%d", n), fmt.Sprintf("survey_answer_%d", n)
		if c.present(a) && !c.present(q) {
			return nil, fault.New(fault.Invalid, msgSurvey.in(lang), n, n)
		}
	}
	return c, nil
}

// readTracking reads the partner and the partner's own bookkeeping.
func readTracking(c *checker, r *storage.Registrant) {
	if pid := c.str("partner_id", true); pid != "" {
		n, err := strconv.ParseInt(pid, 10, 64)
		if err != nil || n <= 0 {
			c.fail("partner_id", msgDigits)
		}
		r.PartnerID = n
	}
	r.SendConfirmationReminderEmails = c.boolean("send_confirmation_reminder_emails", true)
	r.CollectEmailAddress = c.str("collect_email_address", false)
	r.SourceTrackingID = c.str("source_tracking_id", false)
	r.PartnerTrackingID = c.str("partner_tracking_id", false)
	r.ShortForm = c.boolean("short_form", false)
	r.StateOVRData = c.stateOVRData()
	r.ClientCreatedAt = c.clientTime("created_at")
	r.ClientUpdatedAt = c.clientTime("updated_at")
}

// readBirth reads the date of birth, which may not be in the future, and
// the age it gives today; it returns nil when the date is missing or bad.
func (v *Validator) readBirth(c *checker, r *storage.Registrant) *time.Time {
	var dob *time.Time
	if s := c.str("date_of_birth", true); s != "" {
		t, ok := ParseDate(s)
		switch {
		case !ok:
			c.fail("date_of_birth", msgDate)
		case t.After(v.now()):
			c.fail("date_of_birth", msgDateFuture)
		default:
			dob = &t
		}
	}
	r.DateOfBirth = dob
	if dob != nil {
		age := int32(Age(*dob, v.now()))
		r.Age = &age
	}
	return dob
}

// readIDNumber reads the ID number (required on a full registration), in
// capitals.
func readIDNumber(c *checker, full bool) string {
	idNumber := strings.ToUpper(c.str("id_number", full))
	if idNumber != "" && !idNumberPattern.MatchString(idNumber) {
		c.fail("id_number", msgIDChars)
	}
	return idNumber
}

// readEmail reads the e-mail address: required unless the partner says it
// collects none, a plain address with a dotted domain, not on the
// blocklist.
func (v *Validator) readEmail(c *checker, r *storage.Registrant) {
	emailRequired := !strings.EqualFold(r.CollectEmailAddress, "no")
	if e := c.str("email_address", emailRequired); e != "" {
		a, err := mail.ParseAddress(e)
		switch {
		case err != nil || a.Address != e || !strings.Contains(e[strings.LastIndex(e, "@")+1:], "."):
			c.fail("email_address", msgEmail)
		case v.Blocklist.Blocked(e):
			c.fail("email_address", msgEmailBlocked)
		}
		r.EmailAddress = e
	}
}

// readHome reads citizenship, the name and the home address, and returns
// the home state (nil when missing or unknown).
func (v *Validator) readHome(c *checker, r *storage.Registrant, full bool) *State {
	r.FirstRegistration = c.boolean("first_registration", full)
	r.HomeZIPCode = c.zip("home_zip_code", true)
	r.USCitizen = c.boolean("us_citizen", true)
	if c.present("us_citizen") && !r.USCitizen && !c.failed["us_citizen"] {
		c.fail("us_citizen", msgCitizen)
	}
	r.HasStateLicense = c.boolean("has_state_license", full)
	r.IsEighteenOrOlder = c.boolean("is_eighteen_or_older", full)
	r.NameTitle = c.oneOf("name_title", NameTitles, true)
	r.FirstName = c.str("first_name", false)
	r.MiddleName = c.str("middle_name", false)
	r.LastName = c.str("last_name", true)
	r.NameSuffix = c.oneOf("name_suffix", NameSuffixes, false)
	r.HomeAddress = c.str("home_address", full)
	r.HomeUnit = c.str("home_unit", false)
	r.HomeCity = c.str("home_city", full)
	var state *State
	r.HomeStateID, state = c.stateCode(v.Ref, "home_state_id", full)
	return state
}

// readMailing reads the mailing address, required when the registrant
// says there is one.
func readMailing(c *checker, ref *Reference, r *storage.Registrant, full bool) {
	r.HasMailingAddress = c.boolean("has_mailing_address", full)
	m := r.HasMailingAddress
	r.MailingAddress = c.str("mailing_address", m)
	r.MailingUnit = c.str("mailing_unit", false)
	r.MailingCity = c.str("mailing_city", m)
	r.MailingStateID, _ = c.stateCode(ref, "mailing_state_id", m)
	r.MailingZIPCode = c.zip("mailing_zip_code", m)
}

// readChoicesAndPhone reads race, party and the phone number.
func readChoicesAndPhone(c *checker, r *storage.Registrant) {
	// Party is optional and free text, since the choices differ by state:
	// kept and printed as sent. Race is kept as sent too, once it is one
	// of the federal form's choices (checked with the state's rules).
	r.Race = c.capped("race", maxChoice)
	r.Party = c.capped("party", maxChoice)

	r.Phone = c.str("phone", false)
	if r.Phone != "" {
		if d := digitsOnly(r.Phone); len(d) != 10 && !(len(d) == 11 && d[0] == '1') {
			c.fail("phone", msgPhone)
		}
	}
	r.PhoneType = c.oneOf("phone_type", PhoneTypes, r.Phone != "")
}

// readPrevious reads a change of name and a change of address, each
// required in full when the registrant says it happened.
func readPrevious(c *checker, ref *Reference, r *storage.Registrant, full bool) {
	r.ChangeOfName = c.boolean("change_of_name", full)
	r.PrevNameTitle = c.oneOf("prev_name_title", NameTitles, false)
	r.PrevFirstName = c.str("prev_first_name", false)
	r.PrevMiddleName = c.str("prev_middle_name", false)
	r.PrevLastName = c.str("prev_last_name", r.ChangeOfName)
	r.PrevNameSuffix = c.oneOf("prev_name_suffix", NameSuffixes, false)
	r.ChangeOfAddress = c.boolean("change_of_address", full)
	p := r.ChangeOfAddress
	r.PrevAddress = c.str("prev_address", p)
	r.PrevUnit = c.str("prev_unit", false)
	r.PrevCity = c.str("prev_city", p)
	r.PrevStateID, _ = c.stateCode(ref, "prev_state_id", p)
	r.PrevZIPCode = c.zip("prev_zip_code", p)
}

// readOptInsAndSurvey reads the six opt-ins and the two survey pairs.
func readOptInsAndSurvey(c *checker, r *storage.Registrant, full bool) {
	r.OptInEmail = c.boolean("opt_in_email", full)
	r.OptInSMS = c.boolean("opt_in_sms", full)
	r.OptInVolunteer = c.boolean("opt_in_volunteer", full)
	r.PartnerOptInEmail = c.boolean("partner_opt_in_email", full)
	r.PartnerOptInSMS = c.boolean("partner_opt_in_sms", full)
	r.PartnerOptInVolunteer = c.boolean("partner_opt_in_volunteer", full)
	r.SurveyQuestion1 = c.str("survey_question_1", false)
	r.SurveyAnswer1 = c.str("survey_answer_1", false)
	r.SurveyQuestion2 = c.str("survey_question_2", false)
	r.SurveyAnswer2 = c.str("survey_answer_2", false)
}

// readDelivery reads how the partner wants the outcome: its own
// stop-reminders page, and whether the call waits for the PDF.
func readDelivery(c *checker, out *Validated) {
	if u := c.str("custom_stop_reminders_url", false); u != "" {
		// <UID> is replaced later; it is not valid in a URL as written.
		pu, err := url.Parse(strings.ReplaceAll(u, "<UID>", "UID"))
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			c.fail("custom_stop_reminders_url", msgURL)
		}
		out.Registrant.CustomStopRemindersURL = u
	}
	if c.present("async") {
		out.Async = c.boolean("async", false)
	}
	c.str("callback", false)
}

// stateRules applies the home state's rules to a full registration, once
// the fields they depend on are sound: the state takes part, the ZIP code
// is in it, race is a federal choice (required where the state asks), and
// the registrant is old enough.
func (v *Validator) stateRules(c *checker, out *Validated, state *State, dob *time.Time) {
	r := out.Registrant
	out.State = state
	if !state.Participating {
		c.fail("home_state_id", msg{state.NotParticipatingMsg("en"), state.NotParticipatingMsg("es")})
	}
	if r.HomeZIPCode != "" && !c.failed["home_zip_code"] {
		if zs, ok := v.Ref.StateOfZIP(r.HomeZIPCode); !ok || zs != state {
			c.fail("home_zip_code", msgZIPState)
		}
	}
	if r.Race != "" {
		if _, ok := raceKey(r.Race); !ok {
			c.fail("race", msgRace)
		}
	} else if state.RequiresRace {
		c.fail("race", msgRaceRequired)
	}
	if dob != nil && !c.failed["date_of_birth"] {
		v.checkAge(c, r, state, *dob)
	}
}

// withoutStateRules checks a registrant no state's rules apply to here: a
// gregistration, which finished on the state's own site under that state's
// rules, or a full registration without a known home state (already an
// error). Race is kept when it is a choice at all; a gregistration's home
// state follows from its ZIP code.
func (v *Validator) withoutStateRules(c *checker, out *Validated, state *State, full bool) {
	r := out.Registrant
	if _, ok := raceKey(r.Race); !ok && r.Race != "" {
		c.fail("race", msgRace)
	}
	if full || r.HomeZIPCode == "" || c.failed["home_zip_code"] {
		return
	}
	zs, ok := v.Ref.StateOfZIP(r.HomeZIPCode)
	switch {
	case !ok:
		c.fail("home_zip_code", msgZIP)
	case state != nil && zs != state:
		c.fail("home_zip_code", msgZIPState)
	default:
		state = zs
		r.HomeStateID = zs.Abbreviation
	}
	out.State = state
}

// finish marks what kind of registrant this is: a full registration waits
// for its PDF; a gregistration needs a state with online registration.
func finish(out *Validated, full bool, lang string) (*Validated, error) {
	r := out.Registrant
	if full {
		r.Kind = "registration"
		r.PDFStatus = storage.PDFPending
		return out, nil
	}
	if out.State == nil || out.State.OnlineRegistrationURL == nil || *out.State.OnlineRegistrationURL == "" {
		return nil, fault.New(fault.Invalid, "%s", msgUnsupportedState.in(lang))
	}
	r.Kind = "gregistration"
	r.FinishWithState = true
	return out, nil
}

func (v *Validator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// checkAge applies the age rule: 18 or older on the day of the call. With
// pre-registration enabled, someone younger whom the state's own rule lets
// register is accepted and recorded as pre-registered (ineligible by age,
// going ahead under 18), which is what registrant reports show.
func (v *Validator) checkAge(c *checker, r *storage.Registrant, state *State, dob time.Time) {
	now := v.now()
	if Age(dob, now) >= 18 {
		return
	}
	if v.PreRegistration && MayRegister(state, dob, now) {
		r.IneligibleAge, r.Under18OK = true, true
		return
	}
	c.fail("date_of_birth", msg{state.Sub18Msg("en"), state.Sub18Msg("es")})
}

// capped returns a free-text field, refusing one over max characters.
func (c *checker) capped(field string, max int) string {
	s := c.str(field, false)
	if utf8.RuneCountInString(s) > max {
		c.fail(field, msgTooLong, max)
	}
	return s
}

func digitsOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// FieldOf returns the field name and message an error reports in Rocky's
// shape; field is "" for message-only errors.
func FieldOf(err *fault.Error) (field, message string) {
	if len(err.Fields) > 0 {
		return err.Fields[0].Field, err.Fields[0].Message
	}
	return "", err.Message
}

// stateOVRData keeps state_ovr_data as given: an object as JSON, anything
// else as a JSON string; nil when absent.
func (c *checker) stateOVRData() json.RawMessage {
	if !c.present("state_ovr_data") {
		return nil
	}
	raw := bytes.TrimSpace(c.in["state_ovr_data"])
	// jsonb refuses \u0000 anywhere in a document.
	if raw[0] == '{' && (!utf8.Valid(raw) || bytes.Contains(raw, []byte(`\u0000`))) {
		c.fail("state_ovr_data", msgText)
		return nil
	}
	if raw[0] != '{' {
		raw, _ = json.Marshal(c.str("state_ovr_data", false))
	}
	return json.RawMessage(raw)
}
