package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/mailcatcher"
)

// heldSource is a file server whose downloads send their header and first
// row at once, then nothing until released: a slow source. It counts the
// downloads open at once for each path prefix (one per key).
type heldSource struct {
	*httptest.Server
	release chan struct{}
	mu      sync.Mutex
	open    map[string]int
	peak    map[string]int
}

func startHeldSource(t *testing.T) *heldSource {
	h := &heldSource{release: make(chan struct{}), open: map[string]int{}, peak: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := strings.Split(strings.Trim(r.URL.Path, "/"), "/")[0]
		h.mu.Lock()
		h.open[who]++
		h.peak[who] = max(h.peak[who], h.open[who])
		h.mu.Unlock()
		defer func() { h.mu.Lock(); h.open[who]--; h.mu.Unlock() }()
		fmt.Fprint(w, "hatWearerId,hatWearingScore,needsAnotherHatScore\n101,50,75\n")
		w.(http.Flusher).Flush()
		select {
		case <-h.release:
			fmt.Fprint(w, "102,60,76\n")
		case <-r.Context().Done():
		case <-time.After(90 * time.Second): // bounded even if the test dies
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *heldSource) counts(who string) (open, peak int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open[who], h.peak[who]
}

// Ten slow-source score loads by one key cannot starve the platform: the
// key takes at most its own limit of the worker's slots (3 here, set on
// the key), another key's load takes the last bulk slot, and with every
// bulk slot held a Rocky async=false registration still gets its PDF in
// time, from the slots kept for interactive work. Loads that waited for a
// slot of their key did not spend attempts.
func TestSecuritySlowSourcesOfOneKeyCannotStarveTheWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and slow sources")
	}
	src := startHeldSource(t)
	mail := mailcatcher.Start(t)
	s := StartStack(t,
		"TURNOUT_ALLOW_NETWORKS=127.0.0.0/8",
		"TURNOUT_SMTP_URL="+mail.URL().String(),
		"TURNOUT_WORKER_CONCURRENCY=4",
		"TURNOUT_WORKER_INTERACTIVE_CONCURRENCY=2",
		"TURNOUT_ROCKY_PDF_WAIT=5s",
		"TURNOUT_KEY_FILELOAD_CONCURRENCY=4",
		"TURNOUT_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
	)
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
	type tenant struct{ auth, key string }
	newTenant := func(name string, extra ...string) tenant {
		k := s.CreateKey(append([]string{"--name", name, "--scopes", "van", "--van-app", name, "--db-mode", "0", "--auto-approve"}, extra...)...)
		return tenant{auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+k["secret"].(string)+"|0")), key: k["secret"].(string)}
	}
	a := newTenant("greedy", "--fileload-concurrency", "3")
	b := newTenant("modest")
	load := func(who tenant, path string) int64 {
		body := fmt.Sprintf(`{"description":"slow","file":{"columnDelimiter":"Csv","fileName":"s.csv","hasHeader":true,"sourceUrl":%q,
			"columns":[{"name":"hatWearerId"},{"name":"hatWearingScore"},{"name":"needsAnotherHatScore"}]},
			"actions":[{"actionType":"Score","personIdColumn":"hatWearerId","personIdType":"VANID","scoreColumn":"hatWearingScore","scoreId":%v}]}`,
			src.URL+path, scores[0])
		code, _, resp := s.Do("POST", "/v4/fileLoadingJobs", body, "Authorization", who.auth)
		if code != 201 {
			t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, resp)
		}
		var created struct{ JobID int64 }
		_ = json.Unmarshal(resp, &created)
		return created.JobID
	}
	var aJobs []int64
	for i := range 10 {
		aJobs = append(aJobs, load(a, fmt.Sprintf("/greedy/%d.csv", i)))
	}
	bJob := load(b, "/modest/0.csv")

	// Every bulk slot is held: three by the greedy key, one by the other.
	waitFor(t, 30*time.Second, "the greedy key's 3 and the modest key's 1 downloads open", func() bool {
		ga, _ := src.counts("greedy")
		mb, _ := src.counts("modest")
		return ga == 3 && mb == 1
	})

	var partner map[string]any
	_ = json.Unmarshal([]byte(s.CLI("rocky", "partner-create", "--org-name", "Org", "--org-url", "https://org.example.org",
		"--contact-name", "Ci", "--contact-email", "ci@example.org", "--contact-phone", "4155551212", "--contact-address", "1 Main St",
		"--contact-city", "San Francisco", "--contact-state", "CA", "--contact-zip", "94110", "--json")), &partner)
	reg := registration(partner["partner_id"])
	reg["async"] = false
	rb, _ := json.Marshal(map[string]any{"registration": reg})
	start := time.Now()
	code, _, resp := s.Do("POST", "/api/v4/registrations.json", string(rb))
	took := time.Since(start)
	if code != 200 || !strings.Contains(string(resp), `"pdfurl"`) {
		t.Fatalf("async=false registration with every bulk slot held: %d after %s %s, want 200 with its PDF\n%s", code, took, resp, tail(s.Logs.String(), 3000))
	}
	if ga, _ := src.counts("greedy"); ga != 3 {
		t.Fatalf("the greedy key's downloads open after the registration: %d, want still 3 (the check proved nothing)", ga)
	}
	t.Logf("PDF ready after %s with all 4 bulk slots held by slow sources", took.Round(time.Millisecond))

	close(src.release)
	for _, id := range append(aJobs, bJob) {
		auth := a.auth
		if id == bJob {
			auth = b.auth
		}
		waitFor(t, 60*time.Second, fmt.Sprintf("job %d completed", id), func() bool {
			_, _, view := s.Do("GET", fmt.Sprintf("/v4/fileLoadingJobs/%d", id), "", "Authorization", auth)
			return strings.Contains(string(view), `"status":"Completed"`)
		})
	}
	if _, peak := src.counts("greedy"); peak != 3 {
		t.Errorf("the greedy key had %d downloads open at once, want its limit of 3", peak)
	}
	for _, id := range aJobs {
		_, _, b := s.Do("GET", fmt.Sprintf("/service/jobs/%d", id), "", "X-API-Key", a.key)
		var v struct{ Job struct{ Attempts int } }
		_ = json.Unmarshal(b, &v)
		if v.Job.Attempts != 1 {
			t.Errorf("job %d took %d attempts, want 1: waiting for a slot of its key is not an attempt (%s)", id, v.Job.Attempts, b)
		}
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still not: %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// registration is a complete Rocky registration of partnerID.
func registration(partnerID any) map[string]any {
	return map[string]any{
		"lang": "en", "partner_id": partnerID, "send_confirmation_reminder_emails": false,
		"created_at": "01102026 10:00:00", "updated_at": "01102026 10:05:00",
		"date_of_birth": "05-17-1990", "id_number": "D11122233", "email_address": "ada@example.org",
		"first_registration": true, "home_zip_code": "94110", "us_citizen": true,
		"has_state_license": true, "is_eighteen_or_older": true, "name_title": "Ms.",
		"first_name": "Ada", "last_name": "Lovelace", "home_address": "12 Main St",
		"home_city": "San Francisco", "home_state_id": "CA", "has_mailing_address": false,
		"race": "White (not Hispanic)", "party": "democratic", "change_of_name": false,
		"change_of_address": false, "opt_in_email": false, "opt_in_sms": false, "opt_in_volunteer": false,
		"partner_opt_in_email": false, "partner_opt_in_sms": false, "partner_opt_in_volunteer": false,
	}
}
