package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal and returns its two sides.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var n uint32
	var unlock int32
	for _, c := range []struct {
		req uintptr
		arg unsafe.Pointer
	}{{syscall.TIOCGPTN, unsafe.Pointer(&n)}, {syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)}} {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), c.req, uintptr(c.arg)); errno != 0 {
			t.Fatalf("ioctl %#x on /dev/ptmx: %v", c.req, errno)
		}
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pty's terminal side: %v", err)
	}
	return m, s
}

// On a terminal, `turnout jobs watch` redraws one line in place and ends
// it with a newline when the job is finished.
func TestJobsWatchRedrawsOneLineOnATerminal(t *testing.T) {
	s := StartStack(t)
	admin := s.CreateKey("--name", "terminal", "--scopes", "admin")["secret"].(string)
	id := s.noop(t, admin, 500)

	master, tty := openPTY(t)
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
