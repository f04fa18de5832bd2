package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgServer is a PostgreSQL cluster of the test's own, so it can be stopped
// and started without touching the shared server on :5432 that every other
// test uses. It runs as the postgres OS user (the server refuses root),
// with trust auth on 127.0.0.1 and without fsync: durability across a
// crash of the machine is not what the tests are about.
type pgServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
}

// startPostgres initialises and starts a cluster on a free port.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("no initdb under /usr/lib/postgresql/*/bin: install the postgresql package (scripts/services.sh does)")
	}
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) < pgMajor(bins[j]) })
	// t.TempDir's parent is private to root; the server's user needs a
	// directory it can reach and own.
	dir, err := os.MkdirTemp("", "turnout-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgServer{t: t, bin: filepath.Dir(bins[len(bins)-1]), dir: dir, port: l.Addr().(*net.TCPAddr).Port}
	l.Close()
	if out, err := exec.Command("chown", "postgres:", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v %s", dir, err, out)
	}
	p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	p.start()
	t.Cleanup(func() {
		_ = p.command("pg_ctl", "-D", p.data(), "-m", "immediate", "stop").Run()
	})
	ctx := context.Background()
	c, err := pgx.Connect(ctx, p.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE turnout"); err != nil {
		t.Fatal(err)
	}
	return p
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func (p *pgServer) data() string { return filepath.Join(p.dir, "data") }

func (p *pgServer) url(db string) string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(p.port) + "/" + db + "?sslmode=disable"
}

func (p *pgServer) command(name string, args ...string) *exec.Cmd {
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, name)}, args...)...)
}

func (p *pgServer) run(name string, args ...string) {
	p.t.Helper()
	if out, err := p.command(name, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// start starts the server and waits until it accepts connections.
func (p *pgServer) start() {
	p.t.Helper()
	// fsync and full-page writes only guard against the machine losing
	// its page cache, which a crash of the server alone does not do. A
	// commit, though, must have reached the log before it returns:
	// asynchronous commit lets an immediate shutdown drop transactions the
	// test already saw committed (a key created seconds before the crash
	// came back "invalid" under load).
	opts := "-p " + strconv.Itoa(p.port) + " -c listen_addresses=127.0.0.1 -c unix_socket_directories=" + p.dir +
		" -c fsync=off -c full_page_writes=off"
	p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "server.log"), "-o", opts, "-w", "-t", "30", "start")
}

// crash stops the server the way a power cut or an OOM kill would look to
// its clients: no checkpoint, every connection dropped at once.
func (p *pgServer) crash() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop")
	// The port must be closed before the caller starts asserting on a
	// server that is down.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.port))
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatal("PostgreSQL still listening after pg_ctl stop")
}
