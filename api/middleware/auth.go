package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// Keys finds the live key that owns a secret.
type Keys interface {
	KeyBySecret(ctx context.Context, secret string) (*storage.APIKey, error)
}

// Credential is what a surface found in a request: the secret, and the
// surface's own checks of the key it resolves to (a VAN application name,
// a Rocky partner id).
type Credential struct {
	Secret string
	Check  func(*storage.APIKey) error
}

// Extractor reads a surface's native credential form. It returns an
// Unauthorized fault when the credential is missing or malformed.
type Extractor func(c echo.Context) (Credential, error)

const keyKey = "turnout.key"

// Key returns the authenticated key of the request (nil before Authenticate).
func Key(c echo.Context) *storage.APIKey {
	k, _ := c.Get(keyKey).(*storage.APIKey)
	return k
}

// Authenticate resolves the request's credential to a key and requires the
// key to have scope (any key, for scope ""). A key without the scope gets Forbidden, phrased the way
// TargetSmart phrases it: the service is not configured for the key.
//
// When keys is a KeyCache, a key found in the cache costs no database
// round trip: the failed-login check and the cache's epoch are then read in
// the request's admission round trip (see Settle). Other credentials take
// the guarded path: the failed-login check, then the store.
func Authenticate(keys Keys, scope string, extract Extractor) echo.MiddlewareFunc {
	cache, _ := keys.(*KeyCache)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			g, _ := c.Get(guardKey).(*authGuard)
			cred, credErr := extract(c)
			if credErr == nil && cache != nil && g != nil {
				if k := cache.cached(cred.Secret); k != nil && accept(k, scope, cred) == nil {
					c.Set(keyKey, k)
					c.Set(verifyKey, &verification{rdb: g.l.rdb, guard: g, cache: cache, cred: cred, scope: scope, cached: true})
					return next(c)
				}
			}
			if g != nil {
				if err := g.check(c); err != nil {
					return err
				}
			}
			k, err := resolve(c, keys, cred, credErr)
			if err == nil {
				err = accept(k, scope, cred)
			}
			if err != nil {
				if g != nil && fault.Is(err, fault.Unauthorized) {
					g.failed(c)
				}
				return err
			}
			c.Set(keyKey, k)
			if cache != nil && g != nil {
				// The check is done; the epoch read with the admission
				// lets the cache learn of changes early.
				c.Set(verifyKey, &verification{rdb: g.l.rdb, cache: cache, cred: cred, scope: scope})
			}
			return next(c)
		}
	}
}

func resolve(c echo.Context, keys Keys, cred Credential, credErr error) (*storage.APIKey, error) {
	if credErr != nil {
		return nil, credErr
	}
	return keys.KeyBySecret(c.Request().Context(), cred.Secret)
}

// accept applies the surface's own check of the key and the route's scope.
// The surface's check comes first: a key of another partner is an unknown
// key to this one, not a forbidden one.
func accept(k *storage.APIKey, scope string, cred Credential) error {
	if cred.Check != nil {
		if err := cred.Check(k); err != nil {
			return err
		}
	}
	if scope != "" && !k.HasScope(scope) {
		return fault.New(fault.Forbidden, "the %s service is not configured for this API key", scope)
	}
	return nil
}

var errNoCredential = fault.New(fault.Unauthorized, "missing API key")

// NativeKey reads X-API-Key or "Authorization: Bearer <secret>".
func NativeKey(c echo.Context) (Credential, error) {
	if s := c.Request().Header.Get("X-API-Key"); s != "" {
		return Credential{Secret: s}, nil
	}
	if auth := c.Request().Header.Get(echo.HeaderAuthorization); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		if s := strings.TrimSpace(auth[7:]); s != "" {
			return Credential{Secret: s}, nil
		}
	}
	return Credential{}, errNoCredential
}

// SalsaToken reads Salsa Engage's authToken header.
func SalsaToken(c echo.Context) (Credential, error) {
	if s := c.Request().Header.Get("authToken"); s != "" {
		return Credential{Secret: s}, nil
	}
	return Credential{}, fault.New(fault.Unauthorized, "missing authToken header")
}

// AdminBasicOrKey reads an operator's key from HTTP Basic (the password is
// the secret, so a browser can log in; the user name is ignored) or from
// X-API-Key.
func AdminBasicOrKey(c echo.Context) (Credential, error) {
	if _, pass, ok := c.Request().BasicAuth(); ok && pass != "" {
		return Credential{Secret: pass}, nil
	}
	return NativeKey(c)
}

// VANBasic reads VAN's HTTP Basic credential: user = application name,
// password = "API_KEY|DBMODE" with DBMODE 0 (My Voters) or 1 (My Campaign).
// Both must match the key's registration.
func VANBasic(c echo.Context) (Credential, error) {
	app, pass, ok := c.Request().BasicAuth()
	if !ok {
		return Credential{}, fault.New(fault.Unauthorized, "HTTP Basic authentication required: applicationName and apiKey|dbMode")
	}
	secret, modeStr, found := strings.Cut(pass, "|")
	mode, err := strconv.Atoi(modeStr)
	if !found || secret == "" || err != nil || (mode != 0 && mode != 1) {
		return Credential{}, fault.New(fault.Unauthorized, "the password must be apiKey|dbMode with dbMode 0 or 1")
	}
	return Credential{Secret: secret, Check: func(k *storage.APIKey) error {
		if k.VANApp == nil || *k.VANApp != app || k.VANDBMode == nil || int(*k.VANDBMode) != mode {
			return fault.New(fault.Unauthorized, "invalid application name, API key or database mode")
		}
		return nil
	}}, nil
}

// maxCredentialBody bounds how much of a body is buffered to find Rocky's
// credentials in it: the largest Rocky body, a bulk batch (1,000 records of
// a few KiB by default), must fit.
const maxCredentialBody = 8 << 20

// RockyPartner reads Rocky's partner_id and partner_API_key from the query
// string or the body, JSON or form-encoded as Rails reads both (top level,
// or nested one level as in {"registration": {...}} or
// registration[partner_id]=7). The key must belong to that partner. The
// body is restored for the handler.
func RockyPartner(c echo.Context) (Credential, error) {
	id, secret := c.QueryParam("partner_id"), c.QueryParam("partner_API_key")
	if (id == "" || secret == "") && c.Request().Body != nil && c.Request().ContentLength != 0 {
		body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxCredentialBody+1))
		if err != nil {
			return Credential{}, err
		}
		if len(body) > maxCredentialBody {
			return Credential{}, fault.New(fault.Invalid, "request body too large")
		}
		c.Request().Body = io.NopCloser(bytes.NewReader(body))
		bid, bsecret := rockyBodyCredential(body)
		if mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType)); mt == echo.MIMEApplicationForm {
			bid, bsecret = rockyFormCredential(body)
		}
		if id == "" {
			id = bid
		}
		if secret == "" {
			secret = bsecret
		}
	}
	if id == "" || secret == "" {
		return Credential{}, fault.New(fault.Unauthorized, "Invalid Partner or API key")
	}
	pid, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return Credential{}, fault.New(fault.Unauthorized, "Invalid Partner or API key")
	}
	return Credential{Secret: secret, Check: func(k *storage.APIKey) error {
		if k.RockyPartnerID == nil || *k.RockyPartnerID != pid {
			return fault.New(fault.Unauthorized, "Invalid Partner or API key")
		}
		return nil
	}}, nil
}

func rockyBodyCredential(body []byte) (id, secret string) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return "", ""
	}
	look := func(m map[string]json.RawMessage) {
		if id == "" {
			id = jsonScalar(m["partner_id"])
		}
		if secret == "" {
			secret = jsonScalar(m["partner_API_key"])
		}
	}
	look(top)
	for _, v := range top {
		var nested map[string]json.RawMessage
		if json.Unmarshal(v, &nested) == nil {
			look(nested)
		}
	}
	return id, secret
}

// rockyFormCredential reads the credentials of a form body: partner_id, or
// one level down as a form nests them (registration[partner_id]).
func rockyFormCredential(body []byte) (id, secret string) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return "", ""
	}
	id, secret = values.Get("partner_id"), values.Get("partner_API_key")
	for name, v := range values {
		outer, inner, ok := strings.Cut(name, "[")
		if !ok || outer == "" || len(v) == 0 {
			continue
		}
		switch inner {
		case "partner_id]":
			if id == "" {
				id = v[0]
			}
		case "partner_API_key]":
			if secret == "" {
				secret = v[0]
			}
		}
	}
	return id, secret
}

// jsonScalar returns a JSON string or number as text ("" for anything else):
// clients send partner_id both ways.
func jsonScalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
