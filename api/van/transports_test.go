package van_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/internal/testkit/testftp"
	"github.com/turnoutdev/turnout/internal/testkit/testsftp"
	"github.com/turnoutdev/turnout/jobs/fileload"
)

func TestVANExampleOverSFTPWithKnownHosts(t *testing.T) {
	sftpd := testsftp.Start(t, "keep", "s3cret")
	sftpd.Put(t, "haberdasher.csv.zip", zipOf(t, "haberdashery.csv", exampleCSV(10)))
	guard := netguard.New(loopback)
	s := newStack(t, options{allow: loopback, fetchers: fileload.Fetchers{
		"sftp": fileload.SFTPFetcher{Dial: guard.DialContext, KnownHosts: sftpd.KnownHosts(t)},
	}})
	s.people(10, 0)
	runVANExample(t, s, fmt.Sprintf("sftp://keep:s3cret@%s/haberdasher.csv.zip", sftpd.Addr()), 10)
}

func TestSFTPUnknownHostKeyFailsTheJob(t *testing.T) {
	sftpd := testsftp.Start(t, "keep", "s3cret")
	other := testsftp.Start(t, "keep", "s3cret") // a different host key
	sftpd.Put(t, "h.zip", zipOf(t, "haberdashery.csv", exampleCSV(2)))
	guard := netguard.New(loopback)
	s := newStack(t, options{allow: loopback, fetchers: fileload.Fetchers{
		"sftp": fileload.SFTPFetcher{Dial: guard.DialContext, KnownHosts: other.KnownHosts(t)},
	}})
	s.people(2, 0)
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	id := s.submit(exampleRequest(fmt.Sprintf("sftp://keep:s3cret@%s/h.zip", sftpd.Addr()), a, b, "[]"))
	v := s.wait(id)
	if v.Status != "Error" || !strings.Contains(deref(v.Message), "is not in known_hosts") {
		t.Errorf("status %s message %q, want Error: host not in known_hosts", v.Status, deref(v.Message))
	}
	if strings.Contains(deref(v.Message), "s3cret") {
		t.Errorf("message leaks the password: %s", deref(v.Message))
	}
}

func TestVANExampleOverFTP(t *testing.T) {
	ftpd := testftp.Start(t, "keep", "s3cret")
	ftpd.Put("/haberdasher.csv.zip", zipOf(t, "haberdashery.csv", exampleCSV(10)))
	s := newStack(t, options{allow: loopback})
	s.people(10, 0)
	runVANExample(t, s, fmt.Sprintf("ftp://keep:s3cret@%s/haberdasher.csv.zip", ftpd.Addr()), 10)
}

func TestFTPBadLoginFailsWithoutLeakingThePassword(t *testing.T) {
	ftpd := testftp.Start(t, "keep", "s3cret")
	ftpd.Put("/h.zip", zipOf(t, "haberdashery.csv", exampleCSV(2)))
	s := newStack(t, options{allow: loopback})
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	id := s.submit(exampleRequest(fmt.Sprintf("ftp://keep:wrongpass@%s/h.zip", ftpd.Addr()), a, b, "[]"))
	v := s.wait(id)
	want := `file.sourceUrl: FTP login to 127.0.0.1 as "keep" failed`
	if v.Status != "Error" || deref(v.Message) != want {
		t.Errorf("status %s message %q, want Error %q", v.Status, deref(v.Message), want)
	}
}
