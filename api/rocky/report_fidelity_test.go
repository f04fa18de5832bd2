package rocky_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// reportRows asks for a registrant report over HTTP as a partner does
// (POST registrant_reports.json, poll status_url, GET download_url) and
// returns its rows, each by header, keyed by e-mail address.
func (s *stack) reportRows(fields map[string]any) map[string]map[string]string {
	s.t.Helper()
	body := map[string]any{"partner_id": s.partnerID, "partner_API_key": s.partnerKey}
	for k, v := range fields {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	status, m, raw := s.do("POST", "/api/v4/registrant_reports.json", string(b))
	if status != 200 {
		s.t.Fatalf("POST registrant_reports.json %v: %d %s", fields, status, raw)
	}
	creds := "?partner_id=" + s.partnerID + "&partner_API_key=" + url.QueryEscape(s.partnerKey)
	statusURL, _ := url.Parse(m["status_url"].(string))
	deadline := time.Now().Add(30 * time.Second)
	for m["download_url"] == "" {
		if time.Now().After(deadline) {
			s.t.Fatalf("report %v not complete after 30s: %v", fields, m)
		}
		time.Sleep(50 * time.Millisecond)
		if status, m, raw = s.do("GET", statusURL.Path+creds, ""); status != 200 || m["status"] == "failed" {
			s.t.Fatalf("report status: %d %s", status, raw)
		}
	}
	dl, _ := url.Parse(m["download_url"].(string))
	status, _, raw = s.do("GET", dl.Path+creds, "")
	if status != 200 {
		s.t.Fatalf("download: %d %.300s", status, raw)
	}
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil || len(recs) == 0 {
		s.t.Fatalf("download is not CSV (%v): %.300s", err, raw)
	}
	rows := map[string]map[string]string{}
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, h := range recs[0] {
			row[h] = rec[i]
		}
		rows[row["Email address"]] = row
	}
	return rows
}

// A registrant report shows what the partner sent, whichever path the
// registrant came by (registrations.json, registrations/bulk,
// gregistrations.json): "Started registration" is the partner's
// created_at in Rocky's form (America/New_York, Ruby's Time#to_s), and so
// are the since/before filters; Party and Race are the text received; a
// pre-registrant is "Pre-Registered: Yes" with "Not old enough to
// register", an adult "No" with no reason.
func TestRegistrantReportShowsWhatThePartnerSent(t *testing.T) {
	s := start(t, options{preRegistration: true})
	seventeen := time.Now().AddDate(-17, 0, -10).Format("01-02-2006")
	type want struct {
		started        time.Time
		party, race    string
		preReg, reason string
	}
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	wants := map[string]want{}

	// registrations.json: an adult and a pre-registrant.
	for _, c := range []struct {
		email, createdAt, dob, party, race string
		started                            time.Time
		preReg, reason                     string
	}{
		{"adult@example.org", "10282026 14:00:00", "05-17-1990", "Democratic", "White (not Hispanic)",
			utc("2026-10-28T14:00:00Z"), "No", ""},
		{"young@example.org", "11022026 12:00:00", seventeen, "No Party Preference", "hispanic",
			utc("2026-11-02T12:00:00Z"), "Yes", "Not old enough to register"},
	} {
		status, _, raw := s.register(func(m map[string]any) {
			m["email_address"], m["created_at"], m["date_of_birth"], m["party"], m["race"] = c.email, c.createdAt, c.dob, c.party, c.race
			m["send_confirmation_reminder_emails"] = false
		})
		if status != 200 {
			t.Fatalf("register %s: %d %s", c.email, status, raw)
		}
		wants[c.email] = want{c.started, c.party, c.race, c.preReg, c.reason}
	}

	// registrations/bulk: statistics rows dated by the partner, in both
	// timestamp forms, with the pre-registration flags as sent.
	bulk := []map[string]any{
		{"lang": "en", "status": "step_2", "email_address": "bulk1@example.org", "created_at": "2026-11-01",
			"party": "democrat", "race": "Asiático / Isleño del Pacífico"},
		{"lang": "es", "status": "complete", "email_address": "bulk2@example.org", "created_at": "2026-11-01T15:30:00Z",
			"party": "Partido Verde", "race": "Other"},
		{"lang": "en", "status": "complete", "email_address": "bulk3@example.org", "created_at": "10302026 09:00:00",
			"ineligible_age": true, "under_18_ok": true, "age": 17, "party": "", "race": ""},
		{"lang": "en", "status": "step_3", "email_address": "bulk4@example.org", "created_at": "10302026 10:00:00",
			"ineligible_age": "true", "under_18_ok": "false", "age": "16", "party": "REPUBLICAN", "race": "decline"},
	}
	b, _ := json.Marshal(map[string]any{"partner_id": s.partnerID, "partner_API_key": s.partnerKey, "registrants": bulk})
	if status, m, raw := s.do("POST", "/api/v4/registrations/bulk", string(b)); status != 200 || m["registrants_added"] != float64(4) {
		t.Fatalf("bulk: %d %s", status, raw)
	}
	wants["bulk1@example.org"] = want{utc("2026-11-01T00:00:00Z"), "democrat", "Asiático / Isleño del Pacífico", "No", ""}
	wants["bulk2@example.org"] = want{utc("2026-11-01T15:30:00Z"), "Partido Verde", "Other", "No", ""}
	wants["bulk3@example.org"] = want{utc("2026-10-30T09:00:00Z"), "", "", "Yes", "Not old enough to register"}
	wants["bulk4@example.org"] = want{utc("2026-10-30T10:00:00Z"), "REPUBLICAN", "decline", "No", "Not old enough to register"}

	// gregistrations.json.
	g := fmt.Sprintf(`{"registration": {"lang": "en", "partner_id": %q, "send_confirmation_reminder_emails": false,
		"created_at": "11032026 08:00:00", "date_of_birth": "05-17-1990", "email_address": "greg@example.org",
		"home_zip_code": "94110", "us_citizen": true, "name_title": "Mr.", "first_name": "Gil", "last_name": "Reyes",
		"party": "green", "race": "Multi-racial"}}`, s.partnerID)
	if status, _, raw := s.do("POST", "/api/v4/gregistrations.json", g); status != 200 {
		t.Fatalf("gregistration: %d %s", status, raw)
	}
	wants["greg@example.org"] = want{utc("2026-11-03T08:00:00Z"), "green", "Multi-racial", "No", ""}

	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(newYork).Format("2006-01-02")
	rows := s.reportRows(nil)
	if len(rows) != len(wants) {
		t.Fatalf("report has %d registrants, want %d: %v", len(rows), len(wants), rows)
	}
	for email, w := range wants {
		row, ok := rows[email]
		if !ok {
			t.Errorf("%s is not in the report", email)
			continue
		}
		started := w.started.In(newYork).Format("2006-01-02 15:04:05 -0700")
		if row["Started registration"] != started || strings.HasPrefix(row["Started registration"], today) {
			t.Errorf("%s: Started registration %q, want the partner's created_at %q", email, row["Started registration"], started)
		}
		if row["Party"] != w.party || row["Race"] != w.race {
			t.Errorf("%s: Party %q Race %q, want them as sent: %q %q", email, row["Party"], row["Race"], w.party, w.race)
		}
		if row["Pre-Registered"] != w.preReg || row["Ineligible reason"] != w.reason {
			t.Errorf("%s: Pre-Registered %q, Ineligible reason %q; want %q, %q", email, row["Pre-Registered"],
				row["Ineligible reason"], w.preReg, w.reason)
		}
	}

	// since and before select by the same created_at.
	for _, c := range []struct {
		name   string
		fields map[string]any
		want   []string
	}{
		{"since", map[string]any{"since": "2026-11-01T12:00:00Z"},
			[]string{"bulk2@example.org", "young@example.org", "greg@example.org"}},
		{"before", map[string]any{"before": "2026-11-01 00:00:00 UTC"},
			[]string{"adult@example.org", "bulk3@example.org", "bulk4@example.org"}},
		{"since and before", map[string]any{"since": "2026-10-30T09:30:00Z", "before": "2026-11-02T00:00:00Z"},
			[]string{"bulk4@example.org", "bulk1@example.org", "bulk2@example.org"}},
		// The other forms Rocky reads: to the minute, an offset after a
		// space, a US zone by name.
		{"since to the minute", map[string]any{"since": "2026-11-01 12:00"},
			[]string{"bulk2@example.org", "young@example.org", "greg@example.org"}},
		{"since with an offset", map[string]any{"since": "2026-11-01 14:00:00+02:00"},
			[]string{"bulk2@example.org", "young@example.org", "greg@example.org"}},
		{"before in Eastern time", map[string]any{"before": "2026-10-31 20:00:00 EDT"},
			[]string{"adult@example.org", "bulk3@example.org", "bulk4@example.org"}},
	} {
		got := s.reportRows(c.fields)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d rows, want %v", c.name, len(got), c.want)
		}
		for _, e := range c.want {
			if _, ok := got[e]; !ok {
				t.Errorf("%s: %s missing", c.name, e)
			}
		}
	}
}
