-- 0001: the schema version history and one row per shadow run (contracts §6).
-- Times are UTC text in a fixed-width form (2026-11-24T02:00:00.000000Z) so
-- that they sort and compare as strings.

CREATE TABLE schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

CREATE TABLE runs (
    id                   INTEGER PRIMARY KEY,
    run_id               TEXT    NOT NULL UNIQUE,       -- orders/2026-11-24, orders/2026-11-24#2
    dataset              TEXT    NOT NULL,
    night                TEXT    NOT NULL,              -- scheduled date, or the start instant of an ad-hoc run
    scheduled            INTEGER NOT NULL CHECK (scheduled IN (0, 1)),
    attempt              INTEGER NOT NULL CHECK (attempt >= 1),
    superseded           INTEGER NOT NULL DEFAULT 0 CHECK (superseded IN (0, 1)),
    status               TEXT    NOT NULL CHECK (status IN ('running', 'clean', 'differs', 'failed', 'aborted')),
    started_at           TEXT    NOT NULL,
    finished_at          TEXT,
    legacy_snapshot_id   INTEGER,
    new_snapshot_id      INTEGER,
    backup               TEXT    NOT NULL DEFAULT '',
    legacy_ttl_reference TEXT,
    new_ttl_reference    TEXT,
    legacy_rows          INTEGER NOT NULL DEFAULT 0,
    new_rows             INTEGER NOT NULL DEFAULT 0,
    only_in_legacy       INTEGER NOT NULL DEFAULT 0,
    only_in_new          INTEGER NOT NULL DEFAULT 0,
    matched              INTEGER NOT NULL DEFAULT 0,
    changed              INTEGER NOT NULL DEFAULT 0,
    missing              INTEGER NOT NULL DEFAULT 0,
    extra                INTEGER NOT NULL DEFAULT 0,
    duplicate_keys       INTEGER NOT NULL DEFAULT 0,
    similarity           REAL,
    diff_options         TEXT    NOT NULL DEFAULT '{}', -- JSON object
    stages               TEXT    NOT NULL DEFAULT '[]', -- JSON [{"stage": "...", "seconds": 1.5}]
    error                TEXT    NOT NULL DEFAULT '',
    host                 TEXT    NOT NULL DEFAULT '',   -- the writing process, to detect a dead run
    pid                  INTEGER NOT NULL DEFAULT 0,
    process_start        TEXT    NOT NULL DEFAULT '',   -- boot id and start tick, against pid reuse
    UNIQUE (dataset, night, attempt)
);

CREATE INDEX runs_started ON runs (started_at);
CREATE INDEX runs_dataset_started ON runs (dataset, started_at);
CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
