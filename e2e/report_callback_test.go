package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/storage"
	"github.com/turnoutdev/turnout/webhook"
)

// TestReportCallbackThroughTheBinaries: the deployed wiring (the API's
// request-time guard, the worker's builder, notify queue and guarded
// client, TURNOUT_PUBLIC_URL in the body) sends one signed callback.
func TestReportCallbackThroughTheBinaries(t *testing.T) {
	s := StartStack(t, "TURNOUT_ALLOW_NETWORKS=127.0.0.0/8")
	ctx := context.Background()
	store, err := storage.Open(ctx, s.env("TURNOUT_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p, err := store.CreateRockyPartner(ctx, &storage.RockyPartner{OrgName: "E2E Hook Club"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer recv.Close()

	body := fmt.Sprintf(`{"partner_id": "%d", "partner_API_key": %q, "callback_url": %q}`, p.Partner.ID, p.Key.Secret, recv.URL+"/hook")
	status, _, raw := s.Do("POST", "/api/v4/registrant_reports.json", body)
	var created map[string]any
	_ = json.Unmarshal(raw, &created)
	if status != 200 {
		t.Fatalf("create: %d %s", status, raw)
	}
	id := int64(created["report_id"].(float64))
	var r *http.Request
	var b []byte
	select {
	case r = <-got:
		b = <-bodies
	case <-time.After(60 * time.Second):
		t.Fatalf("no callback after 60s\n%s", s.Logs)
	}
	v, _ := webhook.NewVerifier(p.Key.WebhookSecret)
	if err := v.Verify(r.Header, b); err != nil {
		t.Errorf("signature: %v", err)
	}
	want := fmt.Sprintf(`{"report_id":%d,"status":"complete","record_count":0,"download_url":"%s/api/v4/registrant_reports/%d/download","status_url":"%s/api/v4/registrant_reports/%d"}`,
		id, s.URL, id, s.URL, id)
	if string(b) != want {
		t.Errorf("body %s\nwant %s", b, want)
	}
	// The API's guard refuses what the operator did not allow.
	body = fmt.Sprintf(`{"partner_id": "%d", "partner_API_key": %q, "callback_url": "http://169.254.169.254/latest"}`, p.Partner.ID, p.Key.Secret)
	if status, _, raw := s.Do("POST", "/api/v4/registrant_reports.json", body); status != 400 || !strings.Contains(string(raw), `"field_name":"callback_url"`) {
		t.Errorf("metadata callback_url: %d %s", status, raw)
	}
	select {
	case <-got:
		t.Error("a second callback arrived")
	case <-time.After(500 * time.Millisecond):
	}
}
