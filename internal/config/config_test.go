package config

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreALocalDevelopmentStack(t *testing.T) {
	c, err := Parse(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://postgres@127.0.0.1:5432/turnout?sslmode=disable" || c.HTTPAddr != ":8080" ||
		c.PublicURL.String() != "http://localhost:8080" || c.ShutdownTimeout != 30*time.Second || c.WorkerConcurrency != 10 ||
		c.CSVMaxFieldBytes != 64<<10 || c.CSVMaxRecordBytes != 1<<20 || c.CSVMaxColumns != 1000 || c.ZipMaxEntries != 1000 ||
		c.EventsHeartbeat != 15*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestEveryBadVariableIsNamed(t *testing.T) {
	cases := map[string]string{
		"TURNOUT_DATABASE_URL":         "mysql://x",
		"TURNOUT_REDIS_URL":            "http://x",
		"TURNOUT_HTTP_ADDR":            "8080",
		"TURNOUT_PUBLIC_URL":           "localhost:8080",
		"TURNOUT_BLOB_URL":             "ftp://x",
		"TURNOUT_SMTP_URL":             "mail.example.org",
		"TURNOUT_MAIL_FROM":            "not an address",
		"TURNOUT_ALLOW_NETWORKS":       "10.0.0.0/8,nonsense",
		"TURNOUT_ENCRYPTION_KEY":       "c2hvcnQ=",
		"TURNOUT_LOG_LEVEL":            "loud",
		"TURNOUT_SHUTDOWN_TIMEOUT":     "-1s",
		"TURNOUT_STARTUP_WAIT":         "soon",
		"TURNOUT_WORKER_CONCURRENCY":   "zero",
		"TURNOUT_RECONCILE_INTERVAL":   "often",
		"TURNOUT_RECONCILE_STALE":      "5s",
		"TURNOUT_REPORT_RETENTION":     "0s",
		"TURNOUT_RETRY_BASE":           "1ns",
		"TURNOUT_CSV_MAX_FIELD_BYTES":  "0",
		"TURNOUT_CSV_MAX_RECORD_BYTES": "1GB",
		"TURNOUT_CSV_MAX_COLUMNS":      "-3",
		"TURNOUT_ZIP_MAX_ENTRIES":      "lots",
		"TURNOUT_DATABASE_REPLICA_URL": "replica:5432",
		"TURNOUT_EVENTS_HEARTBEAT":     "1ms",
	}
	for k, v := range cases {
		t.Run(k, func(t *testing.T) {
			_, err := Parse(envOf(map[string]string{k: v}))
			if err == nil || !strings.Contains(err.Error(), k+":") {
				t.Fatalf("%s=%q: error %v, want one naming %s", k, v, err, k)
			}
		})
	}
	// All problems are reported at once.
	_, err := Parse(envOf(cases))
	for k := range cases {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("combined error misses %s", k)
		}
	}
}

func TestAllowNetworksAndEncryptionKeys(t *testing.T) {
	c, err := Parse(envOf(map[string]string{
		"TURNOUT_ALLOW_NETWORKS": "10.1.2.3/8, 192.168.1.5, ::1/128",
		"TURNOUT_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, p := range c.AllowNetworks {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.168.1.5/32 ::1/128" {
		t.Errorf("allow networks = %v", got)
	}
	if len(c.EncryptionKeys) != 2 || c.EncryptionKeys[1][0] != 1 {
		t.Errorf("encryption keys = %d, want 2 in order", len(c.EncryptionKeys))
	}
}

func TestReportRetentionTakesDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "36h": 36 * time.Hour} {
		c, err := Parse(envOf(map[string]string{"TURNOUT_REPORT_RETENTION": in}))
		if err != nil || c.ReportRetention != want {
			t.Errorf("TURNOUT_REPORT_RETENTION=%q: %v, %v; want %v", in, c.ReportRetention, err, want)
		}
	}
	for _, in := range []string{"xd", "-1h", "500ms", "week"} {
		if _, err := Parse(envOf(map[string]string{"TURNOUT_REPORT_RETENTION": in})); err == nil {
			t.Errorf("TURNOUT_REPORT_RETENTION=%q accepted", in)
		}
	}
}

func TestFileLoadSettings(t *testing.T) {
	c, err := Parse(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxFileBytes != 2<<30 || c.SFTPInsecure || c.SFTPKnownHosts != "" {
		t.Errorf("file-load defaults: max %d insecure %v known_hosts %q", c.MaxFileBytes, c.SFTPInsecure, c.SFTPKnownHosts)
	}
	for k, v := range map[string]string{
		"TURNOUT_SFTP_KNOWN_HOSTS": "/nonexistent/known_hosts",
		"TURNOUT_SFTP_INSECURE":    "sometimes",
		"TURNOUT_MAX_FILE_BYTES":   "-5",
	} {
		if _, err := Parse(envOf(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k+":") {
			t.Errorf("%s=%q: error %v, want one naming %s", k, v, err, k)
		}
	}
}

func TestSlowSourceAndSlotSettings(t *testing.T) {
	c, err := Parse(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.FetchIdleTimeout != time.Minute || c.FetchTimeout != 20*time.Minute || c.KeyFileLoadConcurrency != 4 || c.WorkerInteractiveConcurrency != 4 {
		t.Errorf("defaults: idle %s total %s per key %d interactive %d; want 1m, 20m, 4, 4",
			c.FetchIdleTimeout, c.FetchTimeout, c.KeyFileLoadConcurrency, c.WorkerInteractiveConcurrency)
	}
	for k, v := range map[string]string{
		"TURNOUT_FETCH_IDLE_TIMEOUT":             "10ms",
		"TURNOUT_FETCH_TIMEOUT":                  "2h",
		"TURNOUT_KEY_FILELOAD_CONCURRENCY":       "0",
		"TURNOUT_WORKER_INTERACTIVE_CONCURRENCY": "-1",
	} {
		if _, err := Parse(envOf(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k+":") {
			t.Errorf("%s=%q: error %v, want one naming %s", k, v, err, k)
		}
	}
}

// The highly available deployments are configured through the same two
// URLs: several PostgreSQL hosts for pgx to find the primary among, and a
// Sentinel group or a Cluster for Redis.
func TestHighlyAvailableURLsAreAccepted(t *testing.T) {
	c, err := Parse(envOf(map[string]string{
		"TURNOUT_DATABASE_URL":         "postgres://turnout:pw@pg-a:5432,pg-b:5432/turnout?target_session_attrs=read-write",
		"TURNOUT_DATABASE_REPLICA_URL": "postgres://turnout:pw@pg-ro:5432/turnout",
		"TURNOUT_REDIS_URL":            "redis-sentinel://:pw@s1:26379,s2:26379,s3:26379/0?master=turnout",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Mode.String() != "sentinel" || len(c.Redis.Addrs) != 3 || c.Redis.MasterName != "turnout" {
		t.Errorf("redis topology = %s", c.Redis)
	}
	if c.DatabaseReplicaURL == "" {
		t.Error("replica URL dropped")
	}
	c, err = Parse(envOf(map[string]string{"TURNOUT_REDIS_URL": "rediss-cluster://n1:7000,n2:7000,n3:7000"}))
	if err != nil || c.Redis.Mode.String() != "cluster" || !c.Redis.TLS {
		t.Errorf("cluster URL: %v %v", c, err)
	}
	_, err = Parse(envOf(map[string]string{"TURNOUT_REDIS_URL": "redis-sentinel://:hunter2@s1:26379"}))
	if err == nil || !strings.Contains(err.Error(), "TURNOUT_REDIS_URL: want ?master=NAME") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("sentinel URL without master: %v", err)
	}
}
