package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testenv"
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
	err = env.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE row_to_json(api_keys)::text LIKE '%' || $1 || '%'`,
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
	j, err := storage.InsertJob(ctx, env.Store.Pool, storage.NewJob{Kind: "k", Queue: "default", Params: map[string]int{"n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != storage.JobQueued || string(j.Params) != `{"n": 1}` {
		t.Fatalf("new job: status %q params %s", j.Status, j.Params)
	}
	s1, err := env.Store.StartJob(ctx, j.ID)
	if err != nil || s1.Attempts != 1 || s1.Status != storage.JobRunning {
		t.Fatalf("start: %+v %v", s1, err)
	}
	// A crashed worker's job may start again (attempt 2).
	s2, err := env.Store.StartJob(ctx, j.ID)
	if err != nil || s2.Attempts != 2 {
		t.Fatalf("restart of a running job: %+v %v", s2, err)
	}
	// Attempt 1 outlived its worker: its outcome no longer counts.
	if err := env.Store.FailJob(ctx, j.ID, 1, "cut off by shutdown", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.Store.Job(ctx, j.ID); got.Status != storage.JobRunning {
		t.Fatalf("a stale attempt's failure changed the job to %q", got.Status)
	}
	if err := env.Store.SucceedJob(ctx, j.ID, 1, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.Store.Job(ctx, j.ID); got.Status != storage.JobRunning {
		t.Fatalf("a stale attempt's success changed the job to %q", got.Status)
	}
	if err := env.Store.SucceedJob(ctx, j.ID, 2, map[string]string{"ok": "yes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.StartJob(ctx, j.ID); !errors.Is(err, storage.ErrJobDone) {
		t.Fatalf("start of a succeeded job: %v, want ErrJobDone", err)
	}
	// A late failure report cannot undo success.
	if err := env.Store.FailJob(ctx, j.ID, 0, "late", true); err != nil {
		t.Fatal(err)
	}
	got, _ := env.Store.Job(ctx, j.ID)
	if got.Status != storage.JobSucceeded || got.Error != nil {
		t.Fatalf("after a late failure: %q %v, want still succeeded", got.Status, got.Error)
	}
	if _, err := env.Store.StartJob(ctx, 1<<40); !fault.Is(err, fault.NotFound) {
		t.Fatalf("start of a missing job: %v, want NotFound", err)
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

// The batch forms keep the single forms' guards: only unfinished jobs
// start, and only the current attempt of a running job records success.
func TestBatchStartAndSuccessKeepTheGuards(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	var ids []int64
	for range 3 {
		j, err := storage.InsertJob(ctx, env.Store.Pool, storage.NewJob{Kind: "k", Queue: "default"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	// Job 2 already finished; 1<<40 does not exist.
	if _, err := env.Store.StartJob(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.SucceedJob(ctx, ids[2], 1, nil); err != nil {
		t.Fatal(err)
	}
	started, err := env.Store.StartJobs(ctx, []int64{ids[0], ids[1], ids[2], 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 2 || started[ids[0]].Attempts != 1 || started[ids[1]].Status != storage.JobRunning || started[ids[2]] != nil {
		t.Fatalf("started %v; want jobs %d and %d at attempt 1 only", started, ids[0], ids[1])
	}
	// Job 1 restarts (attempt 2): its attempt 1 can no longer succeed.
	if _, err := env.Store.StartJobs(ctx, []int64{ids[1]}); err != nil {
		t.Fatal(err)
	}
	err = env.Store.SucceedJobs(ctx, []storage.Success{
		{JobID: ids[0], Attempt: 1, Result: map[string]int{"n": 7}},
		{JobID: ids[1], Attempt: 1, Result: map[string]int{"n": 8}},
	})
	if err != nil {
		t.Fatal(err)
	}
	j0, _ := env.Store.Job(ctx, ids[0])
	j1, _ := env.Store.Job(ctx, ids[1])
	if j0.Status != storage.JobSucceeded || string(j0.Result) != `{"n": 7}` || j0.FinishedAt == nil {
		t.Errorf("job 0: %s %s, want succeeded with its result", j0.Status, j0.Result)
	}
	if j1.Status != storage.JobRunning || j1.Result != nil {
		t.Errorf("job 1: %s %s, want still running: attempt 1 is stale", j1.Status, j1.Result)
	}
}
