package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

func TestUnreachableTellsAnOutageFromAFailedStatement(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()

	// A port nothing listens on: what a stopped server looks like.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, refused := pgconn.Connect(ctx, "postgres://postgres@"+addr+"/turnout?sslmode=disable&connect_timeout=2")
	_, syntax := env.Pool.Exec(ctx, "SELEC 1")
	var deadline error
	func() {
		c, cancel := context.WithTimeout(ctx, time.Millisecond)
		defer cancel()
		<-c.Done()
		_, deadline = env.Pool.Exec(c, "SELECT 1")
	}()

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("look up key: %w", refused), true},
		{"server shutting down (57P01)", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"crash of another backend (57P02)", &pgconn.PgError{Code: "57P02"}, true},
		{"server starting up (57P03)", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure (08006)", &pgconn.PgError{Code: "08006"}, true},
		{"socket died mid-reply", fmt.Errorf("stage rows: %w", &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}), true},
		{"syntax error", syntax, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"query cancelled by its caller's deadline", deadline, false},
		{"one of ours", fault.New(fault.NotFound, "job not found"), false},
		{"anything else", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if tc.err == nil && tc.want {
			t.Fatalf("%s: no error to classify", tc.name)
		}
		if got := storage.Unreachable(tc.err); got != tc.want {
			t.Errorf("%s: Unreachable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if refused == nil || syntax == nil || deadline == nil {
		t.Fatalf("setup: refused=%v syntax=%v deadline=%v, want three errors", refused, syntax, deadline)
	}
}
