package main

import (
	"os"
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/testpty"
)

func TestIsTerminalOnlyForATerminal(t *testing.T) {
	t.Setenv("TERM", "xterm")
	_, tty := testpty.Open(t)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(t.TempDir() + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name string
		f    *os.File
		want bool
	}{{"a pseudo-terminal", tty, true}, {os.DevNull, null, false}, {"a pipe", w, false}, {"a file", file, false}} {
		if got := isTerminal(tc.f); got != tc.want {
			t.Errorf("isTerminal(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
	t.Setenv("TERM", "dumb")
	if isTerminal(tty) {
		t.Error("isTerminal with TERM=dumb = true, want false: it cannot redraw a line")
	}
}
