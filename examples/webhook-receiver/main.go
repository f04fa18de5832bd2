// Command webhook-receiver is a minimal receiver of Turnout's signed
// webhooks (file-load listeners, export and report callbacks): it verifies
// every delivery with the key's webhook secret and prints the verified
// ones, one line each, on standard output. Rejected deliveries are
// answered 401 and reported on standard error.
//
//	webhook-receiver -addr 127.0.0.1:8090 -secret whsec_...
//
// The secret may come from TURNOUT_WEBHOOK_SECRET instead of -secret (a
// flag shows in the process list). It imports only the standard library
// and Turnout's webhook package; copy it as the start of your own.
//
// Turnout delivers at least once: a retried delivery carries the same
// webhook-id, which a real receiver records to act on each message once.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/turnoutdev/turnout/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webhook-receiver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("webhook-receiver", flag.ContinueOnError)
	fs.SetOutput(errOut)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on (port 0 picks a free one)")
	secret := fs.String("secret", os.Getenv("TURNOUT_WEBHOOK_SECRET"), "the key's webhook secret, whsec_... (default $TURNOUT_WEBHOOK_SECRET)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("no secret: pass -secret or set TURNOUT_WEBHOOK_SECRET")
	}
	v, err := webhook.NewVerifier(*secret)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "listening on http://%s\n", l.Addr())

	verified := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var compact bytes.Buffer
		if json.Compact(&compact, body) != nil {
			compact.Reset()
			compact.Write(body)
		}
		fmt.Fprintf(out, "verified %s %s %s\n", r.Header.Get(webhook.HeaderID), r.URL.Path, compact.Bytes())
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: logRejected(v.Handler(verified), errOut), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}

// logRejected reports on errOut every request next refused.
func logRejected(next http.Handler, errOut io.Writer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if rec.status >= 400 {
			fmt.Fprintf(errOut, "rejected %s %s: %d %s\n", r.Header.Get(webhook.HeaderID), r.URL.Path, rec.status,
				bytes.TrimSpace(rec.body.Bytes()))
		}
	})
}

// recorder keeps the status and the start of an error answer's body.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status >= 400 && r.body.Len() < 200 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}
