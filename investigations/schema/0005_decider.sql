-- 0005: the decider registry (issue 7, package shadow/decider): rules, cohorts
-- and their ramps, cohort membership, pins, promotion state, the append-only
-- audit trail of every change, and the decisions and outcomes it served.
-- A movement is a dataset of the datasets file, named by the dataset's name.
-- Paths are the contract tokens 'legacy' and 'new' (contracts §3).

-- Explicit rules. Each field is a pattern where '*' matches any run of
-- characters; one rule per pattern tuple (setting it again replaces it).
CREATE TABLE decider_rules (
    id          INTEGER PRIMARY KEY,
    cluster     TEXT NOT NULL DEFAULT '*',
    keyspace    TEXT NOT NULL DEFAULT '*',
    table_name  TEXT NOT NULL DEFAULT '*',
    destination TEXT NOT NULL DEFAULT '*',
    cohort      TEXT NOT NULL DEFAULT '*',
    path        TEXT NOT NULL CHECK (path IN ('legacy', 'new')),
    reason      TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (cluster, keyspace, table_name, destination, cohort)
);

-- Cohorts and their percentage ramps (0 to 100).
CREATE TABLE decider_cohorts (
    name       TEXT PRIMARY KEY,
    ramp       INTEGER NOT NULL DEFAULT 0 CHECK (ramp BETWEEN 0 AND 100),
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

-- Cohort membership set in the registry; it overrides the cohort the
-- datasets file gives a movement.
CREATE TABLE decider_members (
    movement   TEXT PRIMARY KEY,
    cohort     TEXT NOT NULL REFERENCES decider_cohorts (name),
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

-- At most one pin per movement.
CREATE TABLE decider_pins (
    movement   TEXT PRIMARY KEY,
    path       TEXT NOT NULL CHECK (path IN ('legacy', 'new')),
    reason     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

-- Promotion state from the promotion policy: 'promoted' sends a movement to
-- the new path, 'demoted' keeps it on legacy whatever its cohort's ramp. No
-- row: the cohort's ramp applies ('reinstate' in the audit trail deletes a
-- demotion of a movement whose cohort is not promoted).
CREATE TABLE decider_promotions (
    movement   TEXT PRIMARY KEY,
    state      TEXT    NOT NULL CHECK (state IN ('promoted', 'demoted')),
    night      TEXT    NOT NULL, -- the night whose run decided it
    run_id     TEXT    NOT NULL DEFAULT '',
    streak     INTEGER NOT NULL DEFAULT 0,
    reason     TEXT    NOT NULL DEFAULT '',
    updated_by TEXT    NOT NULL DEFAULT '',
    updated_at TEXT    NOT NULL
);

-- Every change to the tables above, append-only.
CREATE TABLE decider_audit (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL CHECK (action IN ('rule.set', 'rule.remove', 'ramp.set', 'cohort.add', 'cohort.remove',
                                            'pin.set', 'pin.replace', 'pin.remove', 'promote', 'demote', 'reinstate')),
    subject TEXT NOT NULL,          -- the movement, the cohort, or "rule N"
    before  TEXT,                   -- JSON object; NULL when nothing was there
    after   TEXT,                   -- JSON object; NULL when it was removed
    reason  TEXT NOT NULL DEFAULT ''
);

CREATE INDEX decider_audit_subject ON decider_audit (subject, id);

CREATE TRIGGER decider_audit_append_only_update BEFORE UPDATE ON decider_audit
BEGIN
    SELECT RAISE(ABORT, 'the decider audit trail is append-only');
END;

CREATE TRIGGER decider_audit_append_only_delete BEFORE DELETE ON decider_audit
BEGIN
    SELECT RAISE(ABORT, 'the decider audit trail is append-only');
END;

-- Decisions served to callers (the HTTP API and the fallback executor).
CREATE TABLE decider_decisions (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    movement    TEXT NOT NULL DEFAULT '', -- '' when no dataset matched
    cluster     TEXT NOT NULL DEFAULT '',
    keyspace    TEXT NOT NULL DEFAULT '',
    table_name  TEXT NOT NULL DEFAULT '',
    destination TEXT NOT NULL DEFAULT '',
    cohort      TEXT NOT NULL,
    path        TEXT NOT NULL CHECK (path IN ('legacy', 'new')),
    source      TEXT NOT NULL,            -- pin, rule, promotion, ramp, default, unavailable
    rule        INTEGER,                  -- decider_rules (id) when source = 'rule'
    reason      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX decider_decisions_movement ON decider_decisions (movement, id);

-- Outcomes reported through POST /v1/outcomes or by the executor.
CREATE TABLE decider_outcomes (
    id               INTEGER PRIMARY KEY,
    at               TEXT NOT NULL,
    movement         TEXT NOT NULL,
    cohort           TEXT NOT NULL,
    path             TEXT NOT NULL CHECK (path IN ('legacy', 'new')),
    outcome          TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'fallback')),
    duration_seconds REAL,
    error            TEXT NOT NULL DEFAULT '',
    reporter         TEXT NOT NULL DEFAULT '',
    decision         INTEGER REFERENCES decider_decisions (id)
);

CREATE INDEX decider_outcomes_movement ON decider_outcomes (movement, id);
