package van

import (
	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/storage"
)

// Paths are the paths the surface owns: below them, a path or method no
// route has is answered with RenderError.
var Paths = []string{root}

// root is where the routes are.
const root = "/v4"

// Deps are what the surface needs.
type Deps struct {
	Guards   middleware.Guards
	Handlers *Handlers
}

// Routes mounts the surface on g, a group at the root answering errors
// with RenderError. Every route takes a key with the van scope (VAN's
// HTTP Basic credential) and counts against its call rate, except an
// export's download URL.
func Routes(g *middleware.Group, d Deps) {
	h := d.Handlers
	v4 := g.Group(root, d.Guards.Timeout,
		middleware.Authenticate(d.Guards.Keys, storage.ScopeVAN, middleware.VANBasic), d.Guards.Limiter.Middleware())
	v4.POST("/fileLoadingJobs", h.CreateFileLoadingJob, middleware.Resource("fileLoadingJobCreate"))
	v4.GET("/fileLoadingJobs/:jobId", h.GetFileLoadingJob, middleware.Resource("fileLoadingJobRead"))
	v4.GET("/fileLoadingJobs/:jobId/errors", h.GetErrorFile, middleware.Resource("fileLoadingJobRead"))
	v4.GET("/fileLoadingJobs/:jobId/stats", h.GetPhoneStats, middleware.Resource("fileLoadingJobRead"))
	v4.GET("/folders", h.ListFolders, middleware.Resource("folderRead"))
	v4.GET("/folders/:folderId", h.GetFolder, middleware.Resource("folderRead"))
	v4.GET("/savedLists", h.ListSavedLists, middleware.Resource("savedListRead"))
	v4.GET("/savedLists/:savedListId", h.GetSavedList, middleware.Resource("savedListRead"))
	v4.POST("/exportJobs", h.CreateExportJob, middleware.Resource("exportJobCreate"))
	v4.GET("/exportJobs/:exportJobId", h.GetExportJob, middleware.Resource("exportJobRead"))
	v4.GET("/exportJobTypes", h.ListExportJobTypes, middleware.Resource("exportJobTypeRead"))
	v4.GET("/apiKeyProfiles", h.ListAPIKeyProfiles, middleware.Resource("apiKeyProfileRead"))
	v4.GET("/scores", h.ListScores, middleware.Resource("scoreRead"))
	v4.GET("/scores/:scoreId", h.GetScore, middleware.Resource("scoreRead"))
	v4.GET("/scoreUpdates", h.ListScoreUpdates, middleware.Resource("scoreUpdateRead"))
	v4.GET("/scoreUpdates/:scoreUpdateId", h.GetScoreUpdate, middleware.Resource("scoreUpdateRead"))
	v4.PATCH("/scoreUpdates/:scoreUpdateId", h.PatchScoreUpdate, middleware.Resource("scoreUpdateWrite"))

	// An export's downloadUrl needs no credentials (clients fetch it as a
	// plain URL) and streams without the request timeout.
	download := []echo.MiddlewareFunc{middleware.AuthenticateIfPresent(d.Guards.Keys, middleware.VANBasic),
		middleware.Resource("exportJobDownload")}
	if public := d.Guards.PublicLimit(); public != nil {
		download = append(download, public)
	}
	g.GET(root+"/exportJobs/:exportJobId/download/:file", h.DownloadExport, download...)
}
