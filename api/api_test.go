package api_test

import (
	"context"
	"encoding/base64"
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
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/api"
	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newServer(t *testing.T, rdb redis.UniversalClient) *apitest.Client {
	t.Helper()
	env := testenv.Get(t)
	if rdb == nil {
		rdb = env.Redis
	}
	client := asynq.NewClient(env.AsynqConn)
	t.Cleanup(func() { client.Close() })
	h := api.New(api.Deps{
		Store: env.Store, Keys: middleware.NewKeyCache(env.Store, 100), Redis: rdb, AsynqConn: env.AsynqConn,
		Enqueuer: jobs.NewEnqueuer(env.Store, client, quiet), Registry: prometheus.NewRegistry(), Log: quiet,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &apitest.Client{T: t, BaseURL: srv.URL}
}

func createKey(t *testing.T, n storage.NewKey) *storage.CreatedKey {
	t.Helper()
	if n.Name == "" {
		n.Name = t.Name()
	}
	k, err := testenv.Get(t).Store.CreateKey(context.Background(), n)
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return k
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	return m
}

func get(t *testing.T, c *apitest.Client, path string, headers ...string) (*http.Response, map[string]any) {
	t.Helper()
	resp, body := c.Do(apitest.NewRequest(t, http.MethodGet, path, "", headers...))
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp, nil
	}
	return resp, decode(t, body)
}

func TestKeyWithoutScopeIsToldTheServiceIsNotConfigured(t *testing.T) {
	c := newServer(t, nil)
	k := createKey(t, storage.NewKey{Scopes: []string{"van"}})

	resp, body := get(t, c, "/api/integration/ext/v1/metrics", "authToken", k.Secret)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("metrics with a van-only key: status %d, want 403", resp.StatusCode)
	}
	if got := body["errors"].([]any)[0].(map[string]any)["message"]; got != "the metrics service is not configured for this API key" {
		t.Errorf("message = %q", got)
	}

	resp, b := c.Do(apitest.NewRequest(t, http.MethodPost, "/service/jobs", "", "X-API-Key", k.Secret))
	env := decode(t, b)
	if resp.StatusCode != http.StatusForbidden || env["error"] != "Authorization Error: the admin service is not configured for this API key" {
		t.Errorf("native POST /service/jobs with a van-only key: %d %v, want 403 Authorization Error", resp.StatusCode, env["error"])
	}
}

func TestRevokedKeyStopsWorkingOnEverySurface(t *testing.T) {
	c := newServer(t, nil)
	k := createKey(t, storage.NewKey{Scopes: []string{"metrics", "admin"}})
	for i := 0; i < 3; i++ { // the key is in the server's cache
		if resp, _ := get(t, c, "/api/integration/ext/v1/metrics", "authToken", k.Secret); resp.StatusCode != http.StatusOK {
			t.Fatalf("before revocation: status %d, want 200", resp.StatusCode)
		}
	}
	revoke(t, k.ID)
	cases := []struct {
		name, path string
		headers    []string
		status     int
	}{
		{"salsa authToken", "/api/integration/ext/v1/metrics", []string{"authToken", k.Secret}, http.StatusUnauthorized},
		{"native X-API-Key", "/service/jobs/1", []string{"X-API-Key", k.Secret}, http.StatusForbidden},
		{"native Bearer", "/service/jobs/1", []string{"Authorization", "Bearer " + k.Secret}, http.StatusForbidden},
		{"dashboard Basic", "/monitoring/", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+k.Secret))}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := get(t, c, tc.path, tc.headers...)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

func TestUnknownAndMalformedSecretsAreRejectedAlike(t *testing.T) {
	c := newServer(t, nil)
	for _, secret := range []string{"trn_doesnotexist", "not-even-our-format", strings.Repeat("x", 5000)} {
		resp, body := get(t, c, "/service/jobs/1", "X-API-Key", secret)
		if resp.StatusCode != http.StatusForbidden || body["error"] != "Authorization Error: invalid API key" {
			t.Errorf("secret %.20q: %d %v, want 403 Authorization Error: invalid API key", secret, resp.StatusCode, body["error"])
		}
	}
	resp, body := get(t, c, "/service/jobs/1")
	if resp.StatusCode != http.StatusForbidden || body["error"] != "Authorization Error: missing API key" {
		t.Errorf("no key: %d %v", resp.StatusCode, body["error"])
	}
}

// metrics fetches the Salsa payload with the key's authToken.
func metrics(t *testing.T, c *apitest.Client, secret string) (int, map[string]any) {
	t.Helper()
	resp, body := get(t, c, "/api/integration/ext/v1/metrics", "authToken", secret)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, body
	}
	return resp.StatusCode, body["payload"].(map[string]any)
}

func TestRateLimitAndUsageCountersCountEveryCall(t *testing.T) {
	c := newServer(t, nil)
	k := createKey(t, storage.NewKey{Scopes: []string{"metrics", "admin"}, RateLimit: 5, MaxBatchSize: 7})

	// Call 1: a job that exists (after creating it, call 2); call 3: one that does not (a failure).
	resp, b := c.Do(apitest.NewRequest(t, http.MethodPost, "/service/jobs", "", "X-API-Key", k.Secret))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create noop job: %d %s", resp.StatusCode, b)
	}
	id := int64(decode(t, b)["job"].(map[string]any)["id"].(float64))
	if resp, _ := get(t, c, "/service/jobs/"+strconv.FormatInt(id, 10), "X-API-Key", k.Secret); resp.StatusCode != http.StatusOK {
		t.Fatalf("own job: status %d, want 200", resp.StatusCode)
	}
	if resp, _ := get(t, c, "/service/jobs/999999999", "X-API-Key", k.Secret); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("missing job: status %d, want 404", resp.StatusCode)
	}

	// Call 4: the metrics show the three calls before it.
	_, p := metrics(t, c, k.Secret)
	want := map[string]float64{"rateLimit": 5, "maxBatchSize": 7, "totalAPICalls": 3, "totalAPICallFailures": 1,
		"currentRateLimit": 1, "jobCreate": 1, "jobRead": 2, "supporterRead": 0}
	for f, v := range want {
		if p[f] != v {
			t.Errorf("payload.%s = %v, want %v", f, p[f], v)
		}
	}
	if _, ok := p["lastAPICall"].(string); !ok {
		t.Errorf("payload.lastAPICall missing")
	}
	if _, ok := p["lastAPICallFailure"].(string); !ok {
		t.Errorf("payload.lastAPICallFailure missing after a failed call")
	}

	// Call 5 uses the last of the budget; call 6 is over it.
	if status, _ := metrics(t, c, k.Secret); status != http.StatusOK {
		t.Fatalf("5th call: status %d, want 200", status)
	}
	status, body := metrics(t, c, k.Secret)
	if status != http.StatusTooManyRequests {
		t.Fatalf("6th call in the minute: status %d, want 429", status)
	}
	if msg := body["errors"].([]any)[0].(map[string]any)["message"]; msg != "Call rate has been exceeded" {
		t.Errorf("429 message = %q, want %q", msg, "Call rate has been exceeded")
	}

	// A new window (the limiter's state cleared) shows the 429 counted as a failure.
	if err := testenv.Get(t).Redis.Del(context.Background(), "turnout:rate:{"+strconv.FormatInt(k.ID, 10)+"}").Err(); err != nil {
		t.Fatal(err)
	}
	_, p = metrics(t, c, k.Secret)
	if p["totalAPICalls"] != 6.0 || p["totalAPICallFailures"] != 2.0 || p["metricsRead"] != 2.0 {
		t.Errorf("after the 429: calls=%v failures=%v metricsRead=%v, want 6, 2, 2", p["totalAPICalls"], p["totalAPICallFailures"], p["metricsRead"])
	}
}

func TestKeysAreCountedSeparately(t *testing.T) {
	c := newServer(t, nil)
	a := createKey(t, storage.NewKey{Scopes: []string{"metrics"}, RateLimit: 2})
	b := createKey(t, storage.NewKey{Scopes: []string{"metrics"}, RateLimit: 2})
	metrics(t, c, a.Secret)
	metrics(t, c, a.Secret)
	if status, _ := metrics(t, c, a.Secret); status != http.StatusTooManyRequests {
		t.Fatalf("key A 3rd call: %d, want 429", status)
	}
	if status, p := metrics(t, c, b.Secret); status != http.StatusOK || p["totalAPICalls"] != 0.0 {
		t.Fatalf("key B after A's calls: %d %v, want 200 with 0 calls", status, p["totalAPICalls"])
	}
}

func TestNativeEnvelopeMirrorsInputAndCarriesGatewayID(t *testing.T) {
	c := newServer(t, nil)
	k := createKey(t, storage.NewKey{Scopes: []string{"van"}})
	resp, body := get(t, c, "/service/jobs/abc?verbose=1", "X-API-Key", k.Secret)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if !strings.HasPrefix(body["error"].(string), "Validation Error: ") {
		t.Errorf("error = %q, want the Validation Error prefix", body["error"])
	}
	in := body["input"].(map[string]any)
	if in["id"] != "abc" || in["verbose"] != "1" {
		t.Errorf("input = %v, want the path and query parameters mirrored", in)
	}
	if gw := body["gateway_id"]; gw == "" || gw != resp.Header.Get("X-Request-Id") {
		t.Errorf("gateway_id %v does not match X-Request-Id %q", gw, resp.Header.Get("X-Request-Id"))
	}
	if body["function_id"] != "service.jobs.get" {
		t.Errorf("function_id = %v", body["function_id"])
	}
	fe := body["errors"].([]any)[0].(map[string]any)
	if fe["field"] != "id" || fe["code"] != 2011.0 {
		t.Errorf("field error = %v, want field id, code 2011", fe)
	}
}

// A key without the admin scope reads only its own jobs; an admin key
// reads every key's.
func TestAnotherKeysJobIsNotFound(t *testing.T) {
	c := newServer(t, nil)
	owner := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	other := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})
	admin := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	_, b := c.Do(apitest.NewRequest(t, http.MethodPost, "/service/jobs", "", "X-API-Key", owner.Secret))
	id := strconv.FormatInt(int64(decode(t, b)["job"].(map[string]any)["id"].(float64)), 10)
	resp, body := get(t, c, "/service/jobs/"+id, "X-API-Key", other.Secret)
	if resp.StatusCode != http.StatusNotFound || body["error"] != "Query Error: job not found" {
		t.Fatalf("other key reading the job: %d %v, want 404 Query Error: job not found", resp.StatusCode, body["error"])
	}
	if _, ok := body["job"]; ok {
		t.Fatal("the job leaked to another key")
	}
	if resp, body := get(t, c, "/service/jobs/"+id, "X-API-Key", admin.Secret); resp.StatusCode != http.StatusOK {
		t.Fatalf("another admin key reading the job: %d %v, want 200", resp.StatusCode, body["error"])
	}
}

func TestDashboardNeedsAnOperatorKey(t *testing.T) {
	c := newServer(t, nil)
	admin := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	van := createKey(t, storage.NewKey{Scopes: []string{"van"}})
	basic := func(secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte("operator:"+secret))
	}
	resp, _ := get(t, c, "/monitoring/")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("no credentials: %d %q, want 401 asking for Basic", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := get(t, c, "/monitoring/", "Authorization", basic(van.Secret)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("van key: %d, want 403", resp.StatusCode)
	}
	for name, h := range map[string][]string{"basic": {"Authorization", basic(admin.Secret)}, "x-api-key": {"X-API-Key", admin.Secret}} {
		resp, _ := get(t, c, "/monitoring/", h...)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s admin: %d %s, want 200 HTML", name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	// The dashboard's own JSON API is behind the same door.
	req := apitest.NewRequest(t, http.MethodGet, c.BaseURL+"/monitoring/api/queues", "", "Authorization", basic(admin.Secret))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("dashboard API: %d, want 200", r.StatusCode)
	}
}

func TestOperationalEndpoints(t *testing.T) {
	c := newServer(t, nil)
	if resp, body := get(t, c, "/healthz"); resp.StatusCode != 200 || body["status"] != "ok" {
		t.Errorf("/healthz: %d %v", resp.StatusCode, body)
	}
	if resp, body := get(t, c, "/readyz"); resp.StatusCode != 200 || body["postgres"] != "ok" || body["redis"] != "ok" {
		t.Errorf("/readyz: %d %v", resp.StatusCode, body)
	}
	resp, body := get(t, c, "/status.json")
	if resp.StatusCode != 200 || len(body["queues"].([]any)) != len(jobs.Queues) {
		t.Errorf("/status.json: %d %v", resp.StatusCode, body)
	}
	resp, html := c.Do(apitest.NewRequest(t, http.MethodGet, "/status", ""))
	for _, q := range jobs.Queues {
		if !strings.Contains(string(html), "<td>"+q) {
			t.Errorf("/status page does not list queue %s", q)
		}
	}
	if resp.StatusCode != 200 {
		t.Errorf("/status: %d", resp.StatusCode)
	}
	_, prom := c.Do(apitest.NewRequest(t, http.MethodGet, "/metrics", ""))
	for _, m := range []string{"turnout_http_requests_total{", "turnout_http_request_duration_seconds_bucket{"} {
		if !strings.Contains(string(prom), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if _, y := c.Do(apitest.NewRequest(t, http.MethodGet, "/openapi.yaml", "")); !strings.HasPrefix(string(y), "openapi: 3") {
		t.Errorf("/openapi.yaml does not serve the document")
	}
}

func TestQueueMetricsAppearOnceAQueueExists(t *testing.T) {
	c := newServer(t, nil)
	k := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	c.Do(apitest.NewRequest(t, http.MethodPost, "/service/jobs", "", "X-API-Key", k.Secret))
	_, prom := c.Do(apitest.NewRequest(t, http.MethodGet, "/metrics", ""))
	if !strings.Contains(string(prom), `turnout_queue_size{queue="default"}`) {
		t.Errorf("/metrics lacks the default queue's size:\n%.2000s", prom)
	}
}

// Readiness is about this process, not its dependencies: with Redis down
// the pod stays in service (each surface answers the outage with its own
// 503) and the body names what is down.
func TestReadinessStaysReadyAndNamesTheDependencyThatIsDown(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	c := newServer(t, dead)
	resp, body := get(t, c, "/readyz")
	if resp.StatusCode != http.StatusOK || body["status"] != "ready" || body["redis"] != "unavailable" || body["postgres"] != "ok" {
		t.Fatalf("/readyz with Redis down: %d %v, want 200 ready naming redis as unavailable", resp.StatusCode, body)
	}
}

func TestUnknownRouteAnswersInTheNativeShape(t *testing.T) {
	env := testenv.Get(t)
	h := api.New(api.Deps{Store: env.Store, Redis: env.Redis, AsynqConn: env.AsynqConn, Registry: prometheus.NewRegistry(), Log: quiet})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/no/such/thing", nil))
	body := decode(t, rec.Body.Bytes())
	if rec.Code != http.StatusNotFound || !strings.HasPrefix(body["error"].(string), "Query Error: ") {
		t.Fatalf("unknown route: %d %v", rec.Code, body)
	}
}

// Every surface's credential form resolves to the same key row.
func TestEverySurfaceCredentialResolvesToTheSameKey(t *testing.T) {
	env := testenv.Get(t)
	mode := int16(1)
	partner := int64(4242)
	k := createKey(t, storage.NewKey{Scopes: []string{"van", "rocky", "metrics", "admin"}, VANApp: "haberdashery", VANDBMode: &mode, RockyPartnerID: &partner, MaxBatchSize: 3})

	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(quiet, func(c echo.Context, status int, err *fault.Error) error {
		return c.String(status, err.Message)
	})
	whoami := func(c echo.Context) error { return c.String(200, strconv.FormatInt(middleware.Key(c).ID, 10)) }
	e.GET("/van", whoami, middleware.Authenticate(env.Store, "van", middleware.VANBasic))
	e.Any("/rocky", whoami, middleware.Authenticate(env.Store, "rocky", middleware.RockyPartner))
	e.GET("/salsa", whoami, middleware.Authenticate(env.Store, "metrics", middleware.SalsaToken))
	e.GET("/native", whoami, middleware.Authenticate(env.Store, "", middleware.NativeKey))
	e.GET("/admin", whoami, middleware.Authenticate(env.Store, "admin", middleware.AdminBasicOrKey))
	e.POST("/bulk", func(c echo.Context) error {
		n, _ := strconv.Atoi(c.QueryParam("n"))
		if err := middleware.CheckBatch(c, n); err != nil {
			return err
		}
		return c.String(200, "ok")
	}, middleware.Authenticate(env.Store, "", middleware.NativeKey))

	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	id := strconv.FormatInt(k.ID, 10)
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		want                     string
	}{
		{"van basic", "GET", "/van", "", []string{"Authorization", basic("haberdashery", k.Secret+"|1")}, 200, id},
		{"van wrong db mode", "GET", "/van", "", []string{"Authorization", basic("haberdashery", k.Secret+"|0")}, 401, "invalid application name, API key or database mode"},
		{"van wrong app", "GET", "/van", "", []string{"Authorization", basic("hatters", k.Secret+"|1")}, 401, "invalid application name, API key or database mode"},
		{"van no mode", "GET", "/van", "", []string{"Authorization", basic("haberdashery", k.Secret)}, 401, "the password must be apiKey|dbMode with dbMode 0 or 1"},
		{"rocky query", "GET", "/rocky?partner_id=4242&partner_API_key=" + k.Secret, "", nil, 200, id},
		{"rocky body", "POST", "/rocky", `{"partner_id":"4242","partner_API_key":"` + k.Secret + `"}`, nil, 200, id},
		{"rocky nested numeric id", "POST", "/rocky", `{"registration":{"partner_id":4242,"partner_API_key":"` + k.Secret + `"}}`, nil, 200, id},
		{"rocky other partner", "GET", "/rocky?partner_id=1&partner_API_key=" + k.Secret, "", nil, 401, "Invalid Partner or API key"},
		{"salsa", "GET", "/salsa", "", []string{"authToken", k.Secret}, 200, id},
		{"native x-api-key", "GET", "/native", "", []string{"X-API-Key", k.Secret}, 200, id},
		{"native bearer", "GET", "/native", "", []string{"Authorization", "Bearer " + k.Secret}, 200, id},
		{"admin basic", "GET", "/admin", "", []string{"Authorization", basic("anyone", k.Secret)}, 200, id},
		{"batch within size", "POST", "/bulk?n=3", "", []string{"X-API-Key", k.Secret}, 200, "ok"},
		{"batch over size", "POST", "/bulk?n=4", "", []string{"X-API-Key", k.Secret}, 429, "Requested batch size exceeds the allowed size of: 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader
			if tc.body != "" {
				r = strings.NewReader(tc.body)
			}
			req := httptest.NewRequest(tc.method, tc.path, r)
			for i := 0; i+1 < len(tc.headers); i += 2 {
				req.Header.Set(tc.headers[i], tc.headers[i+1])
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tc.status || rec.Body.String() != tc.want {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.status, tc.want)
			}
		})
	}
}

func TestGuessingKeysIsThrottledPerClient(t *testing.T) {
	env := testenv.Get(t)
	env.FlushRedis(t)
	client := asynq.NewClient(env.AsynqConn)
	defer client.Close()
	h := api.New(api.Deps{Store: env.Store, Redis: env.Redis, AsynqConn: env.AsynqConn,
		Enqueuer: jobs.NewEnqueuer(env.Store, client, quiet), Registry: prometheus.NewRegistry(), Log: quiet,
		AuthFailuresPerMinute: 5})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := &apitest.Client{T: t, BaseURL: srv.URL}
	good := createKey(t, storage.NewKey{Scopes: []string{"metrics"}})

	for i := 0; i < 5; i++ {
		if resp, _ := get(t, c, "/api/integration/ext/v1/metrics", "authToken", "trn_guess"+strconv.Itoa(i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, resp.StatusCode)
		}
	}
	resp, body := get(t, c, "/api/integration/ext/v1/metrics", "authToken", good.Secret)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 bad guesses: %d, want 429 with Retry-After even for a good key", resp.StatusCode)
	}
	if msg := body["errors"].([]any)[0].(map[string]any)["message"]; msg != "too many failed authentication attempts; retry in a minute" {
		t.Errorf("message = %q", msg)
	}
	// The lockout is per client address: the budget refills with time (cleared here).
	env.Redis.Del(context.Background(), "turnout:authfail:127.0.0.1")
	if resp, _ := get(t, c, "/api/integration/ext/v1/metrics", "authToken", good.Secret); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the window: %d, want 200", resp.StatusCode)
	}
}

func TestNoopJobParametersAreValidated(t *testing.T) {
	c := newServer(t, nil)
	k := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	cases := []struct {
		body   string
		status int
		field  string
		code   float64
	}{
		{`{"sleepMs": 10}`, http.StatusAccepted, "", 0},
		{`{"sleepMs": 60001}`, http.StatusBadRequest, "sleepMs", 2007},
		{`{"sleepMs": -1}`, http.StatusBadRequest, "sleepMs", 2007},
		{`{"sleep": 1}`, http.StatusBadRequest, "body", 2011},
		{`[1]`, http.StatusBadRequest, "", 0},
	}
	for _, tc := range cases {
		resp, b := c.Do(apitest.NewRequest(t, http.MethodPost, "/service/jobs", tc.body, "X-API-Key", k.Secret))
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.body, resp.StatusCode, tc.status, b)
			continue
		}
		body := decode(t, b)
		if tc.field != "" {
			fe := body["errors"].([]any)[0].(map[string]any)
			if fe["field"] != tc.field || fe["code"] != tc.code {
				t.Errorf("%s: field error %v, want %s/%v", tc.body, fe, tc.field, tc.code)
			}
		}
		if tc.status == http.StatusAccepted && body["input"].(map[string]any)["sleepMs"] != 10.0 {
			t.Errorf("input does not mirror the body: %v", body["input"])
		}
	}
}

// A batch of no-op jobs is capped by the key's batch size and committed
// all or none, in the order given.
func TestNoopJobBatch(t *testing.T) {
	c := newServer(t, nil)
	env := testenv.Get(t)
	k := createKey(t, storage.NewKey{Scopes: []string{"admin"}, MaxBatchSize: 3})
	count := func() (n int) {
		_ = env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE key_id = $1`, k.ID).Scan(&n)
		return n
	}
	resp, b := c.Do(apitest.NewRequest(t, http.MethodPost, "/service/jobs/batch", `{"jobs": [{"sleepMs": 1}, {}, {"sleepMs": 3}]}`, "X-API-Key", k.Secret))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("batch of 3: %d %s", resp.StatusCode, b)
	}
	var out struct{ Jobs []storage.Job }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	wantParams := []string{`{"sleepMs": 1}`, `{"sleepMs": 0}`, `{"sleepMs": 3}`}
	for i, j := range out.Jobs {
		stored, _ := env.Store.Job(context.Background(), j.ID)
		if string(stored.Params) != wantParams[i] || j.Status != storage.JobQueued || (i > 0 && j.ID <= out.Jobs[i-1].ID) {
			t.Errorf("jobs[%d] = id %d %s %s, want %s queued, ids ascending", i, j.ID, j.Status, stored.Params, wantParams[i])
		}
		if r, _ := c.Do(apitest.NewRequest(t, http.MethodGet, fmt.Sprintf("/service/jobs/%d", j.ID), "", "X-API-Key", k.Secret)); r.StatusCode != http.StatusOK {
			t.Errorf("GET job %d: %d", j.ID, r.StatusCode)
		}
	}
	if len(out.Jobs) != 3 || count() != 3 {
		t.Fatalf("%d jobs answered, %d stored; want 3", len(out.Jobs), count())
	}
	cases := []struct {
		body, field, message string
		status               int
	}{
		{`{"jobs": [{}, {}, {}, {}]}`, "", "Validation Error: Requested batch size exceeds the allowed size of: 3", http.StatusTooManyRequests},
		{`{"jobs": [{}, {"sleepMs": 70000}, {"nap": 1}]}`, "jobs[1].sleepMs", "", http.StatusBadRequest},
		{`{"jobs": []}`, "jobs", "", http.StatusBadRequest},
		{`[{}]`, "body", "", http.StatusBadRequest},
	}
	for _, tc := range cases {
		resp, b := c.Do(apitest.NewRequest(t, http.MethodPost, "/service/jobs/batch", tc.body, "X-API-Key", k.Secret))
		body := decode(t, b)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d (%s)", tc.body, resp.StatusCode, tc.status, b)
			continue
		}
		if tc.message != "" && body["error"] != tc.message {
			t.Errorf("%s: error %v, want %q", tc.body, body["error"], tc.message)
		}
		if tc.field != "" {
			if fe := body["errors"].([]any)[0].(map[string]any); fe["field"] != tc.field {
				t.Errorf("%s: first field error %v, want %s", tc.body, fe, tc.field)
			}
		}
	}
	if n := count(); n != 3 {
		t.Errorf("%d jobs stored after the refused batches, want still 3", n)
	}
}

// A client-chosen X-Request-Id is never the server's request id: every
// surface answers with an id the server minted, and its error body quotes
// that id (gateway_id, referenceCode, requestId, id), not the client's.
func TestClientRequestIDIsNeverTheServers(t *testing.T) {
	c := newServer(t, nil)
	const chosen = "attacker-chosen-id"
	for _, tc := range []struct {
		surface, method, path string
		quoted                func(body []byte) string
	}{
		{"native", http.MethodGet, "/service/jobs/1", func(b []byte) string { return str(decode(t, b)["gateway_id"]) }},
		{"van", http.MethodGet, "/v4/fileLoadingJobs/1", func(b []byte) string {
			var v struct {
				Errors []struct{ ReferenceCode string }
			}
			_ = json.Unmarshal(b, &v)
			if len(v.Errors) == 0 {
				return ""
			}
			return v.Errors[0].ReferenceCode
		}},
		{"targets", http.MethodGet, "/api/targettypes", func(b []byte) string { return str(decode(t, b)["requestId"]) }},
		{"salsa", http.MethodGet, "/api/integration/ext/v1/metrics", func(b []byte) string { return str(decode(t, b)["id"]) }},
	} {
		t.Run(tc.surface, func(t *testing.T) {
			resp, b := c.Do(apitest.NewRequest(t, tc.method, tc.path, "", "X-Request-Id", chosen))
			id := resp.Header.Get("X-Request-Id")
			if id == "" || strings.Contains(id, chosen) || len(id) != 36 {
				t.Fatalf("X-Request-Id answered %q to a client that sent %q; want a server-minted UUID", id, chosen)
			}
			if strings.Contains(string(b), chosen) {
				t.Errorf("the body echoes the client's id: %s", b)
			}
			if got := tc.quoted(b); got != id {
				t.Errorf("the error body quotes %q, want the server's id %q: %s", got, id, b)
			}
		})
	}
}

func str(v any) string { s, _ := v.(string); return s }

// revoke revokes a key as turnout keys revoke does: the row, then the key
// epoch that tells every API process to drop its cached keys.
func revoke(t *testing.T, id int64) {
	t.Helper()
	env := testenv.Get(t)
	if err := env.Store.RevokeKey(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := storage.BumpKeyEpoch(context.Background(), env.Redis); err != nil {
		t.Fatal(err)
	}
}
