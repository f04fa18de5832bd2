-- +goose Up
-- How many file loads of the key run at once across all workers; NULL
-- takes the deployment's default (TURNOUT_KEY_FILELOAD_CONCURRENCY).
ALTER TABLE api_keys ADD COLUMN fileload_concurrency integer CHECK (fileload_concurrency > 0);

-- +goose Down
ALTER TABLE api_keys DROP COLUMN fileload_concurrency;
