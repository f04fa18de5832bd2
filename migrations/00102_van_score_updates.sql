-- +goose Up
-- A Score action's result. Its values (van_score_update_values) become the
-- people's current scores (van_person_scores) only when it is approved, in
-- the transaction that marks it Completed.
CREATE TABLE van_score_updates (
    id             bigint GENERATED ALWAYS AS IDENTITY (START WITH 5000) PRIMARY KEY,
    job_id         bigint      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    action_index   integer     NOT NULL,
    key_id         bigint      NOT NULL REFERENCES api_keys (id),
    db_mode        smallint    NOT NULL CHECK (db_mode IN (0, 1)),
    score_id       bigint      NOT NULL REFERENCES van_scores (id),
    load_status    text        NOT NULL CHECK (load_status IN ('PendingApproval', 'Approved', 'Disapproved', 'Canceled', 'Completed')),
    statistics     jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    date_processed timestamptz,
    -- A re-run of the same job action can never create a second update.
    UNIQUE (job_id, action_index)
);
CREATE INDEX van_score_updates_key ON van_score_updates (key_id, created_at);

-- The two bulk tables below carry no foreign keys on purpose: a per-row
-- RI trigger costs more than the COPY itself at a million rows. Their rows
-- are only written by set-based SQL that joins van_people and a checked
-- score update in the same statement, so the references hold by
-- construction.
CREATE TABLE van_score_update_values (
    score_update_id bigint NOT NULL,
    vanid           bigint NOT NULL,
    value           text -- NULL clears the person's score
);
-- One person appears once per update by construction (the insert is a
-- DISTINCT ON the person), so no unique index is maintained for a million
-- rows; updates' ids only grow, so a BRIN index finds an update's rows.
CREATE INDEX van_score_update_values_update ON van_score_update_values USING brin (score_update_id);

CREATE TABLE van_person_scores (
    db_mode         smallint    NOT NULL,
    vanid           bigint      NOT NULL,
    score_id        bigint      NOT NULL,
    value           text        NOT NULL,
    score_update_id bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (db_mode, vanid, score_id)
);

-- Listener deliveries (webhook and email) and each attempt, shown on the job.
CREATE TABLE van_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id       bigint      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE, -- the notify job
    load_job_id  bigint      NOT NULL REFERENCES van_file_loads (job_id) ON DELETE CASCADE,
    listener     integer     NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('URL', 'EMAIL')),
    target       text        NOT NULL, -- redacted URL or the email address
    webhook_id   text        NOT NULL, -- Standard Webhooks id, the same on every retry
    attempt      integer     NOT NULL,
    status_code  integer,
    ok           boolean     NOT NULL,
    error        text,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX van_deliveries_load ON van_deliveries (load_job_id, id);

-- +goose Down
DROP TABLE van_deliveries;
DROP TABLE van_person_scores;
DROP TABLE van_score_update_values;
DROP TABLE van_score_updates;
