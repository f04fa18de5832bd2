package registration

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/turnoutdev/turnout/internal/crypt"
	"github.com/turnoutdev/turnout/internal/mailcatcher"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/notify"
	"github.com/turnoutdev/turnout/storage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type fixture struct {
	svc  *Service
	jobs *Jobs
	smtp *mailcatcher.Server
	env  *testenv.Env
}

// ringOf returns the ring "first, fixtureKey".
func ringOf(t *testing.T, first []byte) *crypt.Ring {
	r, err := crypt.NewRing([][]byte{first, fixtureKey})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fixtureKey is the key fixtures encrypt with (a test-process constant,
// so rotation tests can name it).
var fixtureKey = func() []byte { k := make([]byte, 32); _, _ = rand.Read(k); return k }()

func newFixture(t *testing.T) *fixture {
	env := testenv.Get(t)
	key := fixtureKey
	aq := asynq.NewClient(env.AsynqConn)
	t.Cleanup(func() { aq.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := NewService(Options{EncryptionKeys: [][]byte{key}, Reminders: []time.Duration{time.Hour, time.Hour}},
		env.Store, jobs.NewEnqueuer(env.Store, aq, log))
	if err != nil {
		t.Fatal(err)
	}
	svc.Validator.Now = func() time.Time { return testNow }
	blobs, err := storage.OpenBlobs(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	srv := mailcatcher.Start(t)
	pub, _ := url.Parse("http://turnout.test")
	return &fixture{svc: svc, jobs: svc.NewJobs(blobs, notify.NewMailer(srv.URL(), "t@localhost"), pub, log), smtp: srv, env: env}
}

func (f *fixture) register(t *testing.T) *storage.Registrant {
	t.Helper()
	created, err := f.env.Store.CreateRockyPartner(context.Background(), &storage.RockyPartner{OrgName: "P"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := validFields(t, "CA")
	m["partner_id"] = strconv.FormatInt(created.Partner.ID, 10)
	r, _, err := f.svc.Register(context.Background(), toInput(t, m))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// jobsOf returns the registrant's jobs of kind, oldest first.
func (f *fixture) jobsOf(t *testing.T, r *storage.Registrant, kind string) []*storage.Job {
	t.Helper()
	rows, err := f.env.Pool.Query(context.Background(), `SELECT id FROM jobs WHERE kind = $1 AND (params->>'registrant_id')::bigint = $2 ORDER BY id`, kind, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []*storage.Job
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		j, err := f.env.Store.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

// A task may run twice (at-least-once delivery): the second run of each job
// must change nothing and start nothing.
func TestJobsAreIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.register(t)
	pdfJobs := f.jobsOf(t, r, KindPDF)
	if len(pdfJobs) != 1 {
		t.Fatalf("%d PDF jobs, want 1", len(pdfJobs))
	}
	for range 2 {
		if _, err := f.jobs.RunPDF(ctx, pdfJobs[0]); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := f.jobs.Blobs.Exists(ctx, PDFKey(r.UID)); !ok {
		t.Fatal("PDF not stored")
	}
	conf := f.jobsOf(t, r, KindConfirmation)
	if len(conf) != 1 {
		t.Fatalf("%d confirmation jobs after two PDF runs, want 1", len(conf))
	}
	for range 2 {
		if _, err := f.jobs.RunConfirmation(ctx, conf[0]); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.smtp.WaitFor(t, 1)); n != 1 {
		t.Fatalf("%d confirmation e-mails", n)
	}
	rem := f.jobsOf(t, r, KindReminder)
	if len(rem) != 1 {
		t.Fatalf("%d reminder jobs after two confirmation runs, want 1", len(rem))
	}
	// Run early (as after Redis lost the delayed task and the reconciler
	// re-enqueued it at once): nothing is sent, a job for the rest of the
	// wait replaces it.
	res, err := f.jobs.RunReminder(ctx, rem[0])
	if err != nil || res.(map[string]any)["sent"] != false {
		t.Fatalf("early reminder: %v %v", res, err)
	}
	rem = f.jobsOf(t, r, KindReminder)
	if len(rem) != 2 {
		t.Fatalf("%d reminder jobs after an early run, want 2", len(rem))
	}
	// Now due.
	if _, err := f.env.Pool.Exec(ctx, `UPDATE jobs SET params = jsonb_set(params, '{due}', '0') WHERE id = $1`, rem[1].ID); err != nil {
		t.Fatal(err)
	}
	rem[0], _ = f.env.Store.Job(ctx, rem[1].ID)
	for range 2 {
		if _, err := f.jobs.RunReminder(ctx, rem[0]); err != nil {
			t.Fatal(err)
		}
	}
	// RunReminder sends synchronously, and the catcher records a message
	// before it accepts it: every e-mail sent is counted by now.
	if n := len(f.smtp.Messages()); n != 2 {
		t.Fatalf("%d e-mails after a reminder ran twice, want 2", n)
	}
	rem = f.jobsOf(t, r, KindReminder)
	if len(rem) != 3 {
		t.Fatalf("%d reminder jobs, want 3 (the first, its rescheduled run and the next one)", len(rem))
	}
	// Stopped: the scheduled reminder sends nothing.
	if _, err := f.env.Store.StopReminders(ctx, r.PartnerID, r.UID); err != nil {
		t.Fatal(err)
	}
	res, err = f.jobs.RunReminder(ctx, rem[2])
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.smtp.Messages()); n != 2 || res.(map[string]any)["sent"] != false {
		t.Fatalf("a stopped reminder was sent (%d e-mails, %v)", n, res)
	}
}

func TestPDFJobWithoutTheKeyIsRetried(t *testing.T) {
	f := newFixture(t)
	r := f.register(t)
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	f.jobs.Ring, _ = crypt.NewRing([][]byte{other})
	_, err := f.jobs.RunPDF(context.Background(), f.jobsOf(t, r, KindPDF)[0])
	if err == nil {
		t.Fatal("PDF rendered without the key")
	}
	if got, _ := f.env.Store.Registrant(context.Background(), r.ID); got.PDFStatus != storage.PDFPending {
		t.Fatalf("status %s after a failed run", got.PDFStatus)
	}
}

func TestCustomStopRemindersURL(t *testing.T) {
	f := newFixture(t)
	r := &storage.Registrant{UID: "abc", CustomStopRemindersURL: "https://partner.example/stop?u=<UID>&x=1"}
	if got := f.jobs.stopURL(r); got != "https://partner.example/stop?u=abc&x=1" {
		t.Fatalf("custom URL: %s", got)
	}
	r.CustomStopRemindersURL = ""
	if got := f.jobs.stopURL(r); got != "http://turnout.test/stop_reminders/abc" {
		t.Fatalf("default URL: %s", got)
	}
}

func TestEmailsInSpanish(t *testing.T) {
	st, _ := mustRef(t).State("CA")
	r := &storage.Registrant{Locale: "es", FirstName: "José", LastName: "Pérez", EmailAddress: "j@example.org"}
	e := buildEmail(emailReminder, r, st, "http://x/pdf/u.pdf", "http://x/stop")
	if e.Subject != "Recordatorio: imprima, firme y envíe su solicitud de inscripción electoral" || e.To[0] != "j@example.org" {
		t.Fatalf("Spanish reminder: %+v", e)
	}
	for _, want := range []string{"Hola José Pérez:", "http://x/pdf/u.pdf", "http://x/stop", "Sacramento, CA 95814"} {
		if !strings.Contains(e.Text, want) || !strings.Contains(e.HTML, want) {
			t.Errorf("Spanish reminder lacks %q", want)
		}
	}
}

func TestReencryptFinishesARotation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.register(t)
	newKey := make([]byte, 32)
	_, _ = rand.Read(newKey)
	// The old key stays in the ring, second, until the rows are rewritten.
	f.svc.Ring = ringOf(t, newKey)
	n, err := f.svc.Reencrypt(ctx)
	if err != nil || n < 1 {
		t.Fatalf("Reencrypt: %d, %v", n, err)
	}
	got, _ := f.env.Store.Registrant(ctx, r.ID)
	newOnly, _ := crypt.NewRing([][]byte{newKey})
	if id, err := newOnly.Decrypt(got.IDNumberEnc, []byte(r.UID)); err != nil || string(id) != "D1234567" {
		t.Fatalf("after rotation the new key alone gives %q, %v", id, err)
	}
	if n, _ := f.svc.Reencrypt(ctx); n != 0 {
		t.Fatalf("second Reencrypt rewrote %d rows", n)
	}
}
