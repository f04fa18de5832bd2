-- +goose Up
-- Rocky API v4 registrant reports ("reports"): one row per
-- requested report; the CSV itself lives in the blob store under blob_key.
CREATE TABLE registrant_reports (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner_id     bigint      NOT NULL REFERENCES rocky_partners (id),
    job_id         bigint      REFERENCES jobs (id),
    -- '' (the standard registrants CSV) or 'extended'.
    report_type    text        NOT NULL DEFAULT '' CHECK (report_type IN ('', 'extended')),
    filter_since   timestamptz,
    filter_before  timestamptz,
    -- Personal data: cleared when the report expires.
    filter_email   text,
    -- expired: the retention passed and the file is (being) deleted.
    status         text        NOT NULL DEFAULT 'queued'
                               CHECK (status IN ('queued', 'building', 'complete', 'failed', 'expired')),
    record_count   bigint      NOT NULL DEFAULT 0 CHECK (record_count >= 0),
    current_index  bigint      NOT NULL DEFAULT 0 CHECK (current_index >= 0),
    -- Set while a file may exist; NULL once the sweep deleted it.
    blob_key       text,
    bytes          bigint,
    error          text,
    expires_at     timestamptz,
    completed_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registrant_reports_partner ON registrant_reports (partner_id, id);
-- The retention sweep's work list.
CREATE INDEX registrant_reports_sweep ON registrant_reports (expires_at)
    WHERE blob_key IS NOT NULL;

-- A CSV cell that a spreadsheet will not run as a formula (OWASP "CSV
-- injection"): text starting with = + - @ TAB or CR gets a leading single
-- quote. Empty text becomes NULL, which COPY ... CSV writes as an empty,
-- unquoted cell. IMMUTABLE and a single expression, so the planner inlines it.
-- +goose StatementBegin
CREATE FUNCTION turnout_csv_cell(v text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN v IS NULL OR v = '' THEN NULL
        WHEN left(v, 1) IN ('=', '+', '-', '@', E'\t', E'\r') THEN '''' || v
        ELSE v
    END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION turnout_csv_cell(text);
DROP TABLE registrant_reports;
