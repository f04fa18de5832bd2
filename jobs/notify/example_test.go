package notify_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/jobs/notify"
)

// A receiver of Turnout's file-load notifications checks every delivery
// with the key's webhook secret before trusting it.
func ExampleVerifier() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // from `turnout keys create --json`
	v, err := notify.NewVerifier(secret)
	if err != nil {
		panic(err)
	}
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Println("verified:", string(body))
	})

	// What Turnout sends:
	body := []byte(`{"description":"Load habberdasher score","message":"success"}`)
	req := httptest.NewRequest(http.MethodPost, "/listener", strings.NewReader(string(body)))
	if err := notify.SetHeaders(req.Header, secret, "msg_42_0", time.Now(), body); err != nil {
		panic(err)
	}
	receiver.ServeHTTP(httptest.NewRecorder(), req)

	// A tampered body is refused.
	req = httptest.NewRequest(http.MethodPost, "/listener", strings.NewReader(`{"message":"forged"}`))
	_ = notify.SetHeaders(req.Header, secret, "msg_42_0", time.Now(), body)
	rec := httptest.NewRecorder()
	receiver.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output:
	// verified: {"description":"Load habberdasher score","message":"success"}
	// 401 webhook: no matching signature
}
