package fileload

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
)

// HTTPFetcher fetches http:// and https:// URLs. Client must come from
// netguard.Guard.HTTPClient so every connection, redirects included, is
// checked.
type HTTPFetcher struct {
	Client *http.Client
}

// Fetch implements Fetcher. User info in the URL is sent as Basic auth.
func (f HTTPFetcher) Fetch(ctx context.Context, u *url.URL, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fault.New(fault.Invalid, "file.sourceUrl: not a valid URL")
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return transient(err, u, "request failed")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return transientStatus(u, resp.StatusCode)
	default:
		return fault.New(fault.Invalid, "file.sourceUrl: %s answered HTTP %d %s", netguard.Redacted(u), resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		if errors.Is(err, errTooLarge) {
			return err
		}
		return transient(err, u, "download interrupted")
	}
	return nil
}

func transientStatus(u *url.URL, code int) error {
	return fault.New(fault.Unavailable, "file.sourceUrl: %s answered HTTP %d %s", netguard.Redacted(u), code, http.StatusText(code))
}
