-- +goose Up
CREATE TABLE api_keys (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text        NOT NULL CHECK (name <> ''),
    -- SHA-256 of the secret. Secrets are 256 random bits, so a fast hash is
    -- enough (no dictionary to guess from) and lookup stays one index probe.
    secret_hash      bytea       NOT NULL UNIQUE,
    secret_hint      text        NOT NULL, -- last characters, to tell keys apart in listings
    scopes           text[]      NOT NULL CHECK (scopes <@ ARRAY['van','rocky','targets','metrics','admin']::text[]),
    rate_limit       integer     NOT NULL DEFAULT 300 CHECK (rate_limit > 0),
    max_batch_size   integer     NOT NULL DEFAULT 20 CHECK (max_batch_size > 0),
    may_auto_approve boolean     NOT NULL DEFAULT false,
    van_app          text,
    van_db_mode      smallint    CHECK (van_db_mode IN (0, 1)),
    rocky_partner_id bigint,
    -- Standard Webhooks signing secret; kept readable because signing needs it.
    webhook_secret   text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz,
    CHECK ((van_app IS NULL) = (van_db_mode IS NULL))
);
CREATE INDEX api_keys_van ON api_keys (van_app) WHERE van_app IS NOT NULL;
CREATE INDEX api_keys_partner ON api_keys (rocky_partner_id) WHERE rocky_partner_id IS NOT NULL;

CREATE TABLE jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text        NOT NULL,
    queue            text        NOT NULL,
    status           text        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'retrying', 'succeeded', 'failed', 'canceled')),
    key_id           bigint      REFERENCES api_keys (id),
    params           jsonb       NOT NULL DEFAULT '{}',
    result           jsonb,
    progress_total   bigint      NOT NULL DEFAULT 0,
    progress_done    bigint      NOT NULL DEFAULT 0,
    progress_failed  bigint      NOT NULL DEFAULT 0,
    error            text,
    attempts         integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    -- Touched by the worker while a job runs; the reconciler only re-enqueues
    -- a running job whose heartbeat has gone stale.
    heartbeat_at     timestamptz
);
CREATE INDEX jobs_unfinished ON jobs (updated_at) WHERE status IN ('queued', 'running', 'retrying');
CREATE INDEX jobs_key ON jobs (key_id, id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- +goose Down
DROP TABLE jobs;
DROP TABLE api_keys;
