package rocky_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/api/rocky"
	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/mailcatcher"
	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/internal/testkit/teststack"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/registration"
	"github.com/turnoutdev/turnout/jobs/report"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/worker"
)

func TestMain(m *testing.M) {
	// JSONP answers are JavaScript text; the contract checker reads them as
	// plain strings.
	openapi3filter.RegisterBodyDecoder("application/javascript", openapi3filter.PlainBodyDecoder)
	testenv.Main(m)
}

// logBuffer collects every log line of the stack, to check that no personal
// data is logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type stack struct {
	t          testing.TB
	client     *apitest.Client
	url        string
	smtp       *mailcatcher.Server
	store      *storage.Store
	logs       *logBuffer
	adminKey   string
	partnerID  string
	partnerKey string
	// runWorker starts a worker with that many task slots (noWorker
	// stacks start theirs late).
	runWorker func(concurrency int)

	mu        sync.Mutex
	responses []string // every body the API answered through do
}

type options struct {
	noKey    bool
	noWorker bool
	// workerConcurrency is the worker's task slots (default 4).
	workerConcurrency int
	reminders         []time.Duration
	pdfWait           time.Duration
	openSignup        bool
	publicPerMinute   int
	signupsPerHour    int
	preRegistration   bool
}

// start runs the API and a worker (queues pdf and notify) in-process over
// the package's PostgreSQL and Redis, with a real SMTP server.
func start(t testing.TB, o options) *stack {
	t.Helper()
	env := testenv.Get(t)
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var keys [][]byte
	if !o.noKey {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		keys = [][]byte{k}
	}
	if o.reminders == nil {
		o.reminders = []time.Duration{time.Second, time.Second}
	}
	if o.pdfWait == 0 {
		o.pdfWait = 10 * time.Second
	}
	st := teststack.Start(t, teststack.Options{
		Log:     log,
		BlobURL: "mem://",
		Config: func(c *config.Config) {
			c.EncryptionKeys, c.RockyReminders = keys, o.reminders
			c.MailFrom = "Turnout <no-reply@localhost>"
		},
		NoWorker: true,
		API: func(d *api.Deps, st *teststack.Stack) {
			svc, err := registration.NewService(registration.Options{EncryptionKeys: keys, Reminders: o.reminders,
				PreRegistration: o.preRegistration}, st.Env.Store, st.Enqueuer)
			if err != nil {
				t.Fatal(err)
			}
			d.PublicCallsPerMinute = o.publicPerMinute
			d.Rocky = &rocky.Handler{Service: svc, Blobs: st.Blobs, PublicURL: st.Config.PublicURL, PDFWait: o.pdfWait,
				OpenSignup: o.openSignup, SignupsPerHour: o.signupsPerHour}
			d.Reports = &rocky.Reports{Service: &report.Service{Store: st.Env.Store, Blobs: st.Blobs, Enqueuer: st.Enqueuer},
				PublicURL: st.Config.PublicURL}
		},
	})
	runWorker := func(concurrency int) {
		st.StartWorker(worker.Options{Queues: map[string]int{jobs.QueuePDF: 6, jobs.QueueNotify: 4, jobs.QueueReports: 1},
			Concurrency: concurrency})
	}
	if !o.noWorker {
		runWorker(max(o.workerConcurrency, 4))
	}
	admin, err := env.Store.CreateKey(context.Background(), storage.NewKey{Name: "admin", Scopes: []string{storage.ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, client: st.API, url: st.URL, smtp: st.SMTP, store: env.Store,
		logs: logs, adminKey: admin.Secret, runWorker: runWorker}
	s.createPartner()
	return s
}

func (s *stack) do(method, path, body string, headers ...string) (int, map[string]any, []byte) {
	s.t.Helper()
	resp, raw := s.client.Do(apitest.NewRequest(s.t, method, path, body, headers...))
	s.mu.Lock()
	s.responses = append(s.responses, string(raw))
	s.mu.Unlock()
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

func (s *stack) createPartner() {
	s.t.Helper()
	s.partnerID, s.partnerKey = s.newPartner()
}

// newPartner creates a partner through the API and returns its id and key.
func (s *stack) newPartner() (id, key string) {
	s.t.Helper()
	status, m, raw := s.do("POST", "/api/v4/partners.json", partnerJSON(func(p map[string]any) {
		p["survey_question_1_en"], p["survey_question_1_es"], p["partner_ask_volunteer"] = "Why vote?", "¿Por qué votar?", true
	}), "X-API-Key", s.adminKey)
	if status != 200 {
		s.t.Fatalf("create partner: %d %s", status, raw)
	}
	return m["partner_id"].(string), m["partner_API_key"].(string)
}

// partnerJSON is a POST partners.json body with every required field.
func partnerJSON(edit func(p map[string]any)) string {
	p := map[string]any{"org_name": "Vote Club", "org_URL": "https://vote.example.org", "contact_name": "Pat",
		"contact_email": "pat@vote.example.org", "contact_phone": "415-555-1212", "contact_address": "1 Mission St",
		"contact_city": "San Francisco", "contact_state": "CA", "contact_ZIP": "94110"}
	if edit != nil {
		edit(p)
	}
	b, _ := json.Marshal(map[string]any{"partner": p})
	return string(b)
}

func registrationJSON(t testing.TB, edit func(m map[string]any)) string {
	m := map[string]any{
		"lang": "en", "partner_id": "", "send_confirmation_reminder_emails": true,
		"created_at": "01102026 10:00:00", "updated_at": "01102026 10:05:00",
		"date_of_birth": "05-17-1990", "id_number": "D7654321", "email_address": "ada@example.org",
		"first_registration": true, "home_zip_code": "94110", "us_citizen": true,
		"has_state_license": true, "is_eighteen_or_older": true, "name_title": "Ms.",
		"first_name": "Ada", "last_name": "Lovelace", "home_address": "12 Valencia St",
		"home_city": "San Francisco", "home_state_id": "CA", "has_mailing_address": false,
		"party": "Democratic", "change_of_name": false, "change_of_address": false,
		"opt_in_email": false, "opt_in_sms": false, "opt_in_volunteer": false,
		"partner_opt_in_email": true, "partner_opt_in_sms": false, "partner_opt_in_volunteer": false,
		"survey_question_1": "Why vote?", "survey_answer_1": "Because.",
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(map[string]any{"registration": m})
	return string(b)
}

func (s *stack) register(edit func(m map[string]any)) (int, map[string]any, []byte) {
	s.t.Helper()
	return s.do("POST", "/api/v4/registrations.json", registrationJSON(s.t, func(m map[string]any) {
		m["partner_id"] = s.partnerID
		if edit != nil {
			edit(m)
		}
	}))
}

func (s *stack) waitReady(uid string) time.Duration {
	s.t.Helper()
	start := time.Now()
	for time.Since(start) < 15*time.Second {
		status, m, raw := s.do("GET", "/api/v4/registrations/pdf_ready?UID="+uid, "")
		if status != 200 {
			s.t.Fatalf("pdf_ready: %d %s", status, raw)
		}
		if m["pdf_ready"] == true {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("PDF of %s not ready after 15s", uid)
	return 0
}

func pdfText(t testing.TB, pdf []byte) string {
	t.Helper()
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext (Debian poppler-utils; scripts/services.sh installs it): %v", err)
	}
	return string(out)
}

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
	time.Sleep(5 * time.Second)
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

// assertNoIDNumber checks the logs, the job rows (params and results) and
// the Redis task payloads for the ID number, and that the column holds
// ciphertext.
func assertNoIDNumber(t *testing.T, s *stack, id string) {
	t.Helper()
	if strings.Contains(s.logs.String(), id) {
		t.Error("the ID number appears in the logs")
	}
	s.mu.Lock()
	for _, body := range s.responses {
		if strings.Contains(body, id) {
			t.Errorf("a response contains the ID number: %.200s", body)
		}
	}
	s.mu.Unlock()
	var n int
	if err := s.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE params::text LIKE '%'||$1||'%' OR result::text LIKE '%'||$1||'%'`, id).Scan(&n); err != nil || n != 0 {
		t.Errorf("jobs rows mention the ID number: %d %v", n, err)
	}
	if err := s.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM rocky_registrants WHERE position($1::bytea in id_number_enc) > 0`, []byte(id)).Scan(&n); err != nil || n != 0 {
		t.Errorf("id_number_enc holds the ID number in clear: %d %v", n, err)
	}
	env := testenv.Get(t)
	keys, _ := env.Redis.Keys(context.Background(), "*").Result()
	for _, k := range keys {
		if typ, _ := env.Redis.Type(context.Background(), k).Result(); typ == "hash" {
			vals, _ := env.Redis.HGetAll(context.Background(), k).Result()
			for _, v := range vals {
				if strings.Contains(v, id) {
					t.Errorf("redis key %s holds the ID number", k)
				}
			}
		}
	}
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
	_ = s.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM rocky_registrants WHERE uid = $1`, uid).Scan(&n)
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
	_ = s.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM rocky_registrants`).Scan(&n)
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

func TestJSONP(t *testing.T) {
	s := start(t, options{noWorker: true})
	resp, raw := s.client.Do(apitest.NewRequest(t, "GET", "/api/v4/state_requirements.json?lang=en&home_state_id=NH&callback=handle", ""))
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/javascript; charset=UTF-8" ||
		!strings.HasPrefix(string(raw), `handle({"message":"New Hampshire does not accept`) || !strings.HasSuffix(string(raw), ");") {
		t.Fatalf("JSONP error: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	resp, raw = s.client.Do(apitest.NewRequest(t, "GET", "/api/v4/gregistrationstates.json?callback=a.b_c", ""))
	if resp.StatusCode != 200 || !strings.HasPrefix(string(raw), `a.b_c({"states":[`) {
		t.Fatalf("JSONP: %d %s", resp.StatusCode, raw)
	}
	status, _, raw := s.do("GET", "/api/v4/gregistrationstates.json?callback=alert(1)//", "")
	if status != 400 || strings.Contains(string(raw), "alert(1)(") {
		t.Fatalf("script callback accepted: %d %s", status, raw)
	}
}

func TestStateRequirementsEndpoint(t *testing.T) {
	s := start(t, options{noWorker: true})
	status, m, raw := s.do("GET", "/api/v4/state_requirements.json?lang=es&home_zip_code=19104", "")
	if status != 200 || m["requires_race"] != true || m["requires_party"] != true || m["no_party_msg"] != "Ninguno / Sin afiliación" ||
		!strings.Contains(m["sos_address"].(string), "Harrisburg") || m["id_length_min"] != float64(6) {
		t.Fatalf("PA in Spanish: %d %s", status, raw)
	}
	for q, want := range map[string]map[string]any{
		"lang=en&home_state_id=AJ":                          {"message": "Invalid state ID"},
		"lang=en&home_zip_code=123":                         {"message": "Invalid ZIP code"},
		"lang=en&home_state_id=CA&home_zip_code=10001":      {"message": "ZIP code does not match state"},
		"lang=en&home_state_id=ND":                          {"message": "North Dakota does not accept the national mail-in voter registration form from this service; contact the state's election office"},
		"lang=en&home_state_id=CA&date_of_birth=01-01-2020": {"message": "California lets you pre-register from age 16; you will be added to the voter rolls when you turn 18."},
		"lang=fr&home_state_id=CA":                          {"message": "Unsupported language"},
		"lang=en&home_state_id=CA&zip=1":                    {"field_name": "zip", "message": "Invalid parameter type"},
	} {
		status, _, raw := s.do("GET", "/api/v4/state_requirements.json?"+q, "")
		var got map[string]any
		_ = json.Unmarshal(raw, &got)
		if status != 400 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %d %s, want %v", q, status, raw, want)
		}
	}
}

func TestPartners(t *testing.T) {
	s := start(t, options{noWorker: true})
	status, m, raw := s.do("GET", "/api/v4/partners/"+s.partnerID+".json?partner_API_key="+s.partnerKey, "")
	if status != 200 || m["org_name"] != "Vote Club" || m["contact_phone"] != "4155551212" || m["survey_question_1_es"] != "¿Por qué votar?" {
		t.Fatalf("get partner: %d %s", status, raw)
	}
	status, m, _ = s.do("GET", "/api/v4/partners/"+s.partnerID+".json?partner_API_key=trn_wrong", "")
	if status != 400 || m["message"] != "Invalid Partner or API key" {
		t.Fatalf("wrong key: %d %v", status, m)
	}
	// Another partner's key does not open this partner.
	_, otherKey := s.newPartner()
	status, _, _ = s.do("GET", "/api/v4/partners/"+s.partnerID+".json?partner_API_key="+otherKey, "")
	if status != 400 {
		t.Fatalf("another partner's key: %d", status)
	}
	status, m, raw = s.do("GET", "/api/v4/partnerpublicprofiles/"+s.partnerID+".json", "")
	q1, _ := m["survey_question_1"].(map[string]any)
	if status != 200 || m["organization"] != "Vote Club" || m["partner_ask_volunteer"] != true || q1["en"] != "Why vote?" || m["contact_email"] != nil {
		t.Fatalf("public profile: %d %s", status, raw)
	}
	status, m, _ = s.do("POST", "/api/v4/partners.json", partnerJSON(func(p map[string]any) { p["contact_email"] = "bad" }), "X-API-Key", s.adminKey)
	if status != 400 || m["field_name"] != "contact_email" {
		t.Fatalf("bad partner: %d %v", status, m)
	}
	status, m, _ = s.do("POST", "/api/v4/partners.json", partnerJSON(func(p map[string]any) { p["fax"] = "1" }), "X-API-Key", s.adminKey)
	if status != 400 || m["field_name"] != "fax" || m["message"] != "Invalid parameter type" {
		t.Fatalf("unknown partner field: %d %v", status, m)
	}
	status, _, _ = s.do("POST", "/api/v4/partners.json", partnerJSON(nil), "X-API-Key", s.partnerKey)
	if status != 400 {
		t.Fatalf("a partner key created a partner: %d", status)
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

// The e-mail link: GET (what mail scanners do) changes nothing, the
// page's button (POST) stops the reminders.
func TestStopRemindersLink(t *testing.T) {
	s := start(t, options{noWorker: true})
	_, reg, _ := s.register(nil)
	uid := reg["uid"].(string)
	left := func() int {
		var n int
		_ = s.store.Pool.QueryRow(context.Background(), `SELECT reminders_left FROM rocky_registrants WHERE uid = $1`, uid).Scan(&n)
		return n
	}
	before := left()
	status, _, raw := s.do("GET", "/stop_reminders/"+uid, "")
	if status != 200 || !strings.Contains(string(raw), `<form method="post">`) || left() != before || before == 0 {
		t.Fatalf("GET: %d %s (reminders_left %d → %d)", status, raw, before, left())
	}
	status, _, raw = s.do("POST", "/stop_reminders/"+uid, "")
	if status != 200 || !strings.Contains(string(raw), "any more reminders") || left() != 0 {
		t.Fatalf("POST: %d %s (reminders_left %d)", status, raw, left())
	}
	status, _, raw = s.do("POST", "/stop_reminders/"+strings.Repeat("0", 40), "")
	if status != 404 || !strings.Contains(string(raw), "Link not found") {
		t.Fatalf("unknown uid: %d %s, want a 404 page", status, raw)
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

func TestBulk(t *testing.T) {
	s := start(t, options{noWorker: true})
	auth := fmt.Sprintf(`"partner_id": %q, "partner_API_key": %q`, s.partnerID, s.partnerKey)
	rec := `{"lang": "en", "status": "step_2", "email_address": "b@example.org", "ineligible_age": true, "age": 16, "home_zip_code": "94110", "id_number": "S999"}`
	status, m, raw := s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+rec+`,`+rec+`]}`)
	if status != 200 || m["abandoned_registrations"] != float64(2) {
		t.Fatalf("bulk: %d %s", status, raw)
	}
	status, _, raw = s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+rec+`, {"lang": "en", "favourite": 1}, {"age": "old"}, {"lang": "kl"}]}`)
	var list []map[string]any
	_ = json.Unmarshal(raw, &list)
	if status != 400 || len(list) != 4 || len(list[0]) != 0 || list[1]["type"] != "SyntaxError" || list[1]["field_name"] != "favourite" ||
		list[2]["type"] != "ValidationError" || list[2]["field_name"] != "age" || list[3]["type"] != "UnsupportedLanguageError" {
		t.Fatalf("bulk errors: %d %s", status, raw)
	}
	status, m, raw = s.do("POST", "/api/v4/bulk_gregistrations.json", `{`+auth+`, "bulk_gregistrations": [{"status": "complete", "created_at": "2026-01-10T10:00:00Z", "last_name": "G"}]}`)
	if status != 200 || m["bulk_gregistrations"] != float64(1) {
		t.Fatalf("bulk_gregistrations: %d %s", status, raw)
	}
	var n int
	_ = s.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM rocky_registrants WHERE partner_id = $1::bigint AND kind IN ('bulk', 'bulk_gregistration')`, s.partnerID).Scan(&n)
	if n != 3 {
		t.Fatalf("%d bulk rows stored, want 3 (the rejected batch writes nothing)", n)
	}
	// A partner key's batch size is 1,000 unless set otherwise for the key.
	batch := func(n int) string { return strings.TrimSuffix(strings.Repeat(rec+",", n), ",") }
	status, m, raw = s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+batch(1000)+`]}`)
	if status != 200 || m["registrants_added"] != float64(1000) {
		t.Fatalf("batch of 1,000: %d %.300s", status, raw)
	}
	status, m, _ = s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+batch(1001)+`]}`)
	if status != 429 || !strings.Contains(m["message"].(string), "allowed size of: 1000") {
		t.Fatalf("batch of 1,001: %d %v", status, m)
	}
	var keyID int64
	_ = s.store.Pool.QueryRow(context.Background(), `SELECT id FROM api_keys WHERE rocky_partner_id = $1::bigint`, s.partnerID).Scan(&keyID)
	five := 5
	if err := s.store.SetKeyLimits(context.Background(), keyID, nil, &five); err != nil {
		t.Fatal(err)
	}
	status, m, _ = s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+batch(6)+`]}`)
	if status != 429 || !strings.Contains(m["message"].(string), "allowed size of: 5") {
		t.Fatalf("batch of 6 over a key set to 5: %d %v", status, m)
	}
	assertNoIDNumber(t, s, "S999")
}

func TestOpenSignup(t *testing.T) {
	s := start(t, options{noWorker: true, openSignup: true})
	status, m, raw := s.do("POST", "/api/v4/partners.json", partnerJSON(nil))
	if status != 200 || m["partner_API_key"] == nil {
		t.Fatalf("open signup: %d %s", status, raw)
	}
}

// Rails routes answer with and without the .json suffix; so do these.
func TestFormatSuffixIsOptional(t *testing.T) {
	s := start(t, options{noWorker: true})
	for _, path := range []string{"/api/v4/state_requirements?lang=en&home_state_id=CA", "/api/v4/gregistrationstates",
		"/api/v4/registrations/pdf_ready.json?UID=x", "/api/v4/partnerpublicprofiles/" + s.partnerID} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 404 || resp.StatusCode == 405 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

// The keyless endpoints are limited per client address (TURNOUT_PUBLIC_RATE_LIMIT),
// and the refusal comes in Rocky's error shape.
func TestPublicEndpointsAreLimitedPerAddress(t *testing.T) {
	s := start(t, options{noWorker: true, publicPerMinute: 3})
	for i := 0; i < 3; i++ {
		if status, _, raw := s.do("GET", "/api/v4/state_requirements.json?lang=en&home_state_id=CA", ""); status != 200 {
			t.Fatalf("call %d: %d %s", i+1, status, raw)
		}
	}
	status, m, raw := s.do("POST", "/api/v4/registrations.json", `{"registration":{"lang":"en"}}`)
	if status != http.StatusTooManyRequests || m["message"] != "Call rate has been exceeded" {
		t.Fatalf("4th public call: %d %s, want 429 with Rocky's {message}", status, raw)
	}
}
