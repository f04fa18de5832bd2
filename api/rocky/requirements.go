package rocky

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/jobs/registration"
)

// StateRequirements answers GET state_requirements.json.
func (h *Handler) StateRequirements(c echo.Context) error {
	if err := checkParams(c, "lang", "home_state_id", "home_zip_code", "date_of_birth", "partner_id"); err != nil {
		// Rocky answers an undefined parameter with {message, field_name}.
		return err
	}
	req, err := h.Service.Validator.Ref.StateRequirements(registration.RequirementsQuery{
		Lang: c.QueryParam("lang"), HomeStateID: c.QueryParam("home_state_id"),
		HomeZIPCode: c.QueryParam("home_zip_code"), DateOfBirth: c.QueryParam("date_of_birth"),
		PreRegistration: h.Service.Validator.PreRegistration,
	}, h.now())
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, req)
}

// GRegistrationStates answers GET gregistrationstates.json.
func (h *Handler) GRegistrationStates(c echo.Context) error {
	if err := checkParams(c); err != nil {
		return err
	}
	states := []map[string]string{}
	for _, s := range h.Service.Validator.Ref.GRegistrationStates() {
		states = append(states, map[string]string{"name": s.Abbreviation, "url": *s.OnlineRegistrationURL})
	}
	return respond(c, http.StatusOK, map[string]any{"states": states})
}
