package report

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type fixture struct {
	t       testing.TB
	store   *storage.Store
	db      *pgxpool.Pool // the test's own pool on store's database, for direct SQL
	blobs   storage.Blobs
	svc     *Service
	builder *Builder
	partner int64
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	env := testenv.Get(t)
	ctx := context.Background()
	blobs, err := storage.OpenBlobs(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	aq := asynq.NewClient(env.AsynqConn)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	t.Cleanup(func() { aq.Close(); blobs.Close() })
	p, err := env.Store.CreateRockyPartner(ctx, &storage.RockyPartner{OrgName: "Report Club " + t.Name()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: env.Store, db: env.Pool, blobs: blobs, partner: p.Partner.ID,
		svc:     &Service{Store: env.Store, Blobs: blobs, Enqueuer: jobs.NewEnqueuer(env.Store, aq, log)},
		builder: &Builder{Store: env.Store, Blobs: blobs, Log: log, ProgressEvery: 1000}}
}

// seed bulk-inserts n registrants of the fixture's partner with COPY,
// created one minute apart from start; edit may change row i's values.
func (f *fixture) seed(n int, start time.Time, edit func(i int, r *storage.Registrant)) {
	f.t.Helper()
	cols := []string{"uid", "partner_id", "kind", "status", "locale", "email_address", "first_name", "middle_name",
		"last_name", "name_title", "home_address", "home_city", "home_state_id", "home_zip_code", "date_of_birth",
		"us_citizen", "party", "phone", "source_tracking_id", "partner_tracking_id", "change_of_name",
		"prev_first_name", "ineligible_age", "under_18_ok", "finish_with_state", "survey_answer_1", "id_number_enc",
		"created_at"}
	rows := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if rows == n {
			return nil, nil
		}
		i := rows
		rows++
		dob := time.Date(1950+i%50, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC)
		r := &storage.Registrant{
			UID: fmt.Sprintf("%040x", int64(f.partner)<<40+int64(i)), PartnerID: f.partner, Kind: "registration",
			Status: []string{"complete", "step_2", "complete"}[i%3], Locale: []string{"en", "es"}[i%2],
			EmailAddress: fmt.Sprintf("voter%d@example.org", i), FirstName: fmt.Sprintf("Ada%d", i),
			MiddleName: []string{"", "B."}[i%2], LastName: `O"Brien, Jr` + "\n" + fmt.Sprint(i%7),
			NameTitle: "Ms.", HomeAddress: fmt.Sprintf("%d Main St", i), HomeCity: "Springfield",
			HomeStateID: "CA", HomeZIPCode: "94110", DateOfBirth: &dob, USCitizen: i%5 != 0,
			Party: "Democratic", Phone: "415-555-0100", SourceTrackingID: "src", PartnerTrackingID: fmt.Sprint(i),
			ChangeOfName: i%4 == 0, PrevFirstName: []string{"Old", ""}[i%4/3], IneligibleAge: i%10 == 0, Under18OK: i%20 == 0,
			FinishWithState: i%6 == 0, SurveyAnswer1: "Because", IDNumberEnc: []byte("SECRET-ID-NUMBER"),
			CreatedAt: start.Add(time.Duration(i) * time.Minute),
		}
		if edit != nil {
			edit(i, r)
		}
		return []any{r.UID, r.PartnerID, r.Kind, r.Status, r.Locale, r.EmailAddress, r.FirstName, r.MiddleName,
			r.LastName, r.NameTitle, r.HomeAddress, r.HomeCity, r.HomeStateID, r.HomeZIPCode, r.DateOfBirth,
			r.USCitizen, r.Party, r.Phone, r.SourceTrackingID, r.PartnerTrackingID, r.ChangeOfName,
			r.PrevFirstName, r.IneligibleAge, r.Under18OK, r.FinishWithState, r.SurveyAnswer1, r.IDNumberEnc,
			r.CreatedAt}, nil
	})
	if _, err := f.db.CopyFrom(context.Background(), pgx.Identifier{"rocky_registrants"}, cols, src); err != nil {
		f.t.Fatalf("seed %d registrants: %v", n, err)
	}
}

// create requests a report and returns it with its build job.
func (f *fixture) create(req Request) (*storage.RegistrantReport, *storage.Job) {
	f.t.Helper()
	req.PartnerID = f.partner
	r, err := f.svc.Create(context.Background(), req)
	if err != nil {
		f.t.Fatalf("create report: %v", err)
	}
	job, err := f.store.Job(context.Background(), *r.JobID)
	if err != nil {
		f.t.Fatal(err)
	}
	return r, job
}

func (f *fixture) read(id int64) [][]string {
	f.t.Helper()
	rc, _, err := f.svc.Open(context.Background(), f.partner, id)
	if err != nil {
		f.t.Fatalf("open report %d: %v", id, err)
	}
	defer rc.Close()
	recs, err := csv.NewReader(rc).ReadAll()
	if err != nil {
		f.t.Fatalf("report %d is not valid CSV: %v", id, err)
	}
	return recs
}

var newYork = func() *time.Location { l, _ := time.LoadLocation("America/New_York"); return l }()

func yn(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// expected computes, independently of the SQL, the cells of one
// registrant (by header) that the report must hold.
func expected(r *storage.Registrant) map[string]string {
	status := strings.ToUpper(r.Status[:1]) + strings.ReplaceAll(r.Status[1:], "_", " ")
	lang := map[string]string{"en": "English", "es": "Spanish"}[r.Locale]
	ineligible := ""
	switch {
	case r.IneligibleNonCitizen:
		ineligible = "Not a US citizen"
	case r.IneligibleNonParticipating:
		ineligible = "State doesn't participate"
	case r.IneligibleAge:
		ineligible = "Not old enough to register"
	}
	return map[string]string{
		"Registrant UID": r.UID, "Status": status, "Tracking Source": r.SourceTrackingID, "Tracking ID": r.PartnerTrackingID,
		"Open Tracking ID": "", "Language": lang, "Date of birth": r.DateOfBirth.Format("01/02/2006"),
		"Email address": r.EmailAddress, "US citizen?": yn(r.USCitizen), "Salutation": r.NameTitle,
		"First name": r.FirstName, "Middle name": r.MiddleName, "Last name": r.LastName, "Home address": r.HomeAddress,
		"Home city": r.HomeCity, "Home state": r.HomeStateID, "Home zip code": r.HomeZIPCode, "Party": r.Party,
		"Phone": r.Phone, "Survey answer 1": r.SurveyAnswer1, "Ineligible reason": ineligible,
		"Pre-Registered":       yn(r.Status == "complete" && r.IneligibleAge && r.Under18OK),
		"Started registration": r.CreatedAt.In(newYork).Format("2006-01-02 15:04:05 -0700"),
		"Finish with State":    yn(r.FinishWithState), "Built via API": "Yes", "Has SSN": "",
		"Registration Medium": map[bool]string{true: "Redirected to SOS", false: "Paper"}[r.FinishWithState],
		"Change of Name":      yn(r.ChangeOfName), "Prev First Name": r.PrevFirstName,
	}
}

// checkAgainstDB compares a report's rows one by one with the partner's
// registrants (ordered by id, filtered by where), and returns the count.
func (f *fixture) checkAgainstDB(recs [][]string, reportType, where string, args ...any) int {
	f.t.Helper()
	header := Header(reportType)
	if strings.Join(recs[0], "|") != strings.Join(header, "|") {
		f.t.Fatalf("header = %q\nwant %q", recs[0], header)
	}
	idx := map[string]int{}
	for i, h := range header {
		idx[h] = i
	}
	rows, _ := f.db.Query(context.Background(), `SELECT * FROM rocky_registrants WHERE partner_id = $1 `+where+` ORDER BY id`,
		append([]any{f.partner}, args...)...)
	defer rows.Close()
	n := 0
	for rows.Next() {
		r, err := pgx.RowToAddrOfStructByName[storage.Registrant](rows)
		if err != nil {
			f.t.Fatal(err)
		}
		n++
		if n >= len(recs) {
			f.t.Fatalf("report has %d rows, the database more", len(recs)-1)
		}
		rec := recs[n]
		if len(rec) != len(header) {
			f.t.Fatalf("row %d has %d cells, want %d", n, len(rec), len(header))
		}
		for h, want := range expected(r) {
			i, ok := idx[h]
			if !ok {
				continue // not a column of this report type
			}
			if rec[i] != want {
				f.t.Fatalf("row %d (registrant %d) %q = %q, want %q", n, r.ID, h, rec[i], want)
			}
		}
		for i, cell := range rec {
			if strings.Contains(cell, "SECRET-ID-NUMBER") {
				f.t.Fatalf("row %d cell %q leaks the ID number", n, header[i])
			}
		}
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	if n != len(recs)-1 {
		f.t.Fatalf("report has %d rows, the database %d", len(recs)-1, n)
	}
	return n
}

func TestReportOf100kRegistrantsMatchesTheDatabaseRowByRow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a report of 100,000 registrants; runs in make test")
	}
	f := newFixture(t)
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) // spans winter and summer time in New York
	f.seed(100_000, start, nil)
	for _, typ := range []string{TypeStandard, TypeExtended} {
		r, job := f.create(Request{ReportType: typ})
		if r.RecordCount != 100_000 || r.Status != storage.ReportQueued {
			t.Fatalf("created report: count %d status %s, want 100000 queued", r.RecordCount, r.Status)
		}
		if _, err := f.builder.Run(context.Background(), job); err != nil {
			t.Fatalf("build %q: %v", typ, err)
		}
		got, _ := f.store.RegistrantReport(context.Background(), r.ID)
		if got.Status != storage.ReportComplete || got.CurrentIndex != 100_000 || got.RecordCount != 100_000 ||
			got.ExpiresAt == nil || got.ExpiresAt.Sub(*got.CompletedAt) != DefaultRetention {
			t.Fatalf("report after build: %+v", got)
		}
		if n := f.checkAgainstDB(f.read(r.ID), typ, ""); n != 100_000 {
			t.Fatalf("%d rows checked", n)
		}
	}
}

func TestFiltersSelectBySinceBeforeAndEmail(t *testing.T) {
	f := newFixture(t)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.seed(500, start, func(i int, r *storage.Registrant) {
		if i%50 == 0 {
			r.EmailAddress = "Same@Example.org"
		}
	})
	since, before := start.Add(100*time.Minute), start.Add(300*time.Minute)
	cases := []struct {
		name  string
		req   Request
		where string
		args  []any
		want  int
	}{
		{"since", Request{Since: "2026-03-01 01:40:00 UTC"}, "AND created_at >= $2", []any{since}, 400},
		{"before", Request{Before: before.Format(time.RFC3339)}, "AND created_at < $2", []any{before}, 300},
		{"since and before", Request{Since: since.Format(time.RFC3339), Before: "2026-03-01T05:00:00Z"},
			"AND created_at >= $2 AND created_at < $3", []any{since, before}, 200},
		{"email, ignoring case", Request{Email: "same@EXAMPLE.org"}, "AND email_address = $2", []any{"Same@Example.org"}, 10},
		{"all three", Request{Email: "same@example.org", Since: since.Format(time.RFC3339), Before: before.Format(time.RFC3339)},
			"AND email_address = $2 AND created_at >= $3 AND created_at < $4", []any{"Same@Example.org", since, before}, 4},
		{"a date", Request{Before: "2026-03-01"}, "AND false", nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, job := f.create(c.req)
			if r.RecordCount != int64(c.want) {
				t.Errorf("record_count at request = %d, want %d", r.RecordCount, c.want)
			}
			if _, err := f.builder.Run(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			if n := f.checkAgainstDB(f.read(r.ID), TypeStandard, c.where, c.args...); n != c.want {
				t.Fatalf("%d rows, want %d", n, c.want)
			}
		})
	}
}

func TestBadRequestsAreRefusedByField(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		req         Request
		field, text string
	}{
		{Request{ReportType: "abr_report"}, "report_type", `"extended"`},
		{Request{ReportType: "grommet_shift_report"}, "report_type", "no data"},
		{Request{ReportType: "nonsense"}, "report_type", "unknown"},
		{Request{Since: "yesterday"}, "since", "UTC datetime"},
		{Request{Since: "2026-01-01 00:00:00 CET"}, "since", "UTC datetime"},
		{Request{Before: "2026-13-01"}, "before", "UTC datetime"},
		{Request{Since: "2026-02-01", Before: "2026-01-01"}, "before", "later than since"},
		{Request{Email: "not-an-address"}, "email", "e-mail"},
	}
	for _, c := range cases {
		c.req.PartnerID = f.partner
		_, err := f.svc.Create(context.Background(), c.req)
		fe := fault.As(err)
		if err == nil || fe.Kind != fault.Invalid || len(fe.Fields) == 0 || fe.Fields[0].Field != c.field ||
			!strings.Contains(fe.Fields[0].Message, c.text) {
			t.Errorf("%+v: error %v (%+v), want field %s mentioning %q", c.req, err, fe.Fields, c.field, c.text)
		}
	}
	var n int
	_ = f.db.QueryRow(context.Background(), `SELECT count(*) FROM registrant_reports WHERE partner_id = $1`, f.partner).Scan(&n)
	if n != 0 {
		t.Errorf("%d reports stored for refused requests", n)
	}
}

func TestFormulaCellsAreNeutralised(t *testing.T) {
	f := newFixture(t)
	names := []string{`=HYPERLINK("http://evil.example","x")`, "+15551234", "-2+3", "@SUM(A1)", "\tTab", "\rCR",
		"Ann", "a=b", "'already"}
	f.seed(len(names), time.Now().Add(-time.Hour), func(i int, r *storage.Registrant) {
		r.FirstName = names[i]
		r.HomeCity = names[i]
	})
	r, job := f.create(Request{})
	if _, err := f.builder.Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	recs := f.read(r.ID)
	want := []string{`'=HYPERLINK("http://evil.example","x")`, "'+15551234", "'-2+3", "'@SUM(A1)", "'\tTab", "'\rCR",
		"Ann", "a=b", "'already"}
	for i, w := range want {
		for _, col := range []int{10, 16} { // First name, Home city
			if got := recs[i+1][col]; got != w {
				t.Errorf("row %d %s = %q, want %q", i+1, recs[0][col], got, w)
			}
		}
	}
}

func TestProgressAdvancesWhileStreaming(t *testing.T) {
	f := newFixture(t)
	f.seed(5_500, time.Now().Add(-24*time.Hour), nil)
	r, job := f.create(Request{})
	var seen []int64
	f.builder.onProgress = func(n int64) {
		// Called before the update: the row still holds the previous value,
		// and the report is building.
		got, err := f.store.RegistrantReport(context.Background(), r.ID)
		if err != nil {
			t.Error(err)
			return
		}
		if got.Status != storage.ReportBuilding || got.RecordCount != 5_500 {
			t.Errorf("during the build: status %s count %d", got.Status, got.RecordCount)
		}
		if len(seen) > 0 && got.CurrentIndex != seen[len(seen)-1] {
			t.Errorf("current_index = %d, want the last update %d", got.CurrentIndex, seen[len(seen)-1])
		}
		seen = append(seen, n)
	}
	if _, err := f.builder.Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if len(seen) < 5 {
		t.Fatalf("progress updates %v, want one per 1000 rows", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] || seen[i] > 5_500 {
			t.Fatalf("progress %v does not advance", seen)
		}
	}
	got, _ := f.store.RegistrantReport(context.Background(), r.ID)
	if got.CurrentIndex != 5_500 || got.Status != storage.ReportComplete {
		t.Fatalf("after the build: %d %s", got.CurrentIndex, got.Status)
	}
	if j, _ := f.store.Job(context.Background(), job.ID); j.ProgressTotal != 5_500 || j.ProgressDone != 5_500 {
		t.Errorf("job progress %d/%d, want 5500/5500", j.ProgressDone, j.ProgressTotal)
	}
}

func TestKilledBuildLeavesNoFileAndTheRetryWritesACorrectOne(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a build midway and waits for its retry; runs in make test")
	}
	f := newFixture(t)
	f.seed(60_000, time.Now().Add(-30*24*time.Hour), nil)
	r, job := f.create(Request{ReportType: TypeExtended})
	ctx, kill := context.WithCancel(context.Background())
	var once sync.Once
	f.builder.onProgress = func(n int64) {
		if n >= 20_000 {
			once.Do(kill) // the worker dies mid-build
		}
	}
	if _, err := f.builder.Run(ctx, job); err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("killed build returned %v, want context.Canceled", err)
	}
	mid, _ := f.store.RegistrantReport(context.Background(), r.ID)
	if mid.Status != storage.ReportBuilding || mid.CurrentIndex < 1_000 || mid.CurrentIndex >= 60_000 {
		t.Fatalf("after the kill: status %s current_index %d", mid.Status, mid.CurrentIndex)
	}
	if ok, _ := f.blobs.Exists(context.Background(), BlobKey(r.ID)); ok {
		t.Fatal("a killed build left a (partial) file behind")
	}
	if _, _, err := f.svc.Open(context.Background(), f.partner, r.ID); !fault.Is(err, fault.Conflict) {
		t.Fatalf("download during the build: %v, want a conflict", err)
	}

	f.builder.onProgress = func(n int64) {
		if n == 1_000 {
			got, _ := f.store.RegistrantReport(context.Background(), r.ID)
			if got.CurrentIndex > 1_000 {
				t.Errorf("retry did not restart current_index: %d", got.CurrentIndex)
			}
		}
	}
	if _, err := f.builder.Run(context.Background(), job); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := f.checkAgainstDB(f.read(r.ID), TypeExtended, ""); n != 60_000 {
		t.Fatalf("%d rows after the retry", n)
	}
	// A duplicate delivery after success changes nothing.
	if res, err := f.builder.Run(context.Background(), job); err != nil || res.(map[string]any)["status"] != storage.ReportComplete {
		t.Fatalf("re-run of a complete report: %v %v", res, err)
	}
}

func TestExpiredReportsAreDeletedAndRefused(t *testing.T) {
	f := newFixture(t)
	f.seed(10, time.Now().Add(-time.Hour), nil)
	f.builder.Retention = time.Hour
	keep, keepJob := f.create(Request{})
	old, oldJob := f.create(Request{Email: "voter3@example.org"})
	for _, j := range []*storage.Job{keepJob, oldJob} {
		if _, err := f.builder.Run(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	// The retention of one report passes.
	if _, err := f.db.Exec(context.Background(), `UPDATE registrant_reports SET expires_at = now() - interval '1 second'
		WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	// Before the sweep, the download is already refused.
	if _, _, err := f.svc.Open(context.Background(), f.partner, old.ID); !errors.As(err, new(*ExpiredError)) {
		t.Fatalf("download past expiry before the sweep: %v", err)
	}
	n, err := f.builder.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 report", n, err)
	}
	if ok, _ := f.blobs.Exists(context.Background(), BlobKey(old.ID)); ok {
		t.Error("the expired file is still stored")
	}
	got, _ := f.store.RegistrantReport(context.Background(), old.ID)
	if got.Status != storage.ReportExpired || got.BlobKey != nil || got.Email != nil {
		t.Errorf("expired report: status %s key %v email %v", got.Status, got.BlobKey, got.Email)
	}
	_, _, err = f.svc.Open(context.Background(), f.partner, old.ID)
	var exp *ExpiredError
	if !errors.As(err, &exp) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("download after the sweep: %v", err)
	}
	if recs := f.read(keep.ID); len(recs) != 11 {
		t.Errorf("the unexpired report has %d lines", len(recs))
	}
	if n, _ := f.builder.Sweep(context.Background()); n != 0 {
		t.Errorf("second sweep deleted %d", n)
	}
}

func TestAnotherPartnersReportIsAnsweredLikeABadKey(t *testing.T) {
	f := newFixture(t)
	r, _ := f.create(Request{})
	for _, id := range []int64{r.ID, r.ID + 1_000_000} {
		if _, err := f.svc.Get(context.Background(), f.partner+1_000_000, id); !fault.Is(err, fault.Unauthorized) ||
			err.Error() != errNoReport.Error() {
			t.Errorf("report %d of another partner: %v", id, err)
		}
	}
}

func TestStatusShowsAGivenUpBuildAsFailedAndAPassedExpiryAsExpired(t *testing.T) {
	now := time.Now()
	failed, running, past, future := storage.JobFailed, storage.JobRunning, now.Add(-time.Second), now.Add(time.Hour)
	cases := []struct {
		r    storage.RegistrantReport
		want string
	}{
		{storage.RegistrantReport{Status: storage.ReportBuilding, JobStatus: &failed}, storage.ReportFailed},
		{storage.RegistrantReport{Status: storage.ReportQueued, JobStatus: &failed}, storage.ReportFailed},
		{storage.RegistrantReport{Status: storage.ReportBuilding, JobStatus: &running}, storage.ReportBuilding},
		{storage.RegistrantReport{Status: storage.ReportComplete, ExpiresAt: &past}, storage.ReportExpired},
		{storage.RegistrantReport{Status: storage.ReportComplete, ExpiresAt: &future}, storage.ReportComplete},
		{storage.RegistrantReport{Status: storage.ReportExpired}, storage.ReportExpired},
	}
	for _, c := range cases {
		if got := Status(&c.r, now); got != c.want {
			t.Errorf("report %s with job %v, expiry %v: status %s, want %s", c.r.Status, c.r.JobStatus, c.r.ExpiresAt, got, c.want)
		}
	}
}

func TestThePeriodicSweepDeletesExpiredFiles(t *testing.T) {
	f := newFixture(t)
	f.seed(3, time.Now().Add(-time.Hour), nil)
	f.builder.Retention = 300 * time.Millisecond
	r, job := f.create(Request{})
	if _, err := f.builder.Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.builder.SweepEvery(ctx, 50*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := f.store.RegistrantReport(context.Background(), r.ID)
		if got.Status == storage.ReportExpired && got.BlobKey == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("report not swept 10s after a 300ms retention: %s", got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, _ := f.blobs.Exists(context.Background(), BlobKey(r.ID)); ok {
		t.Fatal("file still stored after the sweep")
	}
	if SweepInterval(7*24*time.Hour) != 10*time.Minute || SweepInterval(2*time.Second) != time.Second {
		t.Errorf("sweep intervals: %s for 7d, %s for 2s", SweepInterval(7*24*time.Hour), SweepInterval(2*time.Second))
	}
}

func TestParseTimeReadsUTCForms(t *testing.T) {
	want := time.Date(2026, 1, 31, 5, 6, 7, 0, time.UTC)
	for _, in := range []string{"2026-01-31 05:06:07 UTC", "2026-01-31T05:06:07Z", "2026-01-31T00:06:07-05:00",
		"2026-01-31 05:06:07", "2026-01-31 00:06:07 -0500", "2026-01-31 07:06:07+02:00", "2026-01-31 00:06:07 EST",
		"2026-01-31 05:06:07 gmt", "2026-01-30 21:06:07 PST"} {
		got, err := ParseTime("since", in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	if got, err := ParseTime("since", "2026-01-31"); err != nil || !got.Equal(time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a date: %v %v", got, err)
	}
	for _, in := range []string{"2026-01-31 05:06", "2026-01-31T05:06", "2026-01-31T07:06+02:00"} {
		if got, err := ParseTime("since", in); err != nil || !got.Equal(time.Date(2026, 1, 31, 5, 6, 0, 0, time.UTC)) {
			t.Errorf("%q (to the minute): %v %v", in, got, err)
		}
	}
	for _, in := range []string{"2026-01-31 05:06:07 CET", "2026-01-31 05:06:07 +0100 EST", "last week", "31/01/2026"} {
		if _, err := ParseTime("since", in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// With a replica configured, the registrant rows come from the replica
// while the report's own row (its state, its progress) stays on the
// primary: the build never reads its own writes from a copy that may lag.
func TestReportRowsAreReadFromTheReplica(t *testing.T) {
	f := newFixture(t)
	f.seed(10, time.Now().Add(-time.Hour), nil)
	ctx := context.Background()
	replicaURL := testenv.NewDatabase(t)
	replica, err := storage.Open(ctx, replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Close)
	replicaDB := testenv.OpenPool(t, replicaURL)
	// The stand-in replica holds 3 of the registrants (its partner rows
	// are not copied, so its foreign keys are not checked).
	if _, err := replicaDB.Exec(ctx, `ALTER TABLE rocky_registrants DISABLE TRIGGER ALL`); err != nil {
		t.Fatal(err)
	}
	(&fixture{t: t, store: replica, db: replicaDB, partner: f.partner}).seed(3, time.Now().Add(-time.Hour), nil)

	r, job := f.create(Request{ReportType: TypeStandard})
	if r.RecordCount != 10 {
		t.Fatalf("count on the primary = %d, want 10", r.RecordCount)
	}
	f.builder.Replica = replica
	if _, err := f.builder.Run(ctx, job); err != nil {
		t.Fatalf("build: %v", err)
	}
	got, _ := f.store.RegistrantReport(ctx, r.ID)
	if got.Status != storage.ReportComplete || got.RecordCount != 3 {
		t.Fatalf("report on the primary after the build: status %s count %d, want complete 3", got.Status, got.RecordCount)
	}
	if recs := f.read(r.ID); len(recs) != 1+3 {
		t.Fatalf("report file has %d records, want a header and the replica's 3 rows", len(recs))
	}
}
