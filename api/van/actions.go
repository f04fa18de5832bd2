package van

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/jobs/fileload"
)

// registerActions mounts the routes of the actions other than Score
// (issue 4): phone-load statistics, folders and saved lists.
func (h *Handlers) registerActions(g *echo.Group) {
	g.GET("/fileLoadingJobs/:jobId/stats", h.GetPhoneStats, middleware.Resource("fileLoadingJobRead"))
}

// GetPhoneStats answers GET /v4/fileLoadingJobs/{jobId}/stats: status and
// statistics of a phone-loading (phonesFile) job, VAN's only kind with
// statistics (van-notes.md).
func (h *Handlers) GetPhoneStats(c echo.Context) error {
	id, err := pathID(c, "jobId", "file loading job")
	if err != nil {
		return err
	}
	v, err := fileload.PhoneStats(c.Request().Context(), h.Store, id, middleware.Key(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}
