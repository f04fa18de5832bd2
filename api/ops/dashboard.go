package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// JobControl is what the dashboard's actions on a Turnout task become.
type JobControl interface {
	Cancel(ctx context.Context, id int64, owner *int64, actor string) (*storage.Job, error)
	Retry(ctx context.Context, id int64, owner *int64, actor string) (*storage.Job, error)
}

// JobReader reads the job behind a task, for the dashboard's summary.
type JobReader interface {
	JobListingOf(ctx context.Context, id int64, owner *int64) (*storage.JobListing, error)
}

// Dashboard is the Asynq dashboard (asynqmon) mounted at root, with the
// actions that change a Turnout task's fate routed through job control so
// that they end in the same recorded state as the native API and the CLI:
//
//   - Cancel (active task) and Delete (pending, scheduled or retry task)
//     cancel the job.
//   - Run on an archived task retries the job with a fresh task.
//   - Archive, the "all" variants and deleting a queue are refused with a
//     message: they would change Redis alone, and the reconciler would
//     undo them.
//
// Deleting an archived or completed task, running a scheduled or retry
// task early, and pausing a queue change no job's outcome and pass
// through. Tasks that are not a job's (their id is not "job:N") pass
// through too. A task's payload is shown as a summary of its job (kind,
// owner key, status, progress, last caller-safe error), never its
// parameters.
type Dashboard struct {
	root    string
	ui      http.Handler
	control JobControl
}

// NewDashboard returns the dashboard mounted at root.
func NewDashboard(root string, conn asynq.RedisConnOpt, control JobControl, reader JobReader) *Dashboard {
	ui := asynqmon.New(asynqmon.Options{RootPath: root, RedisConnOpt: conn,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(func(_ string, payload []byte) string {
			return summary(reader, payload)
		})})
	return &Dashboard{root: root, ui: ui, control: control}
}

// summary describes the job a task carries.
func summary(reader JobReader, payload []byte) string {
	p, err := jobs.ParsePayload(payload)
	if err != nil {
		return "(not a Turnout job)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	j, err := reader.JobListingOf(ctx, p.JobID, nil)
	if err != nil {
		return fmt.Sprintf("job %d (unreadable: %s)", p.JobID, fault.As(err).Message)
	}
	s := map[string]any{"job_id": j.ID, "kind": j.Kind, "status": j.Status, "attempts": j.Attempts}
	if j.KeyName != nil {
		s["key"] = *j.KeyName
	}
	if j.ProgressTotal > 0 {
		s["progress"] = fmt.Sprintf("%d/%d (%d failed)", j.ProgressDone, j.ProgressTotal, j.ProgressFailed)
	}
	if j.Error != nil {
		s["error"] = *j.Error
	}
	if j.CanceledBy != nil {
		s["canceledBy"] = *j.CanceledBy
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// Handle serves the dashboard.
func (d *Dashboard) Handle(c echo.Context) error {
	r := c.Request()
	rest, ok := strings.CutPrefix(r.URL.Path, d.root+"/api/queues/")
	if !ok || (r.Method != http.MethodPost && r.Method != http.MethodDelete) {
		d.ui.ServeHTTP(c.Response(), r)
		return nil
	}
	parts := strings.Split(rest, "/")
	actor := "dashboard:" + middleware.Key(c).Name
	switch {
	case len(parts) == 1 && r.Method == http.MethodDelete:
		return refuse(c, "deleting a queue would drop its jobs' tasks and the reconciler would bring them back; cancel the jobs instead (turnout jobs cancel)")
	case len(parts) == 3:
		return d.task(c, parts[1], parts[2], actor)
	case len(parts) == 2:
		return d.batch(c, parts[1], actor)
	}
	d.ui.ServeHTTP(c.Response(), r)
	return nil
}

// task handles an action on one task: state is "pending_tasks" and the
// like, last is the task id with an optional ":verb".
func (d *Dashboard) task(c echo.Context, state, last, actor string) error {
	taskID, verb := last, ""
	if i := strings.LastIndex(last, ":"); i >= 0 && slices.Contains([]string{"cancel", "run", "archive"}, last[i+1:]) {
		taskID, verb = last[:i], last[i+1:]
	}
	jobID, ok := jobOfTask(taskID)
	if !ok {
		d.ui.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	act, refusal := d.action(c.Request().Method, state, verb)
	switch {
	case refusal != "":
		return refuse(c, refusal)
	case act == nil:
		d.ui.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	if _, err := act(c.Request().Context(), jobID, nil, actor); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// action maps a dashboard action to job control: a function to call, a
// refusal, or neither (pass it through).
func (d *Dashboard) action(method, state, verb string) (func(context.Context, int64, *int64, string) (*storage.Job, error), string) {
	live := state == "pending_tasks" || state == "scheduled_tasks" || state == "retry_tasks"
	switch {
	case state == "active_tasks" && verb == "cancel", live && method == http.MethodDelete && verb == "":
		return d.control.Cancel, ""
	case live && (verb == "archive" || verb == "batch_archive" || verb == "archive_all"):
		return nil, "archiving a job's task would fail it without a record; cancel the job instead"
	case state == "archived_tasks" && (verb == "run" || verb == "batch_run"):
		return d.control.Retry, ""
	case strings.HasSuffix(verb, "_all") && (live || state == "active_tasks" || (state == "archived_tasks" && verb == "run_all")):
		return nil, "actions on every task of a queue are not offered for Turnout jobs; use turnout jobs cancel or turnout jobs retry --status failed"
	}
	return nil, ""
}

// batch handles "state:batch_verb" and "state:verb_all".
func (d *Dashboard) batch(c echo.Context, last, actor string) error {
	state, verb, _ := strings.Cut(last, ":")
	if strings.HasSuffix(verb, "_all") {
		if _, refusal := d.action(c.Request().Method, state, verb); refusal != "" {
			return refuse(c, refusal)
		}
		d.ui.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	single := strings.TrimPrefix(verb, "batch_")
	method := http.MethodPost
	if single == "delete" {
		method, single = http.MethodDelete, ""
	}
	act, refusal := d.action(method, state, single)
	switch {
	case refusal != "":
		return refuse(c, refusal)
	case act == nil || !strings.HasPrefix(verb, "batch_"):
		d.ui.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	var req struct {
		TaskIDs []string `json:"task_ids"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20)).Decode(&req); err != nil {
		return c.String(http.StatusBadRequest, "the body must be {\"task_ids\": [...]}\n")
	}
	okIDs, failedIDs := []string{}, []string{}
	for _, id := range req.TaskIDs {
		jobID, ok := jobOfTask(id)
		if ok {
			_, err := act(c.Request().Context(), jobID, nil, actor)
			ok = err == nil
		}
		if ok {
			okIDs = append(okIDs, id)
		} else {
			failedIDs = append(failedIDs, id)
		}
	}
	// The response keys are asynqmon's for each batch action.
	keys := map[string][2]string{"cancel": {"canceled_ids", "error_ids"}, "": {"deleted_ids", "failed_ids"},
		"run": {"pending_ids", "error_ids"}}[single]
	return c.JSON(http.StatusOK, map[string][]string{keys[0]: okIDs, keys[1]: failedIDs})
}

// jobOfTask returns the job id of a job's task id ("job:N").
func jobOfTask(taskID string) (int64, bool) {
	s, ok := strings.CutPrefix(taskID, "job:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// refuse answers a dashboard action that cannot be honoured; the
// dashboard shows the message.
func refuse(c echo.Context, msg string) error {
	return c.String(http.StatusConflict, "refused: "+msg+"\n")
}
