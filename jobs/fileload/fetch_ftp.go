package fileload

import (
	"context"
	"errors"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/turnoutdev/turnout/internal/fault"
)

// FTPFetcher fetches ftp://[user[:password]@]host[:port]/path in passive
// mode. Data connections go through the same guarded dialer, so a server
// cannot point the passive connection at an internal address.
type FTPFetcher struct {
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Fetch implements Fetcher.
func (f FTPFetcher) Fetch(ctx context.Context, u *url.URL, w io.Writer) error {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "21")
	}
	// Every connection (control and data) is closed when ctx ends, so a
	// stalled transfer stops at once: closing the control connection alone
	// would leave a read on the data connection waiting.
	var conns connSet
	stopConns := context.AfterFunc(ctx, conns.closeAll)
	defer stopConns()
	dial := func(network, addr string) (net.Conn, error) {
		c, err := f.Dial(ctx, network, addr)
		if err == nil {
			conns.add(c)
		}
		return c, err
	}
	c, err := ftp.Dial(host, ftp.DialWithContext(ctx), ftp.DialWithTimeout(30*time.Second), ftp.DialWithDialFunc(dial))
	if err != nil {
		return transient(err, u, "connect")
	}
	defer c.Quit()
	stop := context.AfterFunc(ctx, func() { c.Quit() })
	defer stop()
	user, pass := "anonymous", "anonymous"
	if u.User != nil {
		user = u.User.Username()
		if p, ok := u.User.Password(); ok {
			pass = p
		}
	}
	if err := c.Login(user, pass); err != nil {
		if isFTPCode(err, 530) {
			return fault.New(fault.Invalid, "file.sourceUrl: FTP login to %s as %q failed", u.Hostname(), user)
		}
		return transient(err, u, "login")
	}
	path := u.Path
	r, err := c.Retr(path)
	if err != nil && strings.HasPrefix(path, "/") && isFTPCode(err, 550) {
		r, err = c.Retr(strings.TrimPrefix(path, "/"))
	}
	if err != nil {
		if isFTPCode(err, 550) {
			return fault.New(fault.Invalid, "file.sourceUrl: %s does not exist on the FTP server", path)
		}
		return transient(err, u, "retrieve")
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		if errors.Is(err, errTooLarge) {
			return errTooLarge
		}
		return transient(err, u, "download interrupted")
	}
	return nil
}

func isFTPCode(err error, code int) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code == code
}

// connSet is the connections of one fetch, closed together when it ends.
type connSet struct {
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return
	}
	s.conns = append(s.conns, c)
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.conns {
		c.Close()
	}
}
