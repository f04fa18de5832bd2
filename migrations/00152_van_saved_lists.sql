-- +goose Up
-- Folders and saved lists (VAN's LoadSavedListFile action). A
-- folder is shared with API keys explicitly and only an API-writable one
-- takes loaded lists. A saved list belongs to one database mode (its
-- members are people of that mode) and to the key that created it, the
-- only key that may overwrite it. Names are unique within a folder,
-- compared case-insensitively.
CREATE TABLE van_folders (
    id           bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000) PRIMARY KEY,
    name         text        NOT NULL CHECK (name <> '' AND char_length(name) <= 100),
    api_writable boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE van_folder_keys (
    folder_id bigint NOT NULL REFERENCES van_folders (id) ON DELETE CASCADE,
    key_id    bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    PRIMARY KEY (folder_id, key_id)
);
CREATE INDEX van_folder_keys_key ON van_folder_keys (key_id);

CREATE TABLE van_saved_lists (
    id          bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000) PRIMARY KEY,
    folder_id   bigint      NOT NULL REFERENCES van_folders (id),
    db_mode     smallint    NOT NULL CHECK (db_mode IN (0, 1)),
    key_id      bigint      NOT NULL REFERENCES api_keys (id),
    name        text        NOT NULL CHECK (name <> '' AND char_length(name) < 50),
    description text        CHECK (char_length(description) < 250),
    load_job_id bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX van_saved_lists_name ON van_saved_lists (folder_id, lower(name));

CREATE TABLE van_saved_list_members (
    list_id bigint NOT NULL REFERENCES van_saved_lists (id) ON DELETE CASCADE,
    vanid   bigint NOT NULL,
    PRIMARY KEY (list_id, vanid)
);

-- +goose Down
DROP TABLE van_saved_list_members;
DROP TABLE van_saved_lists;
DROP TABLE van_folder_keys;
DROP TABLE van_folders;
