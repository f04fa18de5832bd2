package ops

import (
	"context"
	"net/http"
	"testing"

	"github.com/turnoutdev/turnout/storage"
)

func TestDashboardActionsMapToJobControl(t *testing.T) {
	d := &Dashboard{}
	cases := []struct {
		method, state, verb string
		acts, refuses       bool
	}{
		{http.MethodPost, "active_tasks", "cancel", true, false},
		{http.MethodDelete, "pending_tasks", "", true, false},
		{http.MethodDelete, "retry_tasks", "", true, false},
		{http.MethodDelete, "archived_tasks", "", false, false},
		{http.MethodDelete, "completed_tasks", "", false, false},
		{http.MethodPost, "archived_tasks", "run", true, false},
		{http.MethodPost, "retry_tasks", "run", false, false},
		{http.MethodPost, "pending_tasks", "archive", false, true},
		{http.MethodPost, "pending_tasks", "archive_all", false, true},
		{http.MethodDelete, "pending_tasks", "delete_all", false, true},
		{http.MethodPost, "active_tasks", "cancel_all", false, true},
		{http.MethodPost, "archived_tasks", "run_all", false, true},
		{http.MethodDelete, "archived_tasks", "delete_all", false, false},
	}
	for _, c := range cases {
		d.control = fakeControl{}
		act, refusal := d.action(c.method, c.state, c.verb)
		if (act != nil) != c.acts || (refusal != "") != c.refuses {
			t.Errorf("%s %s:%s: acts %v refuses %q, want acts %v refuses %v", c.method, c.state, c.verb, act != nil, refusal, c.acts, c.refuses)
		}
	}
}

func TestJobOfTask(t *testing.T) {
	for id, want := range map[string]int64{"job:12": 12, "job:0": 0, "job:x": 0, "other": 0, "job:12:cancel": 0} {
		got, ok := jobOfTask(id)
		if got != want || ok != (want > 0) {
			t.Errorf("jobOfTask(%q) = %d, %v; want %d", id, got, ok, want)
		}
	}
}

type fakeControl struct{}

func (fakeControl) Cancel(context.Context, int64, *int64, string) (*storage.Job, error) {
	return nil, nil
}
func (fakeControl) Retry(context.Context, int64, *int64, string) (*storage.Job, error) {
	return nil, nil
}
