package middleware

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
)

// FuzzCredentialExtractors feeds arbitrary headers and bodies to every
// surface's credential reader: each must return a credential or an
// Unauthorized/Invalid fault, never panic, and leave the body readable.
func FuzzCredentialExtractors(f *testing.F) {
	f.Add("app", "trn_x|0", `{"partner_id":"1","partner_API_key":"trn_x"}`, "trn_x")
	f.Add("", "|", `{"registration":{"partner_id":12,"partner_API_key":"k"}}`, "")
	f.Add("a:b", "trn|2|3", `[]`, "Bearer")
	f.Add("\x00", "\xff\xfe", `{"partner_id":1e400}`, "bearer  x")
	f.Add("app", "x|", `{"a":{"partner_id":null}}`, strings.Repeat("k", 300))
	f.Add("app", "|0", `{}`, "Bearer   ")
	f.Add("", "", "partner_id=1&registration[partner_API_key]=k", "")
	f.Add("", "", "registration[partner_id]=%zz&partner_API_key=", "")
	e := echo.New()
	f.Fuzz(func(t *testing.T, user, pass, body, token string) {
		req := httptest.NewRequest(http.MethodPost, "/?partner_id=&partner_API_key=", strings.NewReader(body))
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		req.Header.Set("authToken", token)
		req.Header.Set("X-API-Key", token)
		for name, extract := range map[string]Extractor{
			"van": VANBasic, "rocky": RockyPartner, "salsa": SalsaToken, "native": NativeKey, "admin": AdminBasicOrKey,
		} {
			c := e.NewContext(req, httptest.NewRecorder())
			cred, err := extract(c)
			if err != nil {
				k := fault.KindOf(err)
				if k != fault.Unauthorized && k != fault.Invalid {
					t.Fatalf("%s: error of kind %s: %v", name, k, err)
				}
				continue
			}
			if cred.Secret == "" {
				t.Fatalf("%s: empty secret accepted", name)
			}
		}
		// Rocky reads a form body's credentials too.
		form := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		form.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
		cred, err := RockyPartner(e.NewContext(form, httptest.NewRecorder()))
		if err != nil && fault.KindOf(err) != fault.Unauthorized && fault.KindOf(err) != fault.Invalid {
			t.Fatalf("rocky form: error of kind %s: %v", fault.KindOf(err), err)
		}
		if err == nil && cred.Secret == "" {
			t.Fatal("rocky form: empty secret accepted")
		}
	})
}
