// Package webhook is Turnout's webhook signature scheme, Standard Webhooks
// (https://www.standardwebhooks.com): the signer the server uses and the
// verifier a receiver uses. It imports only the standard library, so a
// receiver can verify Turnout's notifications without pulling in the
// server.
//
// Every delivery carries three headers: webhook-id (the same on every retry
// of one notification, so a receiver can drop duplicates), webhook-timestamp
// (Unix seconds when this attempt was sent) and webhook-signature ("v1,"
// and the base64 HMAC-SHA256 of "id.timestamp.body", keyed by the bytes of
// the key's "whsec_<base64>" secret). The signature header may carry
// several space-separated signatures while a secret is rotated; one
// matching v1 signature is enough.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Verification errors. None of them says which part of a signature was
// wrong beyond what the sender already knows.
var (
	ErrSecret         = errors.New("webhook: secret is not whsec_ followed by base64")
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: timestamp outside the tolerance")
	ErrSignature      = errors.New("webhook: no matching signature")
	ErrBodyTooLarge   = errors.New("webhook: body too large")
)

// DefaultTolerance is how far a message's timestamp may be from the
// receiver's clock before Verify rejects it as a replay. A retry is signed
// afresh, so only clock skew and transit count against it.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxBody is the largest body Handler reads; Turnout's notifications
// are a few kilobytes.
const DefaultMaxBody = 1 << 20

// secretKey decodes a "whsec_<base64>" secret to its HMAC key.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return nil, ErrSecret
	}
	return key, nil
}

func sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature header value of one message.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + sign(key, id, ts.Unix(), body), nil
}

// SetHeaders signs one message and sets the three headers on h.
func SetHeaders(h http.Header, secret, id string, ts time.Time, body []byte) error {
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Verifier checks deliveries signed with one secret, the key's webhook
// secret (printed by `turnout keys create --json` as webhookSecret).
// Its fields may be changed before first use.
type Verifier struct {
	key []byte
	// Tolerance is how far the timestamp may be from Now (DefaultTolerance).
	Tolerance time.Duration
	// Now is the receiver's clock (time.Now).
	Now func() time.Time
	// MaxBody caps the body Handler reads (DefaultMaxBody).
	MaxBody int64
}

// NewVerifier returns a Verifier for a "whsec_..." secret.
func NewVerifier(secret string) (*Verifier, error) {
	key, err := secretKey(secret)
	if err != nil {
		return nil, err
	}
	return &Verifier{key: key, Tolerance: DefaultTolerance, Now: time.Now, MaxBody: DefaultMaxBody}, nil
}

// Verify checks one delivery's headers and body with secret; a receiver
// that verifies many deliveries keeps a Verifier instead.
func Verify(secret string, h http.Header, body []byte) error {
	v, err := NewVerifier(secret)
	if err != nil {
		return err
	}
	return v.Verify(h, body)
}

// Verify checks the headers and the exact body bytes of one delivery: nil
// means Turnout sent it, with this secret, within the tolerance.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	id, tsRaw, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsRaw == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := v.Now().Sub(time.Unix(ts, 0)); d > v.Tolerance || d < -v.Tolerance {
		return ErrTimestamp
	}
	want := []byte(sign(v.key, id, ts, body))
	for _, s := range strings.Fields(sigs) {
		ver, sig, ok := strings.Cut(s, ",")
		if ok && ver == "v1" && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrSignature
}

// Handler verifies every request before next sees it. A request that fails
// verification is answered 401 (413 for a body over MaxBody) with the
// reason, and next is not called; a verified request reaches next with its
// body intact, so next reads it as usual.
func (v *Verifier) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		max := v.MaxBody
		if max <= 0 {
			max = DefaultMaxBody
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			http.Error(w, "webhook: could not read the body", http.StatusBadRequest)
			return
		}
		if int64(len(body)) > max {
			http.Error(w, ErrBodyTooLarge.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		if err := v.Verify(r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
