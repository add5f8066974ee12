-- 0002: stored discrepancies, their signatures (contracts §6), and per run
-- the exact count of every signature seen, stored or not (the cap drops rows,
-- never counts).

CREATE TABLE signatures (
    id        INTEGER PRIMARY KEY,
    signature TEXT NOT NULL UNIQUE, -- side:col1,col2:tag1,tag2
    side      TEXT NOT NULL CHECK (side IN ('only_in_legacy', 'only_in_new', 'changed')),
    columns   TEXT NOT NULL,        -- JSON array, sorted
    tags      TEXT NOT NULL         -- JSON array, sorted
);

-- The hot table: run and signature are not declared foreign keys, because
-- checking them cost a fifth of the CPU of storing a row (docs/benchmarks.md).
-- Only this package's writer inserts here, inside a transaction that owns
-- the run and has just looked up or created the signature.
CREATE TABLE discrepancies (
    id              INTEGER PRIMARY KEY,
    run             INTEGER NOT NULL, -- runs (id)
    side            TEXT    NOT NULL CHECK (side IN ('only_in_legacy', 'only_in_new', 'changed')),
    key             TEXT    NOT NULL, -- JSON object: key column -> value
    legacy_row      TEXT,             -- JSON object; NULL for only_in_new
    new_row         TEXT,             -- JSON object; NULL for only_in_legacy
    diffs           TEXT,             -- JSON [{"column", "legacy", "new"}] for changed
    signature       INTEGER NOT NULL, -- signatures (id)
    fingerprint     INTEGER,          -- xxhash64 row digest (legacy row for changed), as signed bits
    new_fingerprint INTEGER           -- changed only: the new row's digest
);

-- One index serves --run, --run --side and auto-triage's (run, signature)
-- lookups; a second one cost a tenth of the insert time.
CREATE INDEX discrepancies_run ON discrepancies (run, side, signature);

ALTER TABLE runs ADD COLUMN max_stored_per_side INTEGER NOT NULL DEFAULT 10000;
ALTER TABLE runs ADD COLUMN seen_only_in_legacy INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN seen_only_in_new INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN seen_changed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN stored_only_in_legacy INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN stored_only_in_new INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN stored_changed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE run_signatures (
    run           INTEGER NOT NULL REFERENCES runs (id),
    signature     INTEGER NOT NULL REFERENCES signatures (id),
    seen          INTEGER NOT NULL,
    stored        INTEGER NOT NULL,
    investigation INTEGER,            -- set by auto-triage at the run's finish (0003 adds the table)
    PRIMARY KEY (run, signature)
) WITHOUT ROWID;
