package fileload

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
)

// Fetcher copies the file at u to w. Errors are caller-safe (no
// credentials); a fault.Invalid error means retrying cannot help (refused
// address, missing file, bad credentials), anything else is retried.
type Fetcher interface {
	Fetch(ctx context.Context, u *url.URL, w io.Writer) error
}

// Fetchers maps a URL scheme to its Fetcher.
type Fetchers map[string]Fetcher

// errTooLarge is returned by capWriter past its limit.
var errTooLarge = errors.New("file too large")

// capWriter fails once more than n bytes are written, so a source cannot
// fill the spool disk.
type capWriter struct {
	w io.Writer
	n int64
}

func (c *capWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.n {
		return 0, errTooLarge
	}
	c.n -= int64(len(p))
	return c.w.Write(p)
}

// fetchTo fetches u through the scheme's fetcher into w, at most max bytes.
func (fs Fetchers) fetchTo(ctx context.Context, u *url.URL, w io.Writer, max int64) error {
	f, ok := fs[strings.ToLower(u.Scheme)]
	if !ok {
		return fault.New(fault.Invalid, "file.sourceUrl: scheme %q is not supported", u.Scheme)
	}
	err := f.Fetch(ctx, u, &capWriter{w: w, n: max})
	if errors.Is(err, errTooLarge) {
		return fault.New(fault.Invalid, "file.sourceUrl: the file is larger than the %d-byte limit", max)
	}
	return err
}

// blocked turns a refusal of the SSRF guard into the caller's error, or
// returns nil for any other error. A refusal is final (fault.Invalid): the
// source will resolve or redirect the same way on a retry. When the refused
// connection was a redirect's, the message names the redirect's target, not
// the host the caller gave.
func blocked(err error, u *url.URL) error {
	var re *netguard.RedirectError
	if errors.As(err, &re) {
		return fault.Wrap(fault.Invalid, err, "file.sourceUrl: redirected to %s, which file loads do not follow: %s", re.Target, re.Reason)
	}
	var be *netguard.BlockedError
	if !errors.As(err, &be) {
		return nil
	}
	const rule = "an internal, loopback, private or metadata address, which file loads may not reach"
	if target := redirectTarget(err, u); target != nil {
		return fault.Wrap(fault.Invalid, err, "file.sourceUrl: redirected to %s, which resolves to %s, %s", netguard.Redacted(target), be.Addr, rule)
	}
	return fault.Wrap(fault.Invalid, err, "file.sourceUrl: %s resolves to %s, %s", u.Hostname(), be.Addr, rule)
}

// redirectTarget returns the URL an HTTP error happened on when it is not
// u itself (the client had followed a redirect), or nil.
func redirectTarget(err error, u *url.URL) *url.URL {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return nil
	}
	t, perr := url.Parse(ue.URL)
	if perr != nil {
		return nil
	}
	if t.Scheme == u.Scheme && t.Host == u.Host && t.Path == u.Path && t.RawQuery == u.RawQuery {
		return nil
	}
	return t
}

// transient wraps a retryable fetch error (the worker retries Unavailable)
// with a caller-safe message.
func transient(err error, u *url.URL, what string) error {
	if e := blocked(err, u); e != nil {
		return e
	}
	// The cause is kept only in its scrubbed form: worker logs print it.
	safe := netguard.SafeError(err, u)
	return fault.Wrap(fault.Unavailable, errors.New(safe), "file.sourceUrl: %s: %s: %s", netguard.Redacted(u), what, safe)
}
