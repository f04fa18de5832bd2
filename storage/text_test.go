package storage_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

func TestValidTextEscapesNULAndInvalidUTF8(t *testing.T) {
	cases := []struct{ in, want string }{
		{"VANID", "VANID"},
		{"VAN\x00ID", `VAN\x00ID`},
		{"caf\xe9", `caf\xe9`},
		{"ünï\x00", `ünï\x00`},
	}
	for _, c := range cases {
		if got := storage.ValidText(c.in); got != c.want {
			t.Errorf("ValidText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestErrorTextIsCutAndSaysHowMuch(t *testing.T) {
	long := strings.Repeat("é", storage.MaxErrorText)
	got := storage.ErrorText(long)
	if len(got) > storage.MaxErrorText || !utf8.ValidString(got) || !strings.HasSuffix(got, "more bytes)") {
		t.Fatalf("ErrorText of %d bytes: %d bytes, valid %v, ends %q; want at most %d valid bytes ending with the count left out",
			len(long), len(got), utf8.ValidString(got), got[len(got)-20:], storage.MaxErrorText)
	}
}

// Job errors, load messages and row errors built from a hostile file reach
// PostgreSQL: each write succeeds and reads back escaped.
func TestUserTextWithNULIsStored(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	job, err := env.Store.InsertJob(ctx, storage.NewJob{Kind: "noop", Queue: "default",
		Params: map[string]string{"name": "a\x00b", "escaped": `\u0000`}})
	if err != nil {
		t.Fatalf("insert job with a NUL in its params: %v", err)
	}
	bad := "header VAN\x00ID caf\xe9"
	if err := env.Store.FailAttempt(ctx, storage.Attempt{JobID: job.ID, Number: 1}, bad, false); err != nil {
		t.Fatalf("FailAttempt: %v", err)
	}
	if err := env.Store.GiveUpJob(ctx, job.ID, bad+strings.Repeat("x", 2*storage.MaxErrorText)); err != nil {
		t.Fatalf("GiveUpJob: %v", err)
	}
	got, err := env.Store.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != storage.JobFailed || got.Error == nil || !strings.HasPrefix(*got.Error, `header VAN\x00ID caf\xe9`) || len(*got.Error) > storage.MaxErrorText {
		t.Fatalf("job after GiveUpJob: status %s, error %.80q (%d bytes); want failed with the escaped, cut text", got.Status, deref(got.Error), len(deref(got.Error)))
	}
	var params string
	_ = env.Pool.QueryRow(ctx, `SELECT params->>'escaped' FROM jobs WHERE id = $1`, job.ID).Scan(&params)
	if params != `\u0000` {
		t.Errorf("an escaped backslash before u0000 was changed: %q", params)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
