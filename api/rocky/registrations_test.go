package rocky_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/testkit"
	"github.com/turnoutdev/turnout/jobs/registration"
	"github.com/turnoutdev/turnout/storage"
)

// The whole path: register → pdf_ready → PDF → confirmation and reminder
// e-mails → stop_reminders stops them; the ID number never leaves but in
// the PDF.
func TestRegistrationEndToEnd(t *testing.T) {
	s := start(t, options{reminders: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}})
	status, m, raw := s.register(nil)
	if status != 200 {
		t.Fatalf("register: %d %s", status, raw)
	}
	uid, pdfurl := m["uid"].(string), m["pdfurl"].(string)
	if pdfurl != s.url+"/pdf/"+uid+".pdf" {
		t.Fatalf("pdfurl %q", pdfurl)
	}
	s.waitReady(uid)

	resp, err := http.Get(pdfurl)
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("GET pdfurl: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	text := pdfText(t, pdf)
	for _, want := range []string{"Ada", "Lovelace", "12 Valencia St", "San Francisco", "94110", "D7654321",
		"Secretary of State", "1500 11th Street, 5th FL", "Sacramento, CA 95814"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF lacks %q:\n%s", want, text)
		}
	}

	// Confirmation at once, then the first reminder two seconds later.
	msgs := s.smtp.WaitFor(t, 2)
	conf, rem := msgs[0], msgs[1]
	if conf.To[0] != "ada@example.org" || conf.Subject != "Your voter registration form is ready" || !strings.Contains(conf.Text, pdfurl) {
		t.Fatalf("confirmation: %+v", conf)
	}
	if !strings.Contains(rem.Subject, "Reminder") || !strings.Contains(rem.Text, s.url+"/stop_reminders/"+uid) {
		t.Fatalf("reminder: %+v", rem)
	}
	// Stop: the remaining reminders never come.
	status, m, raw = s.do("POST", "/api/v4/registrations/stop_reminders?partner_id="+s.partnerID+"&partner_API_key="+s.partnerKey+"&UID="+uid, "")
	if status != 200 || m["reminders_stopped"] != true || m["email_address"] != "ada@example.org" || m["UID"] != uid {
		t.Fatalf("stop_reminders: %d %s", status, raw)
	}
	// Every reminder job ends: one that runs after the stop sends nothing
	// and schedules none (each schedules the next before it finishes, so
	// none open means none to come).
	r, err := s.store.RegistrantByUID(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		var open, all int
		err := s.db.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status NOT IN ($3, $4, $5)), count(*)
			FROM jobs WHERE kind = $1 AND (params->>'registrant_id')::bigint = $2`,
			registration.KindReminder, r.ID, storage.JobSucceeded, storage.JobFailed, storage.JobCanceled).Scan(&open, &all)
		return err == nil && open == 0 && all >= 1
	}, "every reminder job of the registrant finished")
	if n := len(s.smtp.Messages()); n != 2 {
		t.Fatalf("%d e-mails after stop_reminders, want 2", n)
	}
	for _, msg := range s.smtp.Messages() {
		if strings.Contains(msg.Text+msg.HTML, "D7654321") {
			t.Fatal("an e-mail contains the ID number")
		}
	}
	assertNoIDNumber(t, s, "D7654321")
}

func TestAsyncFalseWaitsForThePDF(t *testing.T) {
	s := start(t, options{})
	status, m, raw := s.register(func(m map[string]any) { m["async"] = false; m["send_confirmation_reminder_emails"] = false })
	if status != 200 {
		t.Fatalf("register async=false: %d %s", status, raw)
	}
	_, r, _ := s.do("GET", "/api/v4/registrations/pdf_ready?UID="+m["uid"].(string), "")
	if r["pdf_ready"] != true {
		t.Fatalf("async=false answered before the PDF was ready: %v", r)
	}
}

// An async=false registration whose PDF is late is still stored: the
// answer is a success with the uid and pdfurl and pdf_ready false, and
// polling pdf_ready with that uid turns true once a worker renders it.
func TestAsyncFalseTimesOutWithTheRegistrant(t *testing.T) {
	s := start(t, options{noWorker: true, pdfWait: 300 * time.Millisecond})
	status, m, raw := s.register(func(m map[string]any) { m["async"] = "false" })
	uid, _ := m["uid"].(string)
	if status != 200 || m["pdf_ready"] != false || uid == "" || m["pdfurl"] != s.url+"/pdf/"+uid+".pdf" {
		t.Fatalf("async=false with no worker: %d %s, want 200 with uid, pdfurl and pdf_ready false", status, raw)
	}
	s.runWorker(2)
	s.waitReady(uid)
	var n int
	_ = s.db.QueryRow(context.Background(), `SELECT count(*) FROM rocky_registrants WHERE uid = $1`, uid).Scan(&n)
	if n != 1 {
		t.Fatalf("%d registrants with the uid, want 1", n)
	}
}

func TestRegistrationsRefusedWithoutEncryptionKey(t *testing.T) {
	s := start(t, options{noKey: true, noWorker: true})
	status, m, raw := s.register(nil)
	if status != 503 || !strings.Contains(m["message"].(string), "TURNOUT_ENCRYPTION_KEY") {
		t.Fatalf("no key: %d %s, want 503 naming TURNOUT_ENCRYPTION_KEY", status, raw)
	}
	var n int
	_ = s.db.QueryRow(context.Background(), `SELECT count(*) FROM rocky_registrants`).Scan(&n)
	// Earlier tests may have stored rows; none may have been added here.
	status, _, _ = s.do("GET", "/api/v4/state_requirements.json?lang=en&home_state_id=CA", "")
	if status != 200 {
		t.Fatalf("state_requirements must not need the key: %d", status)
	}
}

func TestRegistrationErrorsInRockyShapes(t *testing.T) {
	s := start(t, options{noWorker: true})
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want map[string]any
	}{
		{"validation error", func(m map[string]any) { delete(m, "last_name") },
			map[string]any{"field_name": "last_name", "message": "Required"}},
		{"syntax error", func(m map[string]any) { m["shoe_size"] = 9 },
			map[string]any{"field_name": "shoe_size", "message": "Invalid parameter type"}},
		{"unsupported language", func(m map[string]any) { m["lang"] = "xx" },
			map[string]any{"message": "Unsupported language"}},
		{"survey error", func(m map[string]any) { delete(m, "survey_question_1") },
			map[string]any{"message": "Question 1 required when Answer 1 provided"}},
		{"Spanish message", func(m map[string]any) { m["lang"] = "es"; m["home_zip_code"] = "10001" },
			map[string]any{"field_name": "home_zip_code", "message": "El código postal no corresponde al estado"}},
		{"unknown partner", func(m map[string]any) { m["partner_id"] = "999999" },
			map[string]any{"field_name": "partner_id", "message": "Invalid partner ID"}},
		{"blocked e-mail", func(m map[string]any) { m["email_address"] = "x@yopmail.com" },
			map[string]any{"field_name": "email_address", "message": "This email address is not accepted; please use another one"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, raw := s.register(c.edit)
			var got map[string]any
			_ = json.Unmarshal(raw, &got)
			if status != 400 || fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %d %s, want 400 %v", status, raw, c.want)
			}
		})
	}
	status, _, raw := s.do("POST", "/api/v4/registrations.json", `{"registrant": {}}`)
	if status != 400 || !strings.Contains(string(raw), `"field_name":"registration"`) {
		t.Fatalf("wrong envelope: %d %s", status, raw)
	}
}

func TestPDFReadyAndStopRemindersErrors(t *testing.T) {
	s := start(t, options{noWorker: true})
	status, m, _ := s.do("GET", "/api/v4/registrations/pdf_ready?UID=nope", "")
	if status != 400 || m["field_name"] != "UID" || m["message"] != "Registrant not found" {
		t.Fatalf("unknown UID: %d %v", status, m)
	}
	status, m, _ = s.do("GET", "/api/v4/registrations/pdf_ready?UID=x&color=red", "")
	if status != 400 || m["field_name"] != "color" {
		t.Fatalf("unknown param: %d %v", status, m)
	}
	_, reg, _ := s.register(nil)
	uid := reg["uid"].(string)
	status, m, _ = s.do("GET", "/api/v4/registrations/pdf_ready?UID="+uid, "")
	if status != 200 || m["pdf_ready"] != false {
		t.Fatalf("pending PDF: %d %v", status, m)
	}
	resp, _ := http.Get(reg["pdfurl"].(string))
	if resp.StatusCode != 404 {
		t.Fatalf("PDF before it exists: %d, want 404", resp.StatusCode)
	}
	status, m, _ = s.do("POST", "/api/v4/registrations/stop_reminders", fmt.Sprintf(`{"UID": %q}`, uid))
	if status != 400 || m["message"] != "Invalid Partner or API key" {
		t.Fatalf("stop_reminders without key: %d %v", status, m)
	}
	otherID, otherKey := s.newPartner()
	status, m, _ = s.do("POST", "/api/v4/registrations/stop_reminders",
		fmt.Sprintf(`{"UID": %q, "partner_id": %q, "partner_API_key": %q}`, uid, otherID, otherKey))
	if status != 400 || m["field_name"] != "UID" {
		t.Fatalf("another partner's registrant: %d %v", status, m)
	}
	status, m, _ = s.do("POST", "/api/v4/registrations/stop_reminders",
		fmt.Sprintf(`{"UID": %q, "partner_id": %q, "partner_API_key": %q}`, uid, s.partnerID, s.partnerKey))
	if status != 200 || m["reminders_stopped"] != true || m["first_name"] != "Ada" {
		t.Fatalf("stop_reminders by body: %d %v", status, m)
	}
}

func TestGRegistrations(t *testing.T) {
	s := start(t, options{})
	status, m, raw := s.do("GET", "/api/v4/gregistrationstates.json", "")
	states, _ := m["states"].([]any)
	if status != 200 || len(states) < 30 {
		t.Fatalf("gregistrationstates: %d %s", status, raw)
	}
	body := fmt.Sprintf(`{"registration": {"lang": "es", "partner_id": %q, "send_confirmation_reminder_emails": true,
		"date_of_birth": "05-17-1990", "email_address": "g@example.org", "home_zip_code": "94110", "us_citizen": true,
		"name_title": "Sra.", "last_name": "Pérez"}}`, s.partnerID)
	status, _, raw = s.do("POST", "/api/v4/gregistrations.json", body)
	if status != 200 || string(bytes.TrimSpace(raw)) != "{}" {
		t.Fatalf("gregistration: %d %s", status, raw)
	}
	msg := s.smtp.WaitFor(t, 1)[0]
	if msg.Subject != "Gracias por inscribirse para votar con su estado" || !strings.Contains(msg.Text, "registertovote.ca.gov") && !strings.Contains(msg.Text, "https://") {
		t.Fatalf("gregistration e-mail: %+v", msg)
	}
	status, m, _ = s.do("POST", "/api/v4/gregistrations.json", strings.Replace(body, "94110", "72201", 1))
	if status != 400 || m["message"] != "Estado no admitido" {
		t.Fatalf("AR gregistration: %d %v", status, m)
	}
}
