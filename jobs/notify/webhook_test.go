package notify

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// The Standard Webhooks specification's own test vector.
func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifyRejectsStaleAndForged(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, _ := NewVerifier(secret)
	body := []byte(`{"a":1}`)
	h := http.Header{}
	_ = SetHeaders(h, secret, "msg_1", time.Now().Add(-10*time.Minute), body)
	if err := v.Verify(h, body); !errors.Is(err, ErrTimestamp) {
		t.Errorf("stale: err = %v, want ErrTimestamp", err)
	}
	_ = SetHeaders(h, "whsec_"+"b3RoZXJzZWNyZXQ=", "msg_1", time.Now(), body)
	if err := v.Verify(h, body); !errors.Is(err, ErrSignature) {
		t.Errorf("other secret: err = %v, want ErrSignature", err)
	}
	if err := v.Verify(http.Header{}, body); !errors.Is(err, ErrMissingHeaders) {
		t.Errorf("no headers: err = %v, want ErrMissingHeaders", err)
	}
	_ = SetHeaders(h, secret, "msg_1", time.Now(), body)
	h.Set(HeaderSignature, "v1,bogus "+h.Get(HeaderSignature))
	if err := v.Verify(h, body); err != nil {
		t.Errorf("second of two signatures valid: err = %v", err)
	}
}
