-- +goose Up
-- Phones of VAN people, loaded by phonesFile actions (VAN's phonesFile action).
-- One row per (person, number): a load upserts. phone is the 10-digit NANP
-- number (a leading 1 is dropped, so 16125550100 and 6125550100 are one
-- phone). phone_type, phone_source and opt_in_status hold the codes of the
-- phoneType, phoneSource and phoneOptInStatus code lists (migration 00200).
-- sonar_score is kept only for My Voters (db_mode 0); VAN scores phone
-- quality in voter file databases only.
CREATE TABLE van_phones (
    db_mode       smallint    NOT NULL CHECK (db_mode IN (0, 1)),
    vanid         bigint      NOT NULL,
    phone         text        NOT NULL CHECK (phone ~ '^[2-9][0-8][0-9][2-9][0-9]{6}$'),
    phone_type    text        NOT NULL,
    phone_source  text        NOT NULL,
    preferred     boolean     NOT NULL DEFAULT false,
    ext           text        CHECK (char_length(ext) <= 6),
    opt_in_status text        NOT NULL,
    sonar_score   smallint    CHECK (sonar_score IS NULL OR (sonar_score BETWEEN 1 AND 5 AND db_mode = 0)),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (db_mode, vanid, phone)
);
-- VAN: "Only one phone per contact may be designated as preferred."
CREATE UNIQUE INDEX van_phones_preferred ON van_phones (db_mode, vanid) WHERE preferred;

-- +goose Down
DROP TABLE van_phones;
