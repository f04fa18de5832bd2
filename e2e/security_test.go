package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/internal/mailcatcher"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/internal/testkit/testsftp"
)

// After a full run — a VAN score load from an SFTP source with a password,
// a Rocky registration with an ID number — none of the secrets appears in
// the processes' logs, in Redis (keys, payloads, anything), in the job API's
// answers or in the dashboard's API.
func TestSecretsStayOutOfLogsRedisResponsesAndDashboard(t *testing.T) {
	const (
		sftpPassword = "Sftp-Pa55word-E2E"
		idNumber     = "D98765432"
	)
	sftpd := testsftp.Start(t, "keep", sftpPassword)
	sftpd.Put(t, "scores.zip", zipped(t, "scores.csv", "hatWearerId,hatWearingScore,needsAnotherHatScore\n101,50,75\n102,60,76\n"))
	mail := mailcatcher.Start(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := StartStack(t,
		"TURNOUT_ALLOW_NETWORKS=127.0.0.0/8",
		"TURNOUT_SFTP_KNOWN_HOSTS="+sftpd.KnownHosts(t),
		"TURNOUT_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(key),
		"TURNOUT_SMTP_URL="+mail.URL().String(),
		"TURNOUT_LOG_LEVEL=debug",
	)
	var secrets []string

	// VAN: people, two scores, VAN's two-score example job from SFTP.
	van := s.CreateKey("--name", "van", "--scopes", "van", "--van-app", "e2e", "--db-mode", "0", "--auto-approve")
	vanSecret := van["secret"].(string)
	secrets = append(secrets, vanSecret, sftpPassword, van["webhookSecret"].(string))
	people := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(people, []byte("VANID,FirstName,LastName\n101,Ada,Lovelace\n102,Alan,Turing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.CLI("people", "import", "--db-mode", "0", people)
	var scores []float64
	for _, n := range []string{"Hat wearing", "Needs another hat"} {
		var sc map[string]any
		_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", n, "--min", "0", "--max", "100", "--json")), &sc)
		scores = append(scores, sc["scoreId"].(float64))
	}
	body := fmt.Sprintf(`{"description":"security run","file":{"columnDelimiter":"Csv","fileName":"scores.csv","hasHeader":true,
		"sourceUrl":"sftp://keep:%s@%s/scores.zip","columns":[{"name":"hatWearerId"},{"name":"hatWearingScore"},{"name":"needsAnotherHatScore"}]},
		"actions":[{"actionType":"Score","personIdColumn":"hatWearerId","personIdType":"VANID","scoreColumn":"hatWearingScore","scoreId":%v},
		{"actionType":"Score","personIdColumn":"hatWearerId","personIdType":"VANID","scoreColumn":"needsAnotherHatScore","scoreId":%v,
		"approvalCriteria":{"average":75.5,"tolerance":1}}]}`, sftpPassword, sftpd.Addr(), scores[0], scores[1])
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("e2e:"+vanSecret+"|0"))
	code, _, resp := s.Do("POST", "/v4/fileLoadingJobs", body, "Authorization", basic)
	if code != 201 {
		t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, resp)
	}
	var created struct{ JobID int64 }
	_ = json.Unmarshal(resp, &created)
	var responses bytes.Buffer
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, view := s.Do("GET", fmt.Sprintf("/v4/fileLoadingJobs/%d", created.JobID), "", "Authorization", basic)
		if strings.Contains(string(view), `"status":"Completed"`) {
			responses.Write(view)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file load did not complete: %s\n%s", view, tail(s.Logs.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, _, su := s.Do("GET", "/v4/scoreUpdates", "", "Authorization", basic)
	responses.Write(su)

	// Rocky: a partner and a registration with an ID number.
	var partner map[string]any
	_ = json.Unmarshal([]byte(s.CLI("rocky", "partner-create", "--org-name", "Org", "--org-url", "https://org.example.org",
		"--contact-name", "Ci", "--contact-email", "ci@example.org", "--contact-phone", "4155551212", "--contact-address", "1 Main St",
		"--contact-city", "San Francisco", "--contact-state", "CA", "--contact-zip", "94110", "--json")), &partner)
	secrets = append(secrets, partner["partner_API_key"].(string), idNumber)
	reg := map[string]any{
		"lang": "en", "partner_id": partner["partner_id"], "send_confirmation_reminder_emails": true,
		"created_at": "01102026 10:00:00", "updated_at": "01102026 10:05:00",
		"date_of_birth": "05-17-1990", "id_number": idNumber, "email_address": "ada@example.org",
		"first_registration": true, "home_zip_code": "94110", "us_citizen": true,
		"has_state_license": true, "is_eighteen_or_older": true, "name_title": "Ms.",
		"first_name": "Ada", "last_name": "Lovelace", "home_address": "12 Main St",
		"home_city": "San Francisco", "home_state_id": "CA", "has_mailing_address": false,
		"race": "White (not Hispanic)", "party": "democratic", "change_of_name": false,
		"change_of_address": false, "opt_in_email": false, "opt_in_sms": false, "opt_in_volunteer": false,
		"partner_opt_in_email": false, "partner_opt_in_sms": false, "partner_opt_in_volunteer": false,
	}
	rb, _ := json.Marshal(map[string]any{"registration": reg})
	code, _, resp = s.Do("POST", "/api/v4/registrations.json", string(rb))
	if code != 200 {
		t.Fatalf("POST registrations: %d %s", code, resp)
	}
	responses.Write(resp)
	var r struct{ UID string }
	_ = json.Unmarshal(resp, &r)
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, _, pr := s.Do("GET", "/api/v4/registrations/pdf_ready?UID="+r.UID, "")
		if strings.Contains(string(pr), `"pdf_ready":true`) {
			responses.Write(pr)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PDF not ready: %s", pr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mail.WaitFor(t, 1)

	// The dashboard's API as an operator sees it: queues and their tasks.
	admin := s.CreateKey("--name", "ops", "--scopes", "admin")["secret"].(string)
	secrets = append(secrets, admin)
	ab := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+admin))
	var dashboard bytes.Buffer
	for _, q := range []string{"fileload", "pdf", "notify", "default", "critical", "reports"} {
		for _, state := range []string{"completed", "pending", "scheduled", "retry", "archived"} {
			_, _, b := s.Do("GET", "/monitoring/api/queues/"+q+"/"+state+"_tasks", "", "Authorization", ab)
			dashboard.Write(b)
		}
	}
	if !strings.Contains(dashboard.String(), "job_id") {
		t.Fatalf("the dashboard API showed no task payloads; the check would prove nothing:\n%.1000s", dashboard.String())
	}

	s.Stop()
	places := map[string]string{
		"logs":          s.Logs.String(),
		"redis":         dumpRedis(t, testenv.Get(t).RedisURL),
		"API responses": responses.String(),
		"dashboard API": dashboard.String(),
	}
	for where, text := range places {
		if text == "" {
			t.Errorf("%s: nothing collected", where)
		}
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains the secret %.6s…", where, secret)
			}
		}
	}
}

func zipped(t *testing.T, name, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create(name)
	_, _ = w.Write([]byte(content))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// dumpRedis returns every key of the database and everything in it.
func dumpRedis(t *testing.T, url string) string {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	var out strings.Builder
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	n := 0
	for iter.Next(ctx) {
		k := iter.Val()
		n++
		out.WriteString(k + "\n")
		switch rdb.Type(ctx, k).Val() {
		case "string":
			out.WriteString(rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				out.WriteString(f + "=" + v + "\n")
			}
		case "list":
			out.WriteString(strings.Join(rdb.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "set":
			out.WriteString(strings.Join(rdb.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			out.WriteString(strings.Join(rdb.ZRange(ctx, k, 0, -1).Val(), "\n"))
		}
		out.WriteString("\n")
	}
	if n == 0 {
		t.Error("Redis is empty; the check would prove nothing")
	}
	return out.String()
}
