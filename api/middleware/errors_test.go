package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
)

func TestAnUnreachableDatabaseIsA503NamingIt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dsn := "postgres://postgres:hunter2@" + l.Addr().String() + "/turnout?sslmode=disable"
	l.Close()
	_, refused := pgconn.Connect(context.Background(), dsn)
	// A connection attempt cut short by the request's deadline: the
	// database did not answer, the query was never sent.
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, cutShort := pgconn.Connect(expired, dsn)

	render := func(c echo.Context, status int, e *fault.Error) error {
		return c.JSON(status, map[string]string{"kind": string(e.Kind), "message": e.Message})
	}
	handle := ErrorHandler(slog.New(slog.NewTextHandler(io.Discard, nil)), render)
	for name, cause := range map[string]error{
		"refused":                     refused,
		"connect cut by the deadline": cutShort,
		"server shutting down":        &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"},
	} {
		rec := httptest.NewRecorder()
		handle(fmt.Errorf("look up key: %w", cause), echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec))
		body := rec.Body.String()
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != unavailableRetryAfter ||
			!strings.Contains(body, "the database is unavailable") {
			t.Errorf("%s (%v): %d Retry-After %q %s; want 503, Retry-After %s, the database named", name, cause,
				rec.Code, rec.Header().Get("Retry-After"), body, unavailableRetryAfter)
		}
		for _, leak := range []string{"hunter2", "127.0.0.1", "57P01", "dial"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the answer reveals %q: %s", name, leak, body)
			}
		}
	}

	// A query that outlived the request's deadline on a live connection is
	// still a timeout.
	rec := httptest.NewRecorder()
	handle(fmt.Errorf("list jobs: %w", context.DeadlineExceeded), echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec))
	if rec.Code != http.StatusGatewayTimeout || rec.Header().Get("Retry-After") != "" {
		t.Errorf("a deadline exceeded: %d Retry-After %q, want 504 without Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// The server always mints its own request id; the client's X-Request-Id is
// logged beside it as client_request_id, cleaned of control characters and
// bounded.
func TestClientRequestIDIsLoggedApartFromTheServers(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	e := echo.New()
	e.HTTPErrorHandler = ErrorHandler(log, func(c echo.Context, status int, fe *fault.Error) error {
		return c.JSON(status, map[string]string{"requestId": RequestID(c)})
	})
	n := 0
	e.Use(RequestIDs(func() string { n++; return fmt.Sprintf("server-%d", n) }))
	e.GET("/boom", func(echo.Context) error { return fmt.Errorf("disk on fire") })
	srv := httptest.NewServer(e)
	defer srv.Close()

	for _, tc := range []struct{ sent, logged string }{
		{"client-abc", "client-abc"},
		{"forged\tline é" + strings.Repeat("x", 300), "forgedline" + strings.Repeat("x", maxClientRequestID-len("forgedline"))},
	} {
		logs.Reset()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/boom", nil)
		req.Header.Set("X-Request-Id", tc.sent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get("X-Request-Id")
		if !strings.HasPrefix(id, "server-") {
			t.Fatalf("X-Request-Id %q, want the server's own", id)
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
			t.Fatalf("log %q: %v", logs.String(), err)
		}
		if line["request_id"] != id || line["client_request_id"] != tc.logged {
			t.Errorf("logged request_id=%v client_request_id=%q; want %s and %q", line["request_id"], line["client_request_id"], id, tc.logged)
		}
	}
}
