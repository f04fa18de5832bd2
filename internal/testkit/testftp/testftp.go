// Package testftp is a minimal FTP server for tests and the demo: one user,
// read-only files served from memory, passive mode only (EPSV and PASV),
// bound to 127.0.0.1. It speaks just enough RFC 959 for
// github.com/jlaffaye/ftp: USER, PASS, FEAT, SYST, TYPE, OPTS, PWD, EPSV,
// PASV, SIZE, RETR, QUIT.
package testftp

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// Server is a running FTP server.
type Server struct {
	ln         net.Listener
	user, pass string
	mu         sync.Mutex
	files      map[string][]byte
	wg         sync.WaitGroup
}

// Start serves until the test ends.
func Start(t testing.TB, user, pass string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testftp: %v", err)
	}
	s := &Server{ln: ln, user: user, pass: pass, files: map[string][]byte{}}
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Addr is host:port of the control connection.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Put makes content available at path (leading slash optional).
func (s *Server) Put(path string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[strings.TrimPrefix(path, "/")] = content
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.session(c) }()
	}
}

func (s *Server) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func(format string, a ...any) { fmt.Fprintf(c, format+"\r\n", a...) }
	reply("220 testftp ready")
	var user string
	authed := false
	var pasv net.Listener
	defer func() {
		if pasv != nil {
			pasv.Close()
		}
	}()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(cmd) {
		case "USER":
			user = arg
			reply("331 password required")
		case "PASS":
			if user == s.user && arg == s.pass {
				authed = true
				reply("230 logged in")
			} else {
				reply("530 login incorrect")
			}
		case "FEAT":
			reply("211-Features:\r\n EPSV\r\n PASV\r\n SIZE\r\n211 End")
		case "SYST":
			reply("215 UNIX Type: L8")
		case "TYPE", "OPTS":
			reply("200 ok")
		case "PWD":
			reply(`257 "/"`)
		case "QUIT":
			reply("221 bye")
			return
		case "EPSV", "PASV":
			if !authed {
				reply("530 not logged in")
				continue
			}
			if pasv != nil {
				pasv.Close()
			}
			if pasv, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				reply("425 cannot open data connection")
				continue
			}
			port := pasv.Addr().(*net.TCPAddr).Port
			if strings.EqualFold(cmd, "EPSV") {
				reply("229 Entering Extended Passive Mode (|||%d|)", port)
			} else {
				reply("227 Entering Passive Mode (127,0,0,1,%d,%d)", port/256, port%256)
			}
		case "SIZE", "RETR":
			if !authed {
				reply("530 not logged in")
				continue
			}
			s.mu.Lock()
			b, ok := s.files[strings.TrimPrefix(arg, "/")]
			s.mu.Unlock()
			if !ok {
				reply("550 %s: no such file", arg)
				continue
			}
			if strings.EqualFold(cmd, "SIZE") {
				reply("213 %d", len(b))
				continue
			}
			if pasv == nil {
				reply("425 use EPSV or PASV first")
				continue
			}
			reply("150 opening binary data connection")
			dc, err := pasv.Accept()
			pasv.Close()
			pasv = nil
			if err != nil {
				reply("425 data connection failed")
				continue
			}
			_, werr := dc.Write(b)
			dc.Close()
			if werr != nil {
				reply("426 transfer aborted")
				continue
			}
			reply("226 transfer complete")
		default:
			reply("502 command not implemented")
		}
	}
}
