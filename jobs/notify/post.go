package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/webhook"
)

// Post sends one signed Standard Webhooks message to target with client
// (a netguard client: target is caller-supplied) and returns the answer's
// status code when there was one. Non-2xx is an error. Errors never hold
// target's credentials; a refusal of the SSRF guard wraps
// netguard.ErrBlocked. It is the delivery of Deliverer, for other
// notifications (registrant report callbacks).
func Post(ctx context.Context, client *http.Client, secret, id, target string, body []byte) (*int, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, errors.New("invalid webhook URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Turnout-Webhooks/1")
	if err := webhook.SetHeaders(req.Header, secret, id, time.Now(), body); err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var be *netguard.BlockedError
		if errors.As(err, &be) {
			return nil, be
		}
		var re *netguard.RedirectError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, errors.New(netguard.SafeError(err, u))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	if code < 200 || code >= 300 {
		return &code, fmt.Errorf("the webhook receiver answered HTTP %d", code)
	}
	return &code, nil
}
