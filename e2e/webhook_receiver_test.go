package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/webhook"
)

// receiver is a running examples/webhook-receiver process; its output
// lines arrive on out and errs.
type receiver struct {
	url  string
	out  chan string
	errs chan string
}

func startReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "webhook-receiver"), "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TURNOUT_WEBHOOK_SECRET="+secret)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	r := &receiver{out: make(chan string, 100), errs: make(chan string, 100)}
	lines := func(rd io.Reader, ch chan string) {
		sc := bufio.NewScanner(rd)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}
	go lines(stdout, r.out)
	go lines(stderr, r.errs)
	first := r.next(t, r.out, "its address", 10*time.Second)
	url, ok := strings.CutPrefix(first, "listening on ")
	if !ok {
		t.Fatalf("webhook-receiver printed %q first, want its address", first)
	}
	r.url = url
	return r
}

func (r *receiver) next(t *testing.T, ch chan string, what string, within time.Duration) string {
	t.Helper()
	select {
	case line, ok := <-ch:
		if !ok {
			t.Fatalf("webhook-receiver exited before printing %s", what)
		}
		return line
	case <-time.After(within):
		t.Fatalf("webhook-receiver printed no %s within %s", what, within)
	}
	return ""
}

// The example receiver verifies the notification of a real file load and
// prints it; a delivery with a tampered body or the wrong secret is
// refused and reported, never printed as verified.
func TestWebhookReceiverExampleVerifiesAFileLoadNotification(t *testing.T) {
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8")
	people := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(people, []byte("VANID,FirstName,LastName\n101,Ada,Lovelace\n102,Alan,Turing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.CLI("people", "import", "--db-mode", "0", people)
	key := s.CreateKey("--name", "receiver", "--scopes", "van", "--van-app", "receiver", "--db-mode", "0")
	secret := key["webhookSecret"].(string)
	recv := startReceiver(t, secret)

	var score struct{ ScoreID int64 }
	_ = json.Unmarshal([]byte(s.CLI("scores", "create", "--name", "Receiver", "--min", "0", "--max", "100", "--json")), &score)
	file := zipped(t, "scores.csv", "vanid,score\n101,10\n102,20\n")
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(file) }))
	t.Cleanup(files.Close)
	body := fmt.Sprintf(`{"description": "receiver", "file": {"columnDelimiter": "Csv", "columns": [{"name": "vanid"}, {"name": "score"}],
	  "hasHeader": true, "sourceUrl": %q}, "actions": [{"actionType": "Score", "personIdColumn": "vanid", "personIdType": "VANID",
	  "scoreColumn": "score", "scoreId": %d}], "listeners": [{"type": "URL", "value": "%s/hooks/load"}]}`,
		files.URL+"/scores.zip", score.ScoreID, recv.url)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("receiver:"+key["secret"].(string)+"|0"))
	code, _, out := s.Do("POST", "/v4/fileLoadingJobs", body, "Authorization", auth)
	if code != 201 {
		t.Fatalf("POST /v4/fileLoadingJobs: %d %s", code, out)
	}
	var created struct{ JobID int64 }
	_ = json.Unmarshal(out, &created)

	line := recv.next(t, recv.out, "verified delivery", 60*time.Second)
	fields := strings.SplitN(line, " ", 4)
	if len(fields) != 4 || fields[0] != "verified" || fields[1] == "" || fields[2] != "/hooks/load" {
		t.Fatalf("receiver printed %q, want `verified <webhook-id> /hooks/load <body>`", line)
	}
	var note struct {
		JobID  int64
		Status string
	}
	if err := json.Unmarshal([]byte(fields[3]), &note); err != nil || note.JobID != created.JobID || note.Status != "Successful" {
		t.Fatalf("verified body %s, want jobId %d and status Successful", fields[3], created.JobID)
	}

	// The same delivery, tampered with or signed with another secret.
	forge := func(secret, signed, sent string) int {
		req, _ := http.NewRequest(http.MethodPost, recv.url+"/hooks/load", strings.NewReader(sent))
		if err := webhook.SetHeaders(req.Header, secret, fields[1], time.Now(), []byte(signed)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tampered := strings.Replace(fields[3], `"Successful"`, `"Failed"`, 1)
	if code := forge(secret, fields[3], tampered); code != http.StatusUnauthorized {
		t.Errorf("tampered body: receiver answered %d, want 401", code)
	}
	if code := forge("whsec_"+base64.StdEncoding.EncodeToString([]byte("another secret")), tampered, tampered); code != http.StatusUnauthorized {
		t.Errorf("another secret: receiver answered %d, want 401", code)
	}
	for i := range 2 {
		if rej := recv.next(t, recv.errs, "rejection", 10*time.Second); !strings.HasPrefix(rej, "rejected "+fields[1]) ||
			!strings.Contains(rej, "401 webhook: no matching signature") {
			t.Errorf("rejection %d reported as %q, want the webhook-id, 401 and the reason", i+1, rej)
		}
	}
	// The refused deliveries were not printed as verified: a signed one
	// sent after them is the next line.
	if code := forge(secret, `{"probe":true}`, `{"probe":true}`); code != http.StatusNoContent {
		t.Errorf("a signed probe: receiver answered %d, want 204", code)
	}
	if line := recv.next(t, recv.out, "the probe", 10*time.Second); !strings.HasSuffix(line, `{"probe":true}`) {
		t.Errorf("after the forgeries the receiver printed %q, want the probe", line)
	}
}
