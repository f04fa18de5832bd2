package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one Turnout API with one key. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	key       string
	http      *http.Client
	userAgent string
	timeout   time.Duration
	poll      time.Duration
	stall     time.Duration
	backoff   backoff
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests with hc. Its Timeout must be zero (or
// longer than any job): it would cut event streams short. Per-call limits
// come from the context and WithTimeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithTimeout bounds each call that is not a stream, when its context has
// no earlier deadline (default 30 s; 0 leaves calls to the context).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithPollInterval is how often Poll (and Watch and Wait, when they poll)
// read the job (default 1 s).
func WithPollInterval(d time.Duration) Option { return func(c *Client) { c.poll = d } }

// WithStallTimeout is how long an event stream may stay silent, not even a
// heartbeat, before it counts as dropped (default 45 s). The server sends
// a heartbeat comment well within that, so silence means a dead connection
// or a proxy holding the stream back.
func WithStallTimeout(d time.Duration) Option { return func(c *Client) { c.stall = d } }

// WithReconnectDelay sets the first and the largest delay between
// reconnections (and between polls that failed); the delay doubles after
// each failure in a row (defaults 250 ms and 10 s).
func WithReconnectDelay(first, max time.Duration) Option {
	return func(c *Client) { c.backoff = backoff{first: first, max: max} }
}

// New returns a Client of the API at baseURL (such as
// "https://turnout.example.org") authenticating with key.
func New(baseURL, key string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q is not an absolute http(s) URL", baseURL)
	}
	c := &Client{base: u, key: key, http: &http.Client{}, userAgent: "turnout-go-client/1",
		timeout: 30 * time.Second, poll: time.Second, stall: 45 * time.Second,
		backoff: backoff{first: 250 * time.Millisecond, max: 10 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	// Zero or negative delays would make following a job a busy loop.
	if c.poll <= 0 {
		c.poll = time.Second
	}
	if c.stall <= 0 {
		c.stall = 45 * time.Second
	}
	if c.backoff.first <= 0 {
		c.backoff.first = 250 * time.Millisecond
	}
	c.backoff.max = max(c.backoff.max, c.backoff.first)
	return c, nil
}

// newRequest builds a request to path (with query q) carrying the key.
func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body any) (*http.Request, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("client: encode request: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-API-Key", c.key)
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	return req, nil
}

// maxResponse caps how much of an answer is read: a page of 200 jobs is
// well under it.
const maxResponse = 32 << 20

// call sends one request and decodes a 2xx envelope into out; any other
// answer is an *Error.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("client: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFrom(resp, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("client: %s %s: answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}

// retryable reports whether an error of a read is worth another try: the
// connection failed or dropped, or the server is overloaded or restarting.
// Answers about the request itself (not found, refused, invalid) are not.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status == http.StatusTooManyRequests || e.Status >= 500
	}
	return true
}

// backoff is a doubling delay between tries.
type backoff struct{ first, max time.Duration }

func (b backoff) next(d time.Duration) time.Duration {
	if d <= 0 {
		return b.first
	}
	return min(2*d, b.max)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
