package e2e

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/testkit/testpty"
)

// On a terminal, `turnout jobs watch` redraws one line in place and ends
// it with a newline when the job is finished.
func TestJobsWatchRedrawsOneLineOnATerminal(t *testing.T) {
	s := StartStack(t)
	admin := s.CreateKey("--name", "terminal", "--scopes", "admin")["secret"].(string)
	id := s.noop(t, admin, 500)

	master, tty := testpty.Open(t)
	cmd := s.watchCmd(admin, fmt.Sprint(id))
	cmd.Env = append(cmd.Env, "TERM=xterm")
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds its own copy; reads end when it exits
	var out bytes.Buffer
	read := make(chan struct{})
	go func() { defer close(read); _, _ = io.Copy(&out, master) }()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("jobs watch on a terminal: %v; stderr %s", err, errOut.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("jobs watch did not end in 60s")
	}
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end after the process exited")
	}
	got := out.String()
	redraw := fmt.Sprintf("\r\x1b[Kjob %d ", id)
	// The terminal turns the final "\n" into "\r\n".
	if !strings.HasPrefix(got, redraw) || !strings.Contains(got, redraw+"succeeded") || !strings.HasSuffix(got, "\r\n") ||
		strings.Count(got, "\n") != 1 {
		t.Errorf("terminal output %q: want lines redrawn in place (%q...), ending with the succeeded job and one newline", got, redraw)
	}
}
