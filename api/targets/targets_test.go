package targets_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	t      *testing.T
	c      *apitest.Client
	key    *storage.CreatedKey
	secret string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	env := testenv.Get(t)
	client := asynq.NewClient(env.AsynqConn)
	t.Cleanup(func() { client.Close() })
	h := api.New(api.Deps{
		Store: env.Store, Redis: env.Redis, AsynqConn: env.AsynqConn,
		Enqueuer: jobs.NewEnqueuer(env.Store, client, quiet), Registry: prometheus.NewRegistry(), Log: quiet,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	k, err := env.Store.CreateKey(context.Background(), storage.NewKey{Name: "Adhese  Admin " + t.Name(), Scopes: []string{"targets"}, RateLimit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, c: &apitest.Client{T: t, BaseURL: srv.URL}, key: k, secret: k.Secret}
}

// do sends a request with the fixture's key (as X-API-Key) and returns the
// status and body.
func (f *fixture) do(method, path, body string) (int, []byte) {
	f.t.Helper()
	resp, b := f.c.Do(apitest.NewRequest(f.t, method, path, body, "X-API-Key", f.secret))
	return resp.StatusCode, b
}

func into[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, b)
	}
	return v
}

type value struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Code   string `json:"code"`
	Active bool   `json:"active"`
}

type targetError struct {
	Status  int    `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
	Path    string `json:"path"`
	Errors  []struct {
		Field   string `json:"field"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

type logRow struct {
	ID         int64  `json:"id"`
	LogAction  string `json:"logAction"`
	Source     string `json:"source"`
	Parameters string `json:"parameters"`
	UserID     int64  `json:"userId"`
	Timestamp  int64  `json:"timestamp"`
	UserName   string `json:"userName"`
}

// add posts a value to type 9, the seeded editable "interest" type
// (migration 00200), and fails the test unless it is
// created.
func (f *fixture) add(name, code string, active bool) value {
	f.t.Helper()
	status, b := f.do(http.MethodPost, "/api/targettypes/9/targets", fmt.Sprintf(`{"name":%q,"code":%q,"active":%t}`, name, code, active))
	if status != http.StatusOK {
		f.t.Fatalf("POST %s: %d %s, want 200", code, status, b)
	}
	return into[value](f.t, b)
}

func uniqueCode(t *testing.T, prefix string) string {
	return prefix + "_" + strings.NewReplacer("/", "_", "-", "_").Replace(t.Name())
}

func TestTypesListTheSeededCodeLists(t *testing.T) {
	f := setup(t)
	status, b := f.do(http.MethodGet, "/api/targettypes", "")
	if status != http.StatusOK {
		t.Fatalf("GET /api/targettypes: %d %s", status, b)
	}
	types := into[[]storage.TargetType](t, b)
	want := map[string]bool{"ballotReturnStatus": false, "ballotType": false, "ballotRequestType": false, "ballotRejectionReason": false,
		"phoneType": false, "phoneSource": false, "phoneOptInStatus": false, "party": false, "interest": true}
	got := map[string]bool{}
	for _, ty := range types {
		got[ty.Name] = ty.Editable
	}
	for name, editable := range want {
		if e, ok := got[name]; !ok || e != editable {
			t.Errorf("type %s: present=%v editable=%v, want present, editable=%v", name, ok, e, editable)
		}
	}

	status, b = f.do(http.MethodGet, "/api/targettypes/9", "")
	if ty := into[storage.TargetType](t, b); status != 200 || ty != (storage.TargetType{ID: 9, Name: "interest", Editable: true}) {
		t.Errorf("GET /api/targettypes/9: %d %+v, want the interest type", status, ty)
	}
}

func TestUnknownTypeOrValueIsNotFound(t *testing.T) {
	f := setup(t)
	for _, path := range []string{"/api/targettypes/424242", "/api/targettypes/424242/targets", "/api/targettypes/9/targets/424242",
		// A value that exists, but under another type.
		"/api/targettypes/9/targets/1"} {
		status, b := f.do(http.MethodGet, path, "")
		if e := into[targetError](t, b); status != http.StatusNotFound || e.Status != 404 || e.Error != "Not Found" || !strings.Contains(e.Message, "not found") {
			t.Errorf("GET %s: %d %+v, want 404 with a not found message", path, status, e)
		}
	}
	status, b := f.do(http.MethodGet, "/api/targettypes/abc", "")
	if e := into[targetError](t, b); status != 400 || e.Errors[0].Field != "id" {
		t.Errorf("GET /api/targettypes/abc: %d %+v, want 400 on field id", status, e)
	}
}

func TestValuesAreFilteredByActiveByDefault(t *testing.T) {
	f := setup(t)
	on := f.add("Bossaball", uniqueCode(t, "on"), true)
	off := f.add("Kazoo clubs", "!"+uniqueCode(t, "off"), false)

	list := func(query string) map[int64]value {
		t.Helper()
		status, b := f.do(http.MethodGet, "/api/targettypes/9/targets"+query, "")
		if status != 200 {
			t.Fatalf("GET values%s: %d %s", query, status, b)
		}
		m := map[int64]value{}
		for _, v := range into[[]value](t, b) {
			m[v.ID] = v
		}
		return m
	}
	for _, q := range []string{"", "?filterActive=true"} {
		m := list(q)
		if _, ok := m[on.ID]; !ok {
			t.Errorf("values%s lacks the active value", q)
		}
		if _, ok := m[off.ID]; ok {
			t.Errorf("values%s lists the inactive value", q)
		}
	}
	m := list("?filterActive=false")
	if m[on.ID] != on || m[off.ID] != off {
		t.Errorf("filterActive=false: %+v and %+v, want both values %+v %+v", m[on.ID], m[off.ID], on, off)
	}
	status, b := f.do(http.MethodGet, "/api/targettypes/9/targets?filterActive=maybe", "")
	if e := into[targetError](t, b); status != 400 || e.Errors[0].Field != "filterActive" {
		t.Errorf("filterActive=maybe: %d %+v, want 400 on filterActive", status, e)
	}

	status, b = f.do(http.MethodGet, "/api/targettypes/9/targets/"+strconv.FormatInt(off.ID, 10), "")
	if got := into[value](t, b); status != 200 || got != off {
		t.Errorf("GET one inactive value: %d %+v, want %+v", status, got, off)
	}
}

func TestPostRules(t *testing.T) {
	f := setup(t)
	dup := f.add("Belgian waffles", uniqueCode(t, "dup"), true)
	if !dup.Active || dup.Name != "Belgian waffles" || dup.ID == 0 {
		t.Fatalf("created %+v", dup)
	}
	cases := []struct {
		name, path, body string
		status           int
		field, message   string
	}{
		{"not editable type", "/api/targettypes/1/targets", `{"name":"Lost","code":"99"}`, 400, "", "target type 1 (ballotReturnStatus) is not editable"},
		{"unknown type", "/api/targettypes/424242/targets", `{"name":"x","code":"x"}`, 404, "", "target type 424242 not found"},
		{"name missing", "/api/targettypes/9/targets", `{"code":"nameless"}`, 400, "name", "is required"},
		{"name blank", "/api/targettypes/9/targets", `{"name":"   ","code":"blank"}`, 400, "name", "is required"},
		{"code missing", "/api/targettypes/9/targets", `{"name":"Codeless"}`, 400, "code", "is required"},
		{"code with a space", "/api/targettypes/9/targets", `{"name":"x","code":"belgian waffles"}`, 400, "code", "must contain only letters, digits and underscores"},
		{"code with a dash", "/api/targettypes/9/targets", `{"name":"x","code":"best-waffles"}`, 400, "code", "must contain only letters, digits and underscores"},
		{"exclamation not first", "/api/targettypes/9/targets", `{"name":"x","code":"waffles!"}`, 400, "code", "must contain only letters, digits and underscores"},
		{"exclamation alone", "/api/targettypes/9/targets", `{"name":"x","code":"!"}`, 400, "code", "must contain only letters, digits and underscores"},
		{"non-ASCII letter", "/api/targettypes/9/targets", `{"name":"x","code":"gaufré"}`, 400, "code", "must contain only letters, digits and underscores"},
		{"code too long", "/api/targettypes/9/targets", `{"name":"x","code":"` + strings.Repeat("a", 101) + `"}`, 400, "code", "at most 100"},
		{"name too long", "/api/targettypes/9/targets", `{"name":"` + strings.Repeat("n", 256) + `","code":"longname"}`, 400, "name", "at most 255"},
		{"active not a boolean", "/api/targettypes/9/targets", `{"name":"x","code":"x","active":"yes"}`, 400, "active", "must be a JSON boolean"},
		{"not JSON", "/api/targettypes/9/targets", `name=x`, 400, "", "the body must be a JSON object"},
		{"duplicate code in the type", "/api/targettypes/9/targets", `{"name":"Other waffles","code":"` + dup.Code + `"}`, 409, "code", "already has a value with code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, b := f.do(http.MethodPost, tc.path, tc.body)
			e := into[targetError](t, b)
			if status != tc.status || e.Status != tc.status || !strings.Contains(e.Message, tc.message) {
				t.Fatalf("%d %+v, want %d with message containing %q", status, e, tc.status, tc.message)
			}
			if tc.field != "" && (len(e.Errors) == 0 || e.Errors[0].Field != tc.field) {
				t.Errorf("errors %+v, want one on field %s", e.Errors, tc.field)
			}
		})
	}

	t.Run("several problems are listed together", func(t *testing.T) {
		status, b := f.do(http.MethodPost, "/api/targettypes/9/targets", `{"code":"a b"}`)
		if e := into[targetError](t, b); status != 400 || len(e.Errors) != 2 {
			t.Errorf("%d %+v, want 400 listing name and code", status, e)
		}
	})
	t.Run("negative targeting code and default active", func(t *testing.T) {
		code := "!" + uniqueCode(t, "neg")
		status, b := f.do(http.MethodPost, "/api/targettypes/9/targets", `{"name":"Not waffles","code":"`+code+`","id":777777}`)
		v := into[value](t, b)
		if status != 200 || v.Code != code || !v.Active || v.ID == 777777 {
			t.Errorf("%d %+v, want 200, the code kept, active by default and the body's id ignored", status, v)
		}
	})
	t.Run("the same code in another type is allowed", func(t *testing.T) {
		// "1" is a seeded ballotReturnStatus code; interest may have it too.
		code := "1"
		status, b := f.do(http.MethodPost, "/api/targettypes/9/targets", `{"name":"One","code":"`+code+`"}`)
		if status != 200 {
			t.Errorf("%d %s, want 200", status, b)
		}
	})
}

func TestPutChangesOnlyNameAndActive(t *testing.T) {
	f := setup(t)
	v := f.add("Belgian waffles", uniqueCode(t, "w"), true)
	id := strconv.FormatInt(v.ID, 10)

	// With the id in the path; code and unknown fields are ignored.
	status, b := f.do(http.MethodPut, "/api/targettypes/9/targets/"+id, `{"id":`+id+`,"name":"Liège waffles","active":false,"code":"hacked","editable":true}`)
	if status != 200 || string(b) != "OK" {
		t.Fatalf("PUT with id in path: %d %q, want 200 OK", status, b)
	}
	_, b = f.do(http.MethodGet, "/api/targettypes/9/targets/"+id, "")
	if got := into[value](t, b); got != (value{ID: v.ID, Name: "Liège waffles", Code: v.Code, Active: false}) {
		t.Errorf("after PUT: %+v, want name and active changed, code kept", got)
	}

	// Without the id in the path: the body's id says which value.
	status, b = f.do(http.MethodPut, "/api/targettypes/9/targets", `{"id":`+id+`,"active":true}`)
	if status != 200 || string(b) != "OK" {
		t.Fatalf("PUT with id in body: %d %q, want 200 OK", status, b)
	}
	_, b = f.do(http.MethodGet, "/api/targettypes/9/targets/"+id, "")
	if got := into[value](t, b); got.Name != "Liège waffles" || !got.Active {
		t.Errorf("after second PUT: %+v, want the name kept and active again", got)
	}

	cases := []struct {
		name, path, body string
		status           int
		field            string
	}{
		{"no id anywhere", "/api/targettypes/9/targets", `{"name":"x"}`, 400, "id"},
		{"ids disagree", "/api/targettypes/9/targets/" + id, `{"id":` + strconv.FormatInt(v.ID+1, 10) + `,"name":"x"}`, 400, "id"},
		{"blank name", "/api/targettypes/9/targets/" + id, `{"name":" "}`, 400, "name"},
		{"active not a boolean", "/api/targettypes/9/targets/" + id, `{"active":"no"}`, 400, "active"},
		{"value of another type", "/api/targettypes/9/targets/1", `{"active":false}`, 404, ""},
		{"unknown value", "/api/targettypes/9/targets", `{"id":424242,"active":false}`, 404, ""},
		{"unknown type", "/api/targettypes/424242/targets/" + id, `{"active":false}`, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, b := f.do(http.MethodPut, tc.path, tc.body)
			e := into[targetError](t, b)
			if status != tc.status || e.Status != tc.status {
				t.Fatalf("%d %s, want %d", status, b, tc.status)
			}
			if tc.field != "" && (len(e.Errors) == 0 || e.Errors[0].Field != tc.field) {
				t.Errorf("errors %+v, want one on field %s", e.Errors, tc.field)
			}
		})
	}
	// The seeded value 1/1 is untouched by the failed PUT through type 9.
	_, b = f.do(http.MethodGet, "/api/targettypes/1/targets/1", "")
	if got := into[value](t, b); !got.Active {
		t.Errorf("value 1 of type 1 was deactivated through another type: %+v", got)
	}
}

// Built-in code lists (the non-editable types) are shared by every tenant's
// loads: a key with only the targets scope may not rename or deactivate
// their values, whatever the path or body; an admin key may.
func TestOnlyAdminKeysChangeBuiltInCodeLists(t *testing.T) {
	f := setup(t)
	before := f.value(1, 10)
	for _, tc := range []struct{ name, path, body string }{
		{"deactivate by path", "/api/targettypes/1/targets/10", `{"active":false}`},
		{"rename by body id", "/api/targettypes/1/targets", `{"id":10,"name":"<script>x</script>"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b := f.do(http.MethodPut, tc.path, tc.body)
			e := into[targetError](t, b)
			if status != 403 || e.Status != 403 || e.Error != "Forbidden" || e.Path != strings.Split(tc.path, "?")[0] ||
				!strings.Contains(e.Message, "only a key with the admin scope") {
				t.Fatalf("PUT %s as a targets key: %d %s, want a 403 error body naming the admin scope", tc.path, status, b)
			}
		})
	}
	if after := f.value(1, 10); after != before {
		t.Fatalf("a refused PUT changed the built-in value: %+v, was %+v", after, before)
	}

	admin, err := testenv.Get(t).Store.CreateKey(context.Background(), storage.NewKey{Name: "operator", Scopes: []string{"targets", "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, b := f.c.Do(apitest.NewRequest(t, http.MethodPut, "/api/targettypes/1/targets/10", `{"name":"Not Voted"}`, "X-API-Key", admin.Secret))
	if resp.StatusCode != 200 || string(b) != "OK" {
		t.Fatalf("PUT on a built-in value as admin: %d %s, want 200 OK", resp.StatusCode, b)
	}
	if got := f.value(1, 10); got.Name != "Not Voted" {
		t.Errorf("after the admin's PUT: %+v, want the name Not Voted", got)
	}
	t.Cleanup(func() {
		f.c.Do(apitest.NewRequest(t, http.MethodPut, "/api/targettypes/1/targets/10", fmt.Sprintf(`{"name":%q}`, before.Name), "X-API-Key", admin.Secret))
	})
	// Editable types stay open to every targets key.
	v := f.add("Pétanque", uniqueCode(t, "p"), true)
	if status, b := f.do(http.MethodPut, fmt.Sprintf("/api/targettypes/9/targets/%d", v.ID), `{"active":false}`); status != 200 {
		t.Errorf("PUT on an editable type as a targets key: %d %s, want 200", status, b)
	}
}

func (f *fixture) value(typeID, id int64) value {
	f.t.Helper()
	status, b := f.do(http.MethodGet, fmt.Sprintf("/api/targettypes/%d/targets/%d", typeID, id), "")
	if status != 200 {
		f.t.Fatalf("GET value %d/%d: %d %s", typeID, id, status, b)
	}
	return into[value](f.t, b)
}

func TestDeleteIsNotAllowed(t *testing.T) {
	f := setup(t)
	v := f.add("Kazoo clubs", uniqueCode(t, "k"), true)
	for _, path := range []string{"/api/targettypes/9/targets/" + strconv.FormatInt(v.ID, 10), "/api/targettypes/9/targets", "/api/targettypes/9"} {
		resp, b := f.c.Do(apitest.NewRequest(t, http.MethodDelete, path, "", "X-API-Key", f.secret))
		e := into[targetError](t, b)
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(e.Message, "deactivate") || resp.Header.Get("Allow") == "" {
			t.Errorf("DELETE %s: %d %q (Allow %q), want 405 telling to deactivate", path, resp.StatusCode, e.Message, resp.Header.Get("Allow"))
		}
	}
	_, b := f.do(http.MethodGet, "/api/targettypes/9/targets/"+strconv.FormatInt(v.ID, 10), "")
	if got := into[value](t, b); got != v {
		t.Errorf("after DELETE: %+v, want the value unchanged", got)
	}
}

func TestLogRecordsEveryAPIChangeNewestFirst(t *testing.T) {
	f := setup(t)
	v := f.add("Bossaball", uniqueCode(t, "b"), true)
	id := strconv.FormatInt(v.ID, 10)
	if status, b := f.do(http.MethodPut, "/api/targettypes/9/targets/"+id, `{"name":"Kazoo clubs","active":false}`); status != 200 {
		t.Fatalf("PUT: %d %s", status, b)
	}
	// Failed changes write nothing.
	f.do(http.MethodPost, "/api/targettypes/9/targets", `{"name":"dup","code":"`+v.Code+`"}`)
	f.do(http.MethodPut, "/api/targettypes/9/targets/424242", `{"active":false}`)
	// A no-op update changes nothing and logs nothing.
	f.do(http.MethodPut, "/api/targettypes/9/targets/"+id, `{"code":"ignored"}`)

	status, b := f.do(http.MethodGet, "/api/targettypes/log?start=0&size=2", "")
	if status != 200 {
		t.Fatalf("GET log: %d %s", status, b)
	}
	rows := into[[]logRow](t, b)
	if len(rows) != 2 {
		t.Fatalf("log rows = %d, want 2: %+v", len(rows), rows)
	}
	upd, ins := rows[0], rows[1]
	wantUpd := logRow{ID: upd.ID, LogAction: "UPDATE_TARGET_VALUE", Source: "API", UserID: f.key.ID, UserName: f.key.Name, Timestamp: upd.Timestamp,
		Parameters: `{"typeId"=9, "body"={"id":` + id + `,"name":"Kazoo clubs","active":false}}`}
	wantIns := logRow{ID: ins.ID, LogAction: "INSERT_TARGET_VALUE", Source: "API", UserID: f.key.ID, UserName: f.key.Name, Timestamp: ins.Timestamp,
		Parameters: `{"typeId"=9, "body"={"id":` + id + `,"name":"Bossaball","code":"` + v.Code + `","active":true}}`}
	if upd != wantUpd {
		t.Errorf("newest row:\n got %+v\nwant %+v", upd, wantUpd)
	}
	if ins != wantIns {
		t.Errorf("second row:\n got %+v\nwant %+v", ins, wantIns)
	}
	if upd.ID <= ins.ID || upd.Timestamp < ins.Timestamp || ins.Timestamp < 1_700_000_000_000 {
		t.Errorf("ids %d, %d and timestamps %d, %d: want newest first, epoch milliseconds", upd.ID, ins.ID, upd.Timestamp, ins.Timestamp)
	}

	// start skips from the newest.
	_, b = f.do(http.MethodGet, "/api/targettypes/log?start=1&size=1", "")
	if got := into[[]logRow](t, b); len(got) != 1 || got[0].ID != ins.ID {
		t.Errorf("start=1&size=1: %+v, want the insert row", got)
	}
	// The seeding is logged too, as MIGRATION.
	_, b = f.do(http.MethodGet, "/api/targettypes/log?start=0&size=1000", "")
	var seeded int
	for _, r := range into[[]logRow](t, b) {
		if r.Source == "MIGRATION" && r.LogAction == "INSERT_TARGET_VALUE" {
			seeded++
		}
	}
	if seeded == 0 {
		t.Errorf("no MIGRATION rows in the log")
	}
}

func TestLogPaging(t *testing.T) {
	f := setup(t)
	cases := []struct {
		query string
		field string
	}{
		{"", "size"},
		{"?start=0", "size"},
		{"?size=0", "size"},
		{"?size=1001", "size"},
		{"?size=ten", "size"},
		{"?size=10&start=-1", "start"},
	}
	for _, tc := range cases {
		status, b := f.do(http.MethodGet, "/api/targettypes/log"+tc.query, "")
		if e := into[targetError](t, b); status != 400 || len(e.Errors) == 0 || e.Errors[0].Field != tc.field {
			t.Errorf("log%s: %d %s, want 400 on %s", tc.query, status, b, tc.field)
		}
	}
	status, b := f.do(http.MethodGet, "/api/targettypes/log?size=3", "")
	if rows := into[[]logRow](t, b); status != 200 || len(rows) != 3 {
		t.Errorf("size=3 without start: %d, %d rows, want 3", status, len(rows))
	}
	status, b = f.do(http.MethodGet, "/api/targettypes/log?size=3&start=100000000", "")
	if status != 200 || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("start past the end: %d %s, want an empty array", status, b)
	}
}

func TestCredentialsAndScope(t *testing.T) {
	f := setup(t)
	env := testenv.Get(t)
	other, err := env.Store.CreateKey(context.Background(), storage.NewKey{Name: "van only", Scopes: []string{"van"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		headers []string
		status  int
		message string
	}{
		{"no key", nil, 401, "missing API key"},
		{"unknown key", []string{"X-API-Key", "trn_nope"}, 401, "invalid API key"},
		{"key without the targets scope", []string{"X-API-Key", other.Secret}, 403, "the targets service is not configured for this API key"},
		{"bearer", []string{"Authorization", "Bearer " + f.secret}, 200, ""},
		{"x-api-key", []string{"X-API-Key", f.secret}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []*http.Request{
				apitest.NewRequest(t, http.MethodGet, "/api/targettypes", "", tc.headers...),
				apitest.NewRequest(t, http.MethodGet, "/api/targettypes/log?size=1", "", tc.headers...),
			} {
				resp, b := f.c.Do(req)
				if resp.StatusCode != tc.status {
					t.Fatalf("%s: %d %s, want %d", req.URL.Path, resp.StatusCode, b, tc.status)
				}
				if tc.message != "" {
					if e := into[targetError](t, b); e.Message != tc.message {
						t.Errorf("message %q, want %q", e.Message, tc.message)
					}
				}
			}
		})
	}
	// A key without the scope cannot change anything either.
	resp, _ := f.c.Do(apitest.NewRequest(t, http.MethodPost, "/api/targettypes/9/targets", `{"name":"x","code":"scopeless"}`, "X-API-Key", other.Secret))
	if resp.StatusCode != 403 {
		t.Errorf("POST with a van key: %d, want 403", resp.StatusCode)
	}
}

func TestUsageIsCountedPerResource(t *testing.T) {
	f := setup(t)
	env := testenv.Get(t)
	f.do(http.MethodGet, "/api/targettypes", "")
	f.add("Counted", uniqueCode(t, "c"), true)
	f.do(http.MethodDelete, "/api/targettypes/9", "")
	u, err := storage.NewUsage(env.Redis).Get(context.Background(), f.key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.ResourceCounts["targetTypeRead"] != 1 || u.ResourceCounts["targetValueAdd"] != 1 || u.ResourceCounts["targetValueDelete"] != 1 {
		t.Errorf("resource counts %v, want targetTypeRead, targetValueAdd and targetValueDelete once each", u.ResourceCounts)
	}
	if u.TotalCalls != 3 || u.TotalFailures != 1 {
		t.Errorf("calls %d failures %d, want 3 and 1 (the 405)", u.TotalCalls, u.TotalFailures)
	}
}

// A method a known path has no route for is 405 with Allow, not 404.
func TestOtherMethodsAreNotAllowed(t *testing.T) {
	f := setup(t)
	cases := []struct{ method, path, allow string }{
		{http.MethodPatch, "/api/targettypes/9", "GET, HEAD"},
		{http.MethodPatch, "/api/targettypes/9/targets", "GET, HEAD, POST, PUT"},
		{http.MethodPost, "/api/targettypes/9/targets/1", "GET, HEAD, PUT"},
		{http.MethodPut, "/api/targettypes", "GET, HEAD"},
		{http.MethodPost, "/api/targettypes/log", "GET, HEAD"},
	}
	// Sent around the OpenAPI-checking client: these requests are outside
	// the contract on purpose.
	send := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, f.c.BaseURL+path, strings.NewReader("{}"))
		req.Header.Set("X-API-Key", f.secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, tc := range cases {
		resp, b := send(tc.method, tc.path)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow || !strings.Contains(b, "is not allowed") {
			t.Errorf("%s %s: %d (Allow %q) %s, want 405 with Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), b, tc.allow)
		}
	}
	if resp, _ := send(http.MethodPatch, "/api/targettypes/9/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("PATCH of an unknown path: %d, want 404", resp.StatusCode)
	}
}
