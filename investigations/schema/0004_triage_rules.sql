-- 0004: auto-triage rules, stored as data. Each field is a pattern where
-- '*' matches any run of characters; a matching rule names a category.

CREATE TABLE triage_rules (
    id         INTEGER PRIMARY KEY,
    dataset    TEXT NOT NULL DEFAULT '*',
    side       TEXT NOT NULL DEFAULT '*' CHECK (side IN ('*', 'only_in_legacy', 'only_in_new', 'changed')),
    columns    TEXT NOT NULL DEFAULT '*', -- matched against the sorted, comma-joined differing columns
    tag        TEXT NOT NULL DEFAULT '*', -- matched against each pattern tag
    category   TEXT NOT NULL REFERENCES categories (name),
    created_at TEXT NOT NULL
);
