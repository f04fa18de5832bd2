package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// KindListeners is the job that notifies a file load's listeners.
const KindListeners = "van.notify"

// listener is a file load's listener as stored (unredacted).
type listener struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type params struct {
	LoadJobID int64           `json:"loadJobId"`
	Body      json.RawMessage `json:"body"`
}

// Scheduler creates the notification job of a file load.
type Scheduler struct {
	Store    *storage.Store
	Enqueuer *jobs.Enqueuer
}

// Notify commits one notification job per load (a re-run load finds it
// claimed and does nothing) and enqueues it. A load without listeners gets
// none. The job's params hold the body, so every retry sends the same bytes.
func (s *Scheduler) Notify(ctx context.Context, loadJobID int64, body any) error {
	fl, err := s.Store.FileLoad(ctx, loadJobID)
	if err != nil {
		return err
	}
	var ls []listener
	if err := json.Unmarshal(fl.Listeners, &ls); err != nil {
		return fmt.Errorf("decode listeners: %w", err)
	}
	if len(ls) == 0 {
		return nil
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var job *storage.Job
	errClaimed := errors.New("claimed")
	err = s.Store.WithTx(ctx, func(tx *storage.Tx) error {
		keyID := fl.KeyID
		job, err = tx.InsertJob(ctx, storage.NewJob{Kind: KindListeners, Queue: jobs.QueueNotify, KeyID: &keyID,
			Params: params{LoadJobID: loadJobID, Body: raw}, MaxAttempts: 8})
		if err != nil {
			return err
		}
		won, err := tx.ClaimNotify(ctx, loadJobID, job.ID)
		if err == nil && !won {
			return errClaimed
		}
		return err
	})
	if errors.Is(err, errClaimed) {
		return nil
	}
	if err != nil {
		return err
	}
	s.Enqueuer.EnqueueOrLog(ctx, job)
	return nil
}

// Sender sends e-mail; *Mailer is one.
type Sender interface {
	Send(ctx context.Context, e Email) error
}

// Deliverer is the handler of KindListeners jobs: it POSTs the signed
// notification to URL listeners and mails EMAIL listeners. Each attempt is
// recorded; a listener already served is skipped on retry, and a failure
// is returned so the worker retries with exponential backoff. Every retry
// sends the same webhook-id.
type Deliverer struct {
	Store  *storage.Store
	Client *http.Client // from netguard: listener URLs are caller-supplied
	Mailer Sender
	Log    *slog.Logger
}

// WebhookID is the Standard Webhooks message id of a load's notification
// to one listener, stable across retries so receivers can de-duplicate.
func WebhookID(loadJobID int64, listener int) string {
	return "msg_turnout_" + strconv.FormatInt(loadJobID, 10) + "_" + strconv.Itoa(listener)
}

// Run implements jobs.Handler.
func (d *Deliverer) Run(ctx context.Context, job *storage.Job) (any, error) {
	var p params
	if err := json.Unmarshal(job.Params, &p); err != nil || p.LoadJobID == 0 {
		return nil, fault.New(fault.Invalid, "bad notification job parameters")
	}
	fl, err := d.Store.FileLoad(ctx, p.LoadJobID)
	if err != nil {
		return nil, err
	}
	key, err := d.Store.Key(ctx, fl.KeyID)
	if err != nil {
		return nil, err
	}
	var ls []listener
	if err := json.Unmarshal(fl.Listeners, &ls); err != nil {
		return nil, fmt.Errorf("decode listeners: %w", err)
	}
	var failed []string
	sent := 0
	for i, l := range ls {
		if ok, err := d.Store.DeliveredOK(ctx, p.LoadJobID, i); err != nil {
			return nil, err
		} else if ok {
			continue
		}
		rec := storage.Delivery{JobID: job.ID, LoadJobID: p.LoadJobID, Listener: i, Kind: l.Type, Target: l.Value,
			WebhookID: WebhookID(p.LoadJobID, i), Attempt: job.Attempts}
		var derr error
		permanent := false
		switch l.Type {
		case "URL":
			rec.Target = netguard.RedactURL(l.Value)
			rec.StatusCode, derr = Post(ctx, d.Client, key.WebhookSecret, rec.WebhookID, l.Value, p.Body)
			permanent = errors.Is(derr, netguard.ErrBlocked)
		case "EMAIL":
			if err := d.Mailer.Send(ctx, email(l.Value, p.Body)); err != nil {
				// The relay's address and answer are the operator's business:
				// the job shows a generic error, the log the cause.
				d.Log.Warn("email listener failed", "job_id", job.ID, "listener", i, "err", err)
				derr = errors.New("the email could not be handed to the mail relay; it will be retried")
			}
		default:
			derr, permanent = fmt.Errorf("unknown listener type %q", l.Type), true
		}
		rec.OK = derr == nil
		if derr != nil {
			msg := derr.Error()
			rec.Error = &msg
		}
		if err := d.Store.RecordDelivery(context.WithoutCancel(ctx), rec); err != nil {
			return nil, err
		}
		if derr == nil {
			sent++
		} else if !permanent {
			failed = append(failed, fmt.Sprintf("listeners[%d] (%s): %v", i, l.Type, derr))
		}
		d.Log.Info("listener notified", "job_id", job.ID, "load_job_id", p.LoadJobID, "listener", i, "type", l.Type, "ok", derr == nil)
	}
	if len(failed) > 0 {
		return nil, errors.New(strings.Join(failed, "; "))
	}
	return map[string]int{"delivered": sent}, nil
}

// email renders the notification for a person.
func email(to string, body []byte) Email {
	var n struct {
		JobID        int64           `json:"jobId"`
		Description  string          `json:"description"`
		Message      string          `json:"message"`
		Status       string          `json:"status"`
		ScoreUpdates json.RawMessage `json:"scoreUpdates"`
	}
	_ = json.Unmarshal(body, &n)
	var b strings.Builder
	fmt.Fprintf(&b, "File loading job %d: %s\n\n", n.JobID, n.Status)
	if n.Description != "" {
		fmt.Fprintf(&b, "Description: %s\n", n.Description)
	}
	fmt.Fprintf(&b, "Message: %s\n", n.Message)
	var ups []struct {
		ScoreUpdateID int64  `json:"scoreUpdateId"`
		ScoreID       int64  `json:"scoreId"`
		LoadStatus    string `json:"loadStatus"`
		Stats         struct {
			TotalRows   int64 `json:"totalRows"`
			MatchedRows int64 `json:"matchedRows"`
		} `json:"updateStatistics"`
	}
	_ = json.Unmarshal(n.ScoreUpdates, &ups)
	for _, u := range ups {
		fmt.Fprintf(&b, "Score update %d (score %d): %s, %d of %d rows matched\n", u.ScoreUpdateID, u.ScoreID, u.LoadStatus, u.Stats.MatchedRows, u.Stats.TotalRows)
	}
	fmt.Fprintf(&b, "\nThe notification as JSON:\n%s\n", body)
	return Email{To: []string{to}, Subject: fmt.Sprintf("File loading job %d: %s", n.JobID, n.Status), Text: b.String()}
}
