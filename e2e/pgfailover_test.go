//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startStandby makes a streaming replica of primary (pg_basebackup -R)
// and starts it as a hot standby on a port of its own.
func startStandby(t *testing.T, primary *pgServer) *pgServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "turnout-pg-standby-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if out, err := exec.Command("chown", "postgres:", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v %s", dir, err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &pgServer{t: t, bin: primary.bin, dir: dir, port: l.Addr().(*net.TCPAddr).Port}
	l.Close()
	s.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres", "-D", s.data(), "-R", "-X", "stream")
	s.start()
	t.Cleanup(func() { _ = s.command("pg_ctl", "-D", s.data(), "-m", "immediate", "stop").Run() })
	return s
}

// waitReplayed waits until standby has replayed everything primary wrote
// so far.
func waitReplayed(t *testing.T, primary, standby *pgServer) {
	t.Helper()
	ctx := context.Background()
	p, err := pgx.Connect(ctx, primary.url("turnout"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	var lsn string
	if err := p.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	s, err := pgx.Connect(ctx, standby.url("turnout"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var done bool
		_ = s.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, lsn).Scan(&done)
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby did not catch up in 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A multi-host database URL with target_session_attrs=read-write: the
// processes write to whichever host is the primary, and when it dies and
// the standby is promoted they move to it without a restart.
func TestChaosPostgresFailoverToAPromotedStandby(t *testing.T) {
	start := time.Now()
	primary := startPostgres(t)
	standby := startStandby(t, primary)
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/turnout?sslmode=disable&target_session_attrs=read-write",
		standby.port, primary.port)
	s := StartStack(t, "TURNOUT_DATABASE_URL="+url, "TURNOUT_RETRY_BASE=200ms")
	secret := s.CreateKey("--name", "pg", "--scopes", "admin", "--rate-limit", "100000")["secret"].(string)
	before := s.submitNoops(t, secret, 5, 0)
	s.waitAll(t, secret, before, 30*time.Second)

	t.Logf("stack up and first jobs done on the primary after %s", time.Since(start).Round(time.Second))
	waitReplayed(t, primary, standby)
	primary.crash()
	switched := time.Now()
	standby.run("pg_ctl", "-D", standby.data(), "-w", "promote")

	// The same processes, no restart: the first calls may meet the dead
	// connections (503 with Retry-After); then jobs flow on the new primary.
	deadline := time.Now().Add(30 * time.Second)
	var after []int64
	for len(after) < 5 {
		code, h, body := s.Do("POST", "/service/jobs", "", "X-API-Key", secret)
		switch {
		case code == 202:
			after = append(after, s.submitNoops(t, secret, 1, 0)...)
		case code != 503 || h.Get("Retry-After") == "":
			t.Fatalf("POST /service/jobs after the switch: %d %s, want 202 or 503 with Retry-After", code, body)
		case time.Now().After(deadline):
			t.Fatalf("still 503 30s after the standby was promoted: %s\nlogs (tail):\n%s", body, tail(s.Logs.String(), 3000))
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("jobs accepted again %s after the primary died", time.Since(switched).Round(100*time.Millisecond))
	for _, v := range s.waitAll(t, secret, append(before, after...), 30*time.Second) {
		if v.Attempts != 1 {
			t.Errorf("job %d ran %d times, want once", v.ID, v.Attempts)
		}
	}
	s.assertRunning(t)
	s.Stop()
}
