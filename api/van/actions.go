package van

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/storage"
)

// GetPhoneStats answers GET /v4/fileLoadingJobs/{jobId}/stats: status and
// statistics of a phone-loading (phonesFile) job, VAN's only kind with
// statistics.
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

// Folder is VAN's folder object. isApiWritable is Turnout's addition: only
// such folders take LoadSavedListFile lists.
type Folder struct {
	FolderID      int64  `json:"folderId"`
	Name          string `json:"name"`
	IsAPIWritable bool   `json:"isApiWritable"`
}

func folderOf(f storage.Folder) Folder {
	return Folder{FolderID: f.ID, Name: f.Name, IsAPIWritable: f.APIWritable}
}

// ListFolders answers GET /v4/folders: the folders shared with the key.
func (h *Handlers) ListFolders(c echo.Context) error {
	skip, top, err := paging(c)
	if err != nil {
		return err
	}
	fs, total, err := h.Store.FoldersOfKey(c.Request().Context(), middleware.Key(c).ID, skip, top)
	if err != nil {
		return err
	}
	p := Page[Folder]{Items: []Folder{}, Count: total}
	for _, f := range fs {
		p.Items = append(p.Items, folderOf(f))
	}
	p.NextPageLink = nextLink(c, skip, top, len(fs), total)
	return c.JSON(http.StatusOK, p)
}

// GetFolder answers GET /v4/folders/{folderId}; a folder not shared with
// the key is not found.
func (h *Handlers) GetFolder(c echo.Context) error {
	id, err := pathID(c, "folderId", "folder")
	if err != nil {
		return err
	}
	f, ok, err := h.Store.FolderOfKey(c.Request().Context(), id, middleware.Key(c).ID)
	if err != nil {
		return err
	}
	if !ok {
		return fault.New(fault.NotFound, "folder %d not found", id)
	}
	return c.JSON(http.StatusOK, folderOf(f))
}

// SavedList is VAN's saved list object; listCount is its member count.
type SavedList struct {
	SavedListID int64   `json:"savedListId"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	ListCount   int64   `json:"listCount"`
	FolderID    int64   `json:"folderId"`
}

func savedListOf(l storage.SavedList) SavedList {
	return SavedList{SavedListID: l.ID, Name: l.Name, Description: l.Description, ListCount: l.Members, FolderID: l.FolderID}
}

// ListSavedLists answers GET /v4/savedLists[?folderId=]: the lists in
// folders shared with the key, of its database mode.
func (h *Handlers) ListSavedLists(c echo.Context) error {
	skip, top, err := paging(c)
	if err != nil {
		return err
	}
	var folder *int64
	if s := c.QueryParam("folderId"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return fault.Validation(fault.FieldError{Field: "folderId", Code: fault.CodeInvalidValue, Message: "must be a positive integer"})
		}
		folder = &id
	}
	cl := caller(c)
	ls, total, err := h.Store.SavedListsOfKey(c.Request().Context(), cl.KeyID, cl.DBMode, folder, skip, top)
	if err != nil {
		return err
	}
	p := Page[SavedList]{Items: []SavedList{}, Count: total}
	for _, l := range ls {
		p.Items = append(p.Items, savedListOf(l))
	}
	p.NextPageLink = nextLink(c, skip, top, len(ls), total)
	return c.JSON(http.StatusOK, p)
}

// GetSavedList answers GET /v4/savedLists/{savedListId} with its member
// count.
func (h *Handlers) GetSavedList(c echo.Context) error {
	id, err := pathID(c, "savedListId", "saved list")
	if err != nil {
		return err
	}
	cl := caller(c)
	l, ok, err := h.Store.SavedListOfKey(c.Request().Context(), id, cl.KeyID, cl.DBMode)
	if err != nil {
		return err
	}
	if !ok {
		return fault.New(fault.NotFound, "saved list %d not found", id)
	}
	return c.JSON(http.StatusOK, savedListOf(l))
}
