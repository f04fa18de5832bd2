-- +goose Up
-- Operators cancel and retry jobs: who canceled a job and when, and a
-- history of each job's attempts and of the actions taken on it.
ALTER TABLE jobs
    ADD COLUMN canceled_by text,
    ADD COLUMN canceled_at timestamptz;

CREATE TABLE job_events (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  bigint      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL DEFAULT now(),
    -- canceled, retried, or attempt_failed (an attempt's error, kept when a
    -- retry clears the job's own).
    action  text        NOT NULL,
    -- Who acted: "key:NAME", "dashboard:NAME", "cli:USER"; empty for the
    -- system.
    actor   text        NOT NULL DEFAULT '',
    attempt integer     NOT NULL DEFAULT 0,
    -- A caller-safe message: an attempt's error, never personal data.
    detail  text
);
CREATE INDEX job_events_job ON job_events (job_id, id);
-- The job list pages newest first, by status or kind.
CREATE INDEX jobs_status_id ON jobs (status, id);

-- +goose Down
DROP INDEX jobs_status_id;
DROP TABLE job_events;
ALTER TABLE jobs
    DROP COLUMN canceled_at,
    DROP COLUMN canceled_by;
