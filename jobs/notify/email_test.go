package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/mailcatcher"
	"github.com/turnoutdev/turnout/jobs/notify"
)

func TestMailerDeliversTextAndHTMLOverRealSMTP(t *testing.T) {
	srv := mailcatcher.Start(t)
	m := notify.NewMailer(srv.URL(), "Turnout <no-reply@turnout.test>")
	err := m.Send(context.Background(), notify.Email{
		To:      []string{"organizer@example.org"},
		Subject: "Votre formulaire est prêt",
		Text:    "Your form is ready: https://turnout.test/pdf/abc.pdf",
		HTML:    "<p>Your form is <b>ready</b></p>",
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := srv.WaitFor(t, 1)
	got := msgs[0]
	if len(got.To) != 1 || got.To[0] != "organizer@example.org" {
		t.Errorf("recipients = %v, want [organizer@example.org]", got.To)
	}
	if got.Subject != "Votre formulaire est prêt" {
		t.Errorf("subject = %q, want the UTF-8 subject back", got.Subject)
	}
	if !strings.Contains(got.Text, "https://turnout.test/pdf/abc.pdf") {
		t.Errorf("text part = %q, want the link", got.Text)
	}
	if !strings.Contains(got.HTML, "<b>ready</b>") {
		t.Errorf("html part = %q, want the HTML alternative", got.HTML)
	}
}

func TestMailerReportsUnreachableRelay(t *testing.T) {
	srv := mailcatcher.Start(t)
	u := srv.URL()
	_ = srv.Close()
	err := notify.NewMailer(u, "no-reply@turnout.test").Send(context.Background(), notify.Email{To: []string{"a@example.org"}, Subject: "s", Text: "t"})
	if err == nil {
		t.Fatal("Send to a closed relay succeeded; want an error")
	}
}

func TestMailerRefusesNoRecipient(t *testing.T) {
	srv := mailcatcher.Start(t)
	if err := notify.NewMailer(srv.URL(), "no-reply@turnout.test").Send(context.Background(), notify.Email{Subject: "s", Text: "t"}); err == nil {
		t.Fatal("Send without recipients succeeded; want an error")
	}
}
