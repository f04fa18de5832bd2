// Package config reads Turnout's configuration from the environment.
//
// Every variable is parsed and checked once, at start-up, so a typo in a URL
// stops the process with a message naming the variable instead of failing
// later on the first request that needs it.
package config

import (
	"encoding/base64"
	"fmt"
	"math"
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

	// File loads: the known_hosts file SFTP host keys are checked
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
	// A direct load (score, phones, AV/EV) matches and stores
	// FileLoadChunkRows valid rows at a time and keeps each of its id sets
	// (people stored, ids of nobody) under FileLoadSetBytes.
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

// defaults are those of a local development stack.
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

// Parse reads configuration through getenv, so tests can supply a map. It
// reports every bad variable at once.
func Parse(getenv func(string) string) (*Config, error) {
	p := &parser{getenv: getenv}
	c := &Config{}
	c.parseServices(p)
	c.parseNetworkAndSecrets(p)
	c.parseTimings(p)
	c.parseRocky(p)
	c.parseLimits(p)
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %s", strings.Join(p.errs, "\n  "))
	}
	return c, nil
}

// parser reads variables, falling back to their defaults, and collects
// what is wrong with them.
type parser struct {
	getenv func(string) string
	errs   []string
}

func (p *parser) get(k string) string {
	if v := strings.TrimSpace(p.getenv(k)); v != "" {
		return v
	}
	return defaults[k]
}

func (p *parser) bad(k, format string, a ...any) {
	p.errs = append(p.errs, k+": "+fmt.Sprintf(format, a...))
}

// duration reads k into dst; min is the least value allowed, want says
// what is.
func (p *parser) duration(k string, dst *time.Duration, min time.Duration, want string) {
	d, err := time.ParseDuration(p.get(k))
	if err != nil || d < min {
		p.bad(k, "%s", want)
	}
	*dst = d
}

// integer reads k into dst, requiring lo <= n <= hi, and reports whether
// it was good.
func (p *parser) integer(k string, dst *int, lo, hi int, want string) bool {
	n, err := strconv.Atoi(p.get(k))
	*dst = n
	if err != nil || n < lo || n > hi {
		p.bad(k, "%s", want)
		return false
	}
	return true
}

func (p *parser) boolean(k string, dst *bool) {
	v, err := strconv.ParseBool(p.get(k))
	if err != nil {
		p.bad(k, "want true or false")
	}
	*dst = v
}

// positive reads k into dst, requiring lo <= n <= hi of what; dst keeps
// its zero value when k is bad.
func (p *parser) positive(k string, dst *int, lo, hi int, what string) {
	var n int
	if p.integer(k, &n, lo, hi, fmt.Sprintf("want %s from %d to %d", what, lo, hi)) {
		*dst = n
	}
}

// parseServices reads where PostgreSQL, Redis, the blob store and the mail
// relay are, and where the API listens and is reached.
func (c *Config) parseServices(p *parser) {
	c.DatabaseURL = p.get("TURNOUT_DATABASE_URL")
	c.DatabaseReplicaURL = p.get("TURNOUT_DATABASE_REPLICA_URL")
	c.RedisURL = p.get("TURNOUT_REDIS_URL")
	c.HTTPAddr = p.get("TURNOUT_HTTP_ADDR")
	c.BlobURL = p.get("TURNOUT_BLOB_URL")
	c.LogLevel = strings.ToLower(p.get("TURNOUT_LOG_LEVEL"))
	c.MailFrom = p.get("TURNOUT_MAIL_FROM")

	// Several hosts (postgres://h1:5432,h2:5432/db?target_session_attrs=read-write)
	// let pgx find the primary after a failover.
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.bad("TURNOUT_DATABASE_URL", "want a postgres:// URL")
	}
	if c.DatabaseReplicaURL != "" {
		if u, err := url.Parse(c.DatabaseReplicaURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			p.bad("TURNOUT_DATABASE_REPLICA_URL", "want a postgres:// URL (empty: long reads use the primary)")
		}
	}
	if top, err := redisconn.Parse(c.RedisURL); err != nil {
		p.bad("TURNOUT_REDIS_URL", "%v", err)
	} else {
		c.Redis = top
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		p.bad("TURNOUT_HTTP_ADDR", "want host:port or :port (%v)", err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.bad("TURNOUT_HTTP_ADDR", "port %q is not a number in 0-65535", port)
	}
	if u, err := url.Parse(p.get("TURNOUT_PUBLIC_URL")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.bad("TURNOUT_PUBLIC_URL", "want an absolute http(s) URL")
	} else {
		u.Path = strings.TrimRight(u.Path, "/")
		c.PublicURL = u
	}
	if u, err := url.Parse(c.BlobURL); err != nil || (u.Scheme != "file" && u.Scheme != "s3" && u.Scheme != "mem") {
		p.bad("TURNOUT_BLOB_URL", "want a file://, s3:// or mem:// URL")
	}
	if u, err := url.Parse(p.get("TURNOUT_SMTP_URL")); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
		p.bad("TURNOUT_SMTP_URL", "want smtp://[user:pass@]host:port or smtps://...")
	} else {
		c.SMTPURL = u
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		p.bad("TURNOUT_MAIL_FROM", "want an address such as \"Turnout <no-reply@example.org>\"")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.bad("TURNOUT_LOG_LEVEL", "want debug, info, warn or error, not %q", c.LogLevel)
	}
}

// parseNetworkAndSecrets reads what outbound requests may reach, the keys
// of data encrypted at rest and how SFTP hosts are checked.
func (c *Config) parseNetworkAndSecrets(p *parser) {
	for _, s := range splitList(p.get("TURNOUT_ALLOW_NETWORKS")) {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			} else {
				p.bad("TURNOUT_ALLOW_NETWORKS", "%q is not a CIDR such as 10.0.0.0/8", s)
				continue
			}
		}
		c.AllowNetworks = append(c.AllowNetworks, pfx.Masked())
	}
	for i, s := range splitList(p.get("TURNOUT_ENCRYPTION_KEY")) {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != 32 {
			p.bad("TURNOUT_ENCRYPTION_KEY", "key %d is not 32 bytes of standard base64 (generate one with `openssl rand -base64 32`)", i+1)
			continue
		}
		c.EncryptionKeys = append(c.EncryptionKeys, k)
	}
	c.SFTPKnownHosts = p.get("TURNOUT_SFTP_KNOWN_HOSTS")
	if c.SFTPKnownHosts != "" {
		if _, err := os.Stat(c.SFTPKnownHosts); err != nil {
			p.bad("TURNOUT_SFTP_KNOWN_HOSTS", "cannot read %q (want the path of an OpenSSH known_hosts file)", c.SFTPKnownHosts)
		}
	}
	p.boolean("TURNOUT_SFTP_INSECURE", &c.SFTPInsecure)
}

// parseTimings reads the process's deadlines and the reconciler's and
// retries' schedule.
func (c *Config) parseTimings(p *parser) {
	p.duration("TURNOUT_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, time.Nanosecond, "want a positive duration such as 30s")
	p.duration("TURNOUT_STARTUP_WAIT", &c.StartupWait, 0, "want a duration such as 60s (0: fail at once when a service is down)")
	p.duration("TURNOUT_RECONCILE_INTERVAL", &c.ReconcileInterval, time.Nanosecond, "want a positive duration such as 30s")
	// The heartbeat is written every 10s; anything under 30s would declare
	// live workers dead.
	p.duration("TURNOUT_RECONCILE_STALE", &c.ReconcileStale, 30*time.Second, "want a duration of at least 30s (the heartbeat is every 10s)")
	if v := p.get("TURNOUT_RETRY_BASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Millisecond || d > time.Hour {
			p.bad("TURNOUT_RETRY_BASE", "want a duration between 10ms and 1h such as 1s (empty: Asynq's default schedule)")
		}
		c.RetryBase = d
	}
	p.duration("TURNOUT_EVENTS_HEARTBEAT", &c.EventsHeartbeat, 10*time.Millisecond, "want a duration of at least 10ms such as 15s")
}

// parseRocky reads the voter-registration settings.
func (c *Config) parseRocky(p *parser) {
	for _, d := range splitList(p.get("TURNOUT_ROCKY_REMINDERS")) {
		if d == "none" {
			continue
		}
		v, err := time.ParseDuration(d)
		if err != nil || v <= 0 {
			p.bad("TURNOUT_ROCKY_REMINDERS", "want comma-separated positive durations such as 72h,72h,72h (or none), not %q", d)
			continue
		}
		c.RockyReminders = append(c.RockyReminders, v)
	}
	c.RockyEmailBlocklist = splitList(p.get("TURNOUT_ROCKY_EMAIL_BLOCKLIST"))
	p.boolean("TURNOUT_ROCKY_OPEN_SIGNUP", &c.RockyOpenSignup)
	p.duration("TURNOUT_ROCKY_PDF_WAIT", &c.RockyPDFWait, time.Nanosecond, "want a positive duration such as 20s")
	p.integer("TURNOUT_ROCKY_SIGNUP_RATE_LIMIT", &c.RockySignupsPerHour, 1, math.MaxInt, "want partner sign-ups per hour per client address (at least 1)")
	p.boolean("TURNOUT_ROCKY_PREREGISTRATION", &c.RockyPreRegistration)
	p.integer("TURNOUT_ROCKY_BATCH_SIZE", &c.RockyBatchSize, 1, math.MaxInt, "want a positive number of records per bulk call")
	d, err := parseDays(p.get("TURNOUT_REPORT_RETENTION"))
	if err != nil || d < time.Second {
		p.bad("TURNOUT_REPORT_RETENTION", "want a duration of at least 1s such as 7d, 36h or 90m")
	}
	c.ReportRetention = d
}

// parseLimits reads what bounds the work one tenant can make: call rates,
// worker slots, fetch deadlines and the sizes a file may have.
func (c *Config) parseLimits(p *parser) {
	p.integer("TURNOUT_PUBLIC_RATE_LIMIT", &c.PublicRateLimit, 0, math.MaxInt, "want calls per minute per client address (0 for no limit)")
	p.integer("TURNOUT_WORKER_CONCURRENCY", &c.WorkerConcurrency, 1, math.MaxInt, "want a positive integer")
	n, err := strconv.ParseInt(p.get("TURNOUT_MAX_FILE_BYTES"), 10, 64)
	if err != nil || n <= 0 {
		p.bad("TURNOUT_MAX_FILE_BYTES", "want a positive number of bytes")
	}
	c.MaxFileBytes = n
	p.duration("TURNOUT_FETCH_IDLE_TIMEOUT", &c.FetchIdleTimeout, 100*time.Millisecond, "want a duration of at least 100ms such as 60s")
	// Asynq stops a task after 30 minutes; a fetch must end before that
	// so its job gets a clear error instead of a cancelled context.
	if p.duration("TURNOUT_FETCH_TIMEOUT", &c.FetchTimeout, time.Second, "want a duration from 1s to 25m such as 20m"); c.FetchTimeout > 25*time.Minute {
		p.bad("TURNOUT_FETCH_TIMEOUT", "want a duration from 1s to 25m such as 20m")
	}
	p.integer("TURNOUT_KEY_FILELOAD_CONCURRENCY", &c.KeyFileLoadConcurrency, 1, math.MaxInt, "want a positive integer")
	p.integer("TURNOUT_WORKER_INTERACTIVE_CONCURRENCY", &c.WorkerInteractiveConcurrency, 0, math.MaxInt, "want 0 or a positive integer")
	// A record holds at least one field; 256 MiB is far past what a
	// worker should hold for one record.
	p.positive("TURNOUT_CSV_MAX_FIELD_BYTES", &c.CSVMaxFieldBytes, 1, 256<<20, "bytes")
	p.positive("TURNOUT_CSV_MAX_RECORD_BYTES", &c.CSVMaxRecordBytes, 1, 256<<20, "bytes")
	p.positive("TURNOUT_CSV_MAX_COLUMNS", &c.CSVMaxColumns, 1, 1<<20, "fields")
	p.positive("TURNOUT_ZIP_MAX_ENTRIES", &c.ZipMaxEntries, 1, 1<<20, "entries")
	// A chunk costs about 50 bytes a row, three at a time.
	p.positive("TURNOUT_FILELOAD_CHUNK_ROWS", &c.FileLoadChunkRows, 1, 1<<20, "rows")
	p.positive("TURNOUT_FILELOAD_SET_BYTES", &c.FileLoadSetBytes, 1, 1<<30, "bytes")
	if c.CSVMaxFieldBytes > c.CSVMaxRecordBytes && c.CSVMaxRecordBytes > 0 {
		p.bad("TURNOUT_CSV_MAX_FIELD_BYTES", "is larger than TURNOUT_CSV_MAX_RECORD_BYTES (%d); a field is part of a record", c.CSVMaxRecordBytes)
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
