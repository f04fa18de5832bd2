package webhook

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// The Standard Webhooks specification's own test vector.
func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	got, err := Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifyRejectsStaleForgedAndUnsigned(t *testing.T) {
	body := []byte(`{"a":1}`)
	signed := func(secret string, at time.Time) http.Header {
		h := http.Header{}
		if err := SetHeaders(h, secret, "msg_1", at, body); err != nil {
			t.Fatal(err)
		}
		return h
	}
	rotated := signed(secret, time.Now())
	rotated.Set(HeaderSignature, "v1,bogus "+rotated.Get(HeaderSignature))
	badTS := signed(secret, time.Now())
	badTS.Set(HeaderTimestamp, "yesterday")
	cases := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"fresh and signed", signed(secret, time.Now()), body, nil},
		{"second of two signatures valid", rotated, body, nil},
		{"within the tolerance ahead", signed(secret, time.Now().Add(4*time.Minute)), body, nil},
		{"stale", signed(secret, time.Now().Add(-10*time.Minute)), body, ErrTimestamp},
		{"from the future", signed(secret, time.Now().Add(10*time.Minute)), body, ErrTimestamp},
		{"timestamp not a number", badTS, body, ErrTimestamp},
		{"other secret", signed("whsec_b3RoZXJzZWNyZXQ=", time.Now()), body, ErrSignature},
		{"tampered body", signed(secret, time.Now()), []byte(`{"a":2}`), ErrSignature},
		{"no headers", http.Header{}, body, ErrMissingHeaders},
	}
	for _, tc := range cases {
		if err := Verify(secret, tc.h, tc.body); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := Verify("not a secret", http.Header{}, body); !errors.Is(err, ErrSecret) {
		t.Errorf("bad secret: Verify = %v, want ErrSecret", err)
	}
}

func TestHandlerPassesTheBodyOnlyWhenVerified(t *testing.T) {
	v, err := NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	v.MaxBody = 64
	var got []string
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, string(b))
	}))
	send := func(body, signedBody string) int {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		_ = SetHeaders(req.Header, secret, "msg_9", time.Now(), []byte(signedBody))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := send(`{"ok":true}`, `{"ok":true}`); code != http.StatusOK {
		t.Errorf("signed delivery: %d, want 200", code)
	}
	if code := send(`{"ok":false}`, `{"ok":true}`); code != http.StatusUnauthorized {
		t.Errorf("tampered delivery: %d, want 401", code)
	}
	big := strings.Repeat("x", 65)
	if code := send(big, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over MaxBody: %d, want 413", code)
	}
	if len(got) != 1 || got[0] != `{"ok":true}` {
		t.Errorf("next saw %q, want only the verified body", got)
	}
}
