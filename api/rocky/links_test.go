package rocky_test

import (
	"context"
	"strings"
	"testing"
)

// The e-mail link: GET (what mail scanners do) changes nothing, the
// page's button (POST) stops the reminders.
func TestStopRemindersLink(t *testing.T) {
	s := start(t, options{noWorker: true})
	_, reg, _ := s.register(nil)
	uid := reg["uid"].(string)
	left := func() int {
		var n int
		_ = s.db.QueryRow(context.Background(), `SELECT reminders_left FROM rocky_registrants WHERE uid = $1`, uid).Scan(&n)
		return n
	}
	before := left()
	status, _, raw := s.do("GET", "/stop_reminders/"+uid, "")
	if status != 200 || !strings.Contains(string(raw), `<form method="post">`) || left() != before || before == 0 {
		t.Fatalf("GET: %d %s (reminders_left %d → %d)", status, raw, before, left())
	}
	status, _, raw = s.do("POST", "/stop_reminders/"+uid, "")
	if status != 200 || !strings.Contains(string(raw), "any more reminders") || left() != 0 {
		t.Fatalf("POST: %d %s (reminders_left %d)", status, raw, left())
	}
	status, _, raw = s.do("POST", "/stop_reminders/"+strings.Repeat("0", 40), "")
	if status != 404 || !strings.Contains(string(raw), "Link not found") {
		t.Fatalf("unknown uid: %d %s, want a 404 page", status, raw)
	}
}
