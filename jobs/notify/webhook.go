package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks (https://www.standardwebhooks.com) headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretKey decodes a "whsec_<base64>" secret to its HMAC key.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret is not whsec_ followed by base64")
	}
	return key, nil
}

// Sign returns the webhook-signature header value for a message:
// "v1," and the base64 HMAC-SHA256, keyed by the secret's bytes, of
// "id.timestamp.body".
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + sign(key, id, ts.Unix(), body), nil
}

func sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SetHeaders sets the three Standard Webhooks headers on h.
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

// Verification errors.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: timestamp outside the tolerance")
	ErrSignature      = errors.New("webhook: no matching signature")
)

// DefaultTolerance is how far a message's timestamp may be from now before
// Verify rejects it as a replay.
const DefaultTolerance = 5 * time.Minute

// Verifier checks Standard Webhooks signatures; receivers of Turnout's
// notifications use it with the secret printed by `turnout keys create`.
type Verifier struct {
	key       []byte
	Tolerance time.Duration
	Now       func() time.Time
}

// NewVerifier returns a Verifier for a "whsec_..." secret.
func NewVerifier(secret string) (*Verifier, error) {
	key, err := secretKey(secret)
	if err != nil {
		return nil, err
	}
	return &Verifier{key: key, Tolerance: DefaultTolerance, Now: time.Now}, nil
}

// Verify checks the headers and body of one delivery. The signature header
// may carry several space-separated signatures (during secret rotation);
// one matching v1 signature is enough.
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
