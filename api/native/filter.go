package native

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// MaxJobsPage is the largest page of GET /service/jobs.
const MaxJobsPage = 200

var jobStatuses = []string{storage.JobQueued, storage.JobRunning, storage.JobRetrying,
	storage.JobSucceeded, storage.JobFailed, storage.JobCanceled}

// ParseJobFilter reads the job list's query: status (one or more, comma
// separated), kind, queue, createdAfter and createdBefore (RFC 3339),
// limit (1–200, default 50) and cursor (the nextCursor of the page before).
func ParseJobFilter(q url.Values) (storage.JobFilter, error) {
	f := storage.JobFilter{Kind: q.Get("kind"), Queue: q.Get("queue"), Limit: 50}
	bad := func(field, msg string) error {
		return fault.New(fault.Query, "%s %s", field, msg)
	}
	if s := q.Get("status"); s != "" {
		for _, st := range strings.Split(s, ",") {
			if !slices.Contains(jobStatuses, st) {
				return f, bad("status", "must be one or more of "+strings.Join(jobStatuses, ", "))
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	for name, dst := range map[string]**time.Time{"createdAfter": &f.CreatedAfter, "createdBefore": &f.CreatedBefore} {
		if s := q.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, bad(name, "must be an RFC 3339 time such as 2024-05-01T00:00:00Z")
			}
			*dst = &t
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxJobsPage {
			return f, bad("limit", "must be an integer from 1 to "+strconv.Itoa(MaxJobsPage))
		}
		f.Limit = n
	}
	if s := q.Get("cursor"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return f, bad("cursor", "must be the nextCursor of a previous page")
		}
		f.BeforeID = n
	}
	return f, nil
}
