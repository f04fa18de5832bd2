package registration

import "strings"

// DefaultBlockedDomains are disposable-mail domains: an address there
// cannot receive the PDF link and reminders for long (Rocky v4: "a
// validation error if the email address submitted is in our block list").
var DefaultBlockedDomains = []string{
	"mailinator.com", "guerrillamail.com", "guerrillamail.net", "sharklasers.com", "10minutemail.com",
	"tempmail.com", "temp-mail.org", "throwawaymail.com", "yopmail.com", "getnada.com",
	"trashmail.com", "dispostable.com", "maildrop.cc", "fakeinbox.com", "mintemail.com",
	"mailnesia.com", "spamgourmet.com", "mytemp.email", "emailondeck.com", "moakt.com",
}

// Blocklist rejects e-mail addresses by domain (and its subdomains) or by
// whole address. A nil Blocklist blocks nothing.
type Blocklist struct {
	domains   map[string]bool
	addresses map[string]bool
}

// NewBlocklist builds a list from entries: "example.com" blocks the domain
// and its subdomains, "someone@example.com" one address. Case is ignored.
func NewBlocklist(entries []string) *Blocklist {
	b := &Blocklist{domains: map[string]bool{}, addresses: map[string]bool{}}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
		case strings.Contains(e, "@"):
			b.addresses[e] = true
		default:
			b.domains[strings.TrimPrefix(e, "@")] = true
		}
	}
	return b
}

// Blocked reports whether address is on the list.
func (b *Blocklist) Blocked(address string) bool {
	if b == nil {
		return false
	}
	a := strings.ToLower(address)
	if b.addresses[a] {
		return true
	}
	at := strings.LastIndex(a, "@")
	if at < 0 {
		return false
	}
	for d := a[at+1:]; d != ""; {
		if b.domains[d] {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return false
}
