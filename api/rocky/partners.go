package rocky

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// CreatePartner answers POST partners.json: the new partner's id and its
// API key, which is shown only here.
func (h *Handler) CreatePartner(c echo.Context) error {
	in, err := decodeObject(c, "partner")
	if err != nil {
		return err
	}
	p, err := h.Service.Validator.NewPartner(in)
	if err != nil {
		return err
	}
	created, err := h.Service.Store.CreateRockyPartner(c.Request().Context(), p, h.BatchSize)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, map[string]any{
		"partner_id":      strconv.FormatInt(created.Partner.ID, 10),
		"partner_API_key": created.Key.Secret,
	})
}

func (h *Handler) partner(c echo.Context) (*storage.RockyPartner, error) {
	id, ok := pathID(c)
	if !ok {
		return nil, fault.New(fault.Unauthorized, "Invalid Partner or API key")
	}
	p, err := h.Service.Store.RockyPartner(c.Request().Context(), id)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.New(fault.Unauthorized, "Invalid Partner or API key")
	}
	return p, err
}

// GetPartner answers GET partners/{id}.json (partner key).
func (h *Handler) GetPartner(c echo.Context) error {
	if err := checkParams(c, "partner_id", "partner_API_key"); err != nil {
		return err
	}
	p, err := h.partner(c)
	if err != nil {
		return err
	}
	out := map[string]any{
		// Aliases Rocky also sends (its own names of the same fields).
		"organization": p.OrgName, "url": p.OrgURL, "privacy_url": p.OrgPrivacyURL, "name": p.ContactName,
		"phone": p.ContactPhone, "address": p.ContactAddress, "city": p.ContactCity,
		"state_abbrev": p.ContactState, "zip_code": p.ContactZIP,
		"org_name": p.OrgName, "org_URL": p.OrgURL, "org_privacy_url": p.OrgPrivacyURL,
		"contact_name": p.ContactName, "contact_email": p.ContactEmail, "contact_phone": p.ContactPhone,
		"contact_address": p.ContactAddress, "contact_city": p.ContactCity, "contact_state": p.ContactState,
		"contact_ZIP": p.ContactZIP, "logo_image_URL": p.LogoImageURL,
		"application_css_URL": p.ApplicationCSSURL, "registration_css_URL": p.RegistrationCSSURL,
		// "parnter_css_URL" is the spelling of Rocky's documentation; the correct one is sent too.
		"parnter_css_URL": p.PartnerCSSURL, "partner_css_URL": p.PartnerCSSURL,
		"finish_iframe_url": p.FinishIframeURL, "whitelabeled": p.Whitelabeled,
		"rtv_email_opt_in": p.RTVEmailOptIn, "partner_email_opt_in": p.PartnerEmailOptIn,
		"rtv_sms_opt_in": p.RTVSMSOptIn, "partner_sms_opt_in": p.PartnerSMSOptIn,
		"rtv_ask_email_opt_in": p.RTVEmailOptIn, "partner_ask_email_opt_in": p.PartnerEmailOptIn,
		"rtv_ask_sms_opt_in": p.RTVSMSOptIn, "partner_ask_sms_opt_in": p.PartnerSMSOptIn,
		"ask_for_volunteers": p.AskForVolunteers, "partner_ask_for_volunteers": p.PartnerAskForVolunteers,
		"external_tracking_snippet": p.ExternalTrackingSnippet, "registration_instructions_url": p.RegistrationInstructionsURL,
		"application_css_present": p.ApplicationCSSURL != "", "application_css_url": p.ApplicationCSSURL,
		"registration_css_present": p.RegistrationCSSURL != "", "registration_css_url": p.RegistrationCSSURL,
		"partner_css_present": p.PartnerCSSURL != "", "partner_css_url": p.PartnerCSSURL,
		"primary": p.IsPrimary,
	}
	for n, byLocale := range p.Questions() {
		for loc, q := range byLocale {
			out["survey_question_"+n+"_"+loc] = q
		}
	}
	return respond(c, http.StatusOK, out)
}

// PublicProfile answers GET partnerpublicprofiles/{id}.json (no key): the
// public subset and its alias fields.
func (h *Handler) PublicProfile(c echo.Context) error {
	if err := checkParams(c, "partner_id"); err != nil {
		return err
	}
	p, err := h.partner(c)
	if err != nil {
		return err
	}
	qs := p.Questions()
	q := func(n string) map[string]string {
		if qs[n] == nil {
			return map[string]string{}
		}
		return qs[n]
	}
	return respond(c, http.StatusOK, map[string]any{
		"org_name": p.OrgName, "org_URL": p.OrgURL, "org_privacy_url": p.OrgPrivacyURL,
		"logo_image_URL": p.LogoImageURL, "survey_question_1": q("1"), "survey_question_2": q("2"),
		"whitelabeled": p.Whitelabeled, "rtv_ask_email_opt_in": p.RTVEmailOptIn,
		"partner_ask_email_opt_in": p.PartnerEmailOptIn, "rtv_ask_sms_opt_in": p.RTVSMSOptIn,
		"partner_ask_sms_opt_in": p.PartnerSMSOptIn, "rtv_ask_volunteer": p.AskForVolunteers,
		"partner_ask_volunteer": p.PartnerAskForVolunteers,
		// Aliases Rocky documents beside the contact fields.
		"organization": p.OrgName, "url": p.OrgURL, "privacy_url": p.OrgPrivacyURL,
		"rtv_email_opt_in": p.RTVEmailOptIn, "partner_email_opt_in": p.PartnerEmailOptIn,
		"rtv_sms_opt_in": p.RTVSMSOptIn, "partner_sms_opt_in": p.PartnerSMSOptIn,
	})
}

// partnerInPath reads GET partners/{id}.json's credential: the id from the
// path, the key from partner_API_key.
func partnerInPath(c echo.Context) (middleware.Credential, error) {
	id, ok := pathID(c)
	secret := c.QueryParam("partner_API_key")
	if !ok || secret == "" {
		return middleware.Credential{}, fault.New(fault.Unauthorized, "Invalid Partner or API key")
	}
	return middleware.Credential{Secret: secret, Check: func(k *storage.APIKey) error {
		if k.RockyPartnerID == nil || *k.RockyPartnerID != id {
			return fault.New(fault.Unauthorized, "Invalid Partner or API key")
		}
		return nil
	}}, nil
}

// pathID parses ":id" with or without the ".json" suffix. Rocky's older
// form names the partner in the query instead: partners/partner.json?partner_id=7.
func pathID(c echo.Context) (int64, bool) {
	id := strings.TrimSuffix(c.Param("id"), ".json")
	if id == "partner" {
		id = c.QueryParam("partner_id")
	}
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0
}
