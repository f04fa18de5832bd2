package van_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func savedListRequest(sourceURL, listener, name string, folder int64, extra string) string {
	return fmt.Sprintf(`{
  "description": "Saved List Load",
  "file": {"columnDelimiter": "Csv", "fileName": "list.csv", "hasHeader": "True", "sourceUrl": %q,
           "columns": [{"name": "VANID"}]},
  "actions": [{"actionType": "LoadSavedListFile", "listName": %q, "listDescription": "Canvass universe",
               "personIdColumn": "VANID", "personIdType": "VANID", "folderId": %d%s}],
  "listeners": [{"type": "URL", "value": %q}]
}`, sourceURL, name, folder, extra, listener)
}

type listFixture struct {
	writable, readOnly, unshared int64
	othersList                   int64
}

func (s *stack) savedListFixture(t *testing.T) listFixture {
	ctx := context.Background()
	if _, err := s.env.Pool.Exec(ctx, `TRUNCATE van_saved_list_members, van_saved_lists, van_folder_keys, van_folders CASCADE`); err != nil {
		t.Fatal(err)
	}
	other, err := s.env.Store.CreateKey(ctx, storageKey("other-app"))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := s.env.Store.CreateFolder(ctx, "Field", true, []int64{s.key.ID, other.ID})
	ro, _ := s.env.Store.CreateFolder(ctx, "Read only", false, []int64{s.key.ID})
	un, _ := s.env.Store.CreateFolder(ctx, "Theirs", true, []int64{other.ID})
	var theirs int64
	if err := s.env.Pool.QueryRow(ctx, `INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name) VALUES ($1, 0, $2, 'Their list') RETURNING id`,
		w.ID, other.ID).Scan(&theirs); err != nil {
		t.Fatal(err)
	}
	return listFixture{writable: w.ID, readOnly: ro.ID, unshared: un.ID, othersList: theirs}
}

func (s *stack) members(list int64) []int64 {
	var out []int64
	rows, _ := s.env.Pool.Query(context.Background(), `SELECT vanid FROM van_saved_list_members WHERE list_id = $1 ORDER BY vanid`, list)
	defer rows.Close()
	for rows.Next() {
		var v int64
		_ = rows.Scan(&v)
		out = append(out, v)
	}
	return out
}

// TestSavedListLoadAndOverwrite loads a saved list the way Parsons does,
// checks VAN's callback data, the list endpoints, and then
// overwrites the list.
func TestSavedListLoadAndOverwrite(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(5, 0)
	fx := s.savedListFixture(t)
	u := s.serve("/list.csv", []byte("VANID\n1\n2\n2\n99\nx\n3\n"))
	id := s.submit(savedListRequest(u, s.hooks.URL+"/hook", "Door knock universe", fx.writable, ""))
	v := s.wait(id)
	if v.Status != "Completed" {
		t.Fatalf("job %s (%s)", v.Status, deref(v.Message))
	}
	h := s.waitHooks(1)[0]
	var listID int64
	if sl, ok := h.Body["savedList"].(map[string]any); ok {
		listID = int64(sl["savedListId"].(float64))
	}
	want := map[string]any{
		"jobId":       float64(id),
		"savedList":   map[string]any{"savedListId": float64(listID), "originalRowCount": float64(6), "matchedRowsCount": float64(3), "unmatchedRowsCount": float64(3)},
		"message":     "Saved List File loaded",
		"description": "Saved List Load",
		"status":      "Successful",
	}
	if listID == 0 || !reflect.DeepEqual(h.Body, want) {
		t.Errorf("callback body:\n got %s\nwant %s", js(h.Body), js(want))
	}
	if got := s.members(listID); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
		t.Errorf("members %v, want [1 2 3]", got)
	}
	resp, b := s.do(http.MethodGet, fmt.Sprintf("/v4/savedLists/%d", listID), "")
	wantList := fmt.Sprintf(`{"savedListId":%d,"name":"Door knock universe","description":"Canvass universe","listCount":3,"folderId":%d}`, listID, fx.writable)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != wantList {
		t.Errorf("GET savedList: %d %s\nwant %s", resp.StatusCode, b, wantList)
	}
	resp, b = s.do(http.MethodGet, fmt.Sprintf("/v4/savedLists?folderId=%d&$top=1", fx.writable), "")
	var page struct {
		Items        []struct{ SavedListID int64 }
		NextPageLink *string
		Count        int
	}
	_ = json.Unmarshal(b, &page)
	if resp.StatusCode != http.StatusOK || page.Count != 2 || len(page.Items) != 1 || page.NextPageLink == nil {
		t.Errorf("GET savedLists: %d %s", resp.StatusCode, b)
	}
	resp, b = s.do(http.MethodGet, "/v4/folders", "")
	wantFolders := fmt.Sprintf(`{"items":[{"folderId":%d,"name":"Field","isApiWritable":true},{"folderId":%d,"name":"Read only","isApiWritable":false}],"nextPageLink":null,"count":2}`, fx.writable, fx.readOnly)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != wantFolders {
		t.Errorf("GET folders: %d %s\nwant %s", resp.StatusCode, b, wantFolders)
	}
	if resp, b := s.do(http.MethodGet, fmt.Sprintf("/v4/folders/%d", fx.unshared), ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET unshared folder: %d %s", resp.StatusCode, b)
	}
	if resp, _ := s.do(http.MethodGet, fmt.Sprintf("/v4/folders/%d", fx.readOnly), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET shared folder: %d", resp.StatusCode)
	}

	// Overwrite: same id, new name and description, members replaced.
	u2 := s.serve("/list2.csv", []byte("VANID\n4\n5\n"))
	id2 := s.submit(savedListRequest(u2, s.hooks.URL+"/hook", "Door knock universe v2", fx.writable, fmt.Sprintf(`, "overwriteExistingListId": %d`, listID)))
	if v := s.wait(id2); v.Status != "Completed" {
		t.Fatalf("overwrite job %s (%s)", v.Status, deref(v.Message))
	}
	if got := s.members(listID); !reflect.DeepEqual(got, []int64{4, 5}) {
		t.Errorf("members after overwrite %v, want [4 5]", got)
	}
	var name string
	_ = s.env.Pool.QueryRow(context.Background(), `SELECT name FROM van_saved_lists WHERE id = $1`, listID).Scan(&name)
	if name != "Door knock universe v2" {
		t.Errorf("name after overwrite %q", name)
	}
}

// TestSavedListRequestValidation: VAN's rules, each refused at
// submit time with its exact message.
func TestSavedListRequestValidation(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	fx := s.savedListFixture(t)
	ctx := context.Background()
	var mine int64
	if err := s.env.Pool.QueryRow(ctx, `INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name) VALUES ($1, 0, $2, 'Taken') RETURNING id`,
		fx.writable, s.key.ID).Scan(&mine); err != nil {
		t.Fatal(err)
	}
	u := "https://example.org/list.zip"
	name50 := strings.Repeat("n", 50)
	cases := []struct {
		name string
		body string
		want []string
	}{
		{"list name of 50 characters", savedListRequest(u, "https://example.org/h", name50, fx.writable, ""),
			[]string{"actions[0].listName: must be fewer than 50 characters (it has 50)"}},
		{"description of 250 characters", strings.Replace(savedListRequest(u, "https://example.org/h", "A", fx.writable, ""), "Canvass universe", strings.Repeat("d", 250), 1),
			[]string{"actions[0].listDescription: must be fewer than 250 characters (it has 250)"}},
		{"folder not API-writable", savedListRequest(u, "https://example.org/h", "A", fx.readOnly, ""),
			[]string{fmt.Sprintf("actions[0].folderId: folder %d is not API-writable; the folder's owner must mark it API-writable", fx.readOnly)}},
		{"folder not shared", savedListRequest(u, "https://example.org/h", "A", fx.unshared, ""),
			[]string{fmt.Sprintf("actions[0].folderId: folder %d does not exist or is not shared with this API key", fx.unshared)}},
		{"overwriting another key's list", savedListRequest(u, "https://example.org/h", "A", fx.writable, fmt.Sprintf(`, "overwriteExistingListId": %d`, fx.othersList)),
			[]string{fmt.Sprintf("actions[0].overwriteExistingListId: saved list %d was not created by this API key; a key may overwrite only the lists it created", fx.othersList)}},
		{"name taken in the folder", savedListRequest(u, "https://example.org/h", "taken", fx.writable, ""),
			[]string{fmt.Sprintf(`actions[0].listName: folder %d already has a saved list named "taken" (saved list %d); names are unique within a folder`, fx.writable, mine)}},
		{"StateFileID is not a saved-list id type", strings.Replace(savedListRequest(u, "https://example.org/h", "A", fx.writable, ""), `"personIdType": "VANID"`, `"personIdType": "StateFileID"`, 1),
			[]string{`actions[0].personIdType: "StateFileID" is not one of VANID, DWID`}},
		{"missing name and folder", `{"file": {"sourceUrl": "https://example.org/l.zip", "columns": [{"name": "VANID"}]},
			"actions": [{"actionType": "loadsavedlistfile", "personIdColumn": "VANID", "personIdType": "VANID"}]}`,
			[]string{"actions[0].listName: is required", "actions[0].folderId: is required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := s.do(http.MethodPost, "/v4/fileLoadingJobs", c.body)
			var out struct{ Errors []struct{ Text string } }
			_ = json.Unmarshal(b, &out)
			var got []string
			for _, e := range out.Errors {
				got = append(got, e.Text)
			}
			if resp.StatusCode != http.StatusBadRequest || !reflect.DeepEqual(got, c.want) {
				t.Errorf("POST: %d\n got %q\nwant %q", resp.StatusCode, got, c.want)
			}
		})
	}
	// Renaming the list to its own name while overwriting it is allowed.
	resp, b := s.do(http.MethodPost, "/v4/fileLoadingJobs", savedListRequest(u, "https://example.org/h", "Taken", fx.writable, fmt.Sprintf(`, "overwriteExistingListId": %d`, mine)))
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("overwrite keeping the name: %d %s", resp.StatusCode, b)
	}
}

// TestSavedListAccessCheckedAgainWhenWritten: a folder that stops being
// API-writable between submit and load fails the job; nothing is written.
func TestSavedListAccessCheckedAgainWhenWritten(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(3, 0)
	fx := s.savedListFixture(t)
	release := make(chan struct{})
	asked := make(chan struct{}, 1)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		<-release
		_, _ = w.Write([]byte("VANID\n1\n2\n"))
	}))
	t.Cleanup(src.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	id := s.submit(savedListRequest(src.URL+"/list.csv", s.hooks.URL+"/hook", "Late", fx.writable, ""))
	<-asked
	if _, err := s.env.Pool.Exec(context.Background(), `UPDATE van_folders SET api_writable = false WHERE id = $1`, fx.writable); err != nil {
		t.Fatal(err)
	}
	close(release)
	v := s.wait(id)
	want := fmt.Sprintf("actions[0].folderId: folder %d is no longer shared with this API key or no longer API-writable", fx.writable)
	if v.Status != "Error" || deref(v.Message) != want {
		t.Errorf("job %s message %q, want Error with %q", v.Status, deref(v.Message), want)
	}
	var n int
	_ = s.env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM van_saved_lists WHERE name = 'Late'`).Scan(&n)
	if n != 0 {
		t.Errorf("%d lists named Late written", n)
	}
	h := s.waitHooks(1)[0]
	if h.Body["status"] != "Failed" || h.Body["savedList"] != nil {
		t.Errorf("callback %s", js(h.Body))
	}
}

// TestSavedListByDWID: personIdType DWID matches people by DWID.
func TestSavedListByDWID(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(3, 0) // DWID = 1000000 + VANID
	fx := s.savedListFixture(t)
	u := s.serve("/dw.csv", []byte("DWID\n1000002\n1000003\n42\n"))
	body := strings.NewReplacer(`"VANID"}]`, `"DWID"}]`, `"personIdColumn": "VANID", "personIdType": "VANID"`, `"personIdColumn": "dwid", "personIdType": "dwid"`).
		Replace(savedListRequest(u, s.hooks.URL+"/hook", "By DWID", fx.writable, ""))
	v := s.wait(s.submit(body))
	if v.Status != "Completed" {
		t.Fatalf("job %s (%s)", v.Status, deref(v.Message))
	}
	var id int64
	_ = s.env.Pool.QueryRow(context.Background(), `SELECT id FROM van_saved_lists WHERE name = 'By DWID'`).Scan(&id)
	if got := s.members(id); !reflect.DeepEqual(got, []int64{2, 3}) {
		t.Errorf("members %v, want VANIDs [2 3]", got)
	}
}
