// Package config reads Turnout's configuration from the environment.
//
// Every variable is parsed and checked once, at start-up, so a typo in a URL
// stops the process with a message naming the variable instead of failing
// later on the first request that needs it.
package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/internal/redisconn"
)

// Config is the whole configuration of every Turnout binary. Binaries use the
// parts they need; all of it is validated so a shared env file is checked
// the same way everywhere.
type Config struct {
	DatabaseURL string
	// DatabaseReplicaURL, when set, is a read replica that long reads
	// (registrant reports) use instead of the primary.
	DatabaseReplicaURL string
	RedisURL           string
	// Redis is RedisURL parsed: a single node, a Sentinel group or a
	// Cluster.
	Redis         *redisconn.Topology
	HTTPAddr      string
	PublicURL     *url.URL
	BlobURL       string
	SMTPURL       *url.URL
	MailFrom      string
	AllowNetworks []netip.Prefix
	// EncryptionKeys holds the AES-256 keys for data encrypted at rest; the
	// first encrypts, all decrypt, so a key can be rotated by prepending.
	EncryptionKeys [][]byte
	LogLevel       string

	ShutdownTimeout time.Duration
	// StartupWait is how long a process waits at start for PostgreSQL and
	// Redis to answer before it gives up (0: not at all).
	StartupWait       time.Duration
	WorkerConcurrency int
	ReconcileInterval time.Duration

	// File loads (issue 3): the known_hosts file SFTP host keys are checked
	// against, the development-only switch that skips that check, and the
	// largest source file fetched.
	SFTPKnownHosts string
	SFTPInsecure   bool
	MaxFileBytes   int64
	// FetchIdleTimeout fails a source fetch that delivers no byte for this
	// long; FetchTimeout bounds a whole fetch. Both keep a slow or stalled
	// source from holding a worker slot for ever.
	FetchIdleTimeout time.Duration
	FetchTimeout     time.Duration
	// KeyFileLoadConcurrency is how many file loads of one API key run at
	// once across all workers, for keys without a limit of their own
	// (api_keys.fileload_concurrency).
	KeyFileLoadConcurrency int
	// WorkerInteractiveConcurrency is how many of a worker's slots are kept
	// for interactive queues (registration PDFs, e-mails, webhooks) that
	// bulk work (file loads, reports) cannot take; 0 keeps none.
	WorkerInteractiveConcurrency int
	// CSV and zip limits of a file load: the worker's memory per load is
	// bounded by them, not by what a file holds.
	CSVMaxFieldBytes  int
	CSVMaxRecordBytes int
	CSVMaxColumns     int
	ZipMaxEntries     int
	// A direct score load matches and stores FileLoadChunkRows valid rows
	// at a time and keeps each of its id sets (people stored, ids of
	// nobody) under FileLoadSetBytes, spilling to PostgreSQL past it.
	FileLoadChunkRows int
	FileLoadSetBytes  int
	// ReconcileStale is how old a running job's heartbeat may grow before
	// its worker is presumed dead and the job is run again.
	ReconcileStale time.Duration
	// RetryBase, when set, replaces Asynq's retry schedule (15 s + n⁴ s +
	// jitter) with base·2ⁿ: chaos tests and impatient deployments shorten
	// the wait for a webhook receiver or a database that came back.
	RetryBase time.Duration
	// PublicRateLimit is calls per minute per client address on endpoints
	// that take no key; 0 turns the limit off.
	PublicRateLimit int
	// EventsHeartbeat is how often an idle job event stream
	// (GET /service/jobs/{id}/events) carries a comment, so that proxies
	// keep it open.
	EventsHeartbeat time.Duration

	// Rocky (voter registration): delays of the reminder e-mails after the
	// confirmation, the e-mail block list (nil = the built-in list of
	// disposable domains) and how long registrations with async=false wait
	// for their PDF before answering 504.
	RockyReminders      []time.Duration
	RockyEmailBlocklist []string
	RockyPDFWait        time.Duration
	// RockyOpenSignup lets anyone create a partner (and get its key) with
	// POST /api/v4/partners.json, as Rocky does; otherwise an admin key is
	// required.
	RockyOpenSignup bool
	// RockySignupsPerHour limits open sign-ups per client address (on top
	// of the public limit, which they also count against).
	RockySignupsPerHour int
	// RockyPreRegistration admits registrants under 18 whom their state's
	// pre-registration rule allows; off, registrations need age 18.
	RockyPreRegistration bool
	// RockyBatchSize is the batch size of the keys partner sign-up issues
	// (how many records one bulk call may carry).
	RockyBatchSize int

	// ReportRetention is how long a registrant report's file stays
	// downloadable before the worker deletes it.
	ReportRetention time.Duration
}

// defaults are those of DESIGN.md: a local development stack.
var defaults = map[string]string{
	"TURNOUT_DATABASE_URL":                   "postgres://postgres@127.0.0.1:5432/turnout?sslmode=disable",
	"TURNOUT_DATABASE_REPLICA_URL":           "",
	"TURNOUT_REDIS_URL":                      "redis://127.0.0.1:6379/0",
	"TURNOUT_HTTP_ADDR":                      ":8080",
	"TURNOUT_PUBLIC_URL":                     "http://localhost:8080",
	"TURNOUT_BLOB_URL":                       "file://./var/blobs",
	"TURNOUT_SMTP_URL":                       "smtp://127.0.0.1:1025",
	"TURNOUT_MAIL_FROM":                      "Turnout <no-reply@localhost>",
	"TURNOUT_ALLOW_NETWORKS":                 "",
	"TURNOUT_ENCRYPTION_KEY":                 "",
	"TURNOUT_LOG_LEVEL":                      "info",
	"TURNOUT_SHUTDOWN_TIMEOUT":               "30s",
	"TURNOUT_STARTUP_WAIT":                   "60s",
	"TURNOUT_WORKER_CONCURRENCY":             "10",
	"TURNOUT_RECONCILE_INTERVAL":             "30s",
	"TURNOUT_PUBLIC_RATE_LIMIT":              "600",
	"TURNOUT_EVENTS_HEARTBEAT":               "15s",
	"TURNOUT_RECONCILE_STALE":                "2m",
	"TURNOUT_RETRY_BASE":                     "",
	"TURNOUT_ROCKY_REMINDERS":                "72h,72h,72h",
	"TURNOUT_ROCKY_EMAIL_BLOCKLIST":          "",
	"TURNOUT_ROCKY_PDF_WAIT":                 "20s",
	"TURNOUT_ROCKY_OPEN_SIGNUP":              "false",
	"TURNOUT_ROCKY_SIGNUP_RATE_LIMIT":        "5",
	"TURNOUT_ROCKY_PREREGISTRATION":          "false",
	"TURNOUT_ROCKY_BATCH_SIZE":               "1000",
	"TURNOUT_REPORT_RETENTION":               "7d",
	"TURNOUT_SFTP_KNOWN_HOSTS":               "",
	"TURNOUT_SFTP_INSECURE":                  "false",
	"TURNOUT_MAX_FILE_BYTES":                 "2147483648",
	"TURNOUT_CSV_MAX_FIELD_BYTES":            "65536",
	"TURNOUT_CSV_MAX_RECORD_BYTES":           "1048576",
	"TURNOUT_CSV_MAX_COLUMNS":                "1000",
	"TURNOUT_ZIP_MAX_ENTRIES":                "1000",
	"TURNOUT_FILELOAD_CHUNK_ROWS":            "65536",
	"TURNOUT_FILELOAD_SET_BYTES":             "8388608",
	"TURNOUT_FETCH_IDLE_TIMEOUT":             "60s",
	"TURNOUT_FETCH_TIMEOUT":                  "20m",
	"TURNOUT_KEY_FILELOAD_CONCURRENCY":       "4",
	"TURNOUT_WORKER_INTERACTIVE_CONCURRENCY": "4",
}

// Load reads the process environment.
func Load() (*Config, error) { return Parse(os.Getenv) }

// Parse reads configuration through getenv, so tests can supply a map.
func Parse(getenv func(string) string) (*Config, error) {
	get := func(k string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return defaults[k]
	}
	c := &Config{
		DatabaseURL:        get("TURNOUT_DATABASE_URL"),
		DatabaseReplicaURL: get("TURNOUT_DATABASE_REPLICA_URL"),
		RedisURL:           get("TURNOUT_REDIS_URL"),
		HTTPAddr:           get("TURNOUT_HTTP_ADDR"),
		BlobURL:            get("TURNOUT_BLOB_URL"),
		LogLevel:           strings.ToLower(get("TURNOUT_LOG_LEVEL")),
		MailFrom:           get("TURNOUT_MAIL_FROM"),
	}
	var errs []string
	bad := func(k, format string, a ...any) {
		errs = append(errs, k+": "+fmt.Sprintf(format, a...))
	}

	// Several hosts (postgres://h1:5432,h2:5432/db?target_session_attrs=read-write)
	// let pgx find the primary after a failover.
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("TURNOUT_DATABASE_URL", "want a postgres:// URL")
	}
	if c.DatabaseReplicaURL != "" {
		if u, err := url.Parse(c.DatabaseReplicaURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("TURNOUT_DATABASE_REPLICA_URL", "want a postgres:// URL (empty: long reads use the primary)")
		}
	}
	if top, err := redisconn.Parse(c.RedisURL); err != nil {
		bad("TURNOUT_REDIS_URL", "%v", err)
	} else {
		c.Redis = top
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("TURNOUT_HTTP_ADDR", "want host:port or :port (%v)", err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("TURNOUT_HTTP_ADDR", "port %q is not a number in 0-65535", port)
	}
	if u, err := url.Parse(get("TURNOUT_PUBLIC_URL")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("TURNOUT_PUBLIC_URL", "want an absolute http(s) URL")
	} else {
		u.Path = strings.TrimRight(u.Path, "/")
		c.PublicURL = u
	}
	if u, err := url.Parse(c.BlobURL); err != nil || (u.Scheme != "file" && u.Scheme != "s3" && u.Scheme != "mem") {
		bad("TURNOUT_BLOB_URL", "want a file://, s3:// or mem:// URL")
	}
	if u, err := url.Parse(get("TURNOUT_SMTP_URL")); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
		bad("TURNOUT_SMTP_URL", "want smtp://[user:pass@]host:port or smtps://...")
	} else {
		c.SMTPURL = u
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		bad("TURNOUT_MAIL_FROM", "want an address such as \"Turnout <no-reply@example.org>\"")
	}
	for _, s := range splitList(get("TURNOUT_ALLOW_NETWORKS")) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				bad("TURNOUT_ALLOW_NETWORKS", "%q is not a CIDR such as 10.0.0.0/8", s)
				continue
			}
		}
		c.AllowNetworks = append(c.AllowNetworks, p.Masked())
	}
	for i, s := range splitList(get("TURNOUT_ENCRYPTION_KEY")) {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != 32 {
			bad("TURNOUT_ENCRYPTION_KEY", "key %d is not 32 bytes of standard base64 (generate one with `openssl rand -base64 32`)", i+1)
			continue
		}
		c.EncryptionKeys = append(c.EncryptionKeys, k)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("TURNOUT_LOG_LEVEL", "want debug, info, warn or error, not %q", c.LogLevel)
	}
	var err error
	if c.ShutdownTimeout, err = time.ParseDuration(get("TURNOUT_SHUTDOWN_TIMEOUT")); err != nil || c.ShutdownTimeout <= 0 {
		bad("TURNOUT_SHUTDOWN_TIMEOUT", "want a positive duration such as 30s")
	}
	if c.StartupWait, err = time.ParseDuration(get("TURNOUT_STARTUP_WAIT")); err != nil || c.StartupWait < 0 {
		bad("TURNOUT_STARTUP_WAIT", "want a duration such as 60s (0: fail at once when a service is down)")
	}
	if c.ReconcileInterval, err = time.ParseDuration(get("TURNOUT_RECONCILE_INTERVAL")); err != nil || c.ReconcileInterval <= 0 {
		bad("TURNOUT_RECONCILE_INTERVAL", "want a positive duration such as 30s")
	}
	// The heartbeat is written every 10s; anything under 30s would declare
	// live workers dead.
	if c.ReconcileStale, err = time.ParseDuration(get("TURNOUT_RECONCILE_STALE")); err != nil || c.ReconcileStale < 30*time.Second {
		bad("TURNOUT_RECONCILE_STALE", "want a duration of at least 30s (the heartbeat is every 10s)")
	}
	if v := get("TURNOUT_RETRY_BASE"); v != "" {
		if c.RetryBase, err = time.ParseDuration(v); err != nil || c.RetryBase < 10*time.Millisecond || c.RetryBase > time.Hour {
			bad("TURNOUT_RETRY_BASE", "want a duration between 10ms and 1h such as 1s (empty: Asynq's default schedule)")
		}
	}
	if c.PublicRateLimit, err = strconv.Atoi(get("TURNOUT_PUBLIC_RATE_LIMIT")); err != nil || c.PublicRateLimit < 0 {
		bad("TURNOUT_PUBLIC_RATE_LIMIT", "want calls per minute per client address (0 for no limit)")
	}
	if c.WorkerConcurrency, err = strconv.Atoi(get("TURNOUT_WORKER_CONCURRENCY")); err != nil || c.WorkerConcurrency < 1 {
		bad("TURNOUT_WORKER_CONCURRENCY", "want a positive integer")
	}
	for _, d := range splitList(get("TURNOUT_ROCKY_REMINDERS")) {
		if d == "none" {
			continue
		}
		v, err := time.ParseDuration(d)
		if err != nil || v <= 0 {
			bad("TURNOUT_ROCKY_REMINDERS", "want comma-separated positive durations such as 72h,72h,72h (or none), not %q", d)
			continue
		}
		c.RockyReminders = append(c.RockyReminders, v)
	}
	c.RockyEmailBlocklist = splitList(get("TURNOUT_ROCKY_EMAIL_BLOCKLIST"))
	if c.RockyOpenSignup, err = strconv.ParseBool(get("TURNOUT_ROCKY_OPEN_SIGNUP")); err != nil {
		bad("TURNOUT_ROCKY_OPEN_SIGNUP", "want true or false")
	}
	if c.EventsHeartbeat, err = time.ParseDuration(get("TURNOUT_EVENTS_HEARTBEAT")); err != nil || c.EventsHeartbeat < 10*time.Millisecond {
		bad("TURNOUT_EVENTS_HEARTBEAT", "want a duration of at least 10ms such as 15s")
	}
	if c.RockyPDFWait, err = time.ParseDuration(get("TURNOUT_ROCKY_PDF_WAIT")); err != nil || c.RockyPDFWait <= 0 {
		bad("TURNOUT_ROCKY_PDF_WAIT", "want a positive duration such as 20s")
	}
	if c.RockySignupsPerHour, err = strconv.Atoi(get("TURNOUT_ROCKY_SIGNUP_RATE_LIMIT")); err != nil || c.RockySignupsPerHour < 1 {
		bad("TURNOUT_ROCKY_SIGNUP_RATE_LIMIT", "want partner sign-ups per hour per client address (at least 1)")
	}
	if c.RockyPreRegistration, err = strconv.ParseBool(get("TURNOUT_ROCKY_PREREGISTRATION")); err != nil {
		bad("TURNOUT_ROCKY_PREREGISTRATION", "want true or false")
	}
	if c.RockyBatchSize, err = strconv.Atoi(get("TURNOUT_ROCKY_BATCH_SIZE")); err != nil || c.RockyBatchSize < 1 {
		bad("TURNOUT_ROCKY_BATCH_SIZE", "want a positive number of records per bulk call")
	}
	if c.ReportRetention, err = parseDays(get("TURNOUT_REPORT_RETENTION")); err != nil || c.ReportRetention < time.Second {
		bad("TURNOUT_REPORT_RETENTION", "want a duration of at least 1s such as 7d, 36h or 90m")
	}
	c.SFTPKnownHosts = get("TURNOUT_SFTP_KNOWN_HOSTS")
	if c.SFTPKnownHosts != "" {
		if _, err := os.Stat(c.SFTPKnownHosts); err != nil {
			bad("TURNOUT_SFTP_KNOWN_HOSTS", "cannot read %q (want the path of an OpenSSH known_hosts file)", c.SFTPKnownHosts)
		}
	}
	if c.SFTPInsecure, err = strconv.ParseBool(get("TURNOUT_SFTP_INSECURE")); err != nil {
		bad("TURNOUT_SFTP_INSECURE", "want true or false")
	}
	if c.MaxFileBytes, err = strconv.ParseInt(get("TURNOUT_MAX_FILE_BYTES"), 10, 64); err != nil || c.MaxFileBytes <= 0 {
		bad("TURNOUT_MAX_FILE_BYTES", "want a positive number of bytes")
	}
	c.parseFetchAndSlots(get, bad)
	positive := func(k string, dst *int, lo, hi int, what string) {
		n, err := strconv.Atoi(get(k))
		if err != nil || n < lo || n > hi {
			bad(k, "want %s from %d to %d", what, lo, hi)
			return
		}
		*dst = n
	}
	// A record holds at least one field; 256 MiB is far past what a
	// worker should hold for one record.
	positive("TURNOUT_CSV_MAX_FIELD_BYTES", &c.CSVMaxFieldBytes, 1, 256<<20, "bytes")
	positive("TURNOUT_CSV_MAX_RECORD_BYTES", &c.CSVMaxRecordBytes, 1, 256<<20, "bytes")
	positive("TURNOUT_CSV_MAX_COLUMNS", &c.CSVMaxColumns, 1, 1<<20, "fields")
	positive("TURNOUT_ZIP_MAX_ENTRIES", &c.ZipMaxEntries, 1, 1<<20, "entries")
	// A chunk costs about 50 bytes a row, three at a time.
	positive("TURNOUT_FILELOAD_CHUNK_ROWS", &c.FileLoadChunkRows, 1, 1<<20, "rows")
	positive("TURNOUT_FILELOAD_SET_BYTES", &c.FileLoadSetBytes, 1, 1<<30, "bytes")
	if c.CSVMaxFieldBytes > c.CSVMaxRecordBytes && c.CSVMaxRecordBytes > 0 {
		bad("TURNOUT_CSV_MAX_FIELD_BYTES", "is larger than TURNOUT_CSV_MAX_RECORD_BYTES (%d); a field is part of a record", c.CSVMaxRecordBytes)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}

// parseFetchAndSlots reads the limits that keep one tenant's slow sources
// from starving the worker's other work.
func (c *Config) parseFetchAndSlots(get func(string) string, bad func(k, format string, a ...any)) {
	var err error
	if c.FetchIdleTimeout, err = time.ParseDuration(get("TURNOUT_FETCH_IDLE_TIMEOUT")); err != nil || c.FetchIdleTimeout < 100*time.Millisecond {
		bad("TURNOUT_FETCH_IDLE_TIMEOUT", "want a duration of at least 100ms such as 60s")
	}
	// Asynq stops a task after 30 minutes; a fetch must end before that
	// so its job gets a clear error instead of a cancelled context.
	if c.FetchTimeout, err = time.ParseDuration(get("TURNOUT_FETCH_TIMEOUT")); err != nil || c.FetchTimeout < time.Second || c.FetchTimeout > 25*time.Minute {
		bad("TURNOUT_FETCH_TIMEOUT", "want a duration from 1s to 25m such as 20m")
	}
	if c.KeyFileLoadConcurrency, err = strconv.Atoi(get("TURNOUT_KEY_FILELOAD_CONCURRENCY")); err != nil || c.KeyFileLoadConcurrency < 1 {
		bad("TURNOUT_KEY_FILELOAD_CONCURRENCY", "want a positive integer")
	}
	if c.WorkerInteractiveConcurrency, err = strconv.Atoi(get("TURNOUT_WORKER_INTERACTIVE_CONCURRENCY")); err != nil || c.WorkerInteractiveConcurrency < 0 {
		bad("TURNOUT_WORKER_INTERACTIVE_CONCURRENCY", "want 0 or a positive integer")
	}
}

// parseDays is time.ParseDuration that also takes whole days ("7d").
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("bad day count %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
