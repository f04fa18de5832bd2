package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/jobs/notify"
	"github.com/turnoutdev/turnout/webhook"
)

// hookReceiver is a listener's webhook endpoint that is first not there at
// all (connection refused), then answers 500, then recovers; it records
// every request it gets.
type hookReceiver struct {
	verifier *webhook.Verifier

	mu       sync.Mutex
	failing  bool // answer 500 instead of 200
	requests []hookRequest
}

type hookRequest struct {
	path, webhookID, timestamp string
	body                       string
	at                         time.Time
	status                     int
	verifyErr                  error
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := hookRequest{path: r.URL.Path, webhookID: r.Header.Get(webhook.HeaderID), timestamp: r.Header.Get(webhook.HeaderTimestamp),
		body: string(body), at: time.Now(), verifyErr: h.verifier.Verify(r.Header, body)}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case req.verifyErr != nil:
		req.status = http.StatusUnauthorized
	case h.failing:
		req.status = http.StatusInternalServerError
	default:
		req.status = http.StatusNoContent
	}
	h.requests = append(h.requests, req)
	w.WriteHeader(req.status)
}

func (h *hookReceiver) setFailing(f bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failing = f
}

// seen returns the requests received so far on path, in arrival order.
func (h *hookReceiver) seen(path string) []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookRequest
	for _, r := range h.requests {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// A webhook receiver is down (connection refused) while file loads finish,
// then answers 500, then recovers. Every load's notification is delivered
// exactly once with a valid signature; every attempt of one notification
// carries the same webhook-id and body; the attempts the job shows are the
// ones the receiver saw (plus the refused ones, all before it listened),
// in order, failures before the one success.
func TestChaosWebhookReceiverDownThenFailingThenBack(t *testing.T) {
	const loads = 4
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookAddr := l.Addr().String()
	l.Close() // refused until the receiver starts on the same address

	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8", "TURNOUT_RETRY_BASE=250ms")
	people := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(people, []byte("VANID,FirstName,LastName\n101,Ada,Lovelace\n102,Alan,Turing\n103,Grace,Hopper\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.CLI("people", "import", "--db-mode", "0", people)
	key := s.CreateKey("--name", "hooks", "--scopes", "van", "--van-app", "hooks", "--db-mode", "0", "--rate-limit", "100000")
	verifier, err := webhook.NewVerifier(key["webhookSecret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	recv := &hookReceiver{verifier: verifier, failing: true}
	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "Hooks", "--min", "0", "--max", "100", "--json")), &score)
	file := zipped(t, "scores.csv", "vanid,score\n101,10\n102,20\n103,30\n")
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(file) }))
	defer files.Close()

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("hooks:"+key["secret"].(string)+"|0"))
	var jobIDs []int64
	for i := range loads {
		body := fmt.Sprintf(`{"description": "hook %d", "file": {"columnDelimiter": "Csv", "columns": [{"name": "vanid"}, {"name": "score"}],
		  "hasHeader": true, "sourceUrl": %q}, "actions": [{"actionType": "Score", "personIdColumn": "vanid", "personIdType": "VANID",
		  "scoreColumn": "score", "scoreId": %d}], "listeners": [{"type": "URL", "value": "http://%s/hooks/%d"}]}`,
			i, files.URL+"/scores.zip", score.ScoreID, hookAddr, i)
		code, _, out := s.Do("POST", "/v4/fileLoadingJobs", body, "Authorization", auth)
		if code != 201 {
			t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, out)
		}
		var created struct{ JobID int64 }
		_ = json.Unmarshal(out, &created)
		jobIDs = append(jobIDs, created.JobID)
	}

	type view struct {
		Status     string
		Deliveries []struct {
			WebhookID   string
			Attempt     int
			StatusCode  *int
			OK          bool
			Error       *string
			AttemptedAt time.Time
		}
	}
	views := func() []view {
		var vs []view
		for _, id := range jobIDs {
			_, _, body := s.Do("GET", fmt.Sprintf("/v4/fileLoadingJobs/%d", id), "", "Authorization", auth)
			var v view
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("GET job %d: %s", id, body)
			}
			vs = append(vs, v)
		}
		return vs
	}
	// waitUntil polls the jobs until every one satisfies ok.
	waitUntil := func(what string, ok func(view) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			all := true
			vs := views()
			for _, v := range vs {
				all = all && ok(v)
			}
			if all {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not every job %s after 30s: %+v\nlogs (tail):\n%s", what, vs, tail(s.Logs.String(), 3000))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	failures := func(v view, refused bool) int {
		n := 0
		for _, d := range v.Deliveries {
			if !d.OK && (d.StatusCode == nil) == refused {
				n++
			}
		}
		return n
	}

	// Down: every notification is refused at least twice.
	waitUntil("was refused twice", func(v view) bool { return v.Status == "Completed" && failures(v, true) >= 2 })
	srv := &http.Server{Handler: recv, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", hookAddr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", hookAddr, err)
	}
	listening := time.Now()
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// Failing: every notification gets 500 at least twice; then it recovers.
	waitUntil("got 500 twice", func(v view) bool { return failures(v, false) >= 2 })
	recv.setFailing(false)
	waitUntil("was delivered", func(v view) bool {
		for _, d := range v.Deliveries {
			if d.OK {
				return true
			}
		}
		return false
	})

	maxAttempts := 0
	for i, v := range views() {
		path := fmt.Sprintf("/hooks/%d", i)
		seen := recv.seen(path)
		want := notify.WebhookID(jobIDs[i], 0)
		var ok, refused int
		var statuses []int
		for _, d := range v.Deliveries {
			if d.WebhookID != want {
				t.Errorf("job %d: a delivery attempt has webhook-id %q, want %q on every one", jobIDs[i], d.WebhookID, want)
			}
			if d.OK {
				ok++
			}
			if d.StatusCode == nil {
				refused++
				if !d.AttemptedAt.Before(listening) {
					t.Errorf("job %d: attempt %d recorded no answer at %s, after the receiver started listening (%s): %v",
						jobIDs[i], d.Attempt, d.AttemptedAt, listening, d.Error)
				}
				continue
			}
			statuses = append(statuses, *d.StatusCode)
		}
		if ok != 1 {
			t.Errorf("job %d: %d successful deliveries recorded, want exactly 1", jobIDs[i], ok)
		}
		maxAttempts = max(maxAttempts, len(v.Deliveries))

		// What the job shows is what the receiver saw.
		var got []int
		for j, r := range seen {
			got = append(got, r.status)
			if r.webhookID != want {
				t.Errorf("job %d: the receiver got webhook-id %q on attempt %d, want %q on every one", jobIDs[i], r.webhookID, j+1, want)
			}
			if r.verifyErr != nil {
				t.Errorf("job %d: attempt %d failed signature verification: %v", jobIDs[i], j+1, r.verifyErr)
			}
			if r.body != seen[0].body {
				t.Errorf("job %d: attempt %d sent a different body:\n%s\nfirst:\n%s", jobIDs[i], j+1, r.body, seen[0].body)
			}
			if j > 0 && (!r.at.After(seen[j-1].at) || r.timestamp < seen[j-1].timestamp) {
				t.Errorf("job %d: attempt %d arrived at %s (webhook-timestamp %s), not after attempt %d at %s (%s)",
					jobIDs[i], j+1, r.at, r.timestamp, j, seen[j-1].at, seen[j-1].timestamp)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(statuses) {
			t.Errorf("job %d: the job records answers %v, the receiver gave %v", jobIDs[i], statuses, got)
		}
		// Failures first, then the one success, nothing after it.
		for j, code := range got {
			want := http.StatusInternalServerError
			if j == len(got)-1 {
				want = http.StatusNoContent
			}
			if code != want {
				t.Errorf("job %d: the receiver answered %v, want 500s and then one 204", jobIDs[i], got)
				break
			}
		}
		if len(got) < 3 {
			t.Errorf("job %d: the receiver saw %d requests, want at least two 500s and a success", jobIDs[i], len(got))
		}
		for j, d := range v.Deliveries {
			if j > 0 && (d.Attempt <= v.Deliveries[j-1].Attempt || !d.AttemptedAt.After(v.Deliveries[j-1].AttemptedAt)) {
				t.Errorf("job %d: delivery %d (attempt %d at %s) is not after delivery %d (attempt %d at %s)", jobIDs[i],
					j+1, d.Attempt, d.AttemptedAt, j, v.Deliveries[j-1].Attempt, v.Deliveries[j-1].AttemptedAt)
			}
		}
		if n := len(v.Deliveries); n == 0 || !v.Deliveries[n-1].OK {
			t.Errorf("job %d: the last recorded delivery is not the success: %+v", jobIDs[i], v.Deliveries)
		}
		if refused < 2 {
			t.Errorf("job %d: %d refused attempts recorded, want at least 2", jobIDs[i], refused)
		}
	}
	t.Logf("%d notifications delivered; at most %d attempts for one", loads, maxAttempts)
	s.Stop()
}
