package rocky_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/testkit/apitest"
)

// Party is free text: CA without one, with "No Party Preference" or
// "Decline to State", and TX "Democrat" are accepted and stored as sent;
// state_requirements still lists the state's parties.
func TestPartyIsFreeText(t *testing.T) {
	s := start(t, options{noWorker: true})
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"CA without party", func(m map[string]any) { delete(m, "party") }, ""},
		{"CA No Party Preference", func(m map[string]any) { m["party"] = "No Party Preference" }, "No Party Preference"},
		{"CA Decline to State", func(m map[string]any) { m["party"] = "Decline to State" }, "Decline to State"},
		{"TX Democrat", func(m map[string]any) {
			m["party"], m["home_state_id"], m["home_zip_code"], m["home_city"] = "Democrat", "TX", "73301", "Austin"
		}, "Democrat"},
	} {
		status, m, raw := s.register(c.edit)
		if status != 200 {
			t.Fatalf("%s: %d %s", c.name, status, raw)
		}
		var party string
		_ = s.db.QueryRow(context.Background(), `SELECT party FROM rocky_registrants WHERE uid = $1`, m["uid"]).Scan(&party)
		if party != c.want {
			t.Errorf("%s: stored party %q, want %q", c.name, party, c.want)
		}
	}
	_, m, _ := s.do("GET", "/api/v4/state_requirements.json?lang=en&home_state_id=CA", "")
	if list, _ := m["party_list"].([]any); len(list) == 0 {
		t.Fatalf("CA party_list empty: %v", m)
	}
}

// ID numbers: "none", four digits, or 7 to 42 letters, digits, -, * and
// spaces; upper-cased; anything else is refused in the registrant's
// language.
func TestIDNumbersAsRockyAcceptsThem(t *testing.T) {
	s := start(t, options{noWorker: true})
	for _, id := range []string{"1234", "none", "NONE", "D123 4567", "d123-4567*"} {
		status, _, raw := s.register(func(m map[string]any) { m["id_number"] = id })
		if status != 200 {
			t.Errorf("id_number %q: %d %s", id, status, raw)
		}
	}
	for lang, want := range map[string]string{"en": "7 to 42", "es": "de 7 a 42"} {
		status, m, raw := s.register(func(m map[string]any) { m["id_number"], m["lang"] = "12345", lang })
		if msg, _ := m["message"].(string); status != 400 || m["field_name"] != "id_number" || !strings.Contains(msg, want) {
			t.Errorf("%s: %d %s, want id_number with %q", lang, status, raw, want)
		}
	}
}

// Age: 18 on the day of the call, with the state's localized message,
// unless pre-registration is enabled, when the state's own rule applies.
func TestAgeIs18UnlessPreRegistrationIsOn(t *testing.T) {
	seventeen := time.Now().AddDate(-17, 0, -10).Format("01-02-2006")
	s := start(t, options{noWorker: true})
	for lang, want := range map[string]string{"en": "California lets you pre-register", "es": "California le permite preinscribirse"} {
		status, m, raw := s.register(func(m map[string]any) { m["date_of_birth"], m["lang"] = seventeen, lang })
		if msg, _ := m["message"].(string); status != 400 || m["field_name"] != "date_of_birth" || !strings.HasPrefix(msg, want) {
			t.Errorf("%s registration at 17: %d %s", lang, status, raw)
		}
		status, m, raw = s.do("GET", "/api/v4/state_requirements.json?lang="+lang+"&home_state_id=CA&date_of_birth="+seventeen, "")
		if msg, _ := m["message"].(string); status != 400 || !strings.HasPrefix(msg, want) {
			t.Errorf("%s state_requirements at 17: %d %s", lang, status, raw)
		}
	}

	p := start(t, options{noWorker: true, preRegistration: true})
	status, m, raw := p.register(func(m map[string]any) { m["date_of_birth"] = seventeen })
	if status != 200 {
		t.Fatalf("pre-registration on, 17 in CA: %d %s", status, raw)
	}
	var ineligible, under18 bool
	_ = p.db.QueryRow(context.Background(), `SELECT ineligible_age, under_18_ok FROM rocky_registrants WHERE uid = $1`,
		m["uid"]).Scan(&ineligible, &under18)
	if !ineligible || !under18 {
		t.Fatalf("pre-registrant stored with ineligible_age %v, under_18_ok %v", ineligible, under18)
	}
	fifteen := time.Now().AddDate(-15, 0, -10).Format("01-02-2006")
	if status, _, raw := p.register(func(m map[string]any) { m["date_of_birth"] = fifteen }); status != 400 {
		t.Fatalf("pre-registration on, 15 in CA: %d %s", status, raw)
	}
}

// A NUL byte or invalid UTF-8 in any field is a 400 naming the field, on
// every path that stores registrants, never a 500.
func TestNULAndInvalidUTF8AreFieldErrors(t *testing.T) {
	s := start(t, options{noWorker: true})
	status, m, raw := s.register(func(m map[string]any) { m["first_name"] = "Ad\x00a" })
	if status != 400 || m["field_name"] != "first_name" {
		t.Errorf("NUL in first_name: %d %s", status, raw)
	}
	body := strings.Replace(registrationJSON(t, func(m map[string]any) { m["partner_id"] = s.partnerID }), `"Lovelace"`, "\"Love\xfflace\"", 1)
	status, m, raw = s.do("POST", "/api/v4/registrations.json", body)
	if status != 400 || m["field_name"] != "last_name" {
		t.Errorf("invalid UTF-8 in last_name: %d %s", status, raw)
	}
	status, m, raw = s.register(func(m map[string]any) { m["state_ovr_data"] = map[string]any{"k": "\x00"}; m["lang"] = "es" })
	if status != 400 || m["field_name"] != "state_ovr_data" || m["message"] != "Debe ser texto sin caracteres NUL, en UTF-8" {
		t.Errorf("NUL in state_ovr_data: %d %s", status, raw)
	}
	g := fmt.Sprintf(`{"registration": {"lang": "en", "partner_id": %q, "send_confirmation_reminder_emails": false,
		"date_of_birth": "05-17-1990", "email_address": "g@example.org", "home_zip_code": "94110", "us_citizen": true,
		"name_title": "Ms.", "last_name": "P\u0000"}}`, s.partnerID)
	status, m, raw = s.do("POST", "/api/v4/gregistrations.json", g)
	if status != 400 || m["field_name"] != "last_name" {
		t.Errorf("NUL in a gregistration: %d %s", status, raw)
	}
	bulk := fmt.Sprintf(`{"partner_id": %q, "partner_API_key": %q, "registrants": [{"lang": "en", "first_name": "A\u0000"}]}`, s.partnerID, s.partnerKey)
	status, _, raw = s.do("POST", "/api/v4/registrations/bulk", bulk)
	var list []map[string]any
	_ = json.Unmarshal(raw, &list)
	if status != 400 || len(list) != 1 || list[0]["field_name"] != "first_name" {
		t.Errorf("NUL in a bulk record: %d %s", status, raw)
	}
	form := registrationForm(t, s)
	form.Set("registration[first_name]", "\xff")
	status, m, raw = s.do("POST", "/api/v4/registrations.json", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if status != 400 || m["field_name"] != "first_name" {
		t.Errorf("invalid UTF-8 in a form field: %d %s", status, raw)
	}
}

// Browser integrations: CORS on the public endpoints (errors included),
// the OPTIONS preflight, and form-encoded bodies as jQuery's $.post sends.
func TestPublicEndpointsAnswerBrowsers(t *testing.T) {
	s := start(t, options{noWorker: true})
	for _, path := range []string{"/api/v4/registrations.json", "/api/v4/gregistrations.json", "/api/v4/registrations/pdf_ready",
		"/api/v4/state_requirements.json", "/api/v4/gregistrationstates.json", "/api/v4/partnerpublicprofiles/" + s.partnerID + ".json",
		"/api/v4/registrations/stop_reminders"} {
		resp, _ := s.client.Do(apitest.NewRequest(t, "OPTIONS", path, "", "Origin", "https://partner.example",
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"))
		h := resp.Header
		if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
			h.Get("Access-Control-Allow-Headers") != "content-type" {
			t.Errorf("OPTIONS %s: %d %v", path, resp.StatusCode, h)
		}
	}
	resp, _ := s.client.Do(apitest.NewRequest(t, "GET", "/api/v4/state_requirements.json?lang=en&home_state_id=AJ", ""))
	if resp.StatusCode != 400 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("error of a public endpoint without CORS: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = s.client.Do(apitest.NewRequest(t, "GET", "/api/v4/partners/"+s.partnerID+".json?partner_API_key="+s.partnerKey, ""))
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a keyed endpoint answers other origins")
	}

	form := registrationForm(t, s)
	status, m, raw := s.do("POST", "/api/v4/registrations.json", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if status != 200 || m["uid"] == nil {
		t.Fatalf("form-encoded registration: %d %s", status, raw)
	}
	var first string
	_ = s.db.QueryRow(context.Background(), `SELECT first_name FROM rocky_registrants WHERE uid = $1`, m["uid"]).Scan(&first)
	if first != "Ada" {
		t.Fatalf("form-encoded first_name stored as %q", first)
	}
}

// registrationForm is the valid registration as a form body, the way
// jQuery's $.post encodes {registration: {...}}.
func registrationForm(t *testing.T, s *stack) url.Values {
	form := url.Values{}
	var in map[string]map[string]any
	_ = json.Unmarshal([]byte(registrationJSON(t, nil)), &in)
	for k, v := range in["registration"] {
		form.Set("registration["+k+"]", fmt.Sprint(v))
	}
	form.Set("registration[partner_id]", s.partnerID)
	return form
}

// Open sign-up has its own lower limit per address and spends the
// public budget too.
func TestOpenSignupIsLimitedPerAddress(t *testing.T) {
	// start signs its own partner up: the first of the three.
	s := start(t, options{noWorker: true, openSignup: true, publicPerMinute: 100, signupsPerHour: 3})
	for i := 0; i < 2; i++ {
		if status, _, raw := s.do("POST", "/api/v4/partners.json", partnerJSON(nil)); status != 200 {
			t.Fatalf("sign-up %d: %d %s", i+1, status, raw)
		}
	}
	status, m, raw := s.do("POST", "/api/v4/partners.json", partnerJSON(nil))
	if status != http.StatusTooManyRequests || m["message"] != "Call rate has been exceeded" {
		t.Fatalf("fourth sign-up: %d %s, want 429", status, raw)
	}
	if status, _, _ := s.do("GET", "/api/v4/state_requirements.json?lang=en&home_state_id=CA", ""); status != 200 {
		t.Fatalf("public endpoint after the sign-up limit: %d", status)
	}

	// Two sign-ups (start's and this one) and one call spend a budget of 3.
	p := start(t, options{noWorker: true, openSignup: true, publicPerMinute: 3, signupsPerHour: 10})
	if status, _, raw := p.do("POST", "/api/v4/partners.json", partnerJSON(nil)); status != 200 {
		t.Fatalf("sign-up: %d %s", status, raw)
	}
	if status, _, _ := p.do("GET", "/api/v4/gregistrationstates.json", ""); status != 200 {
		t.Fatalf("third public call: %d", status)
	}
	if status, _, _ := p.do("GET", "/api/v4/gregistrationstates.json", ""); status != http.StatusTooManyRequests {
		t.Fatalf("sign-ups do not count against the public limit: %d", status)
	}
}

// Partners: Rocky's alias fields and its partner.json?partner_id= routes;
// creation requires the contact fields.
func TestPartnerAliasesAndRoutes(t *testing.T) {
	s := start(t, options{noWorker: true})
	for _, path := range []string{"/api/v4/partners/" + s.partnerID + ".json?partner_API_key=" + s.partnerKey,
		"/api/v4/partners/partner.json?partner_id=" + s.partnerID + "&partner_API_key=" + s.partnerKey} {
		status, m, raw := s.do("GET", path, "")
		if status != 200 || m["organization"] != "Vote Club" || m["url"] != "https://vote.example.org" || m["name"] != "Pat" ||
			m["phone"] != "4155551212" || m["address"] != "1 Mission St" || m["city"] != "San Francisco" ||
			m["state_abbrev"] != "CA" || m["zip_code"] != "94110" {
			t.Errorf("GET %s: %d %s", path, status, raw)
		}
	}
	status, m, raw := s.do("GET", "/api/v4/partnerpublicprofiles/partner.json?partner_id="+s.partnerID, "")
	if status != 200 || m["organization"] != "Vote Club" {
		t.Errorf("public profile by partner_id: %d %s", status, raw)
	}
	for _, f := range []string{"org_URL", "contact_phone", "contact_address", "contact_city", "contact_state", "contact_ZIP"} {
		status, m, _ := s.do("POST", "/api/v4/partners.json", partnerJSON(func(p map[string]any) { delete(p, f) }), "X-API-Key", s.adminKey)
		if status != 400 || m["field_name"] != f || m["message"] != "Required" {
			t.Errorf("partner without %s: %d %v", f, status, m)
		}
	}
}

// Dates and timestamps as Rocky reads them; language tags with a region.
func TestDatesTimestampsAndLanguageTags(t *testing.T) {
	s := start(t, options{noWorker: true})
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
	}{
		{"no timestamps", func(m map[string]any) { delete(m, "created_at"); delete(m, "updated_at") }},
		{"unparsable timestamps", func(m map[string]any) { m["created_at"], m["updated_at"] = "soon", "later" }},
		{"ISO timestamps", func(m map[string]any) { m["created_at"] = "2026-01-10T10:00:00Z" }},
		{"date of birth year first", func(m map[string]any) { m["date_of_birth"] = "1990-05-17" }},
		{"date of birth with slashes", func(m map[string]any) { m["date_of_birth"] = "5/17/1990" }},
		{"en-US", func(m map[string]any) { m["lang"] = "en-US" }},
	} {
		before := time.Now().Add(-time.Second)
		status, m, raw := s.register(c.edit)
		if status != 200 {
			t.Errorf("%s: %d %s", c.name, status, raw)
			continue
		}
		if strings.HasSuffix(c.name, "timestamps") {
			// Absent or unparsable: the time of arrival; ISO: the partner's.
			var created time.Time
			_ = s.db.QueryRow(context.Background(), `SELECT created_at FROM rocky_registrants WHERE uid = $1`, m["uid"]).Scan(&created)
			want := created.After(before) && created.Before(time.Now().Add(time.Second))
			if c.name == "ISO timestamps" {
				want = created.Equal(time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC))
			}
			if !want {
				t.Errorf("%s: created_at stored as %v", c.name, created)
			}
		}
	}
	for lang, want := range map[string]string{"es_MX": "Debe ser una fecha con formato mm-dd-aaaa", "en-US": "Must be a date in mm-dd-yyyy format"} {
		status, m, raw := s.register(func(m map[string]any) { m["lang"], m["date_of_birth"] = lang, "May 17 1990" })
		if status != 400 || m["field_name"] != "date_of_birth" || m["message"] != want {
			t.Errorf("%s with a bad date: %d %s, want %q", lang, status, raw, want)
		}
	}
	// Language tags with a region on state_requirements too.
	status, m, raw := s.do("GET", "/api/v4/state_requirements.json?lang=es-MX&home_state_id=PA", "")
	if status != 200 || m["no_party_msg"] != "Ninguno / Sin afiliación" {
		t.Errorf("state_requirements lang=es-MX: %d %s", status, raw)
	}
	var started time.Time
	_, m, _ = s.register(func(m map[string]any) { m["created_at"] = "11012026 09:30:00" })
	_ = s.db.QueryRow(context.Background(), `SELECT created_at FROM rocky_registrants WHERE uid = $1`, m["uid"]).Scan(&started)
	if !started.Equal(time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC)) {
		t.Errorf("created_at stored as %v, want the partner's 2026-11-01 09:30 UTC", started)
	}
}

// Small ones: POST registrant_reports without .json; the stop-reminders
// page in the registrant's language, sized for a phone, and a page for an
// unknown link.
func TestReportRouteAndStopRemindersPage(t *testing.T) {
	s := start(t, options{noWorker: true})
	status, m, raw := s.do("POST", "/api/v4/registrant_reports", fmt.Sprintf(`{"partner_id": %q, "partner_API_key": %q}`, s.partnerID, s.partnerKey))
	if status != 200 || m["status"] != "queued" {
		t.Errorf("POST registrant_reports: %d %s", status, raw)
	}
	_, reg, _ := s.register(func(m map[string]any) { m["lang"] = "es" })
	status, _, raw = s.do("GET", "/stop_reminders/"+reg["uid"].(string), "")
	page := string(raw)
	if status != 200 || !strings.Contains(page, `lang="es"`) || !strings.Contains(page, "Detener recordatorios") ||
		!strings.Contains(page, `name="viewport"`) || !strings.Contains(page, "<style>") {
		t.Errorf("Spanish page: %d %s", status, raw)
	}
	status, _, raw = s.do("GET", "/stop_reminders/"+strings.Repeat("1", 40), "", "Accept-Language", "es-MX,es;q=0.9")
	if status != 404 || !strings.Contains(string(raw), "Enlace no encontrado") {
		t.Errorf("unknown uid: %d %s", status, raw)
	}
}

// The gregistration e-mail greets the registrant by full name (first,
// middle and last), in the registrant's language.
func TestGRegistrationEmailGreetsByFullName(t *testing.T) {
	s := start(t, options{})
	for _, c := range []struct{ lang, email, first, middle, last string }{
		{"en", "gil@example.org", "Gil", "Antonio", "Reyes"},
		{"es", "maria@example.org", "María", "José", "Pérez"},
	} {
		body, _ := json.Marshal(map[string]any{"registration": map[string]any{"lang": c.lang, "partner_id": s.partnerID,
			"send_confirmation_reminder_emails": true, "date_of_birth": "05-17-1990", "email_address": c.email,
			"home_zip_code": "94110", "us_citizen": true, "name_title": "Mr.", "first_name": c.first,
			"middle_name": c.middle, "last_name": c.last}})
		if status, _, raw := s.do("POST", "/api/v4/gregistrations.json", string(body)); status != 200 {
			t.Fatalf("%s gregistration: %d %s", c.lang, status, raw)
		}
	}
	want := map[string]string{
		"gil@example.org":   "Hello Gil Antonio Reyes,",
		"maria@example.org": "Hola María José Pérez:",
	}
	for _, msg := range s.smtp.WaitFor(t, 2) {
		greeting := want[msg.To[0]]
		first, _, _ := strings.Cut(msg.Text, "\n")
		if greeting == "" || strings.TrimSpace(first) != greeting || !strings.HasPrefix(msg.HTML, "<p>"+greeting+"</p>") {
			t.Errorf("e-mail to %v does not open with %q:\n%s\n%s", msg.To, greeting, msg.Text, msg.HTML)
		}
	}
}

// Bulk calls take form bodies as Rails reads them: a list of objects as
// registrants[][field]=value (a new record whenever a field repeats) or as
// jQuery's $.post sends one, registrants[0][field]=value, with the
// credentials in the form too. A form that cannot say a list of records is
// a 400 naming the field and the two shapes; a bad record is refused in
// its own language, as in a JSON body.
func TestBulkTakesFormBodiesAsRailsReadsThem(t *testing.T) {
	s := start(t, options{noWorker: true})
	form := func(pairs ...string) string {
		var b strings.Builder
		b.WriteString("partner_id=" + s.partnerID + "&partner_API_key=" + url.QueryEscape(s.partnerKey))
		for i := 0; i < len(pairs); i += 2 {
			b.WriteString("&" + url.QueryEscape(pairs[i]) + "=" + url.QueryEscape(pairs[i+1]))
		}
		return b.String()
	}
	post := func(path, body string) (int, map[string]any, []byte) {
		return s.do("POST", path, body, "Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	}
	stored := func(email string) (locale, status, createdAt string) {
		_ = s.db.QueryRow(context.Background(), `SELECT locale, status, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
			FROM rocky_registrants WHERE email_address = $1 AND partner_id = $2::bigint`, email, s.partnerID).Scan(&locale, &status, &createdAt)
		return
	}

	status, m, raw := post("/api/v4/registrations/bulk", form(
		"registrants[][lang]", "en", "registrants[][email_address]", "r1@example.org", "registrants[][created_at]", "2026-11-01",
		"registrants[][lang]", "es", "registrants[][email_address]", "r2@example.org", "registrants[][status]", "step_3"))
	if status != 200 || m["registrants_added"] != float64(2) {
		t.Fatalf("registrants[][field] form: %d %s", status, raw)
	}
	if l, _, c := stored("r1@example.org"); l != "en" || c != "2026-11-01" {
		t.Errorf("first record stored as %s %s", l, c)
	}
	if l, st, _ := stored("r2@example.org"); l != "es" || st != "step_3" {
		t.Errorf("second record stored as %s %s", l, st)
	}

	// jQuery numbers the records; their order is the index order, 10 after 9.
	var pairs []string
	for i := 0; i < 11; i++ {
		pairs = append(pairs, fmt.Sprintf("registrants[%d][lang]", i), []string{"en", "es"}[i%2],
			fmt.Sprintf("registrants[%d][email_address]", i), fmt.Sprintf("j%d@example.org", i))
	}
	status, m, raw = post("/api/v4/registrations/bulk", form(pairs...))
	if status != 200 || m["registrants_added"] != float64(11) {
		t.Fatalf("registrants[N][field] form: %d %s", status, raw)
	}
	if l, _, _ := stored("j9@example.org"); l != "es" {
		t.Errorf("j9 stored with locale %q, want es", l)
	}
	if l, _, _ := stored("j10@example.org"); l != "en" {
		t.Errorf("j10 stored with locale %q, want en", l)
	}
	status, m, raw = post("/api/v4/bulk_gregistrations.json", form("bulk_gregistrations[0][status]", "complete",
		"bulk_gregistrations[0][email_address]", "g1@example.org"))
	if status != 200 || m["bulk_gregistrations"] != float64(1) {
		t.Fatalf("bulk_gregistrations form: %d %s", status, raw)
	}

	// Shapes that are no list of records.
	for _, body := range []string{
		form("registrants", "r1@example.org"),
		form("registrants[]", "r1@example.org"),
		form("registrants[a][lang]", "en"),
		form(),
	} {
		status, m, raw := post("/api/v4/registrations/bulk", body)
		if msg, _ := m["message"].(string); status != 400 || m["field_name"] != "registrants" ||
			!strings.Contains(msg, "registrants[][field]=value or registrants[0][field]=value") {
			t.Errorf("%s: %d %s, want 400 naming registrants and the two shapes", body, status, raw)
		}
	}
	// A bad record: per-record errors in the record's language.
	status, _, raw = post("/api/v4/registrations/bulk", form("registrants[][lang]", "en", "registrants[][favourite]", "1",
		"registrants[][lang]", "es", "registrants[][age]", "viejo", "registrants[][lang]", "en", "registrants[][age]", "old"))
	var list []map[string]any
	_ = json.Unmarshal(raw, &list)
	if status != 400 || len(list) != 3 || list[0]["type"] != "SyntaxError" || list[0]["field_name"] != "favourite" ||
		list[1]["message"] != "Debe ser un número entero" || list[2]["message"] != "Must be a whole number" {
		t.Errorf("bad form records: %d %s", status, raw)
	}
	// Without the key in the form, the call is refused like any other.
	status, m, _ = post("/api/v4/registrations/bulk", "registrants[][lang]=en")
	if status != 400 || m["message"] != "Invalid Partner or API key" {
		t.Errorf("form without credentials: %d %v", status, m)
	}
}

// A default batch (1,000 records) of full registrations, several MiB of
// JSON with the credentials in the body, is one call.
func TestBulkOfAThousandFullRecords(t *testing.T) {
	s := start(t, options{noWorker: true})
	var rec map[string]map[string]any
	_ = json.Unmarshal([]byte(registrationJSON(t, nil)), &rec)
	full := rec["registration"]
	full["partner_id"] = s.partnerID
	full["status"], full["survey_answer_1"] = "step_4", strings.Repeat("Because it matters. ", 40)
	records := make([]map[string]any, 1000)
	for i := range records {
		records[i] = full
	}
	body, _ := json.Marshal(map[string]any{"partner_id": s.partnerID, "partner_API_key": s.partnerKey, "registrants": records})
	if len(body) < 1<<20 {
		t.Fatalf("batch is %d bytes; the test needs more than 1 MiB", len(body))
	}
	status, m, raw := s.do("POST", "/api/v4/registrations/bulk", string(body))
	if status != 200 || m["registrants_added"] != float64(1000) {
		t.Fatalf("1,000 records, %d bytes: %d %.300s", len(body), status, raw)
	}
}

// Party is printed on the PDF as sent and the ID number upper-cased; a
// party over 255 characters is refused in the registrant's language.
func TestPartyAndIDNumberOnThePDFAsRockyKeepsThem(t *testing.T) {
	s := start(t, options{})
	status, m, raw := s.register(func(m map[string]any) {
		m["party"], m["id_number"], m["send_confirmation_reminder_emails"] = "Decline to State", "d123-4567*", false
	})
	if status != 200 {
		t.Fatalf("register: %d %s", status, raw)
	}
	s.waitReady(m["uid"].(string))
	resp, err := http.Get(m["pdfurl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := pdfText(t, pdf)
	for _, want := range []string{"Decline to State", "D123-4567*"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF lacks %q:\n%s", want, text)
		}
	}
	for lang, want := range map[string]string{"en": "Must be at most 255 characters long", "es": "Debe tener como máximo 255 caracteres"} {
		status, m, raw := s.register(func(m map[string]any) { m["party"], m["lang"] = strings.Repeat("p", 256), lang })
		if status != 400 || m["field_name"] != "party" || m["message"] != want {
			t.Errorf("%s party of 256 characters: %d %s, want 400 party %q", lang, status, raw, want)
		}
	}
}

// With pre-registration on, state_requirements answers a 17-year-old whom
// the state lets pre-register as it answers an adult; one too young for
// the state's rule gets its localized message.
func TestStateRequirementsWithPreRegistration(t *testing.T) {
	s := start(t, options{noWorker: true, preRegistration: true})
	seventeen := time.Now().AddDate(-17, 0, -10).Format("01-02-2006")
	if status, _, raw := s.do("GET", "/api/v4/state_requirements.json?lang=en&home_state_id=CA&date_of_birth="+seventeen, ""); status != 200 {
		t.Errorf("17 in CA with pre-registration on: %d %s", status, raw)
	}
	fifteen := time.Now().AddDate(-15, 0, -10).Format("01-02-2006")
	for lang, want := range map[string]string{"en": "California lets you pre-register", "es": "California le permite preinscribirse"} {
		status, m, raw := s.do("GET", "/api/v4/state_requirements.json?lang="+lang+"&home_state_id=CA&date_of_birth="+fifteen, "")
		if msg, _ := m["message"].(string); status != 400 || !strings.HasPrefix(msg, want) {
			t.Errorf("%s 15 in CA: %d %s", lang, status, raw)
		}
	}
}

// Every POST takes a form body: gregistrations.json and stop_reminders
// (credentials in the form) as well as registrations.json, with CORS on
// the answer, and registrant_reports.
func TestFormBodiesOnThePublicPosts(t *testing.T) {
	s := start(t, options{noWorker: true})
	formHeaders := []string{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8", "Origin", "https://partner.example"}
	g := url.Values{}
	for k, v := range map[string]string{"lang": "es", "partner_id": s.partnerID, "send_confirmation_reminder_emails": "false",
		"date_of_birth": "05-17-1990", "email_address": "f@example.org", "home_zip_code": "94110", "us_citizen": "true",
		"name_title": "Sra.", "last_name": "Pérez"} {
		g.Set("registration["+k+"]", v)
	}
	resp, raw := s.client.Do(apitest.NewRequest(t, "POST", "/api/v4/gregistrations.json", g.Encode(), formHeaders...))
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("form gregistration: %d %s", resp.StatusCode, raw)
	}
	g.Set("registration[home_zip_code]", "72201")
	resp, raw = s.client.Do(apitest.NewRequest(t, "POST", "/api/v4/gregistrations.json", g.Encode(), formHeaders...))
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if resp.StatusCode != 400 || m["message"] != "Estado no admitido" {
		t.Errorf("form gregistration in AR: %d %s, want the Spanish message", resp.StatusCode, raw)
	}

	_, reg, _ := s.register(nil)
	stop := url.Values{"UID": {reg["uid"].(string)}, "partner_id": {s.partnerID}, "partner_API_key": {s.partnerKey}}
	resp, raw = s.client.Do(apitest.NewRequest(t, "POST", "/api/v4/registrations/stop_reminders", stop.Encode(), formHeaders...))
	m = nil
	_ = json.Unmarshal(raw, &m)
	if resp.StatusCode != 200 || m["reminders_stopped"] != true || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("form stop_reminders: %d %s", resp.StatusCode, raw)
	}

	// A report asked for with a form body, credentials in it.
	report := url.Values{"partner_id": {s.partnerID}, "partner_API_key": {s.partnerKey}, "since": {"2026-01-01"}}
	status, m, raw := s.do("POST", "/api/v4/registrant_reports", report.Encode(), formHeaders...)
	if status != 200 || m["status"] != "queued" {
		t.Errorf("form registrant_reports: %d %s", status, raw)
	}
	report.Set("shoe_size", "9")
	status, m, raw = s.do("POST", "/api/v4/registrant_reports", report.Encode(), formHeaders...)
	if status != 400 || m["field_name"] != "shoe_size" {
		t.Errorf("form registrant_reports with an unknown field: %d %s", status, raw)
	}

	// multipart/form-data is not read: a 400 saying what the body must be.
	multipart := "--b\r\nContent-Disposition: form-data; name=\"registration[lang]\"\r\n\r\nen\r\n--b--\r\n"
	status, m, raw = s.do("POST", "/api/v4/registrations.json", multipart, "Content-Type", "multipart/form-data; boundary=b")
	if msg, _ := m["message"].(string); status != 400 || !strings.Contains(msg, "JSON object") {
		t.Errorf("multipart registration: %d %s, want 400 naming the body's form", status, raw)
	}
}
