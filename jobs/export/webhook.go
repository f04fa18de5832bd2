package export

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/notify"
	"github.com/turnoutdev/turnout/storage"
)

// KindWebhook is the job that tells an export's webhookUrl it completed or
// failed (queue notify).
const KindWebhook = "van.export.webhook"

// webhookMaxAttempts spreads a webhook's retries over the worker's
// exponential backoff (about half an hour in all) before it gives up.
const webhookMaxAttempts = 8

// webhookParams hold the body as a string, not as nested JSON: jsonb would
// reorder and respace it, and the bytes sent should be the ones built.
type webhookParams struct {
	ExportJobID int64  `json:"exportJobId"`
	Body        string `json:"body"`
}

// WebhookID is the Standard Webhooks message id of an export's webhook,
// sent by delivery job webhookJobID: the same on every retry of that
// delivery, so receivers can de-duplicate, and a new one when a retried
// export settles again.
func WebhookID(exportJobID, webhookJobID int64) string {
	return "msg_turnout_export_" + strconv.FormatInt(exportJobID, 10) + "_" + strconv.FormatInt(webhookJobID, 10)
}

// Webhooks is the handler of KindWebhook jobs: it POSTs the signed export
// job object and returns a failure so the worker retries with its backoff.
// Each attempt's outcome is the webhook job's own record (attempts, error).
type Webhooks struct {
	Store  *storage.Store
	Client *http.Client // from netguard: webhook URLs are caller-supplied
	Log    *slog.Logger
}

// Handlers returns the job kind → handler map for the worker.
func (h *Webhooks) Handlers() map[string]jobs.Handler {
	return map[string]jobs.Handler{KindWebhook: jobs.HandlerFunc(h.Run)}
}

// Run implements jobs.Handler.
func (h *Webhooks) Run(ctx context.Context, job *storage.Job) (any, error) {
	var p webhookParams
	if err := json.Unmarshal(job.Params, &p); err != nil || p.ExportJobID <= 0 || p.Body == "" {
		return nil, fault.New(fault.Invalid, "job %d: bad export webhook parameters", job.ID)
	}
	e, err := h.Store.ExportJob(ctx, p.ExportJobID)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.New(fault.Invalid, "export job %d no longer exists", p.ExportJobID)
	}
	if err != nil {
		return nil, err
	}
	if e.WebhookURL == nil {
		return nil, fault.New(fault.Invalid, "export job %d has no webhookUrl", e.JobID)
	}
	key, err := h.Store.Key(ctx, e.KeyID)
	if err != nil {
		return nil, err
	}
	code, derr := notify.Post(ctx, h.Client, key.WebhookSecret, WebhookID(e.JobID, job.ID), *e.WebhookURL, []byte(p.Body))
	h.Log.Info("export webhook attempted", "job_id", job.ID, "export_job_id", e.JobID, "attempt", job.Attempts, "ok", derr == nil)
	if derr != nil {
		if errors.Is(derr, netguard.ErrBlocked) {
			// The host resolved to a refused address: retrying will not help.
			return nil, fault.New(fault.Invalid, "webhookUrl: %s", derr.Error())
		}
		return nil, derr
	}
	return map[string]any{"exportJobId": e.JobID, "statusCode": *code}, nil
}
