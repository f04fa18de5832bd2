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
		c.RockyOpenSignup || c.RockyEmailBlocklist != nil || c.RockySignupsPerHour != 5 || c.RockyPreRegistration ||
		c.RockyBatchSize != 1000 {
		t.Fatalf("defaults: %+v %v %v %v", c.RockyReminders, c.RockyPDFWait, c.RockyOpenSignup, c.RockyEmailBlocklist)
	}
	c, err = Parse(env(map[string]string{"TURNOUT_ROCKY_REMINDERS": "none", "TURNOUT_ROCKY_EMAIL_BLOCKLIST": "a.org, b@c.org",
		"TURNOUT_ROCKY_OPEN_SIGNUP": "true", "TURNOUT_ROCKY_SIGNUP_RATE_LIMIT": "2", "TURNOUT_ROCKY_PREREGISTRATION": "true",
		"TURNOUT_ROCKY_BATCH_SIZE": "5000"}))
	if err != nil || len(c.RockyReminders) != 0 || len(c.RockyEmailBlocklist) != 2 || !c.RockyOpenSignup ||
		c.RockySignupsPerHour != 2 || !c.RockyPreRegistration || c.RockyBatchSize != 5000 {
		t.Fatalf("set: %+v %v", c, err)
	}
	_, err = Parse(env(map[string]string{"TURNOUT_ROCKY_REMINDERS": "3 days", "TURNOUT_ROCKY_PDF_WAIT": "0s", "TURNOUT_ROCKY_OPEN_SIGNUP": "maybe",
		"TURNOUT_ROCKY_SIGNUP_RATE_LIMIT": "0", "TURNOUT_ROCKY_PREREGISTRATION": "often", "TURNOUT_ROCKY_BATCH_SIZE": "-1"}))
	for _, v := range []string{"TURNOUT_ROCKY_REMINDERS", "TURNOUT_ROCKY_PDF_WAIT", "TURNOUT_ROCKY_OPEN_SIGNUP",
		"TURNOUT_ROCKY_SIGNUP_RATE_LIMIT", "TURNOUT_ROCKY_PREREGISTRATION", "TURNOUT_ROCKY_BATCH_SIZE"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("bad %s not reported: %v", v, err)
		}
	}
}
