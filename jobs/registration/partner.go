package registration

import (
	"encoding/json"
	"net/mail"
	"net/url"
	"sort"
	"strings"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// partnerFields are the fields of POST partners, besides the
// survey_question_N_<locale> family.
var partnerFields = []string{
	"org_name", "org_URL", "org_privacy_url", "contact_name", "contact_email", "contact_phone",
	"contact_address", "contact_city", "contact_state", "contact_ZIP", "logo_image_URL",
	"partner_ask_volunteer",
}

// NewPartner validates a partner creation request and returns the row to
// insert. Errors are in Rocky's shapes: a syntax error for an unknown field,
// a field error otherwise.
func (v *Validator) NewPartner(in Input) (*storage.RockyPartner, error) {
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	questions := map[string]map[string]string{}
	c := &checker{in: in, lang: "en", failed: map[string]bool{}}
	for _, k := range names {
		if n, loc, ok := surveyKey(k); ok {
			if q := c.str(k, false); q != "" {
				if questions[n] == nil {
					questions[n] = map[string]string{}
				}
				questions[n][loc] = q
			}
			continue
		}
		if !contains(partnerFields, k) && k != "partner_API_key" && k != "callback" {
			return nil, fault.Validation(fault.FieldError{Field: k, Code: fault.CodeInvalidValue, Message: InvalidParameterType})
		}
	}
	// Required: the fields Rocky's partner record requires (organisation,
	// its web site, the contact's name, phone and postal address), and the
	// contact e-mail, which Rocky's API documentation does not mark optional.
	p := &storage.RockyPartner{RTVEmailOptIn: true}
	p.OrgName = c.str("org_name", true)
	p.OrgURL = c.url("org_URL", true)
	p.OrgPrivacyURL = c.url("org_privacy_url", false)
	p.ContactName = c.str("contact_name", true)
	if e := c.str("contact_email", true); e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			c.fail("contact_email", msgEmail)
		}
		p.ContactEmail = e
	}
	if ph := c.str("contact_phone", true); ph != "" {
		if d := digitsOnly(ph); len(d) != 10 {
			c.fail("contact_phone", msgPhone)
		} else {
			p.ContactPhone = d
		}
	}
	p.ContactAddress = c.str("contact_address", true)
	p.ContactCity = c.str("contact_city", true)
	p.ContactState, _ = c.stateCode(v.Ref, "contact_state", true)
	p.ContactZIP = c.zip("contact_ZIP", true)
	p.LogoImageURL = c.url("logo_image_URL", false)
	p.PartnerAskForVolunteers = c.boolean("partner_ask_volunteer", false)
	if len(c.errs) > 0 {
		return nil, fault.Validation(c.errs...)
	}
	p.SurveyQuestions, _ = json.Marshal(questions)
	return p, nil
}

// surveyKey splits "survey_question_1_en" into "1" and "en".
func surveyKey(k string) (n, locale string, ok bool) {
	rest, found := strings.CutPrefix(k, "survey_question_")
	if !found || len(rest) < 3 || (rest[0] != '1' && rest[0] != '2') || rest[1] != '_' {
		return "", "", false
	}
	return rest[:1], rest[2:], true
}

func (c *checker) url(field string, required bool) string {
	v := c.str(field, required)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.fail(field, msgURL)
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
