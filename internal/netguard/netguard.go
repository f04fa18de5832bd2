// Package netguard is Turnout's SSRF guard: an outbound dialer and HTTP
// client for URLs supplied by API callers (a file load's sourceUrl, webhook
// listeners).
//
// The check runs in the dialer's Control hook, on the address actually being
// connected to after DNS resolution, so neither a hostname that resolves to
// an internal address nor DNS rebinding between a check and the connect can
// get past it. Redirects go through the same dialer and are therefore
// checked again; a redirect to another scheme (file:, ftp:, gopher:) or past
// the redirect limit is refused too (RedirectError). Loopback, private,
// link-local (including the cloud metadata address 169.254.169.254), CGNAT,
// unspecified, multicast and the IPv6 equivalents are refused unless an
// operator allow-lists a network (TURNOUT_ALLOW_NETWORKS). IPv4-mapped
// addresses are unmapped first; the IPv6 forms that carry an IPv4 address
// some gateway would reach (IPv4-compatible ::a.b.c.d, NAT64, 6to4, Teredo)
// are refused whole, since the guard cannot know where they lead.
//
// Errors returned by this package are caller-safe: they never contain the
// URL's credentials (see RedactURL).
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is wrapped by every refusal of the guard.
var ErrBlocked = errors.New("address not allowed")

// BlockedError names the address that was refused.
type BlockedError struct {
	Addr netip.Addr
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("connection to %s refused: internal, loopback, private and metadata addresses are not allowed", e.Addr)
}

func (e *BlockedError) Unwrap() error { return ErrBlocked }

// RedirectError is a redirect the guard refused to follow: to a scheme
// other than http and https, or past the redirect limit. It wraps
// ErrBlocked: the source will redirect the same way again, so retrying
// cannot help.
type RedirectError struct {
	// Target is the redirect's URL, redacted (see Redacted).
	Target string
	Reason string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirect to %s refused: %s", e.Target, e.Reason)
}

func (e *RedirectError) Unwrap() error { return ErrBlocked }

// blocked are the ranges no caller-supplied URL may reach by default.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",         // "this" network, unspecified
		"10.0.0.0/8",        // private
		"100.64.0.0/10",     // CGNAT
		"127.0.0.0/8",       // loopback
		"169.254.0.0/16",    // link-local, includes 169.254.169.254 metadata
		"172.16.0.0/12",     // private
		"192.0.0.0/24",      // IETF protocol assignments
		"192.0.2.0/24",      // TEST-NET-1
		"192.168.0.0/16",    // private
		"198.18.0.0/15",     // benchmarking
		"198.51.100.0/24",   // TEST-NET-2
		"203.0.113.0/24",    // TEST-NET-3
		"224.0.0.0/4",       // multicast
		"240.0.0.0/4",       // reserved, includes broadcast
		"::/96",             // unspecified, loopback and IPv4-compatible (::a.b.c.d, deprecated)
		"64:ff9b::/96",      // NAT64 (would reach IPv4 internals)
		"64:ff9b:1::/48",    // local-use NAT64
		"100::/64",          // discard
		"2001:db8::/32",     // documentation
		"fc00::/7",          // unique local
		"fe80::/10",         // link-local
		"fec0::/10",         // site-local (deprecated)
		"ff00::/8",          // multicast
		"2002::/16",         // 6to4 (embeds an IPv4 address a relay would reach)
		"2001::/32",         // Teredo (embeds IPv4 server and client addresses)
		"::ffff:0:0/96",     // IPv4-mapped, should be unmapped first; kept as a backstop
		"fd00:ec2::254/128", // AWS IPv6 metadata
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Guard decides which addresses outbound connections may reach.
type Guard struct {
	allow []netip.Prefix
}

// New returns a Guard that additionally allows the given networks.
func New(allow []netip.Prefix) *Guard { return &Guard{allow: allow} }

// Check returns a *BlockedError if addr may not be reached.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	for _, p := range g.allow {
		if p.Contains(addr) {
			return nil
		}
	}
	if !addr.IsValid() || addr.IsUnspecified() || addr.IsLoopback() || addr.IsPrivate() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsMulticast() || addr.IsInterfaceLocalMulticast() {
		return &BlockedError{Addr: addr}
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return &BlockedError{Addr: addr}
		}
	}
	return nil
}

// control is a net.Dialer Control hook: it sees the resolved address of
// every connection attempt.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{}
	}
	return g.Check(ap.Addr())
}

// Dialer returns a net.Dialer whose connections are checked.
func (g *Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
}

// DialContext dials through the guard (for SFTP, FTP and other non-HTTP
// transports).
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := g.Dialer(15*time.Second).DialContext(ctx, network, address)
	if err != nil {
		return nil, cleanDialError(err)
	}
	return c, nil
}

// cleanDialError keeps the BlockedError reachable with errors.As and drops
// the *net.OpError decoration.
func cleanDialError(err error) error {
	var be *BlockedError
	if errors.As(err, &be) {
		return be
	}
	return err
}

// ClientOptions tunes HTTPClient.
type ClientOptions struct {
	// Timeout bounds a whole request including reading the body (0 = none;
	// large downloads should rely on ctx and ResponseHeaderTimeout).
	Timeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers (default 30s).
	ResponseHeaderTimeout time.Duration
	// MaxRedirects is how many redirects are followed (default 5).
	MaxRedirects int
}

// HTTPClient returns a client whose every connection, including those of
// redirects, goes through the guard. Proxies from the environment are
// ignored: a proxy would connect on our behalf past the guard.
func (g *Guard) HTTPClient(o ClientOptions) *http.Client {
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = 30 * time.Second
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = 5
	}
	d := g.Dialer(15 * time.Second)
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, cleanDialError(err)
			}
			return c, nil
		},
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          10,
		ForceAttemptHTTP2:     true,
	}
	max := o.MaxRedirects
	return &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return &RedirectError{Target: Redacted(req.URL), Reason: "only http and https redirects are followed"}
			}
			if len(via) > max {
				return &RedirectError{Target: Redacted(req.URL), Reason: fmt.Sprintf("more than %d redirects", max)}
			}
			return nil
		},
	}
}

// RedactURL returns raw with any password replaced by "xxxxx" (the user
// name is kept, it helps the caller recognise the URL). A string that does
// not parse is replaced entirely, since it may hold a secret we cannot
// locate.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable URL]"
	}
	return Redacted(u)
}

// Redacted is RedactURL for a parsed URL.
func Redacted(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), "xxxxx")
		}
	}
	// Query strings commonly carry tokens (S3 presigned URLs): keep the keys.
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// SafeError returns err's message with every occurrence of u's secrets
// removed, for errors from libraries that echo the URL they were given.
func SafeError(err error, u *url.URL) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Op + " " + Redacted(u) + ": " + SafeError(ue.Err, u)
	}
	return scrub(msg, u)
}

func scrub(msg string, u *url.URL) string {
	if u == nil {
		return msg
	}
	msg = strings.ReplaceAll(msg, u.String(), Redacted(u))
	if u.RawQuery != "" {
		msg = strings.ReplaceAll(msg, u.RawQuery, "xxxxx")
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, url.QueryEscape(p), "xxxxx")
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}
