-- +goose Up
-- One row per fileLoadingJobs job, beside its jobs row. request is the
-- client's request with sourceUrl and listener URLs already redacted (it is what GET renders);
-- source_url and listeners keep the real URLs, credentials included, because
-- the worker needs them; it is never rendered, logged or put in Redis.
CREATE TABLE van_file_loads (
    job_id         bigint      PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    key_id         bigint      NOT NULL REFERENCES api_keys (id),
    db_mode        smallint    NOT NULL CHECK (db_mode IN (0, 1)),
    description    text        NOT NULL DEFAULT '',
    request        jsonb       NOT NULL,
    source_url     text        NOT NULL,
    listeners      jsonb       NOT NULL DEFAULT '[]', -- unredacted, for the notifier only
    rows_read      bigint      NOT NULL DEFAULT 0,
    error_count    bigint      NOT NULL DEFAULT 0,
    error_file_key text,
    message        text,
    -- set once, guarded, so a re-run load never notifies twice
    notify_job_id  bigint,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX van_file_loads_key ON van_file_loads (key_id, job_id);

-- Per-action outcome, written in the same transaction that applies the
-- action, so its presence means "applied" (a retried job skips it).
CREATE TABLE van_file_load_actions (
    job_id       bigint  NOT NULL REFERENCES van_file_loads (job_id) ON DELETE CASCADE,
    action_index integer NOT NULL CHECK (action_index >= 0),
    action_type  text    NOT NULL,
    rows_read    bigint  NOT NULL,
    rows_valid   bigint  NOT NULL,
    rows_invalid bigint  NOT NULL,
    matched      bigint  NOT NULL,
    unmatched    bigint  NOT NULL,
    result       jsonb   NOT NULL DEFAULT '{}',
    PRIMARY KEY (job_id, action_index)
);

-- The first rows' errors (the full list is the error file in the blob
-- store), queryable per job. line is the 1-based physical record number in
-- the file, header included; action_index is NULL for errors of the row
-- itself (bad quoting, wrong field count).
CREATE TABLE van_file_load_errors (
    job_id       bigint  NOT NULL REFERENCES van_file_loads (job_id) ON DELETE CASCADE,
    seq          integer NOT NULL,
    line         bigint  NOT NULL,
    action_index integer,
    column_name  text,
    message      text    NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- +goose Down
DROP TABLE van_file_load_errors;
DROP TABLE van_file_load_actions;
DROP TABLE van_file_loads;
