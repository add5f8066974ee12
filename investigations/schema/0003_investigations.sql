-- 0003: investigations, their append-only timeline, links to discrepancies
-- and the signatures they cover, and the categories that group them.

CREATE TABLE categories (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- The four kinds of difference the Netflix migration met in the field.
INSERT INTO categories (name, description, created_at) VALUES
    ('ttl-reference', 'TTL reference timestamp: the two sides judged TTL expiry against different times (backup snapshot time, job start, wall clock)', '1970-01-01T00:00:00.000000Z'),
    ('consistency-level', 'Consistency level: the sides read a different set of replicas for a token range (ONE, QUORUM, ALL) and saw different versions', '1970-01-01T00:00:00.000000Z'),
    ('backup-selection', 'Backup selection: the sides read different backups or snapshot times, so writes near the boundary differ', '1970-01-01T00:00:00.000000Z'),
    ('business-logic', 'Business logic: the connectors transform rows differently (type mapping, empty vs NULL, precision, derived columns)', '1970-01-01T00:00:00.000000Z');

CREATE TABLE investigations (
    id         INTEGER PRIMARY KEY,
    title      TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'triaged', 'explained', 'fixed', 'wontfix')),
    category   TEXT    REFERENCES categories (name),
    owner      TEXT    NOT NULL DEFAULT '',
    auto       INTEGER NOT NULL DEFAULT 0 CHECK (auto IN (0, 1)), -- opened by a run's finish
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);

CREATE INDEX investigations_status ON investigations (status);

CREATE TABLE timeline (
    id            INTEGER PRIMARY KEY,
    investigation INTEGER NOT NULL REFERENCES investigations (id),
    kind          TEXT    NOT NULL CHECK (kind IN ('note', 'log', 'query', 'event')),
    body          TEXT    NOT NULL,
    author        TEXT    NOT NULL DEFAULT '',
    created_at    TEXT    NOT NULL
);

CREATE INDEX timeline_investigation ON timeline (investigation, id);

CREATE TRIGGER timeline_append_only_update BEFORE UPDATE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'the investigation timeline is append-only');
END;

CREATE TRIGGER timeline_append_only_delete BEFORE DELETE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'the investigation timeline is append-only');
END;

-- run repeats discrepancies.run so that an investigation's runs, and its
-- discrepancies of one run, come from an index instead of a lookup per link.
-- As for discrepancies, the references are checked by the code that links
-- (it has just read or created each parent in the same transaction), not
-- declared: a run's finish links every stored discrepancy.
CREATE TABLE investigation_discrepancies (
    investigation INTEGER NOT NULL, -- investigations (id)
    discrepancy   INTEGER NOT NULL, -- discrepancies (id)
    run           INTEGER NOT NULL, -- runs (id)
    PRIMARY KEY (investigation, discrepancy)
) WITHOUT ROWID;

CREATE INDEX investigation_discrepancies_discrepancy ON investigation_discrepancies (discrepancy);
CREATE INDEX investigation_discrepancies_run ON investigation_discrepancies (investigation, run);

-- The (dataset, signature) pairs an investigation covers: a later run's
-- discrepancies with one of them are linked to it while it is open,
-- triaged or explained.
CREATE TABLE investigation_signatures (
    investigation INTEGER NOT NULL REFERENCES investigations (id),
    dataset       TEXT    NOT NULL,
    signature     INTEGER NOT NULL REFERENCES signatures (id),
    PRIMARY KEY (investigation, dataset, signature)
) WITHOUT ROWID;

CREATE INDEX investigation_signatures_match ON investigation_signatures (dataset, signature);
