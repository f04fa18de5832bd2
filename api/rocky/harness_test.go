package rocky_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/jackc/pgx/v5/pgxpool"

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
	db         *pgxpool.Pool // the test's own pool, for direct SQL
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
	s := &stack{t: t, client: st.API, url: st.URL, smtp: st.SMTP, store: env.Store, db: env.Pool,
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
	if err := s.db.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE params::text LIKE '%'||$1||'%' OR result::text LIKE '%'||$1||'%'`, id).Scan(&n); err != nil || n != 0 {
		t.Errorf("jobs rows mention the ID number: %d %v", n, err)
	}
	if err := s.db.QueryRow(context.Background(), `SELECT count(*) FROM rocky_registrants WHERE position($1::bytea in id_number_enc) > 0`, []byte(id)).Scan(&n); err != nil || n != 0 {
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
