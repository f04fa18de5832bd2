package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/internal/mailcatcher"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// redisProc is one redis-server process (a data node or a sentinel) of
// the test's own, listening on 127.0.0.1 only and killed when the test
// ends.
type redisProc struct {
	port int
	cmd  *exec.Cmd
}

func startRedisProc(t *testing.T, conf string, extra ...string) *redisProc {
	t.Helper()
	p := &redisProc{port: freePort(t)}
	dir := t.TempDir()
	file := filepath.Join(dir, "redis.conf")
	base := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsave \"\"\nappendonly no\n", p.port, dir)
	if err := os.WriteFile(file, []byte(base+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command("redis-server", append([]string{file}, extra...)...)
	if err := p.cmd.Start(); err != nil {
		t.Skipf("redis-server: %v", err)
	}
	t.Cleanup(p.kill)
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", p.addr()); err == nil {
			c.Close()
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redis-server on %d did not start", p.port)
	return nil
}

func (p *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

func (p *redisProc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func (p *redisProc) cli(args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(p.port)}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// sentinelGroup is one primary, one replica and three sentinels watching
// them under the name "turnout".
type sentinelGroup struct {
	primary, replica *redisProc
	sentinels        []*redisProc
}

func startSentinelGroup(t *testing.T) *sentinelGroup {
	t.Helper()
	g := &sentinelGroup{primary: startRedisProc(t, "")}
	g.replica = startRedisProc(t, fmt.Sprintf("replicaof 127.0.0.1 %d\n", g.primary.port))
	for i := 0; i < 3; i++ {
		g.sentinels = append(g.sentinels, startRedisProc(t, fmt.Sprintf(
			"sentinel monitor turnout 127.0.0.1 %d 2\nsentinel down-after-milliseconds turnout 1000\n"+
				"sentinel failover-timeout turnout 5000\nsentinel parallel-syncs turnout 1\n", g.primary.port), "--sentinel"))
	}
	// Wait until the replica is in sync and every sentinel knows it and
	// its peers: only then can a failover happen.
	g.waitFor(t, 20*time.Second, "replica in sync and sentinels acquainted", func() bool {
		info, _ := g.replica.cli("INFO", "replication")
		if !strings.Contains(info, "master_link_status:up") {
			return false
		}
		for _, s := range g.sentinels {
			out, _ := s.cli("SENTINEL", "master", "turnout")
			if !strings.Contains(out, "num-slaves\n1") || !strings.Contains(out, "num-other-sentinels\n2") {
				return false
			}
		}
		return true
	})
	return g
}

// url is TURNOUT_REDIS_URL for the group.
func (g *sentinelGroup) url() string {
	var addrs []string
	for _, s := range g.sentinels {
		addrs = append(addrs, s.addr())
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=turnout"
}

// masterPort is the primary's port as the first sentinel sees it.
func (g *sentinelGroup) masterPort() string {
	out, _ := g.sentinels[0].cli("SENTINEL", "get-master-addr-by-name", "turnout")
	if f := strings.Fields(out); len(f) == 2 {
		return f[1]
	}
	return ""
}

func (g *sentinelGroup) waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("Redis Sentinel: no %s after %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startCluster starts a Redis Cluster of three primaries (no replicas)
// and returns its TURNOUT_REDIS_URL.
func startCluster(t *testing.T) string {
	t.Helper()
	var nodes []*redisProc
	var addrs []string
	for i := 0; i < 3; i++ {
		n := startRedisProc(t, "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout 2000\n")
		nodes = append(nodes, n)
		addrs = append(addrs, n.addr())
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		for {
			info, _ := n.cli("CLUSTER", "INFO")
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok after 20s: %s", info)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// haLoad is a steady load of file loads (VAN) and voter registrations
// (Rocky) with probes of every surface, for tests that break Redis under
// it. It records what the API accepted and every answer that breaks the
// rule for an outage: an error is 503 with Retry-After, never another 5xx.
type haLoad struct {
	t        *testing.T
	s        *Stack
	rows     int
	secret   string
	vanAuth  string
	loadBody string
	partner  any

	mu        sync.Mutex
	loads     []int64
	uids      []string
	answers   map[string]int // "surface code" → count
	sample    map[string]string
	violation []string
}

func newHALoad(t *testing.T, s *Stack) *haLoad {
	t.Helper()
	const rows = 2000
	l := &haLoad{t: t, s: s, rows: rows, answers: map[string]int{}, sample: map[string]string{}}
	dir := t.TempDir()
	s.CLI("gen", "people", "--count", fmt.Sprint(rows), "--seed", "7", "--out", filepath.Join(dir, "people.csv"))
	s.CLI("people", "import", "--db-mode", "0", filepath.Join(dir, "people.csv"))
	key := s.CreateKey("--name", "ha", "--scopes", "van,admin,targets,metrics", "--van-app", "ha", "--db-mode", "0",
		"--rate-limit", "100000", "--auto-approve")
	l.secret = key["secret"].(string)
	l.vanAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte("ha:"+l.secret+"|0"))
	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "HA", "--min", "0", "--max", "100", "--json")), &score)
	sourceURL, _ := serveScores(t, rows)
	l.loadBody = fmt.Sprintf(`{"description": "ha", "file": {"columnDelimiter": "Csv", "columns": [{"name": "vanid"}, {"name": "score"}],
	  "hasHeader": true, "sourceUrl": %q}, "actions": [{"actionType": "Score", "personIdColumn": "vanid", "personIdType": "VANID",
	  "scoreColumn": "score", "scoreId": %d}]}`, sourceURL, score.ScoreID)
	var partner map[string]any
	_ = json.Unmarshal([]byte(s.CLI("rocky", "partner-create", "--org-name", "HA Org", "--org-url", "https://org.example.org",
		"--contact-name", "Ops", "--contact-email", "ops@example.org", "--contact-phone", "4155551212", "--contact-address", "1 Main St",
		"--contact-city", "San Francisco", "--contact-state", "CA", "--contact-zip", "94110", "--json")), &partner)
	l.partner = partner["partner_id"]
	return l
}

// haEnv is the extra configuration of a stack under haLoad: a mail server
// for the registrations' e-mails, loopback sources allowed, quick retries.
func haEnv(t *testing.T) []string {
	mail := mailcatcher.Start(t)
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	return []string{"TURNOUT_SMTP_URL=" + mail.URL().String(), "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8", "TURNOUT_ENCRYPTION_KEY=" + key,
		"TURNOUT_RETRY_BASE=200ms", "TURNOUT_WORKER_CONCURRENCY=6"}
}

func (l *haLoad) registration(n int) string {
	reg := map[string]any{
		"lang": "en", "partner_id": l.partner, "send_confirmation_reminder_emails": false,
		"created_at": "01102026 10:00:00", "updated_at": "01102026 10:05:00",
		"date_of_birth": "05-17-1990", "email_address": fmt.Sprintf("voter%d@example.org", n),
		"first_registration": true, "home_zip_code": "94110", "us_citizen": true,
		"has_state_license": true, "id_number": fmt.Sprintf("D%08d", n), "is_eighteen_or_older": true, "name_title": "Ms.",
		"first_name": "Ada", "last_name": fmt.Sprintf("Lovelace%d", n), "home_address": "12 Main St",
		"home_city": "San Francisco", "home_state_id": "CA", "has_mailing_address": false,
		"race": "White (not Hispanic)", "party": "democratic", "change_of_name": false,
		"change_of_address": false, "opt_in_email": false, "opt_in_sms": false, "opt_in_volunteer": false,
		"partner_opt_in_email": false, "partner_opt_in_sms": false, "partner_opt_in_volunteer": false,
	}
	b, _ := json.Marshal(map[string]any{"registration": reg})
	return string(b)
}

// do sends one request and records its answer; ok reports a 2xx.
func (l *haLoad) do(surface, method, path, body string, headers ...string) (bool, []byte) {
	req, _ := http.NewRequest(method, l.s.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.violation = append(l.violation, fmt.Sprintf("%s %s: %v", method, path, err))
		return false, nil
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	answer := fmt.Sprintf("%s %d", surface, resp.StatusCode)
	l.answers[answer]++
	if resp.StatusCode/100 != 2 && l.sample[answer] == "" {
		l.sample[answer] = fmt.Sprintf("%s %s: %.300s", method, path, buf.String())
	}
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
		l.violation = append(l.violation, fmt.Sprintf("%s %s: 503 without Retry-After: %.300s", method, path, buf.String()))
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable:
		l.violation = append(l.violation, fmt.Sprintf("%s %s: %d %.300s", method, path, resp.StatusCode, buf.String()))
	}
	return resp.StatusCode/100 == 2, buf.Bytes()
}

// run keeps the load going until stop is closed: one file load every
// 300 ms, registrations and probes of every surface as fast as they answer
// (bounded by stop; each loop sleeps between calls).
func (l *haLoad) run(stop <-chan struct{}) {
	var wg sync.WaitGroup
	loop := func(every time.Duration, f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(every):
				}
				f(i)
			}
		}()
	}
	loop(300*time.Millisecond, func(int) {
		if ok, body := l.do("VAN", "POST", "/v4/fileLoadingJobs", l.loadBody, "Authorization", l.vanAuth); ok {
			var c struct{ JobID int64 }
			_ = json.Unmarshal(body, &c)
			l.mu.Lock()
			l.loads = append(l.loads, c.JobID)
			l.mu.Unlock()
		}
	})
	loop(100*time.Millisecond, func(i int) {
		if ok, body := l.do("Rocky", "POST", "/api/v4/registrations.json", l.registration(i)); ok {
			var r struct{ UID string }
			_ = json.Unmarshal(body, &r)
			l.mu.Lock()
			l.uids = append(l.uids, r.UID)
			l.mu.Unlock()
		}
	})
	admin := "Basic " + base64.StdEncoding.EncodeToString([]byte("ha:"+l.secret))
	loop(100*time.Millisecond, func(i int) {
		probes := []func(){
			func() { l.do("native", "POST", "/service/jobs", "", "X-API-Key", l.secret) },
			func() { l.do("VAN", "GET", "/v4/scoreUpdates", "", "Authorization", l.vanAuth) },
			func() { l.do("targets", "GET", "/api/targettypes", "", "X-API-Key", l.secret) },
			func() { l.do("Salsa", "GET", "/api/integration/ext/v1/metrics", "", "authToken", l.secret) },
			func() { l.do("Rocky", "GET", "/api/v4/registrations/pdf_ready?UID=0123456789abcdef", "") },
			func() { l.do("status", "GET", "/status", "") },
			func() { l.do("dashboard", "GET", "/monitoring/api/queues", "", "Authorization", admin) },
			func() {
				if ok, body := l.do("readyz", "GET", "/readyz", ""); !ok {
					l.mu.Lock()
					l.violation = append(l.violation, "/readyz not ready while a dependency fails over: "+string(body))
					l.mu.Unlock()
				}
			},
		}
		probes[i%len(probes)]()
	})
	wg.Wait()
}

// verify waits until every accepted file load and registration is done
// and checks each was done exactly once: one score update of every row per
// load, one PDF per registration, and every job row succeeded.
func (l *haLoad) verify(within time.Duration) {
	t := l.t
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.violation {
		t.Errorf("during the load: %s", v)
	}
	if len(l.loads) < 3 || len(l.uids) < 5 {
		t.Fatalf("only %d file loads and %d registrations accepted; the load proves nothing; answers %v %v",
			len(l.loads), len(l.uids), l.answers, l.sample)
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, l.s.env("TURNOUT_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	deadline := time.Now().Add(within)
	for {
		var unfinished int
		_ = db.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE status <> 'succeeded'`).Scan(&unfinished)
		if unfinished == 0 {
			break
		}
		if time.Now().After(deadline) {
			rows, _ := db.Query(ctx, `SELECT id, kind, status, attempts, coalesce(error, '') FROM jobs WHERE status <> 'succeeded' LIMIT 10`)
			var list []string
			for rows.Next() {
				var id int64
				var kind, status, msg string
				var attempts int
				_ = rows.Scan(&id, &kind, &status, &attempts, &msg)
				list = append(list, fmt.Sprintf("%d %s %s attempts=%d %s", id, kind, status, attempts, msg))
			}
			rows.Close()
			t.Fatalf("%d jobs unfinished after %s: %v\nlogs (tail):\n%s", unfinished, within, list, tail(l.s.Logs.String(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, id := range l.loads {
		var updates, values int64
		_ = db.QueryRow(ctx, `SELECT count(*) FROM van_score_updates WHERE job_id = $1`, id).Scan(&updates)
		_ = db.QueryRow(ctx, `SELECT count(*) FROM van_score_update_values v JOIN van_score_updates u ON u.id = v.score_update_id
			WHERE u.job_id = $1`, id).Scan(&values)
		if updates != 1 || values != int64(l.rows) {
			t.Errorf("file load %d: %d score updates with %d values, want 1 with %d", id, updates, values, l.rows)
		}
	}
	for _, uid := range l.uids {
		var regs int
		_ = db.QueryRow(ctx, `SELECT count(*) FROM rocky_registrants WHERE uid = $1`, uid).Scan(&regs)
		_, _, body := l.s.Do("GET", "/api/v4/registrations/pdf_ready?UID="+uid, "")
		if regs != 1 || !strings.Contains(string(body), `"pdf_ready":true`) {
			t.Errorf("registration %s: %d rows, pdf_ready %s; want 1 row and a PDF", uid, regs, body)
		}
	}
	var jobs, retried int
	_ = db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE attempts > 1) FROM jobs`).Scan(&jobs, &retried)
	t.Logf("accepted %d file loads and %d registrations; %d jobs succeeded (%d after more than one attempt); answers: %v; samples: %v",
		len(l.loads), len(l.uids), jobs, retried, l.answers, l.sample)
}

// The short form of the Sentinel failover test, for every run of the
// suite: jobs accepted before and after the primary dies all finish once.
func TestSentinelFailoverKeepsJobsFlowing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five Redis processes and waits for a failover")
	}
	g := startSentinelGroup(t)
	s := StartStack(t, "TURNOUT_REDIS_URL="+g.url(), "TURNOUT_RETRY_BASE=200ms")
	secret := s.CreateKey("--name", "ha", "--scopes", "admin", "--rate-limit", "100000")["secret"].(string)
	before := s.submitNoops(t, secret, 10, 200)
	old := g.masterPort()
	g.primary.kill()
	g.waitFor(t, 30*time.Second, "promotion of the replica", func() bool {
		p := g.masterPort()
		return p != "" && p != old
	})
	after := s.submitNoops(t, secret, 10, 0)
	for _, v := range s.waitAll(t, secret, append(before, after...), 60*time.Second) {
		if v.Attempts != 1 {
			t.Errorf("job %d ran %d times across one failover, want once", v.ID, v.Attempts)
		}
	}
	s.Stop()
}
