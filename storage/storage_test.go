package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/migrations"
	"github.com/turnoutdev/turnout/storage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestKeySecretIsStoredOnlyAsAHash(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	k, err := env.Store.CreateKey(ctx, storage.NewKey{Name: "hash", Scopes: []string{"van"}})
	if err != nil {
		t.Fatal(err)
	}
	var leaks int
	// No column of the row contains the secret or its random part.
	err = env.Pool.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE row_to_json(api_keys)::text LIKE '%' || $1 || '%'`,
		strings.TrimPrefix(k.Secret, "trn_")[:20]).Scan(&leaks)
	if err != nil || leaks != 0 {
		t.Fatalf("secret found in %d rows (err %v), want 0", leaks, err)
	}
	got, err := env.Store.KeyBySecret(ctx, k.Secret)
	if err != nil || got.ID != k.ID {
		t.Fatalf("KeyBySecret = %v, %v; want key %d", got, err, k.ID)
	}
	if !strings.HasPrefix(k.WebhookSecret, "whsec_") {
		t.Errorf("webhook secret %q lacks the Standard Webhooks whsec_ prefix", k.WebhookSecret)
	}
}

func TestKeyScopesRoundTripThroughGORMAndPgx(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	want := []string{"van", "rocky", "admin"}
	k, err := env.Store.CreateKey(ctx, storage.NewKey{Name: "scopes", Scopes: want})
	if err != nil {
		t.Fatal(err)
	}
	byID, err := env.Store.Key(ctx, k.ID)
	if err != nil || !slices.Equal(byID.Scopes, want) {
		t.Fatalf("Key (GORM) scopes = %q, %v; want %q", byID.Scopes, err, want)
	}
	bySecret, err := env.Store.KeyBySecret(ctx, k.Secret)
	if err != nil || !slices.Equal(bySecret.Scopes, want) {
		t.Fatalf("KeyBySecret (pgx) scopes = %q, %v; want %q", bySecret.Scopes, err, want)
	}
	all, err := env.Store.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(all, func(l storage.APIKey) bool { return l.ID == k.ID })
	if i < 0 || !slices.Equal(all[i].Scopes, want) || !all[i].HasScope("rocky") {
		t.Fatalf("ListKeys lacks key %d with scopes %q", k.ID, want)
	}
}

func TestRevokedKeyIsRejectedLikeAnUnknownOne(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	k, _ := env.Store.CreateKey(ctx, storage.NewKey{Name: "revoke", Scopes: []string{"van"}})
	if err := env.Store.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.RevokeKey(ctx, k.ID); err != nil {
		t.Fatalf("revoking twice: %v, want nil", err)
	}
	_, errRevoked := env.Store.KeyBySecret(ctx, k.Secret)
	_, errUnknown := env.Store.KeyBySecret(ctx, "trn_unknown")
	if !fault.Is(errRevoked, fault.Unauthorized) || errRevoked.Error() != errUnknown.Error() {
		t.Fatalf("revoked: %v; unknown: %v; want the same Unauthorized error", errRevoked, errUnknown)
	}
	if err := env.Store.RevokeKey(ctx, 1<<40); !fault.Is(err, fault.NotFound) {
		t.Fatalf("revoking a missing key: %v, want NotFound", err)
	}
}

func TestNewKeyValidation(t *testing.T) {
	mode := int16(2)
	one := int16(1)
	cases := []struct {
		name  string
		key   storage.NewKey
		field string
	}{
		{"no name", storage.NewKey{Scopes: []string{"van"}}, "name"},
		{"no scopes", storage.NewKey{Name: "n"}, "scopes"},
		{"unknown scope", storage.NewKey{Name: "n", Scopes: []string{"voters"}}, "scopes"},
		{"negative rate", storage.NewKey{Name: "n", Scopes: []string{"van"}, RateLimit: -1}, "rate-limit"},
		{"van app without mode", storage.NewKey{Name: "n", Scopes: []string{"van"}, VANApp: "app"}, "van-app"},
		{"mode without app", storage.NewKey{Name: "n", Scopes: []string{"van"}, VANDBMode: &one}, "van-app"},
		{"bad mode", storage.NewKey{Name: "n", Scopes: []string{"van"}, VANApp: "app", VANDBMode: &mode}, "db-mode"},
		{"colon in app", storage.NewKey{Name: "n", Scopes: []string{"van"}, VANApp: "a:b", VANDBMode: &one}, "van-app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.key.Validate()
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.Invalid {
				t.Fatalf("Validate = %v, want an Invalid fault", err)
			}
			found := false
			for _, f := range fe.Fields {
				found = found || f.Field == tc.field
			}
			if !found {
				t.Errorf("fields = %+v, want one for %q", fe.Fields, tc.field)
			}
		})
	}
	ok := storage.NewKey{Name: "n", Scopes: []string{"van"}}
	if err := ok.Validate(); err != nil || ok.RateLimit != 300 || ok.MaxBatchSize != 20 {
		t.Fatalf("defaults: err=%v rate=%d batch=%d, want nil 300 20", err, ok.RateLimit, ok.MaxBatchSize)
	}
}

func TestJobStateMachineGuardsFinalStates(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	j, err := env.Store.InsertJob(ctx, storage.NewJob{Kind: "k", Queue: "default", Params: map[string]int{"n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != storage.JobQueued || string(j.Params) != `{"n": 1}` {
		t.Fatalf("new job: status %q params %s", j.Status, j.Params)
	}
	took := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	a1 := storage.Attempt{JobID: j.ID, Number: 1, At: took}
	if started, err := env.Store.StartJobs(ctx, []storage.Attempt{a1}); err != nil || !started[j.ID] {
		t.Fatalf("start: %v %v", started, err)
	}
	a1.Started = true
	got, _ := env.Store.Job(ctx, j.ID)
	if got.Status != storage.JobRunning || got.Attempts != 1 || got.StartedAt == nil || !got.StartedAt.Equal(took) || got.HeartbeatAt == nil {
		t.Fatalf("after start: %+v, want running, attempt 1, started when the worker took it", got)
	}
	// A crashed worker's job may start again (attempt 2); a second run that
	// read the same row as the first (a duplicate delivery) may not.
	a2 := storage.Attempt{JobID: j.ID, Number: 2, At: time.Now()}
	dup := storage.Attempt{JobID: j.ID, Number: 2, At: time.Now()}
	if started, err := env.Store.StartJobs(ctx, []storage.Attempt{a2}); err != nil || !started[j.ID] {
		t.Fatalf("restart of a running job: %v %v", started, err)
	}
	a2.Started = true
	if started, err := env.Store.StartJobs(ctx, []storage.Attempt{dup}); err != nil || started[j.ID] {
		t.Fatalf("start of a duplicate run: %v %v, want not recorded", started, err)
	}
	// Attempt 1 outlived its worker, and the duplicate ran unrecorded:
	// neither outcome counts.
	for _, stale := range []storage.Attempt{a1, dup} {
		if err := env.Store.FailAttempt(ctx, stale, "cut off by shutdown", false); err != nil {
			t.Fatal(err)
		}
		if err := env.Store.SucceedJobs(ctx, []storage.Success{{Attempt: stale}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := env.Store.Job(ctx, j.ID); got.Status != storage.JobRunning || got.Attempts != 2 {
			t.Fatalf("a stale attempt (%+v) changed the job to %q at attempt %d", stale, got.Status, got.Attempts)
		}
	}
	if err := env.Store.SucceedJobs(ctx, []storage.Success{{Attempt: a2, Result: map[string]string{"ok": "yes"}}}); err != nil {
		t.Fatal(err)
	}
	if started, err := env.Store.StartJobs(ctx, []storage.Attempt{{JobID: j.ID, Number: 3, At: time.Now()}}); err != nil || started[j.ID] {
		t.Fatalf("start of a succeeded job: %v %v, want not recorded", started, err)
	}
	// A late give-up cannot undo success.
	if err := env.Store.GiveUpJob(ctx, j.ID, "late"); err != nil {
		t.Fatal(err)
	}
	got, _ = env.Store.Job(ctx, j.ID)
	if got.Status != storage.JobSucceeded || got.Error != nil || got.Attempts != 2 || string(got.Result) != `{"ok": "yes"}` {
		t.Fatalf("after a late failure: %q %v attempts %d %s, want still succeeded at attempt 2", got.Status, got.Error, got.Attempts, got.Result)
	}
}

// An attempt that finishes before it is recorded writes its start with its
// outcome: attempts counts it and started_at is when the worker took it.
func TestUnrecordedAttemptsWriteTheirStartWithTheOutcome(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	var ids []int64
	for range 3 {
		j, err := env.Store.InsertJob(ctx, storage.NewJob{Kind: "k", Queue: "default"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	took := time.Now().Add(-time.Second).Truncate(time.Microsecond)
	// Job 0 fails its first attempt unrecorded, then succeeds; job 1
	// succeeds at once; job 2 is read by two runs and only the first
	// outcome counts.
	if err := env.Store.FailAttempt(ctx, storage.Attempt{JobID: ids[0], Number: 1, At: took}, "sftp host went away", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.Store.Job(ctx, ids[0]); got.Status != storage.JobRetrying || got.Attempts != 1 || got.StartedAt == nil || got.FinishedAt != nil {
		t.Fatalf("after an unrecorded failure: %+v, want retrying at attempt 1 with started_at", got)
	}
	err := env.Store.SucceedJobs(ctx, []storage.Success{
		{Attempt: storage.Attempt{JobID: ids[0], Number: 2, At: took}, Result: map[string]int{"n": 7}},
		{Attempt: storage.Attempt{JobID: ids[1], Number: 1, At: took}},
		{Attempt: storage.Attempt{JobID: ids[2], Number: 1, At: took}, Result: "first"},
		{Attempt: storage.Attempt{JobID: 1 << 40, Number: 1, At: took}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.SucceedJobs(ctx, []storage.Success{{Attempt: storage.Attempt{JobID: ids[2], Number: 1, At: time.Now()}, Result: "second"}}); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		attempts int
		result   string
	}{{2, `{"n": 7}`}, {1, ``}, {1, `"first"`}}
	for i, id := range ids {
		got, _ := env.Store.Job(ctx, id)
		if got.Status != storage.JobSucceeded || got.Attempts != want[i].attempts || string(got.Result) != want[i].result ||
			got.StartedAt == nil || !got.StartedAt.Equal(took) || got.FinishedAt == nil || got.Error != nil {
			t.Errorf("job %d: %s attempts %d result %s started %v error %v; want succeeded, attempts %d, result %s, started %v",
				i, got.Status, got.Attempts, got.Result, got.StartedAt, got.Error, want[i].attempts, want[i].result, took)
		}
	}
	peeked, err := env.Store.PeekJobs(ctx, []int64{ids[0], 1 << 40})
	if err != nil || len(peeked) != 1 || peeked[ids[0]].Status != storage.JobSucceeded {
		t.Fatalf("peek: %v %v, want only the existing job", peeked, err)
	}
}

func TestBlobStoreRoundTripAndKeyChecks(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"file://" + t.TempDir(), "mem://"} {
		t.Run(u[:4], func(t *testing.T) {
			b, err := storage.OpenBlobs(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := b.Put(ctx, "reports/1.csv", strings.NewReader("a,b\n1,2\n"), "text/csv"); err != nil {
				t.Fatal(err)
			}
			r, err := b.Open(ctx, "reports/1.csv")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			r.Close()
			if string(got) != "a,b\n1,2\n" {
				t.Fatalf("read back %q", got)
			}
			if err := b.Delete(ctx, "reports/1.csv"); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, "reports/1.csv"); err != nil {
				t.Fatalf("second delete: %v, want nil", err)
			}
			if _, err := b.Open(ctx, "reports/1.csv"); !fault.Is(err, fault.NotFound) {
				t.Fatalf("open after delete: %v, want NotFound", err)
			}
			for _, bad := range []string{"../etc/passwd", "/abs", "a/../../b", ""} {
				if err := b.Put(ctx, bad, strings.NewReader("x"), ""); !fault.Is(err, fault.Invalid) {
					t.Errorf("Put(%q) = %v, want Invalid", bad, err)
				}
			}
			// A failed write leaves no object behind.
			err = b.Put(ctx, "partial.bin", io.MultiReader(bytes.NewReader([]byte("half")), failingReader{}), "")
			if err == nil {
				t.Fatal("Put with a failing reader succeeded")
			}
			if ok, _ := b.Exists(ctx, "partial.bin"); ok {
				t.Fatal("a failed Put left a partial object")
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestRelativeFileBlobURLStaysRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	b, err := storage.OpenBlobs(context.Background(), "file://./var/blobs")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Put(context.Background(), "x.txt", strings.NewReader("x"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(mustOpen(t, dir+"/var/blobs/x.txt")); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t *testing.T, path string) io.Reader {
	t.Helper()
	f, err := openFile(path)
	if err != nil {
		t.Fatalf("file:// blob not under the working directory: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

var openFile = os.Open

// Every migration must be reversible: roll all of them back, then apply
// them again, on a database of the test's own.
func TestMigrationsRollBackAndReapply(t *testing.T) {
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	entries, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(entries) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	for range entries {
		if err := storage.Migrate(ctx, url, "down", io.Discard); err != nil {
			t.Fatalf("down: %v", err)
		}
	}
	var out bytes.Buffer
	if err := storage.Migrate(ctx, url, "status", &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "applied") {
		t.Fatalf("after rolling everything back, status still shows applied migrations:\n%s", out.String())
	}
	if err := storage.Migrate(ctx, url, "up", io.Discard); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
