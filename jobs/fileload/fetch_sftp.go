package fileload

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/turnoutdev/turnout/internal/fault"
)

// SFTPFetcher fetches sftp://user:password@host[:port]/path. Host keys are
// checked against a known_hosts file; only with Insecure (development) is
// any key accepted.
type SFTPFetcher struct {
	Dial       func(ctx context.Context, network, addr string) (net.Conn, error) // the guard's
	KnownHosts string
	Insecure   bool
}

func (f SFTPFetcher) hostKeyCallback() (ssh.HostKeyCallback, error) {
	if f.Insecure {
		return ssh.InsecureIgnoreHostKey(), nil
	}
	if f.KnownHosts == "" {
		return nil, fault.New(fault.Invalid, "file.sourceUrl: SFTP host keys cannot be checked: the server has no known_hosts file configured (TURNOUT_SFTP_KNOWN_HOSTS)")
	}
	return knownhosts.New(f.KnownHosts)
}

// Fetch implements Fetcher.
func (f SFTPFetcher) Fetch(ctx context.Context, u *url.URL, w io.Writer) error {
	hk, err := f.hostKeyCallback()
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "22")
	}
	pass, _ := u.User.Password()
	cfg := &ssh.ClientConfig{
		User:            u.User.Username(),
		Auth:            []ssh.AuthMethod{ssh.Password(pass)},
		HostKeyCallback: hk,
		Timeout:         30 * time.Second,
	}
	conn, err := f.Dial(ctx, "tcp", host)
	if err != nil {
		return transient(err, u, "connect")
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, host, cfg)
	if err != nil {
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			if len(ke.Want) > 0 {
				return fault.New(fault.Invalid, "file.sourceUrl: the SFTP host key of %s does not match known_hosts", u.Hostname())
			}
			return fault.New(fault.Invalid, "file.sourceUrl: the SFTP host %s is not in known_hosts", u.Hostname())
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return fault.New(fault.Invalid, "file.sourceUrl: SFTP login to %s as %q failed", u.Hostname(), u.User.Username())
		}
		return transient(err, u, "ssh handshake")
	}
	_ = conn.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sc, err := sftp.NewClient(client)
	if err != nil {
		return transient(err, u, "start sftp")
	}
	defer sc.Close()
	path := u.Path
	file, err := sc.Open(path)
	if err != nil && strings.HasPrefix(path, "/") {
		// sftp://host/file.zip usually means the file in the login
		// directory; try that before giving up.
		if f2, err2 := sc.Open(strings.TrimPrefix(path, "/")); err2 == nil {
			file, err = f2, nil
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fault.New(fault.Invalid, "file.sourceUrl: %s does not exist on the SFTP server", path)
		}
		if errors.Is(err, os.ErrPermission) {
			return fault.New(fault.Invalid, "file.sourceUrl: permission denied reading %s on the SFTP server", path)
		}
		return transient(err, u, "open")
	}
	defer file.Close()
	if _, err := file.WriteTo(w); err != nil {
		if errors.Is(err, errTooLarge) {
			return errTooLarge
		}
		return transient(err, u, "download interrupted")
	}
	return nil
}
