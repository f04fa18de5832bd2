-- +goose Up
-- A warning is a note about a row that was loaded, but not exactly as the
-- file gave it (a value replaced by its default, a preferred mark dropped).
-- Warnings sit beside the row errors, in file order, and are counted apart:
-- error_count stays the number of row errors.
ALTER TABLE van_file_load_errors ADD COLUMN warning boolean NOT NULL DEFAULT false;
ALTER TABLE van_file_loads ADD COLUMN warning_count bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE van_file_loads DROP COLUMN warning_count;
ALTER TABLE van_file_load_errors DROP COLUMN warning;
