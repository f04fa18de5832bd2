-- +goose Up
-- People of a VAN-compatible database. VAN keeps My Voters (db_mode 0, the
-- voter file) and My Campaign (db_mode 1) apart; so does Turnout: a key
-- only ever matches people of its own database mode.
CREATE TABLE van_people (
    db_mode       smallint    NOT NULL CHECK (db_mode IN (0, 1)),
    vanid         bigint      NOT NULL CHECK (vanid > 0),
    dwid          bigint,
    statefileid   text,
    first_name    text,
    middle_name   text,
    last_name     text,
    date_of_birth date,
    address       text,
    city          text,
    state         text,
    zip           text,
    email         text,
    phone         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (db_mode, vanid)
);
CREATE UNIQUE INDEX van_people_dwid ON van_people (db_mode, dwid) WHERE dwid IS NOT NULL;
CREATE UNIQUE INDEX van_people_statefileid ON van_people (db_mode, statefileid) WHERE statefileid IS NOT NULL;

-- Score definitions: a range score has min/max, a value score a list of
-- allowed shortName values (van_score_values).
CREATE TABLE van_scores (
    id          bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000) PRIMARY KEY,
    name        text        NOT NULL CHECK (name <> ''),
    short_name  text        NOT NULL,
    description text,
    score_type  text        NOT NULL CHECK (score_type IN ('range', 'value')),
    min_value   numeric,
    max_value   numeric,
    state       text        NOT NULL DEFAULT 'Active',
    origin      text        NOT NULL DEFAULT 'Turnout',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((score_type = 'range') = (min_value IS NOT NULL AND max_value IS NOT NULL)),
    CHECK (min_value IS NULL OR min_value < max_value)
);

CREATE TABLE van_score_values (
    score_id   bigint NOT NULL REFERENCES van_scores (id) ON DELETE CASCADE,
    short_name text   NOT NULL CHECK (short_name <> ''),
    PRIMARY KEY (score_id, short_name)
);

-- +goose Down
DROP TABLE van_score_values;
DROP TABLE van_scores;
DROP TABLE van_people;
