package config

import (
	"strings"
	"testing"
	"time"
)

func TestRockySettings(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := Parse(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RockyReminders) != 3 || c.RockyReminders[0] != 72*time.Hour || c.RockyPDFWait != 20*time.Second ||
		c.RockyOpenSignup || c.RockyEmailBlocklist != nil {
		t.Fatalf("defaults: %+v %v %v %v", c.RockyReminders, c.RockyPDFWait, c.RockyOpenSignup, c.RockyEmailBlocklist)
	}
	c, err = Parse(env(map[string]string{"TURNOUT_ROCKY_REMINDERS": "none", "TURNOUT_ROCKY_EMAIL_BLOCKLIST": "a.org, b@c.org",
		"TURNOUT_ROCKY_OPEN_SIGNUP": "true"}))
	if err != nil || len(c.RockyReminders) != 0 || len(c.RockyEmailBlocklist) != 2 || !c.RockyOpenSignup {
		t.Fatalf("set: %+v %v", c, err)
	}
	_, err = Parse(env(map[string]string{"TURNOUT_ROCKY_REMINDERS": "3 days", "TURNOUT_ROCKY_PDF_WAIT": "0s", "TURNOUT_ROCKY_OPEN_SIGNUP": "maybe"}))
	for _, v := range []string{"TURNOUT_ROCKY_REMINDERS", "TURNOUT_ROCKY_PDF_WAIT", "TURNOUT_ROCKY_OPEN_SIGNUP"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("bad %s not reported: %v", v, err)
		}
	}
}
