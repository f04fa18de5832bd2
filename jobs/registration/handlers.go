package registration

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/internal/crypt"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/jobs/notify"
	"github.com/turnoutdev/turnout/storage"
)

// Sender delivers an e-mail (notify.Mailer in production).
type Sender interface {
	Send(ctx context.Context, e notify.Email) error
}

// Jobs runs this package's jobs: the PDF (queue pdf) and the e-mails
// (queue notify). Every step is guarded in SQL so a re-run after a crash
// neither duplicates the follow-up jobs nor undoes a stop.
type Jobs struct {
	Store     *storage.Store
	Blobs     storage.Blobs
	Ring      *crypt.Ring
	Ref       *Reference
	Renderer  *PDFRenderer
	Enqueuer  *jobs.Enqueuer
	Mail      Sender
	PublicURL *url.URL
	// Reminders is the delay before each reminder e-mail, the first counted
	// from the confirmation.
	Reminders []time.Duration
	Log       *slog.Logger
}

// Handlers returns the job kind → handler map for the worker.
func (j *Jobs) Handlers() map[string]jobs.Handler {
	return map[string]jobs.Handler{
		KindPDF:           jobs.HandlerFunc(j.RunPDF),
		KindConfirmation:  jobs.HandlerFunc(j.RunConfirmation),
		KindReminder:      jobs.HandlerFunc(j.RunReminder),
		KindGRegistration: jobs.HandlerFunc(j.RunGRegistration),
	}
}

func (j *Jobs) load(ctx context.Context, job *storage.Job) (jobParams, *storage.Registrant, *State, error) {
	p, err := decodeParams(job)
	if err != nil {
		return p, nil, nil, err
	}
	r, err := j.Store.Registrant(ctx, p.RegistrantID)
	if fault.Is(err, fault.NotFound) {
		return p, nil, nil, fault.New(fault.Invalid, "registrant %d no longer exists", p.RegistrantID)
	}
	if err != nil {
		return p, nil, nil, err
	}
	st, _ := j.Ref.State(r.HomeStateID)
	return p, r, st, nil
}

// URL returns the public URL of path.
func (j *Jobs) URL(path string) string { return j.PublicURL.String() + path }

// RunPDF renders the registrant's form, stores it, marks it ready and, the
// first time, starts the confirmation e-mail.
func (j *Jobs) RunPDF(ctx context.Context, job *storage.Job) (any, error) {
	p, r, st, err := j.load(ctx, job)
	if err != nil {
		return nil, err
	}
	result := map[string]any{"registrant_id": r.ID}
	if r.PDFStatus == storage.PDFReady {
		return result, nil
	}
	if st == nil {
		return nil, fault.New(fault.Invalid, "registrant %d: unknown home state", r.ID)
	}
	id, err := j.Ring.Decrypt(r.IDNumberEnc, []byte(r.UID))
	if err != nil {
		// A missing key is an operator problem; retrying lets a fixed
		// configuration finish the job.
		return nil, fmt.Errorf("registrant %d: id number: %w", r.ID, err)
	}
	var buf bytes.Buffer
	if err := j.Renderer.Render(&buf, r, string(id), st); err != nil {
		return nil, fmt.Errorf("render pdf: %w", err)
	}
	if err := j.Blobs.Put(ctx, PDFKey(r.UID), &buf, "application/pdf"); err != nil {
		return nil, err
	}
	var next *storage.Job
	err = j.Store.WithTx(ctx, func(tx *storage.Tx) error {
		first, err := tx.MarkPDFReady(ctx, r.ID)
		if err != nil || !first || !r.SendConfirmationReminderEmails || r.EmailAddress == "" {
			return err
		}
		next, err = tx.InsertJob(ctx, storage.NewJob{Kind: KindConfirmation, Queue: jobs.QueueNotify,
			Params: jobParams{RegistrantID: p.RegistrantID}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if next != nil {
		j.Enqueuer.EnqueueOrLog(ctx, next)
	}
	result["bytes"] = buf.Cap()
	return result, nil
}

// stopURL is the partner's custom_stop_reminders_url with <UID> replaced,
// or Turnout's own stop page.
func (j *Jobs) stopURL(r *storage.Registrant) string {
	if r.CustomStopRemindersURL != "" {
		return strings.ReplaceAll(r.CustomStopRemindersURL, "<UID>", url.PathEscape(r.UID))
	}
	return j.URL(StopRemindersPath(r.UID))
}

// RunConfirmation sends the confirmation e-mail with the PDF link and
// schedules the first reminder.
func (j *Jobs) RunConfirmation(ctx context.Context, job *storage.Job) (any, error) {
	_, r, st, err := j.load(ctx, job)
	if err != nil {
		return nil, err
	}
	if r.ConfirmationSentAt != nil {
		return map[string]any{"sent": false, "reason": "already sent"}, nil
	}
	e := buildEmail(emailConfirmation, r, st, j.URL(PDFPath(r.UID)), j.stopURL(r))
	if err := j.Mail.Send(ctx, e); err != nil {
		return nil, err
	}
	var next *storage.Job
	err = j.Store.WithTx(ctx, func(tx *storage.Tx) error {
		first, err := tx.MarkConfirmationSent(ctx, r.ID)
		if err != nil || !first || r.RemindersLeft == 0 {
			return err
		}
		next, err = tx.InsertJob(ctx, storage.NewJob{Kind: KindReminder, Queue: jobs.QueueNotify,
			Params: jobParams{RegistrantID: r.ID, Left: r.RemindersLeft, Due: j.dueAt(r.RemindersLeft)}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if next != nil {
		j.enqueueReminder(ctx, next, j.delayBefore(r.RemindersLeft))
	}
	return map[string]any{"sent": true}, nil
}

// delayBefore returns the delay before the reminder sent when left
// reminders remain (the first reminder when left is the full count).
func (j *Jobs) delayBefore(left int32) time.Duration {
	if len(j.Reminders) == 0 {
		return 0
	}
	i := len(j.Reminders) - int(left)
	i = max(0, min(i, len(j.Reminders)-1))
	return j.Reminders[i]
}

// dueAt is when the reminder sent with left reminders remaining is due.
func (j *Jobs) dueAt(left int32) int64 { return time.Now().Add(j.delayBefore(left)).Unix() }

func (j *Jobs) enqueueReminder(ctx context.Context, job *storage.Job, delay time.Duration) {
	if err := j.Enqueuer.EnqueueIn(ctx, job, delay); err != nil {
		j.Log.Warn("reminder not scheduled; the reconciler will enqueue it", "job_id", job.ID, "err", err)
	}
}

// RunReminder sends one reminder unless reminders were stopped, then
// schedules the next one.
func (j *Jobs) RunReminder(ctx context.Context, job *storage.Job) (any, error) {
	p, r, st, err := j.load(ctx, job)
	if err != nil {
		return nil, err
	}
	if r.RemindersLeft != p.Left || p.Left <= 0 {
		return map[string]any{"sent": false, "reason": "reminders stopped or already sent"}, nil
	}
	// Early: the reconciler re-enqueues a job whose delayed task was lost
	// (Redis flushed) without its delay. Schedule a fresh job for the rest
	// of the wait; the reminders_left guard keeps a duplicate harmless.
	if wait := time.Until(time.Unix(p.Due, 0)); p.Due > 0 && wait > time.Second {
		again, err := j.Store.InsertJob(ctx, storage.NewJob{Kind: KindReminder, Queue: jobs.QueueNotify, Params: p})
		if err != nil {
			return nil, err
		}
		j.enqueueReminder(ctx, again, wait)
		return map[string]any{"sent": false, "reason": "early; rescheduled", "job_id": again.ID}, nil
	}
	e := buildEmail(emailReminder, r, st, j.URL(PDFPath(r.UID)), j.stopURL(r))
	if err := j.Mail.Send(ctx, e); err != nil {
		return nil, err
	}
	var next *storage.Job
	err = j.Store.WithTx(ctx, func(tx *storage.Tx) error {
		taken, err := tx.TakeReminder(ctx, r.ID, p.Left)
		if err != nil || !taken || p.Left-1 == 0 {
			return err
		}
		next, err = tx.InsertJob(ctx, storage.NewJob{Kind: KindReminder, Queue: jobs.QueueNotify,
			Params: jobParams{RegistrantID: r.ID, Left: p.Left - 1, Due: j.dueAt(p.Left - 1)}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if next != nil {
		j.enqueueReminder(ctx, next, j.delayBefore(p.Left-1))
	}
	return map[string]any{"sent": true, "left": p.Left - 1}, nil
}

// RunGRegistration sends the e-mail of the finish-with-state use case.
func (j *Jobs) RunGRegistration(ctx context.Context, job *storage.Job) (any, error) {
	_, r, st, err := j.load(ctx, job)
	if err != nil {
		return nil, err
	}
	if r.ConfirmationSentAt != nil {
		return map[string]any{"sent": false, "reason": "already sent"}, nil
	}
	if err := j.Mail.Send(ctx, buildEmail(emailGRegistration, r, st, "", "")); err != nil {
		return nil, err
	}
	if _, err := j.Store.MarkConfirmationSent(ctx, r.ID); err != nil {
		return nil, err
	}
	return map[string]any{"sent": true}, nil
}
