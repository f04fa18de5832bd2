package van_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/mailcatcher"
	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/internal/testkit/teststack"
	"github.com/turnoutdev/turnout/jobs/export"
	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/webhook"
	"github.com/turnoutdev/turnout/worker"
	"github.com/turnoutdev/turnout/worker/wiring"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stack is the API and a worker in-process against the package's real
// PostgreSQL and Redis, with a real SMTP server, a webhook receiver that
// verifies signatures and an HTTP server for source files.
type stack struct {
	t       *testing.T
	env     *testenv.Env
	api     *apitest.Client
	smtp    *mailcatcher.Server
	files   *httptest.Server
	fileMu  sync.Mutex
	served  map[string][]byte
	hooks   *httptest.Server
	hookMu  sync.Mutex
	hookLog []hook
	hookSt  int // status the receiver answers with
	blobs   storage.Blobs
	exports *export.Builder
	key     *storage.CreatedKey
	auth    string
}

type hook struct {
	ID       string
	Verified error
	Body     map[string]any
}

type options struct {
	allow     []netip.Prefix
	noAuto    bool
	dbMode    int16
	fetchers  fileload.Fetchers
	maxFile   int64
	fetch     fileload.FetchLimits
	hookCodes []int
	// workerPool caps the worker's connection pool (0: the shared store).
	workerPool int
	// exportWait is the API's VANExportWait (0: its default).
	exportWait time.Duration
	// chunkRows and setBytes are the worker's direct score path limits
	// (0: their defaults).
	chunkRows int
	setBytes  int64
}

func newStack(t *testing.T, o options) *stack {
	t.Helper()
	env := testenv.Get(t)
	ctx := context.Background()
	// Empty what earlier tests loaded: DELETE, children first, in one
	// transaction (TRUNCATE of these tables takes a few hundred
	// milliseconds; DELETE of the few rows a test leaves, a few).
	if _, err := env.Pool.Exec(ctx, `
		DELETE FROM van_file_load_actions; DELETE FROM van_file_load_errors; DELETE FROM van_deliveries;
		DELETE FROM job_events; DELETE FROM report_callback_deliveries; DELETE FROM registrant_reports;
		DELETE FROM van_export_jobs; DELETE FROM van_score_update_values; DELETE FROM van_score_updates;
		DELETE FROM van_person_scores; DELETE FROM van_score_values; DELETE FROM van_file_loads;
		DELETE FROM van_scores; DELETE FROM van_people; DELETE FROM jobs`); err != nil {
		t.Fatal(err)
	}
	// The worker's own pool, when capped.
	wstore := env.Store
	if o.workerPool > 0 {
		var err error
		if wstore, err = storage.Open(ctx, fmt.Sprintf("%s&pool_max_conns=%d", env.DatabaseURL, o.workerPool)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(wstore.Close)
	}
	st := teststack.Start(t, teststack.Options{
		Log: quiet,
		Config: func(c *config.Config) {
			c.AllowNetworks = o.allow
			c.MailFrom = "Turnout <no-reply@turnout.test>"
			c.SFTPInsecure = true
			if o.maxFile > 0 {
				c.MaxFileBytes = o.maxFile
			}
			if o.fetch.Idle > 0 {
				c.FetchIdleTimeout = o.fetch.Idle
			}
			if o.fetch.Total > 0 {
				c.FetchTimeout = o.fetch.Total
			}
			if o.chunkRows > 0 {
				c.FileLoadChunkRows = o.chunkRows
			}
			if o.setBytes > 0 {
				c.FileLoadSetBytes = int(o.setBytes)
			}
		},
		Wiring: func(d *wiring.Deps) {
			d.Store, d.Fetchers, d.ProgressEvery = wstore, o.fetchers, 1000
		},
		API: func(d *api.Deps, _ *teststack.Stack) { d.VANExportWait = o.exportWait },
		Worker: worker.Options{Concurrency: 4,
			RetryDelay: func(int, error, *asynq.Task) time.Duration { return 50 * time.Millisecond }},
	})
	s := &stack{t: t, env: env, api: st.API, smtp: st.SMTP, served: map[string][]byte{}, hookSt: http.StatusOK,
		blobs: st.Blobs, exports: st.Wired.Exports}
	s.files = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fileMu.Lock()
		b, ok := s.served[r.URL.Path]
		s.fileMu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.files.Close)

	mode := o.dbMode
	k, err := env.Store.CreateKey(ctx, storage.NewKey{Name: "haberdashery", Scopes: []string{storage.ScopeVAN},
		VANApp: "haberdashery", VANDBMode: &mode, MayAutoApprove: !o.noAuto})
	if err != nil {
		t.Fatal(err)
	}
	s.key = k
	s.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("haberdashery:%s|%d", k.Secret, mode)))

	verifier, _ := webhook.NewVerifier(k.WebhookSecret)
	codes := o.hookCodes
	s.hooks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hook{ID: r.Header.Get(webhook.HeaderID), Verified: verifier.Verify(r.Header, body)}
		_ = json.Unmarshal(body, &h.Body)
		s.hookMu.Lock()
		s.hookLog = append(s.hookLog, h)
		code := http.StatusOK
		if len(codes) > 0 {
			code, codes = codes[0], codes[1:]
		}
		s.hookMu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(s.hooks.Close)
	return s
}

// people inserts people with VANIDs 1..n (DWID = 1000000 + VANID,
// StateFileID = "SF<VANID>") in the key's database mode.
func (s *stack) people(n int, mode int16) {
	s.t.Helper()
	_, err := s.env.Pool.CopyFrom(context.Background(), pgx.Identifier{"van_people"},
		[]string{"db_mode", "vanid", "dwid", "statefileid", "first_name"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return []any{mode, int64(i + 1), int64(1000001 + i), fmt.Sprintf("SF%d", i+1), "Person"}, nil
		}))
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) rangeScore(name string, lo, hi float64) int64 {
	s.t.Helper()
	sc, err := s.env.Store.CreateScore(context.Background(), storage.NewScore{Name: name, Min: &lo, Max: &hi})
	if err != nil {
		s.t.Fatal(err)
	}
	return sc.ID
}

func (s *stack) serve(path string, b []byte) string {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.served[path] = b
	return s.files.URL + path
}

func (s *stack) do(method, path, body string) (*http.Response, []byte) {
	s.t.Helper()
	return s.api.Do(apitest.NewRequest(s.t, method, path, body, "Authorization", s.auth))
}

func (s *stack) submit(body string) int64 {
	s.t.Helper()
	resp, b := s.do(http.MethodPost, "/v4/FileLoadingJobs", body)
	if resp.StatusCode != http.StatusCreated {
		s.t.Fatalf("POST fileLoadingJobs: %d %s", resp.StatusCode, b)
	}
	var out struct{ JobID int64 }
	_ = json.Unmarshal(b, &out)
	return out.JobID
}

// wait polls GET /v4/fileLoadingJobs/{id} until the job is finished.
func (s *stack) wait(id int64) fileload.JobView {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var v fileload.JobView
	for time.Now().Before(deadline) {
		resp, b := s.do(http.MethodGet, fmt.Sprintf("/v4/fileLoadingJobs/%d", id), "")
		if resp.StatusCode != http.StatusOK {
			s.t.Fatalf("GET job: %d %s", resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, &v); err != nil {
			s.t.Fatal(err)
		}
		if v.Status == "Completed" || v.Status == "Error" {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("job %d not finished after 60s: %+v", id, v)
	return v
}

func (s *stack) waitHooks(n int) []hook {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s.hookMu.Lock()
		got := append([]hook(nil), s.hookLog...)
		s.hookMu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.t.Fatalf("want %d webhook deliveries, got %d", n, len(s.hookLog))
	return nil
}

// zipOf returns a zip holding name → content entries, in order.
func zipOf(t testing.TB, entries ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(entries); i += 2 {
		w, err := zw.Create(entries[i])
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, entries[i+1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// exampleRequest is VAN's two-score example with the given source URL,
// score ids and listeners.
func exampleRequest(sourceURL string, scoreA, scoreB int64, listeners string) string {
	return fmt.Sprintf(`{
    "description": "Load habberdasher score",
    "file": {
        "columnDelimiter": "Csv",
        "columns": [{"name": "hatWearerId"}, {"name": "hatWearingScore"}, {"name": "needsAnotherHatScore"}],
        "fileName": "haberdashery.csv",
        "hasHeader": true,
        "sourceUrl": %q
    },
    "actions": [
        {"actionType": "score", "personIdColumn": "hatWearerId", "personIdType": "VANID",
         "scoreColumn": "hatWearingScore", "scoreId": %d},
        {"actionType": "score", "personIdColumn": "hatWearerId", "personIdType": "VANID",
         "scoreColumn": "needsAnotherHatScore", "scoreId": %d,
         "approvalCriteria": {"average": 75.2, "tolerance": 1.3}}
    ],
    "listeners": %s
}`, sourceURL, scoreA, scoreB, listeners)
}

// exampleCSV has n people (n even); column 3 alternates 76.2 and 74.2, so its
// average is exactly 75.2, inside the VAN example's auto-approval criteria.
func exampleCSV(n int) string {
	var b strings.Builder
	b.WriteString("hatWearerId,hatWearingScore,needsAnotherHatScore\r\n")
	for i := 1; i <= n; i++ {
		v := 76.2
		if i%2 == 0 {
			v = 74.2
		}
		fmt.Fprintf(&b, "%d,%d,%.1f\r\n", i, i%100, v)
	}
	return b.String()
}

func storageKey(app string) storage.NewKey {
	mode := int16(0)
	return storage.NewKey{Name: app, Scopes: []string{storage.ScopeVAN}, VANApp: app, VANDBMode: &mode}
}
