package report

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/notify"
	"github.com/turnoutdev/turnout/storage"
)

// The callback_url extension (Turnout's own): a report may name a URL that gets
// one signed webhook when the report is complete or has failed for good.
//
// Guarantees:
//   - The delivery job is inserted in the transaction that moves the report
//     to complete or failed, and claimed on the report row
//     (callback_job_id), so there is exactly one per report whatever the
//     build's retries.
//   - The message is signed like file-load listener notifications
//     (Standard Webhooks, the requesting key's webhook secret) and keeps
//     its webhook-id and body bytes on every retry, so receivers can
//     de-duplicate.
//   - Delivery goes through the SSRF guard; a literal internal address is
//     refused at request time already.
//   - The body carries no personal data, and the URL's credentials are never
//     shown: attempts are listed without it, and the status shows it
//     redacted.

// KindCallback is the job that delivers a report's callback (queue notify).
const KindCallback = "rocky.report.callback"

// callbackMaxAttempts spreads a callback's retries over the worker's
// exponential backoff (about half an hour in all) before it gives up.
const callbackMaxAttempts = 8

// CallbackBody is the webhook's JSON body.
type CallbackBody struct {
	ReportID    int64  `json:"report_id"`
	Status      string `json:"status"`
	RecordCount int64  `json:"record_count"`
	DownloadURL string `json:"download_url"`
	StatusURL   string `json:"status_url"`
}

// callbackParams hold the body as a string, not as nested JSON: jsonb would
// reorder and respace it, and the bytes sent should be the ones built.
type callbackParams struct {
	ReportID int64  `json:"report_id"`
	Body     string `json:"body"`
}

// WebhookID is the Standard Webhooks message id of a report's callback,
// the same on every retry.
func WebhookID(reportID int64) string {
	return "msg_turnout_report_" + strconv.FormatInt(reportID, 10)
}

// StatusURL is a report's status_url under the public base URL (Rocky:
// it ends with the report id, which the Parsons connector parses).
func StatusURL(base *url.URL, id int64) string {
	b := ""
	if base != nil {
		b = strings.TrimSuffix(base.String(), "/")
	}
	return b + "/api/v4/registrant_reports/" + strconv.FormatInt(id, 10)
}

// DownloadURL is a complete report's download_url.
func DownloadURL(base *url.URL, id int64) string { return StatusURL(base, id) + "/download" }

// CheckCallbackURL validates a callback_url: see CheckWebhookURL.
func CheckCallbackURL(raw string, guard *netguard.Guard) error {
	return CheckWebhookURL("callback_url", raw, guard)
}

// CheckWebhookURL validates a caller-supplied webhook URL given in field:
// an absolute http or https URL whose host, when it is a literal address
// (or localhost), the guard lets through. Host names are checked again on
// the resolved address when the worker connects. Messages never repeat
// the URL (it may hold credentials).
func CheckWebhookURL(field, raw string, guard *netguard.Guard) error {
	bad := func(msg string) error {
		return fault.Validation(fault.FieldError{Field: field, Code: fault.CodeInvalidValue, Message: msg})
	}
	if len(raw) > 2048 {
		return bad("Must be at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return bad("Must be an absolute http or https URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return bad("Must be an absolute http or https URL (scheme " + strconv.Quote(u.Scheme) + " is not supported)")
	}
	if guard == nil {
		guard = netguard.New(nil)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	var addr netip.Addr
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		addr = netip.MustParseAddr("127.0.0.1") // RFC 6761: always loopback
	} else if a, err := netip.ParseAddr(host); err == nil {
		addr = a
	}
	if addr.IsValid() {
		if err := guard.Check(addr); err != nil {
			return bad("The host is an internal, loopback, private or metadata address, which webhooks may not reach")
		}
	}
	return nil
}

// settle applies change (a report's move to complete or failed) and, when
// it changed the report and the report has a callback_url, inserts and
// claims the callback job in the same transaction; the job is enqueued
// after commit.
func (b *Builder) settle(ctx context.Context, r *storage.RegistrantReport, status string, count int64,
	change func(tx *storage.Tx) (bool, error)) error {
	var job *storage.Job
	err := b.Store.WithTx(ctx, func(tx *storage.Tx) error {
		job = nil
		changed, err := change(tx)
		if err != nil || !changed || r.CallbackURL == nil {
			return err
		}
		body := CallbackBody{ReportID: r.ID, Status: status, RecordCount: count, StatusURL: StatusURL(b.PublicURL, r.ID)}
		if status == storage.ReportComplete {
			body.DownloadURL = DownloadURL(b.PublicURL, r.ID)
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		j, err := tx.InsertJob(ctx, storage.NewJob{Kind: KindCallback, Queue: jobs.QueueNotify, KeyID: r.KeyID,
			Params: callbackParams{ReportID: r.ID, Body: string(raw)}, MaxAttempts: callbackMaxAttempts})
		if err != nil {
			return err
		}
		won, err := tx.ClaimReportCallback(ctx, r.ID, j.ID)
		if err != nil {
			return err
		}
		if !won {
			// Cannot happen while a report settles once; keep no stray job.
			err = tx.DeleteJob(ctx, j.ID)
			return err
		}
		job = j
		return nil
	})
	if err != nil {
		return err
	}
	if job != nil {
		if b.Enqueuer != nil {
			b.Enqueuer.EnqueueOrLog(ctx, job)
		} else {
			// The reconciler enqueues committed jobs that have no task.
			b.Log.Warn("report callback job committed without an enqueuer", "job_id", job.ID, "report_id", r.ID)
		}
	}
	return nil
}

// Callbacks is the handler of KindCallback jobs: it POSTs the signed
// message, records the attempt, and returns a failure so the worker
// retries with its backoff. A callback already delivered is not sent again.
type Callbacks struct {
	Store  *storage.Store
	Client *http.Client // from netguard: callback URLs are caller-supplied
	Log    *slog.Logger
}

// Handlers returns the job kind → handler map for the worker.
func (c *Callbacks) Handlers() map[string]jobs.Handler {
	return map[string]jobs.Handler{KindCallback: jobs.HandlerFunc(c.Run)}
}

// Run implements jobs.Handler.
func (c *Callbacks) Run(ctx context.Context, job *storage.Job) (any, error) {
	var p callbackParams
	if err := json.Unmarshal(job.Params, &p); err != nil || p.ReportID <= 0 || len(p.Body) == 0 {
		return nil, fault.New(fault.Invalid, "job %d: bad report callback parameters", job.ID)
	}
	r, err := c.Store.RegistrantReport(ctx, p.ReportID)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.New(fault.Invalid, "report %d no longer exists", p.ReportID)
	}
	if err != nil {
		return nil, err
	}
	if r.CallbackURL == nil || r.KeyID == nil {
		return nil, fault.New(fault.Invalid, "report %d has no callback_url or key", r.ID)
	}
	done, err := c.Store.ReportDeliveries(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	for _, d := range done {
		if d.OK {
			return map[string]any{"report_id": r.ID, "delivered": "already"}, nil
		}
	}
	key, err := c.Store.Key(ctx, *r.KeyID)
	if err != nil {
		return nil, err
	}
	id := WebhookID(r.ID)
	code, derr := notify.Post(ctx, c.Client, key.WebhookSecret, id, *r.CallbackURL, []byte(p.Body))
	rec := storage.ReportDelivery{ReportID: r.ID, JobID: job.ID, WebhookID: id, Attempt: job.Attempts, StatusCode: code, OK: derr == nil}
	if derr != nil {
		msg := derr.Error()
		rec.Error = &msg
	}
	if err := c.Store.RecordReportDelivery(context.WithoutCancel(ctx), rec); err != nil {
		return nil, err
	}
	c.Log.Info("report callback attempted", "job_id", job.ID, "report_id", r.ID, "attempt", job.Attempts, "ok", derr == nil)
	if derr != nil {
		if errors.Is(derr, netguard.ErrBlocked) {
			// The host resolved to a refused address: retrying will not help.
			return nil, fault.New(fault.Invalid, "callback_url: %s", derr.Error())
		}
		return nil, derr
	}
	return map[string]any{"report_id": r.ID, "status_code": *code}, nil
}
