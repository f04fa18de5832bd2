package storage_test

import (
	"context"
	"testing"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

func TestCancelThenRetryRecordsBothInTheJobsHistory(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	job, err := env.Store.InsertJob(ctx, storage.NewJob{Kind: "noop", Queue: "default"})
	if err != nil {
		t.Fatal(err)
	}
	canceled, err := env.Store.CancelJob(ctx, job.ID, nil, "cli:ops")
	if err != nil || canceled.Status != storage.JobCanceled {
		t.Fatalf("CancelJob = %+v, %v; want canceled", canceled, err)
	}
	if _, err := env.Store.CancelJob(ctx, job.ID, nil, "cli:ops"); !fault.Is(err, fault.Conflict) {
		t.Fatalf("canceling a canceled job: %v, want Conflict", err)
	}
	other := int64(1 << 40)
	if _, err := env.Store.RetryJob(ctx, job.ID, &other, "key:other", 1); !fault.Is(err, fault.NotFound) {
		t.Fatalf("retrying another key's job: %v, want NotFound", err)
	}
	retried, err := env.Store.RetryJob(ctx, job.ID, nil, "cli:ops", 2)
	if err != nil || retried.Status != storage.JobQueued || retried.MaxAttempts != retried.Attempts+2 {
		t.Fatalf("RetryJob = %+v, %v; want queued with 2 more attempts", retried, err)
	}
	events, err := env.Store.JobEvents(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if len(actions) != 2 || actions[0] != "canceled" || actions[1] != "retried" {
		t.Fatalf("job events = %q, want canceled then retried", actions)
	}
}
