package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/webhook"
)

// A receiver of Turnout's notifications wraps its handler in the
// verifier: the handler only ever sees deliveries signed with the key's
// webhook secret, and reads the body as usual.
func ExampleVerifier_Handler() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // webhookSecret of `turnout keys create --json`
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		panic(err)
	}
	receiver := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("verified %s: %s\n", r.Header.Get(webhook.HeaderID), body)
	}))

	// What Turnout sends:
	body := []byte(`{"description":"Load habberdasher score","message":"success"}`)
	req := httptest.NewRequest(http.MethodPost, "/listener", strings.NewReader(string(body)))
	if err := webhook.SetHeaders(req.Header, secret, "msg_42_0", time.Now(), body); err != nil {
		panic(err)
	}
	receiver.ServeHTTP(httptest.NewRecorder(), req)

	// A tampered body never reaches the handler.
	req = httptest.NewRequest(http.MethodPost, "/listener", strings.NewReader(`{"message":"forged"}`))
	_ = webhook.SetHeaders(req.Header, secret, "msg_42_0", time.Now(), body)
	rec := httptest.NewRecorder()
	receiver.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output:
	// verified msg_42_0: {"description":"Load habberdasher score","message":"success"}
	// 401 webhook: no matching signature
}

// Verify checks one delivery when the receiver reads the body itself.
func ExampleVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"jobId":7,"status":"Completed"}`)
	h := http.Header{}
	_ = webhook.SetHeaders(h, secret, "msg_7", time.Now(), body)

	fmt.Println(webhook.Verify(secret, h, body))
	fmt.Println(webhook.Verify(secret, h, []byte(`{"jobId":7,"status":"Failed"}`)))
	// Output:
	// <nil>
	// webhook: no matching signature
}
