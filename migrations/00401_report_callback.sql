-- +goose Up
-- The callback_url extension: a report may name a URL that gets one
-- signed webhook (Standard Webhooks, the partner key's secret) when the
-- report is complete or failed for good.
ALTER TABLE registrant_reports
    -- The key that requested the report: its webhook secret signs the callback.
    ADD COLUMN key_id          bigint REFERENCES api_keys (id),
    -- Caller-supplied; may hold credentials, so it is only ever shown redacted.
    ADD COLUMN callback_url    text,
    -- The delivery job; set once, in the transaction that makes the report
    -- complete or failed, so a retried build cannot create a second one.
    ADD COLUMN callback_job_id bigint REFERENCES jobs (id);

-- Every delivery attempt of a report's callback, shown in its status.
CREATE TABLE report_callback_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id    bigint      NOT NULL REFERENCES registrant_reports (id) ON DELETE CASCADE,
    job_id       bigint      NOT NULL REFERENCES jobs (id),
    webhook_id   text        NOT NULL,
    attempt      integer     NOT NULL,
    status_code  integer,
    ok           boolean     NOT NULL,
    error        text,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_callback_deliveries_report ON report_callback_deliveries (report_id, id);

-- +goose Down
DROP TABLE report_callback_deliveries;
ALTER TABLE registrant_reports
    DROP COLUMN callback_job_id,
    DROP COLUMN callback_url,
    DROP COLUMN key_id;
