package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/turnoutdev/turnout/internal/mailcatcher"
)

// devCmd holds helpers for local stacks (make demo), not for production.
func devCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "smtp" {
		return errors.New("usage: turnout dev smtp [--addr 127.0.0.1:1025] [--log FILE]")
	}
	fs := flag.NewFlagSet("dev smtp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:1025", "address to listen on (keep it on loopback)")
	logPath := fs.String("log", "", "append received messages to this file (default: standard output)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	out := e.out
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	srv, err := mailcatcher.Listen(*addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	var mu sync.Mutex
	srv.OnMessage = func(m mailcatcher.Message) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "From: %s\nTo: %s\nSubject: %s\n\n%s\n%s\n", m.From, strings.Join(m.To, ", "), m.Subject,
			strings.TrimSpace(m.Text), strings.Repeat("-", 72))
	}
	fmt.Fprintf(e.errOut, "SMTP catcher listening on %s\n", srv.Addr())
	<-ctx.Done()
	return nil
}
