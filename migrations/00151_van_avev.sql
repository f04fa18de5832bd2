-- +goose Up
-- Absentee and early vote records loaded by AVEVDataFile actions (VAN's
-- AVEVDataFile action): one row per person, replaced whole by each load that
-- names the person (a blank cell clears its field). The *_id columns hold
-- codes of the ballot code lists (migration 00200) that were active when
-- the row was loaded; party is a code of the party list.
CREATE TABLE van_avev (
    db_mode                      smallint    NOT NULL CHECK (db_mode IN (0, 1)),
    vanid                        bigint      NOT NULL,
    request_received             date,
    ballot_mailed                date,
    ballot_received              date,
    early_voted                  date,
    ballot_party                 text        CHECK (char_length(ballot_party) BETWEEN 1 AND 2),
    ballot_cancelled             date,
    application_mailed           date,
    gotv_voted                   date,
    date_application_received    date,
    ballot_return_status_id      integer,
    ballot_type_id               integer,
    ballot_request_type_id       integer,
    ballot_address1              text        CHECK (char_length(ballot_address1) <= 40),
    ballot_address2              text        CHECK (char_length(ballot_address2) <= 40),
    ballot_address3              text        CHECK (char_length(ballot_address3) <= 40),
    ballot_city                  text        CHECK (char_length(ballot_city) <= 25),
    ballot_state                 text        CHECK (ballot_state ~ '^[A-Z]{2}$'),
    ballot_zip9                  text        CHECK (ballot_zip9 ~ '^[0-9]{5}(-?[0-9]{4})?$'),
    ballot_country               text        CHECK (ballot_country ~ '^[A-Z]{2}$'),
    ballot_reissued              date,
    ballot_rejection_reason_id   integer,
    ballot_application_requested date,
    ballot_rejected              date,
    load_job_id                  bigint      NOT NULL,
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (db_mode, vanid)
);

-- +goose Down
DROP TABLE van_avev;
