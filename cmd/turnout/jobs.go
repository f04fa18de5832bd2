package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/api/native"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

const jobsUsage = "usage: turnout jobs ls|show|watch|cancel|retry (see turnout --help)"

func jobsCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return errors.New(jobsUsage)
	}
	switch args[0] {
	case "ls", "list":
		return jobsList(ctx, e, args[1:])
	case "show":
		return jobsShow(ctx, e, args[1:])
	case "watch":
		return jobsWatch(ctx, e, args[1:])
	case "cancel":
		return jobsAct(ctx, e, "cancel", args[1:])
	case "retry":
		return jobsAct(ctx, e, "retry", args[1:])
	}
	return fmt.Errorf("unknown jobs command %q\n%s", args[0], jobsUsage)
}

// jobFilterFlags are the filters shared by ls and retry --status.
type jobFilterFlags struct {
	status, kind, queue, cursor string
	since                       time.Duration
	limit                       int
}

func (jf *jobFilterFlags) register(fs *flag.FlagSet, limit int) {
	fs.StringVar(&jf.status, "status", "", "only jobs of these statuses (comma separated)")
	fs.StringVar(&jf.kind, "kind", "", "only jobs of this kind")
	fs.StringVar(&jf.queue, "queue", "", "only jobs of this queue")
	fs.DurationVar(&jf.since, "since", 0, "only jobs created within this long (e.g. 1h)")
	fs.StringVar(&jf.cursor, "cursor", "", "the next page, as printed after the last one")
	fs.IntVar(&jf.limit, "limit", limit, "at most this many jobs")
}

func (jf *jobFilterFlags) filter() (storage.JobFilter, error) {
	q := map[string][]string{"status": {jf.status}, "kind": {jf.kind}, "queue": {jf.queue}, "cursor": {jf.cursor}}
	f, err := native.ParseJobFilter(q)
	if err != nil {
		return f, err
	}
	if jf.since > 0 {
		t := time.Now().Add(-jf.since)
		f.CreatedAfter = &t
	}
	f.Limit = jf.limit
	return f, nil
}

func jobsList(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("jobs ls", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	var jf jobFilterFlags
	jf.register(fs, 50)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := jf.filter()
	if err != nil {
		return err
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	page, err := s.ListJobs(ctx, f)
	if err != nil {
		return err
	}
	if err := printList(e.out, *asJSON, page, "ID\tKIND\tQUEUE\tSTATUS\tATTEMPTS\tPROGRESS\tKEY\tCREATED\tERROR", jobRow); err != nil {
		return err
	}
	if !*asJSON && len(page) == f.Limit {
		fmt.Fprintf(e.errOut, "more: --cursor %d\n", page[len(page)-1].ID)
	}
	return nil
}

func jobRow(j storage.JobListing) []any {
	key, errMsg := "-", "-"
	if j.KeyName != nil {
		key = *j.KeyName
	}
	if j.Error != nil {
		errMsg = *j.Error
	}
	return []any{j.ID, j.Kind, j.Queue, j.Status, fmt.Sprintf("%d/%d", j.Attempts, j.MaxAttempts),
		progress(&j.Job), key, j.CreatedAt.Local().Format("2006-01-02 15:04:05"), errMsg}
}

func progress(j *storage.Job) string {
	if j.ProgressTotal == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%d failed)", j.ProgressDone, j.ProgressTotal, j.ProgressFailed)
}

func jobsShow(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("jobs show", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	asJSON := fs.Bool("json", false, "print JSON")
	id, err := jobIDArg(parseInterspersed(fs, args))
	if err != nil {
		return err
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	j, err := s.JobListingOf(ctx, id, nil)
	if err != nil {
		return err
	}
	history, err := s.JobEvents(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.out).Encode(map[string]any{"job": j, "history": history})
	}
	row := jobRow(*j)
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(e.out, "job %d  %s on %s  %s\n", j.ID, j.Kind, j.Queue, j.Status)
	fmt.Fprintf(e.out, "attempts %s  progress %s  key %s\n", row[4], row[5], row[6])
	fmt.Fprintf(e.out, "created %s  started %s  finished %s\n", when(&j.CreatedAt), when(j.StartedAt), when(j.FinishedAt))
	if j.CanceledBy != nil {
		fmt.Fprintf(e.out, "canceled by %s at %s\n", *j.CanceledBy, when(j.CanceledAt))
	}
	if j.Error != nil {
		fmt.Fprintf(e.out, "error: %s\n", *j.Error)
	}
	fmt.Fprintln(e.out, "history:")
	return printList(e.out, false, history, "AT\tATTEMPT\tACTION\tBY\tDETAIL", func(ev storage.JobEvent) []any {
		detail := "-"
		if ev.Detail != nil {
			detail = *ev.Detail
		}
		return []any{ev.At.Local().Format("2006-01-02 15:04:05"), ev.Attempt, ev.Action, orDefault(ev.Actor, "system"), detail}
	})
}

func orDefault(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// jobsAct cancels or retries one job (by id), or retries many (--status).
func jobsAct(ctx context.Context, e *env, verb string, args []string) error {
	fs := flag.NewFlagSet("jobs "+verb, flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	var jf jobFilterFlags
	if verb == "retry" {
		jf.register(fs, 100)
	}
	asJSON := fs.Bool("json", false, "print JSON")
	pos := parseInterspersed(fs, args)
	ctl, closeCtl, err := e.openControl(ctx)
	if err != nil {
		return err
	}
	defer closeCtl()
	actor := "cli:" + cliUser()
	if verb == "retry" && len(pos) == 0 && jf.status != "" {
		f, err := jf.filter()
		if err != nil {
			return err
		}
		res, err := ctl.RetryMany(ctx, f, actor, jf.limit)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(e.out).Encode(res)
		}
		fmt.Fprintf(e.out, "%d jobs retried\n", len(res.Retried))
		for id, why := range res.Failed {
			fmt.Fprintf(e.out, "job %s not retried: %s\n", id, why)
		}
		return nil
	}
	id, err := jobIDArg(pos)
	if err != nil {
		return err
	}
	act := ctl.Cancel
	if verb == "retry" {
		act = ctl.Retry
	}
	j, err := act(ctx, id, nil, actor)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.out).Encode(map[string]any{"job": j})
	}
	fmt.Fprintf(e.out, "job %d %s (attempts %d)\n", j.ID, j.Status, j.Attempts)
	return nil
}

func jobIDArg(args []string) (int64, error) {
	if len(args) != 1 {
		return 0, errors.New("want one job id")
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a job id", args[0])
	}
	return id, nil
}

// cliUser names the operator in a job's history: the login name, or the
// uid when there is none.
func cliUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// openControl connects to PostgreSQL and Redis for job control.
func (e *env) openControl(ctx context.Context) (*jobs.Control, func(), error) {
	s, err := e.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	ropt, err := redis.ParseURL(e.cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("TURNOUT_REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropt)
	conn := asynq.RedisClientOpt{Network: ropt.Network, Addr: ropt.Addr, Username: ropt.Username,
		Password: ropt.Password, DB: ropt.DB, TLSConfig: ropt.TLSConfig}
	client := asynq.NewClient(conn)
	insp := asynq.NewInspector(conn)
	log := slog.New(slog.NewTextHandler(e.errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctl := &jobs.Control{Store: s, Enqueuer: jobs.NewEnqueuer(s, client, log), Inspector: insp, Redis: rdb, Log: log}
	return ctl, func() {
		_ = insp.Close()
		_ = client.Close()
		_ = rdb.Close()
	}, nil
}
