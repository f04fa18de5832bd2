package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestCheckRefusesInternalAddresses(t *testing.T) {
	g := New(nil)
	for _, s := range []string{
		"127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
		"::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe",
	} {
		if err := g.Check(netip.MustParseAddr(s)); !errors.Is(err, ErrBlocked) {
			t.Errorf("Check(%s) = %v, want ErrBlocked", s, err)
		}
	}
	for _, s := range []string{"8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"} {
		if err := g.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", s, err)
		}
	}
}

// IPv6 forms that carry an IPv4 address some gateway or relay would reach
// are refused whole, whatever IPv4 address they carry.
func TestCheckRefusesIPv6FormsThatEmbedIPv4(t *testing.T) {
	g := New(nil)
	for _, tc := range []struct{ rule, addr string }{
		{"IPv4-compatible loopback", "::127.0.0.1"},
		{"IPv4-compatible metadata", "::169.254.169.254"},
		{"IPv4-compatible private", "::10.0.0.1"},
		{"IPv4-compatible public", "::8.8.8.8"},
		{"NAT64 well-known prefix, loopback", "64:ff9b::127.0.0.1"},
		{"NAT64 well-known prefix, public", "64:ff9b::8.8.8.8"},
		{"NAT64 local-use prefix", "64:ff9b:1::a9fe:a9fe"},
		{"6to4 of loopback", "2002:7f00:1::1"},
		{"6to4 of a public address", "2002:808:808::1"},
		{"Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2"},
		{"Teredo of loopback", "2001:0:7f00:1::1"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if err := g.Check(netip.MustParseAddr(tc.addr)); !errors.Is(err, ErrBlocked) {
				t.Errorf("Check(%s) = %v, want ErrBlocked", tc.addr, err)
			}
		})
	}
	// Ordinary global IPv6 next to those ranges stays allowed.
	for _, s := range []string{"2001:4860:4860::8888", "2003::1", "64:ff9a::1"} {
		if err := g.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", s, err)
		}
	}
}

func TestAllowNetworksOverrideTheGuard(t *testing.T) {
	g := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	if err := g.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("allow-listed loopback refused: %v", err)
	}
	if err := g.Check(netip.MustParseAddr("::ffff:127.0.0.1")); err != nil {
		t.Errorf("allow-listed IPv4-mapped loopback refused: %v", err)
	}
	if err := g.Check(netip.MustParseAddr("169.254.169.254")); err == nil {
		t.Error("metadata address allowed though only loopback is listed")
	}
}

func TestHTTPClientRefusesLoopbackAtConnectTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secret") }))
	defer srv.Close()
	c := New(nil).HTTPClient(ClientOptions{})
	// "localhost" resolves to loopback: the check sees the resolved address.
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, target := range []string{srv.URL, u} {
		_, err := c.Get(target)
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("GET %s: err = %v, want ErrBlocked", target, err)
		}
	}
}

func TestRedirectsAreCheckedAgain(t *testing.T) {
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "internal") }))
	defer inner.Close()
	// The outer server is reached through an allow-listed alias; the
	// redirect target is loopback on another port. We allow only the outer
	// server's exact address:port by address, so use two loopback
	// addresses: 127.0.0.2 is allowed, 127.0.0.1 is not.
	outer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL, http.StatusFound)
	}))
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 not available: %v", err)
	}
	outer.Listener = l
	outer.Start()
	defer outer.Close()
	c := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}).HTTPClient(ClientOptions{})
	resp, err := c.Get(outer.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("redirect to a refused address was followed")
	}
	if !errors.Is(err, ErrBlocked) {
		t.Errorf("err = %v, want ErrBlocked", err)
	}
}

func TestMaxRedirects(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/again?token=s3cret", http.StatusFound)
	}))
	defer srv.Close()
	c := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(ClientOptions{MaxRedirects: 2})
	_, err := c.Get(srv.URL)
	var re *RedirectError
	if !errors.As(err, &re) || !errors.Is(err, ErrBlocked) || re.Reason != "more than 2 redirects" ||
		re.Target != srv.URL+"/again?token=xxxxx" {
		t.Errorf("err = %v, want a RedirectError past 2 redirects naming the redacted target", err)
	}
}

// A redirect may lead only to http or https: file:, ftp: and gopher:
// targets are refused before anything is fetched.
func TestRedirectsToOtherSchemesAreRefused(t *testing.T) {
	for _, target := range []string{"file:///etc/passwd", "ftp://127.0.0.1/x.zip", "gopher://127.0.0.1:70/_x"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusFound)
		}))
		c := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(ClientOptions{})
		_, err := c.Get(srv.URL)
		srv.Close()
		var re *RedirectError
		if !errors.As(err, &re) || !errors.Is(err, ErrBlocked) || re.Target != target {
			t.Errorf("redirect to %s: err = %v, want a RedirectError naming it", target, err)
		}
	}
}

func TestDialContextRefusesMetadata(t *testing.T) {
	_, err := New(nil).DialContext(context.Background(), "tcp", "169.254.169.254:80")
	var be *BlockedError
	if !errors.As(err, &be) || be.Addr.String() != "169.254.169.254" {
		t.Errorf("err = %v, want BlockedError for 169.254.169.254", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"sftp://keep:s3cret@example.org/a.zip":        "sftp://keep:xxxxx@example.org/a.zip",
		"https://example.org/a.zip?X-Amz-Signature=z": "https://example.org/a.zip?X-Amz-Signature=xxxxx",
		"ftp://anon@example.org/a.zip":                "ftp://anon@example.org/a.zip",
		"https://example.org/a.zip":                   "https://example.org/a.zip",
		"http://[::1%zz/":                             "[unparseable URL]",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeErrorDropsCredentials(t *testing.T) {
	u, _ := url.Parse("https://bob:hunter22@example.invalid/x.zip?token=abc123")
	_, err := New(nil).HTTPClient(ClientOptions{}).Get(u.String())
	msg := SafeError(err, u)
	for _, secret := range []string{"hunter22", "abc123"} {
		if strings.Contains(msg, secret) {
			t.Errorf("SafeError leaked %q: %s", secret, msg)
		}
	}
}
