package van_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/jobs/export"
	"github.com/turnoutdev/turnout/storage"
)

// exportJob is the part of VAN's export job object the tests read.
type exportJob struct {
	ExportJobID   int64   `json:"exportJobId"`
	ExportJobGUID string  `json:"exportJobGuid"`
	SavedListID   int64   `json:"savedListId"`
	Status        string  `json:"status"`
	Type          int     `json:"type"`
	DownloadURL   *string `json:"downloadUrl"`
	WebhookURL    *string `json:"webhookUrl"`
	DateExpired   *string `json:"dateExpired"`
	ErrorCode     *string `json:"errorCode"`
}

// savedList creates a list named name in folder holding vanids.
func (s *stack) savedList(folder int64, name string, vanids ...int64) int64 {
	s.t.Helper()
	ctx := context.Background()
	var id int64
	if err := s.env.Pool.QueryRow(ctx, `INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name) VALUES ($1, 0, $2, $3) RETURNING id`,
		folder, s.key.ID, name).Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.env.Pool.Exec(ctx, `INSERT INTO van_saved_list_members (list_id, vanid) SELECT $1, unnest($2::bigint[])`, id, vanids); err != nil {
		s.t.Fatal(err)
	}
	return id
}

func (s *stack) createExport(body string) (int, exportJob, []byte) {
	s.t.Helper()
	resp, b := s.do(http.MethodPost, "/v4/exportJobs", body)
	var out exportJob
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(b, &out); err != nil {
			s.t.Fatalf("POST exportJobs answer: %v: %s", err, b)
		}
	}
	return resp.StatusCode, out, b
}

func (s *stack) getExport(id int64) exportJob {
	s.t.Helper()
	resp, b := s.do(http.MethodGet, fmt.Sprintf("/v4/exportJobs/%d", id), "")
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET exportJobs/%d: %d %s", id, resp.StatusCode, b)
	}
	var out exportJob
	if err := json.Unmarshal(b, &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// download fetches a downloadUrl with the given extra headers, as a plain
// HTTP client would (Parsons hands it to petl, which opens it with urllib).
func (s *stack) download(url string, headers ...string) (*http.Response, []byte) {
	s.t.Helper()
	return s.api.Do(apitest.NewRequest(s.t, http.MethodGet, url, "", headers...))
}

func vanidsOf(t *testing.T, body []byte) (header []string, ids []int64) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("CSV: %v: %q", err, body)
	}
	for _, r := range recs[1:] {
		id, err := strconv.ParseInt(r[0], 10, 64)
		if err != nil {
			t.Fatalf("VanID %q: %v", r[0], err)
		}
		ids = append(ids, id)
	}
	return recs[0], ids
}

// TestParsonsDownloadSavedList runs the requests Parsons'
// VAN.download_saved_list makes: POST /v4/exportJobs with the list id and
// type as strings and its placeholder webhook, then a plain GET of the
// downloadUrl read from that same answer (Parsons never polls).
func TestParsonsDownloadSavedList(t *testing.T) {
	s := newStack(t, options{})
	fx := s.savedListFixture(t)
	want := []int64{3, 17, 250, 4096, 99999}
	list := s.savedList(fx.readOnly, "GOTV universe", 4096, 17, 99999, 3, 250)

	code, job, b := s.createExport(fmt.Sprintf(`{"savedListId": "%d", "type": "4", "webhookUrl": "https://www.nothing.com"}`, list))
	if code != http.StatusCreated {
		t.Fatalf("POST exportJobs: %d %s", code, b)
	}
	if job.Status != "Completed" || job.DownloadURL == nil || job.SavedListID != list || job.Type != 4 || job.DateExpired == nil {
		t.Fatalf("want a Completed type-4 export of list %d with downloadUrl and dateExpired, got %s", list, b)
	}
	resp, body := s.download(*job.DownloadURL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET downloadUrl: %d %s", resp.StatusCode, body)
	}
	header, ids := vanidsOf(t, body)
	if !reflect.DeepEqual(header, []string{"VanID"}) || !reflect.DeepEqual(ids, want) {
		t.Fatalf("CSV: header %v ids %v; want [VanID] %v", header, ids, want)
	}
	// The export is a job like any other: queue reports, the key's.
	j, err := s.env.Store.JobOfKey(context.Background(), job.ExportJobID, s.key.ID)
	if err != nil || j.Kind != export.Kind || j.Queue != "reports" {
		t.Fatalf("job row of export %d: %+v, %v", job.ExportJobID, j, err)
	}
}

// TestExportJobCompletesLaterAndCallsTheWebhook: an export not finished
// within the POST's wait answers Requested without a downloadUrl, then
// completes, and its webhookUrl gets one signed message without the
// download URL.
func TestExportJobCompletesLaterAndCallsTheWebhook(t *testing.T) {
	s := newStack(t, options{allow: loopback, exportWait: -1})
	fx := s.savedListFixture(t)
	list := s.savedList(fx.writable, "Canvass", 1, 2, 3)
	code, job, b := s.createExport(fmt.Sprintf(`{"savedListId": %d, "type": 4, "webhookUrl": %q}`, list, s.hooks.URL+"/export"))
	if code != http.StatusCreated || job.Status != "Requested" || job.DownloadURL != nil {
		t.Fatalf("want 201 Requested without downloadUrl, got %d %s", code, b)
	}
	h := s.waitHooks(1)[0]
	if h.Verified != nil {
		t.Fatalf("webhook signature: %v", h.Verified)
	}
	var hookJob int64
	if err := s.env.Pool.QueryRow(context.Background(), `SELECT webhook_job_id FROM van_export_jobs WHERE job_id = $1`,
		job.ExportJobID).Scan(&hookJob); err != nil {
		t.Fatal(err)
	}
	if h.ID != export.WebhookID(job.ExportJobID, hookJob) || h.Body["status"] != "Completed" ||
		h.Body["exportJobId"] != float64(job.ExportJobID) || h.Body["downloadUrl"] != nil {
		t.Fatalf("webhook %s: %v; want status Completed, no downloadUrl", h.ID, h.Body)
	}
	got := s.getExport(job.ExportJobID)
	if got.Status != "Completed" || got.DownloadURL == nil {
		t.Fatalf("after the webhook: %+v", got)
	}
	if resp, body := s.download(*got.DownloadURL); resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d %s", resp.StatusCode, body)
	} else if _, ids := vanidsOf(t, body); !reflect.DeepEqual(ids, []int64{1, 2, 3}) {
		t.Fatalf("ids %v", ids)
	}
}

// TestExportJobContactsType exports names and contact fields; a cell a
// spreadsheet would run as a formula is quoted, and a member Turnout holds
// no person of has empty cells.
func TestExportJobContactsType(t *testing.T) {
	s := newStack(t, options{})
	s.people(2, 0)
	ctx := context.Background()
	if _, err := s.env.Pool.Exec(ctx, `UPDATE van_people SET first_name = '=HYPERLINK("http://x")', last_name = 'Okafor',
		email = 'a@example.org', date_of_birth = '1990-02-03' WHERE db_mode = 0 AND vanid = 1`); err != nil {
		t.Fatal(err)
	}
	fx := s.savedListFixture(t)
	list := s.savedList(fx.readOnly, "Contacts", 1, 2, 7)
	code, job, b := s.createExport(fmt.Sprintf(`{"savedListId": %d, "type": "%d"}`, list, export.TypeContacts))
	if code != http.StatusCreated || job.Status != "Completed" || job.WebhookURL != nil {
		t.Fatalf("POST: %d %s", code, b)
	}
	_, body := s.download(*job.DownloadURL)
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"VanID", "FirstName", "MiddleName", "LastName", "DateOfBirth", "Address", "City", "State", "Zip", "Email", "Phone"},
		{"1", `'=HYPERLINK("http://x")`, "", "Okafor", "1990-02-03", "", "", "", "", "a@example.org", ""},
		{"2", "Person", "", "", "", "", "", "", "", "", ""},
		{"7", "", "", "", "", "", "", "", "", "", ""},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("CSV\n got %q\nwant %q", recs, want)
	}
}

// TestExportJobRefusals: every bad request is a 400 naming its field, and
// nothing is queued.
func TestExportJobRefusals(t *testing.T) {
	s := newStack(t, options{})
	fx := s.savedListFixture(t)
	mine := s.savedList(fx.readOnly, "Mine", 1)
	var theirs int64
	if err := s.env.Pool.QueryRow(context.Background(), `INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name)
		SELECT $1, 0, key_id, 'Unshared' FROM van_saved_lists WHERE id = $2 RETURNING id`, fx.unshared, fx.othersList).Scan(&theirs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body, code, property string
	}{
		{"no list", `{"type": "4"}`, "MISSING_PARAMETER", "savedListId"},
		{"list not a number", `{"savedListId": "abc", "type": "4"}`, "INVALID_PARAMETER", "savedListId"},
		{"list in a folder not shared with the key", fmt.Sprintf(`{"savedListId": %d, "type": 4}`, theirs), "INVALID_PARAMETER", "savedListId"},
		{"no type", fmt.Sprintf(`{"savedListId": %d}`, mine), "MISSING_PARAMETER", "type"},
		{"unknown type", fmt.Sprintf(`{"savedListId": %d, "type": "777"}`, mine), "INVALID_PARAMETER", "type"},
		{"metadata webhook", fmt.Sprintf(`{"savedListId": %d, "type": 4, "webhookUrl": "http://169.254.169.254/latest"}`, mine), "INVALID_PARAMETER", "webhookUrl"},
		{"not a URL", fmt.Sprintf(`{"savedListId": %d, "type": 4, "webhookUrl": "ftp://x"}`, mine), "INVALID_PARAMETER", "webhookUrl"},
		{"survey questions", fmt.Sprintf(`{"savedListId": %d, "type": 4, "surveyQuestions": [{"surveyQuestionId": 1}]}`, mine), "INVALID_PARAMETER", "surveyQuestions"},
		{"not JSON", `savedListId=1`, "INVALID_PARAMETER", "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, b := s.createExport(tc.body)
			var e struct {
				Errors []struct {
					Code       string
					Properties []string
				}
			}
			_ = json.Unmarshal(b, &e)
			if code != http.StatusBadRequest || len(e.Errors) == 0 || e.Errors[0].Code != tc.code ||
				!reflect.DeepEqual(e.Errors[0].Properties, []string{tc.property}) {
				t.Fatalf("want 400 %s on %s, got %d %s", tc.code, tc.property, code, b)
			}
		})
	}
	var n int
	_ = s.env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE kind = $1`, export.Kind).Scan(&n)
	if n != 0 {
		t.Fatalf("%d export jobs queued by refused requests", n)
	}
	// Empty selections are what clients send when they select nothing.
	if code, job, b := s.createExport(fmt.Sprintf(`{"savedListId": %d, "type": 4, "activistCodes": [], "customFields": null}`, mine)); code != http.StatusCreated || job.Status != "Completed" {
		t.Fatalf("empty selections: %d %s", code, b)
	}
}

// TestExportJobBelongsToItsKey: another key finds neither the job nor the
// file; the owner and a credential-less client of the URL do; a token
// that is not the job's finds nothing.
func TestExportJobBelongsToItsKey(t *testing.T) {
	s := newStack(t, options{})
	fx := s.savedListFixture(t)
	list := s.savedList(fx.writable, "Shared folder list", 5, 6)
	_, job, _ := s.createExport(fmt.Sprintf(`{"savedListId": %d, "type": 4}`, list))
	if job.DownloadURL == nil {
		t.Fatalf("no downloadUrl: %+v", job)
	}
	ctx := context.Background()
	mode := int16(0)
	other, err := s.env.Store.CreateKey(ctx, storage.NewKey{Name: "other", Scopes: []string{storage.ScopeVAN}, VANApp: "other-app-2", VANDBMode: &mode})
	if err != nil {
		t.Fatal(err)
	}
	otherAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("other-app-2:"+other.Secret+"|0"))
	resp, b := s.api.Do(apitest.NewRequest(t, http.MethodGet, fmt.Sprintf("/v4/exportJobs/%d", job.ExportJobID), "", "Authorization", otherAuth))
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another key's GET: %d %s", resp.StatusCode, b)
	}
	for _, tc := range []struct {
		name    string
		url     string
		headers []string
		want    int
	}{
		{"no credentials", *job.DownloadURL, nil, http.StatusOK},
		{"the owner's credentials", *job.DownloadURL, []string{"Authorization", s.auth}, http.StatusOK},
		{"another key's credentials", *job.DownloadURL, []string{"Authorization", otherAuth}, http.StatusNotFound},
		{"another token", strings.Replace(*job.DownloadURL, "/download/", "/download/A", 1), nil, http.StatusNotFound},
		{"another job's id", strings.Replace(*job.DownloadURL, fmt.Sprintf("/exportJobs/%d/", job.ExportJobID),
			fmt.Sprintf("/exportJobs/%d/", job.ExportJobID+1), 1), nil, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := s.download(tc.url, tc.headers...)
			if resp.StatusCode != tc.want {
				t.Fatalf("want %d, got %d %s", tc.want, resp.StatusCode, b)
			}
		})
	}
	if err := s.env.Store.RevokeKey(ctx, s.key.ID); err != nil {
		t.Fatal(err)
	}
	if resp, b := s.download(*job.DownloadURL); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after the owner key is revoked: %d %s", resp.StatusCode, b)
	}
}

// TestExportFileExpires: past dateExpired the URL answers 404 and the
// export shows no downloadUrl; the retention sweep deletes the file.
func TestExportFileExpires(t *testing.T) {
	s := newStack(t, options{})
	fx := s.savedListFixture(t)
	list := s.savedList(fx.writable, "Old list", 8)
	_, job, _ := s.createExport(fmt.Sprintf(`{"savedListId": %d, "type": 4}`, list))
	if job.DownloadURL == nil {
		t.Fatalf("no downloadUrl: %+v", job)
	}
	exp, err := time.Parse(time.RFC3339, *job.DateExpired)
	if err != nil || time.Until(exp) < 6*24*time.Hour {
		t.Fatalf("dateExpired %q (%v): want the default 7-day retention", *job.DateExpired, err)
	}
	ctx := context.Background()
	if _, err := s.env.Pool.Exec(ctx, `UPDATE van_export_jobs SET expires_at = now() - interval '1 second' WHERE job_id = $1`, job.ExportJobID); err != nil {
		t.Fatal(err)
	}
	if resp, b := s.download(*job.DownloadURL); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "expired") {
		t.Fatalf("expired download: %d %s", resp.StatusCode, b)
	}
	if got := s.getExport(job.ExportJobID); got.DownloadURL != nil || got.Status != "Completed" {
		t.Fatalf("expired export: %+v", got)
	}
	if n, err := s.exports.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if ok, err := s.blobs.Exists(ctx, export.BlobKey(job.ExportJobID)); err != nil || ok {
		t.Fatalf("file after the sweep: exists %v, %v", ok, err)
	}
}

// TestExportJobTypesAndAPIKeyProfile: the types Parsons lists, and the
// key's profile with nothing secret in it.
func TestExportJobTypesAndAPIKeyProfile(t *testing.T) {
	s := newStack(t, options{})
	resp, b := s.do(http.MethodGet, "/v4/exportJobTypes", "")
	var types struct {
		Items []struct {
			ExportJobTypeID int
			Name            string
		}
		Count int
	}
	_ = json.Unmarshal(b, &types)
	if resp.StatusCode != http.StatusOK || types.Count != 2 || types.Items[0].ExportJobTypeID != 4 || types.Items[0].Name != "SavedListExport" ||
		types.Items[1].ExportJobTypeID != export.TypeContacts {
		t.Fatalf("exportJobTypes: %d %s", resp.StatusCode, b)
	}
	resp, b = s.do(http.MethodGet, "/v4/apikeyprofiles", "")
	var profiles struct {
		Items []map[string]any
		Count int
	}
	_ = json.Unmarshal(b, &profiles)
	if resp.StatusCode != http.StatusOK || profiles.Count != 1 || len(profiles.Items) != 1 {
		t.Fatalf("apiKeyProfiles: %d %s", resp.StatusCode, b)
	}
	p := profiles.Items[0]
	if p["databaseName"] != "Turnout My Voters" || p["hasMyVoters"] != true || p["hasMyCampaign"] != false ||
		p["username"] != "haberdashery" || p["keyReference"] != strconv.FormatInt(s.key.ID, 10) {
		t.Fatalf("profile: %v", p)
	}
	for _, secret := range []string{s.key.Secret, s.key.WebhookSecret} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("the profile shows a secret: %s", b)
		}
	}
}
