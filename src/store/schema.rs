//! The records' schema as numbered migrations. A home's database keeps the number of the
//! last one applied (`PRAGMA user_version`); opening it applies the ones after, each in the
//! transaction that records its number, so a home made by any earlier build opens and
//! migrates, and two processes opening a new home at once do not both create it.

/// Migration `i + 1` is `MIGRATIONS[i]`.
pub const MIGRATIONS: &[&str] = &[
    // 1: executions, steps, attempts, events, requests, algorithms.
    r#"
CREATE TABLE IF NOT EXISTS executions(
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    experiment TEXT,
    definition TEXT NOT NULL,
    base_dir TEXT NOT NULL,
    parameters TEXT NOT NULL,
    storages TEXT NOT NULL,
    reused TEXT NOT NULL DEFAULT '{}',
    max_parallel INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX IF NOT EXISTS executions_by_workflow ON executions(workflow, created_at);
CREATE TABLE IF NOT EXISTS steps(
    execution_id TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    started_at TEXT,
    ended_at TEXT,
    inputs TEXT,
    outputs TEXT,
    metrics TEXT,
    result INTEGER,
    error TEXT,
    PRIMARY KEY(execution_id, name)
);
CREATE TABLE IF NOT EXISTS attempts(
    execution_id TEXT NOT NULL,
    step TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    error TEXT,
    PRIMARY KEY(execution_id, step, attempt)
);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    execution_id TEXT NOT NULL,
    step TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_execution ON events(execution_id, id);
CREATE TABLE IF NOT EXISTS requests(
    id INTEGER PRIMARY KEY,
    execution_id TEXT NOT NULL,
    step TEXT,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS algorithms(
    id TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"#,
    // 2: what is particular to a step's kind (a job's process groups, a condition's result)
    // moves into one `detail` object its backend owns.
    r#"
ALTER TABLE steps ADD COLUMN detail TEXT;
UPDATE steps SET detail = json_object('groups', json_array(json_object('pgid', pid)))
    WHERE pid IS NOT NULL;
UPDATE steps SET detail = json_object('result', json(CASE WHEN result THEN 'true' ELSE 'false' END))
    WHERE result IS NOT NULL;
ALTER TABLE steps DROP COLUMN pid;
ALTER TABLE steps DROP COLUMN result;
"#,
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;
