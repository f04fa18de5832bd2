// Package notify delivers notifications: e-mail over SMTP and, for
// listeners, signed webhooks. Delivery is at least once; callers retry
// through the notify queue and record attempts.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"
)

// Email is one message. Text is required; HTML, when set, is sent as the
// alternative part.
type Email struct {
	To      []string
	Subject string
	Text    string
	HTML    string
}

// Mailer sends e-mail through the SMTP relay named by a smtp:// or smtps://
// URL (user and password in the URL enable authentication).
type Mailer struct {
	url  *url.URL
	from string
}

// NewMailer returns a Mailer sending from from (e.g. "Turnout <no-reply@example.org>").
func NewMailer(smtpURL *url.URL, from string) *Mailer {
	return &Mailer{url: smtpURL, from: from}
}

// Send delivers e. The error never contains the relay's credentials.
func (m *Mailer) Send(ctx context.Context, e Email) error {
	if len(e.To) == 0 {
		return errors.New("email: no recipient")
	}
	msg := mail.NewMsg()
	if err := msg.From(m.from); err != nil {
		return fmt.Errorf("email from: %w", err)
	}
	if err := msg.To(e.To...); err != nil {
		return fmt.Errorf("email recipient: %w", err)
	}
	msg.Subject(e.Subject)
	msg.SetBodyString(mail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	}
	c, err := m.client()
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send email via %s: %w", m.url.Host, err)
	}
	return nil
}

func (m *Mailer) client() (*mail.Client, error) {
	host := m.url.Hostname()
	opts := []mail.Option{mail.WithTimeout(30 * time.Second)}
	if p := m.url.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("smtp port %q: %w", p, err)
		}
		opts = append(opts, mail.WithPort(n))
	}
	if m.url.Scheme == "smtps" {
		opts = append(opts, mail.WithSSL())
	} else {
		// STARTTLS when the relay offers it; local catchers do not.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if u := m.url.User; u != nil {
		pass, _ := u.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(u.Username()), mail.WithPassword(pass))
	}
	c, err := mail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}
