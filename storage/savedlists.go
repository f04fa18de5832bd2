package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Folder is a folder of saved lists.
type Folder struct {
	ID          int64
	Name        string
	APIWritable bool
	KeyIDs      []int64 // keys it is shared with
}

// SavedList is a saved list and its member count.
type SavedList struct {
	ID          int64
	FolderID    int64
	DBMode      int16
	KeyID       int64
	Name        string
	Description *string
	Members     int64
}

// folderRow and folderKeyRow are the GORM models of a folder and of its
// sharing with one key.
type folderRow struct {
	ID          int64
	Name        string
	APIWritable bool `gorm:"column:api_writable"`
}

func (folderRow) TableName() string { return "van_folders" }

type folderKeyRow struct {
	FolderID int64
	KeyID    int64
}

func (folderKeyRow) TableName() string { return "van_folder_keys" }

// CreateFolder creates a folder shared with keyIDs, all in one transaction.
func (s *Store) CreateFolder(ctx context.Context, name string, apiWritable bool, keyIDs []int64) (*Folder, error) {
	row := folderRow{Name: name, APIWritable: apiWritable}
	err := s.orm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("create folder: %w", err)
		}
		if len(keyIDs) == 0 {
			return nil
		}
		shares := make([]folderKeyRow, len(keyIDs))
		for i, k := range keyIDs {
			shares[i] = folderKeyRow{FolderID: row.ID, KeyID: k}
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&shares).Error; err != nil {
			return fmt.Errorf("share folder with keys %v: %w", keyIDs, err)
		}
		return nil
	})
	return &Folder{ID: row.ID, Name: name, APIWritable: apiWritable, KeyIDs: keyIDs}, err
}

// FolderOfKey returns folder id if it is shared with keyID; otherwise
// (also when it does not exist) ok is false.
func (ex *executor) FolderOfKey(ctx context.Context, id, keyID int64) (f Folder, ok bool, err error) {
	err = ex.q.QueryRow(ctx, `SELECT f.id, f.name, f.api_writable FROM van_folders f
		JOIN van_folder_keys k ON k.folder_id = f.id AND k.key_id = $2 WHERE f.id = $1`, id, keyID).Scan(&f.ID, &f.Name, &f.APIWritable)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, false, nil
	}
	return f, err == nil, err
}

// FoldersOfKey returns a page of the folders shared with keyID and their
// total.
func (ex *executor) FoldersOfKey(ctx context.Context, keyID int64, skip, top int) ([]Folder, int64, error) {
	var total int64
	if err := ex.q.QueryRow(ctx, `SELECT count(*) FROM van_folder_keys WHERE key_id = $1`, keyID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := ex.q.Query(ctx, `SELECT f.id, f.name, f.api_writable FROM van_folders f
		JOIN van_folder_keys k ON k.folder_id = f.id AND k.key_id = $1 ORDER BY f.id OFFSET $2 LIMIT $3`, keyID, skip, top)
	if err != nil {
		return nil, 0, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Folder, error) {
		var f Folder
		err := r.Scan(&f.ID, &f.Name, &f.APIWritable)
		return f, err
	})
	return out, total, err
}

const savedListCols = `l.id, l.folder_id, l.db_mode, l.key_id, l.name, l.description,
	(SELECT count(*) FROM van_saved_list_members m WHERE m.list_id = l.id)`

func scanSavedList(r pgx.Row) (SavedList, error) {
	var l SavedList
	err := r.Scan(&l.ID, &l.FolderID, &l.DBMode, &l.KeyID, &l.Name, &l.Description, &l.Members)
	return l, err
}

// SavedListOfKey returns list id when it is in a folder shared with keyID
// and of the key's database mode; otherwise ok is false.
func (ex *executor) SavedListOfKey(ctx context.Context, id, keyID int64, dbMode int16) (l SavedList, ok bool, err error) {
	l, err = scanSavedList(ex.q.QueryRow(ctx, `SELECT `+savedListCols+` FROM van_saved_lists l
		JOIN van_folder_keys k ON k.folder_id = l.folder_id AND k.key_id = $2
		WHERE l.id = $1 AND l.db_mode = $3`, id, keyID, dbMode))
	if errors.Is(err, pgx.ErrNoRows) {
		return l, false, nil
	}
	return l, err == nil, err
}

// SavedListsOfKey returns a page of the lists keyID may see (in folders
// shared with it, of its database mode), optionally of one folder.
func (ex *executor) SavedListsOfKey(ctx context.Context, keyID int64, dbMode int16, folderID *int64, skip, top int) ([]SavedList, int64, error) {
	const where = ` FROM van_saved_lists l JOIN van_folder_keys k ON k.folder_id = l.folder_id AND k.key_id = $1
		WHERE l.db_mode = $2 AND ($3::bigint IS NULL OR l.folder_id = $3)`
	var total int64
	if err := ex.q.QueryRow(ctx, `SELECT count(*)`+where, keyID, dbMode, folderID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := ex.q.Query(ctx, `SELECT `+savedListCols+where+` ORDER BY l.id OFFSET $4 LIMIT $5`, keyID, dbMode, folderID, skip, top)
	if err != nil {
		return nil, 0, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SavedList, error) { return scanSavedList(r) })
	return out, total, err
}

// SavedListNamed returns the id of the list named name (case-insensitive)
// in folderID, or 0.
func (ex *executor) SavedListNamed(ctx context.Context, folderID int64, name string) (int64, error) {
	var id int64
	err := ex.q.QueryRow(ctx, `SELECT id FROM van_saved_lists WHERE folder_id = $1 AND lower(name) = lower($2)`, folderID, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return id, err
}
