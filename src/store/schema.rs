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
    // 3: the dataset service (README, "Datasets"). Samples are kept by content hash (their bytes
    // under `datasets/objects/`); an annotation's scope is '' for the dataset's own labels,
    // else the labeling task's name; versions are immutable (their manifest under
    // `datasets/NAME/versions/`).
    r#"
CREATE TABLE datasets(
    name TEXT PRIMARY KEY,
    data_type TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL
);
CREATE TABLE samples(
    dataset TEXT NOT NULL,
    hash TEXT NOT NULL,
    ext TEXT NOT NULL,
    size INTEGER NOT NULL,
    name TEXT NOT NULL,
    usage TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL,
    PRIMARY KEY(dataset, hash)
) WITHOUT ROWID;
CREATE TABLE sample_names(
    dataset TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY(dataset, name, hash)
) WITHOUT ROWID;
CREATE INDEX sample_names_by_hash ON sample_names(dataset, hash);
CREATE TABLE annotations(
    dataset TEXT NOT NULL,
    scope TEXT NOT NULL,
    hash TEXT NOT NULL,
    annotation TEXT NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY(dataset, scope, hash)
) WITHOUT ROWID;
CREATE TABLE sample_labels(
    dataset TEXT NOT NULL,
    scope TEXT NOT NULL,
    hash TEXT NOT NULL,
    label TEXT NOT NULL,
    PRIMARY KEY(dataset, scope, hash, label)
) WITHOUT ROWID;
CREATE INDEX sample_labels_by_label ON sample_labels(dataset, scope, label);
CREATE TABLE label_tasks(
    dataset TEXT NOT NULL,
    name TEXT NOT NULL,
    task_type TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '[]',
    auto_sync INTEGER NOT NULL DEFAULT 1,
    properties TEXT NOT NULL DEFAULT '{}',
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    PRIMARY KEY(dataset, name)
);
CREATE TABLE dataset_versions(
    dataset TEXT NOT NULL,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    task TEXT,
    task_type TEXT,
    ratio REAL NOT NULL,
    samples INTEGER NOT NULL,
    train INTEGER NOT NULL,
    eval INTEGER NOT NULL,
    labels TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    made_by TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY(dataset, name)
);
CREATE INDEX dataset_versions_made_by ON dataset_versions(made_by);
"#,
    // 4: the model registry, inference services and Spark clusters (README, "Models and services"). A model
    // version's files are an immutable copy under `models/NAME/VERSION/`; a service's
    // processes are its supervisor's, which keeps their pids and ports here.
    r#"
CREATE TABLE models(
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    seq INTEGER NOT NULL,
    model_type TEXT NOT NULL DEFAULT '',
    runtime TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL DEFAULT '{}',
    source TEXT NOT NULL DEFAULT '{}',
    path TEXT NOT NULL,
    made_by TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY(name, version)
);
CREATE TABLE services(
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    reason TEXT,
    infer_type TEXT NOT NULL DEFAULT 'real-time',
    port INTEGER,
    app_code TEXT,
    config TEXT NOT NULL DEFAULT '{}',
    supervisor_pid INTEGER,
    made_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE service_versions(
    service TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    weight INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'starting',
    pid INTEGER,
    port INTEGER,
    restarts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(service, model_name, model_version)
);
CREATE TABLE clusters(
    name TEXT PRIMARY KEY,
    master TEXT NOT NULL,
    spark_home TEXT,
    created_at TEXT NOT NULL
);
"#,
    // 5: the running state (README, "The running state"): released workflows with their versions and
    // configuration, execution tags, notifications and their deliveries (an outbox: a
    // delivery is recorded with the status change that causes it, and sent after).
    r#"
CREATE TABLE workflows(
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE workflow_versions(
    workflow TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    digest TEXT NOT NULL,
    base_dir TEXT NOT NULL,
    source TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY(workflow, version)
);
CREATE TABLE execution_tags(
    execution_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY(execution_id, tag)
);
CREATE INDEX execution_tags_by_tag ON execution_tags(tag);
CREATE TABLE notifications(
    id INTEGER PRIMARY KEY,
    workflow TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE deliveries(
    id TEXT PRIMARY KEY,
    notification INTEGER NOT NULL,
    url TEXT NOT NULL,
    secret TEXT,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX deliveries_pending ON deliveries(status, next_at);
"#,
    // 6: resource pools (README, "Growing beyond one machine"): existing Ray and Slurm clusters job steps run on.
    // `shared` is a JSON array of the path prefixes the pool's nodes see (empty: all).
    r#"
CREATE TABLE pools(
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    address TEXT,
    partition TEXT,
    shared TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL
);
"#,
    // 7: when each service's model process started (milliseconds since the epoch), so that
    // a pid reused after a reboot or a kill is never taken for one and signalled.
    r#"
ALTER TABLE service_versions ADD COLUMN pid_started INTEGER;
"#,
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;
