-- +goose Up
-- VAN export jobs: a saved list's people written as CSV to the blob store
-- by a job on queue reports. The job row (jobs) carries the lifecycle; this
-- row carries what VAN's export job object shows and where the file is.
CREATE TABLE van_export_jobs (
    job_id         bigint      PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    -- VAN's exportJobGuid; also part of what the download URL signs.
    guid           uuid        NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    key_id         bigint      NOT NULL REFERENCES api_keys (id),
    -- The list as it is when the job runs (no foreign key: the export's
    -- record outlives a list that is removed later).
    saved_list_id  bigint      NOT NULL,
    db_mode        smallint    NOT NULL CHECK (db_mode IN (0, 1)),
    export_type    integer     NOT NULL,
    -- Caller-supplied; may hold credentials, so it is only shown redacted.
    webhook_url    text,
    record_count   bigint      CHECK (record_count >= 0),
    bytes          bigint,
    -- Set while the file may exist; NULL once the retention sweep deleted it.
    blob_key       text,
    completed_at   timestamptz,
    expires_at     timestamptz,
    -- Set when the export failed for good: VAN's errorCode.
    error_code     text,
    -- The webhook delivery job; set once, in the transaction that settles
    -- the export, so a retried build cannot create a second one.
    webhook_job_id bigint      REFERENCES jobs (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (completed_at IS NULL OR error_code IS NULL)
);
CREATE INDEX van_export_jobs_key ON van_export_jobs (key_id, job_id);
-- The retention sweep's work list.
CREATE INDEX van_export_jobs_sweep ON van_export_jobs (expires_at) WHERE blob_key IS NOT NULL;

-- +goose Down
DROP TABLE van_export_jobs;
