package export

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/webhook"
)

type delivery struct {
	id   string
	err  error
	body map[string]any
}

// TestRetriedExportNotifiesAgain: an export that failed for good tells its
// webhook so; retried by hand (its job row back to queued), it builds the
// file and tells the webhook again, under a new message id.
func TestRetriedExportNotifiesAgain(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	blobs, err := storage.OpenBlobs(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	mode := int16(0)
	k, err := env.Store.CreateKey(ctx, storage.NewKey{Name: "retry", Scopes: []string{storage.ScopeVAN}, VANApp: "retry-app", VANDBMode: &mode})
	if err != nil {
		t.Fatal(err)
	}
	f, err := env.Store.CreateFolder(ctx, "Retry", false, []int64{k.ID})
	if err != nil {
		t.Fatal(err)
	}
	var list int64
	if err := env.Pool.QueryRow(ctx, `INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name) VALUES ($1, 0, $2, 'Retry')
		RETURNING id`, f.ID, k.ID).Scan(&list); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Pool.Exec(ctx, `INSERT INTO van_saved_list_members (list_id, vanid) VALUES ($1, 11), ($1, 12)`, list); err != nil {
		t.Fatal(err)
	}
	verifier, _ := webhook.NewVerifier(k.WebhookSecret)
	var mu sync.Mutex
	var got []delivery
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d := delivery{id: r.Header.Get(webhook.HeaderID), err: verifier.Verify(r.Header, b)}
		_ = json.Unmarshal(b, &d.body)
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
	}))
	defer hooks.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := &Builder{Store: env.Store, Blobs: blobs, Log: log}
	w := &Webhooks{Store: env.Store, Log: log,
		Client: netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(netguard.ClientOptions{})}

	// An export whose type no longer exists fails for good at once.
	url := hooks.URL + "/exports"
	var job *storage.Job
	if err := env.Store.WithTx(ctx, func(tx *storage.Tx) error {
		var err error
		if job, err = tx.InsertJob(ctx, storage.NewJob{Kind: Kind, Queue: jobs.QueueReports, KeyID: &k.ID}); err != nil {
			return err
		}
		return tx.InsertExportJob(ctx, &storage.ExportJob{JobID: job.ID, KeyID: k.ID, SavedListID: list, Type: 999, WebhookURL: &url})
	}); err != nil {
		t.Fatal(err)
	}
	job.Attempts = 1
	if _, err := b.Run(ctx, job); !fault.Is(err, fault.Invalid) {
		t.Fatalf("first run: %v; want an Invalid fault", err)
	}
	first := deliver(t, env.Store, w, job.ID)
	if first.err != nil || first.body["status"] != StatusError || first.body["errorCode"] != ErrorFailed {
		t.Fatalf("first webhook: %+v", first)
	}

	// Retried by hand: the job row is queued again (and the type fixed).
	if _, err := env.Pool.Exec(ctx, `UPDATE van_export_jobs SET export_type = 4 WHERE job_id = $1;`, job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Pool.Exec(ctx, `UPDATE jobs SET status = 'queued', error = NULL, finished_at = NULL WHERE id = $1`, job.ID); err != nil {
		t.Fatal(err)
	}
	if e, _ := env.Store.ExportJob(ctx, job.ID); Status(e) != StatusRequested {
		t.Fatalf("after the retry: status %s; want Requested", Status(e))
	}
	if _, err := b.Run(ctx, job); err != nil {
		t.Fatalf("retried run: %v", err)
	}
	second := deliver(t, env.Store, w, job.ID)
	if second.err != nil || second.body["status"] != StatusCompleted || second.body["errorCode"] != nil || second.id == first.id {
		t.Fatalf("second webhook %q (first %q): %+v", second.id, first.id, second.body)
	}
	rc, err := blobs.Open(ctx, BlobKey(job.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if csv, _ := io.ReadAll(rc); string(csv) != "VanID\n11\n12\n" {
		t.Fatalf("file %q", csv)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || !strings.HasPrefix(got[0].id, "msg_turnout_export_") {
		t.Fatalf("deliveries %+v", got)
	}
}

// deliver runs the export's current webhook job and returns what the
// receiver got from it.
func deliver(t *testing.T, store *storage.Store, w *Webhooks, exportJobID int64) delivery {
	t.Helper()
	ctx := context.Background()
	e, err := store.ExportJob(ctx, exportJobID)
	if err != nil || e.WebhookJobID == nil {
		t.Fatalf("export %d has no webhook job: %+v, %v", exportJobID, e, err)
	}
	wj, err := store.Job(ctx, *e.WebhookJobID)
	if err != nil {
		t.Fatal(err)
	}
	wj.Attempts = 1
	if _, err := w.Run(ctx, wj); err != nil {
		t.Fatalf("webhook job %d: %v", wj.ID, err)
	}
	var body map[string]any
	var p webhookParams
	_ = json.Unmarshal(wj.Params, &p)
	_ = json.Unmarshal([]byte(p.Body), &body)
	return delivery{id: WebhookID(exportJobID, wj.ID), body: body}
}
