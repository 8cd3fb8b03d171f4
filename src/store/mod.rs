//! The records: executions, their steps, every attempt and every status change, in SQLite
//! (WAL) in the home folder. Every status change is committed before anything depends on it.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the home folder `{path}`: {source}")]
    Home {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the records in `{path}` cannot be opened: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the records cannot be written: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("no execution `{0}`; `wf executions` lists them")]
    NoExecution(String),
    #[error("`{0}` names several executions; give more of the id")]
    Ambiguous(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// attempt, status, started_at, ended_at, error
pub type AttemptRow = (u32, String, String, Option<String>, Option<String>);
/// step (none for the execution), status, reason, at
pub type EventRow = (Option<String>, String, Option<String>, String);

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Where state lives: `--home`, else `$WF_HOME`, else `./.wf`.
pub fn home_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(h) = flag {
        return h.to_path_buf();
    }
    if let Some(h) = std::env::var_os("WF_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    PathBuf::from(".wf")
}

pub struct Store {
    conn: Connection,
    pub home: PathBuf,
}

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
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
"#;

/// What a step's row holds besides its status.
#[derive(Debug, Default, Clone)]
pub struct StepPatch {
    pub attempt: Option<u32>,
    pub pid: Option<Option<u32>>,
    pub started: bool,
    pub ended: bool,
    pub inputs: Option<Value>,
    pub outputs: Option<Value>,
    pub metrics: Option<Value>,
    pub result: Option<bool>,
    pub error: Option<Option<String>>,
}

pub struct NewExecution<'a> {
    pub id: &'a str,
    pub workflow: &'a str,
    pub experiment: Option<&'a str>,
    pub definition: &'a Value,
    pub base_dir: &'a Path,
    pub parameters: &'a Value,
    pub storages: &'a Value,
    pub reused: &'a Value,
    pub max_parallel: usize,
    /// (name, type) of each step that runs, in workflow order.
    pub steps: &'a [(String, &'static str)],
}

impl Store {
    pub fn open(home: &Path) -> Result<Store> {
        std::fs::create_dir_all(home).map_err(|source| StoreError::Home {
            path: home.to_path_buf(),
            source,
        })?;
        let path = home.join("wf.db");
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // WAL with NORMAL sync: a commit survives the process dying (kill -9); only a power
        // loss may take the last commits back.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // The schema is written once; later opens only read its version.
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < SCHEMA_VERSION {
            conn.execute_batch(SCHEMA)
                .map_err(|source| StoreError::Open { path, source })?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        Ok(Store {
            conn,
            home: home.to_path_buf(),
        })
    }

    pub fn logs_dir(&self, exec: &str) -> PathBuf {
        self.home.join("logs").join(exec)
    }

    pub fn create_execution(&self, e: &NewExecution) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let at = now();
        tx.execute(
            "INSERT INTO executions(id, workflow, status, experiment, definition, base_dir, parameters, storages, reused, max_parallel, created_at)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                e.id,
                e.workflow,
                e.experiment,
                e.definition.to_string(),
                e.base_dir.to_string_lossy(),
                e.parameters.to_string(),
                e.storages.to_string(),
                e.reused.to_string(),
                e.max_parallel as i64,
                at
            ],
        )?;
        for (i, (name, ty)) in e.steps.iter().enumerate() {
            tx.execute(
                "INSERT INTO steps(execution_id, name, position, type, status) VALUES (?1, ?2, ?3, ?4, 'waiting')",
                params![e.id, name, i as i64, ty],
            )?;
        }
        tx.execute(
            "INSERT INTO events(execution_id, step, status, reason, at) VALUES (?1, NULL, 'running', 'created', ?2)",
            params![e.id, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a step's new status (and what it produced) with an event, in one commit.
    pub fn set_step(
        &self,
        exec: &str,
        step: &str,
        status: &str,
        reason: Option<&str>,
        p: &StepPatch,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let at = now();
        tx.prepare_cached(
            "UPDATE steps SET status = ?3, reason = ?4,
                attempt = COALESCE(?5, attempt),
                pid = CASE WHEN ?6 THEN ?7 ELSE pid END,
                started_at = CASE WHEN ?8 THEN ?15 ELSE started_at END,
                ended_at = CASE WHEN ?9 THEN ?15 WHEN ?8 THEN NULL ELSE ended_at END,
                inputs = COALESCE(?10, inputs),
                outputs = COALESCE(?11, outputs),
                metrics = COALESCE(?12, metrics),
                result = COALESCE(?13, result),
                error = CASE WHEN ?14 THEN ?16 ELSE error END
             WHERE execution_id = ?1 AND name = ?2",
        )?
        .execute(params![
            exec,
            step,
            status,
            reason,
            p.attempt.map(|a| a as i64),
            p.pid.is_some(),
            p.pid.flatten().map(|x| x as i64),
            p.started,
            p.ended,
            p.inputs.as_ref().map(Value::to_string),
            p.outputs.as_ref().map(Value::to_string),
            p.metrics.as_ref().map(Value::to_string),
            p.result,
            p.error.is_some(),
            at,
            p.error.clone().flatten(),
        ])?;
        if let Some(a) = p.attempt {
            if p.started {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO attempts(execution_id, step, attempt, status, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![exec, step, a as i64, status, at])?;
            }
        }
        if p.ended {
            tx.prepare_cached(
                "UPDATE attempts SET status = ?3, ended_at = ?4, error = ?5
                 WHERE execution_id = ?1 AND step = ?2 AND attempt = (SELECT attempt FROM steps WHERE execution_id = ?1 AND name = ?2)",
            )?
            .execute(params![exec, step, status, at, p.error.clone().flatten()])?;
        }
        tx.prepare_cached(
            "INSERT INTO events(execution_id, step, status, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![exec, step, status, reason, at])?;
        tx.commit()?;
        Ok(())
    }

    pub fn set_execution(&self, exec: &str, status: &str, reason: Option<&str>) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let at = now();
        let ended = matches!(status, "executed" | "failed" | "stopped");
        tx.execute(
            "UPDATE executions SET status = ?2, reason = ?3, ended_at = CASE WHEN ?4 THEN ?5 ELSE NULL END WHERE id = ?1",
            params![exec, status, reason, ended, at],
        )?;
        tx.execute(
            "INSERT INTO events(execution_id, step, status, reason, at) VALUES (?1, NULL, ?2, ?3, ?4)",
            params![exec, status, reason, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The process group of a running step (no event: it is not a status change).
    pub fn set_pid(&self, exec: &str, step: &str, pid: u32) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE steps SET pid = ?3 WHERE execution_id = ?1 AND name = ?2")?
            .execute(params![exec, step, pid as i64])?;
        Ok(())
    }

    /// Why a waiting step waits, without an event (it may change often).
    pub fn set_reason(&self, exec: &str, step: &str, reason: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET reason = ?3 WHERE execution_id = ?1 AND name = ?2",
            params![exec, step, reason],
        )?;
        Ok(())
    }

    /// Asks the runner of `exec` to stop it, or one step of it.
    pub fn request_stop(&self, exec: &str, step: Option<&str>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO requests(execution_id, step, kind, at) VALUES (?1, ?2, 'stop', ?3)",
            params![exec, step, now()],
        )?;
        Ok(())
    }

    /// Stop requests not yet seen: `Some(step)` for one step, `None` for the execution.
    pub fn take_stop_requests(&self, exec: &str) -> Result<Vec<Option<String>>> {
        let tx = self.conn.unchecked_transaction()?;
        let rows: Vec<Option<String>> = {
            let mut stmt = tx.prepare(
                "SELECT step FROM requests WHERE execution_id = ?1 AND done = 0 AND kind = 'stop'",
            )?;
            let rows = stmt
                .query_map(params![exec], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?;
            rows
        };
        if !rows.is_empty() {
            tx.execute(
                "UPDATE requests SET done = 1 WHERE execution_id = ?1",
                params![exec],
            )?;
        }
        tx.commit()?;
        Ok(rows)
    }

    pub fn set_parameters(&self, exec: &str, parameters: &Value) -> Result<()> {
        self.conn.execute(
            "UPDATE executions SET parameters = ?2 WHERE id = ?1",
            params![exec, parameters.to_string()],
        )?;
        Ok(())
    }

    /// The full id of the execution `id` names (a unique prefix is enough; `latest` is the
    /// newest).
    pub fn resolve_id(&self, id: &str) -> Result<String> {
        if id == "latest" {
            return self
                .conn
                .query_row(
                    "SELECT id FROM executions ORDER BY created_at DESC, rowid DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::NoExecution(id.to_string()));
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM executions WHERE id = ?1 OR id LIKE ?2 || '%' LIMIT 2")?;
        let like = id.replace(['%', '_'], "");
        let ids: Vec<String> = stmt
            .query_map(params![id, like], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        if ids.iter().any(|x| x == id) {
            return Ok(id.to_string());
        }
        match ids.len() {
            1 if !like.is_empty() => Ok(ids[0].clone()),
            0 | 1 => Err(StoreError::NoExecution(id.to_string())),
            _ => Err(StoreError::Ambiguous(id.to_string())),
        }
    }

    pub fn execution(&self, id: &str) -> Result<ExecutionRow> {
        self.conn
            .query_row(
                "SELECT id, workflow, status, reason, experiment, definition, base_dir, parameters, storages, reused, max_parallel, created_at, ended_at FROM executions WHERE id = ?1",
                params![id],
                |r| {
                    Ok(ExecutionRow {
                        id: r.get(0)?,
                        workflow: r.get(1)?,
                        status: r.get(2)?,
                        reason: r.get(3)?,
                        experiment: r.get(4)?,
                        definition: r.get(5)?,
                        base_dir: r.get(6)?,
                        parameters: json_col(r.get(7)?),
                        storages: json_col(r.get(8)?),
                        reused: json_col(r.get(9)?),
                        max_parallel: r.get::<_, i64>(10)? as usize,
                        created_at: r.get(11)?,
                        ended_at: r.get(12)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NoExecution(id.to_string()))
    }

    pub fn steps(&self, exec: &str) -> Result<Vec<StepRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, type, status, reason, attempt, pid, started_at, ended_at, inputs, outputs, metrics, result, error
             FROM steps WHERE execution_id = ?1 ORDER BY position",
        )?;
        let rows = stmt
            .query_map(params![exec], |r| {
                Ok(StepRow {
                    name: r.get(0)?,
                    ty: r.get(1)?,
                    status: r.get(2)?,
                    reason: r.get(3)?,
                    attempt: r.get::<_, i64>(4)? as u32,
                    pid: r.get::<_, Option<i64>>(5)?.map(|p| p as u32),
                    started_at: r.get(6)?,
                    ended_at: r.get(7)?,
                    inputs: r.get::<_, Option<String>>(8)?.map(json_col),
                    outputs: r.get::<_, Option<String>>(9)?.map(json_col),
                    metrics: r.get::<_, Option<String>>(10)?.map(json_col),
                    result: r.get(11)?,
                    error: r.get(12)?,
                })
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn attempts(&self, exec: &str, step: &str) -> Result<Vec<AttemptRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT attempt, status, started_at, ended_at, error FROM attempts WHERE execution_id = ?1 AND step = ?2 ORDER BY attempt",
        )?;
        let rows = stmt
            .query_map(params![exec, step], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u32,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Executions, newest first, optionally of one workflow, status or experiment.
    pub fn list(
        &self,
        workflow: Option<&str>,
        status: Option<&str>,
        experiment: Option<&str>,
    ) -> Result<Vec<ExecutionRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id FROM executions WHERE (?1 IS NULL OR workflow = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR experiment = ?3)
             ORDER BY created_at DESC, rowid DESC",
        )?;
        let ids: Vec<String> = stmt
            .query_map(params![workflow, status, experiment], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        ids.iter().map(|id| self.execution(id)).collect()
    }

    /// The newest execution of `workflow` where `step` executed: its id, outputs and metrics.
    pub fn latest_executed(
        &self,
        workflow: &str,
        step: &str,
        before: &str,
    ) -> Result<Option<(String, Value, Value)>> {
        self.conn
            .query_row(
                "SELECT s.execution_id, s.outputs, s.metrics FROM steps s JOIN executions e ON e.id = s.execution_id
                 WHERE e.workflow = ?1 AND s.name = ?2 AND s.status = 'executed' AND e.id != ?3
                 ORDER BY s.ended_at DESC LIMIT 1",
                params![workflow, step, before],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?.map(json_col).unwrap_or(Value::Null),
                        r.get::<_, Option<String>>(2)?.map(json_col).unwrap_or(Value::Null),
                    ))
                },
            )
            .optional()
            .map_err(StoreError::from)
    }

    pub fn events(&self, exec: &str) -> Result<Vec<EventRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT step, status, reason, at FROM events WHERE execution_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![exec], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn put_algorithm(&self, id: &str, definition: &Value) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO algorithms(id, definition, created_at) VALUES (?1, ?2, ?3)",
            params![id, definition.to_string(), now()],
        )?;
        Ok(())
    }

    pub fn algorithm(&self, id: &str) -> Result<Option<Value>> {
        Ok(self
            .conn
            .query_row(
                "SELECT definition FROM algorithms WHERE id = ?1",
                params![id],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(json_col))
    }

    pub fn algorithms(&self) -> Result<Vec<(String, Value, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, definition, created_at FROM algorithms ORDER BY id")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, json_col(r.get::<_, String>(1)?), r.get(2)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The contract's execution record.
    pub fn record(&self, exec: &str) -> Result<Value> {
        let e = self.execution(exec)?;
        let steps: Vec<Value> = self
            .steps(exec)?
            .into_iter()
            .map(|s| {
                let mut v = json!({
                    "name": s.name, "type": s.ty, "status": s.status,
                    "reason": s.reason, "attempt": s.attempt,
                    "started_at": s.started_at, "ended_at": s.ended_at,
                    "outputs": s.outputs.unwrap_or_else(|| json!({})),
                    "metrics": s.metrics.unwrap_or_else(|| json!({})),
                    "error": s.error,
                });
                if let Some(r) = s.result {
                    v["result"] = json!(r);
                }
                v
            })
            .collect();
        Ok(json!({
            "execution_id": e.id, "workflow": e.workflow, "status": e.status, "reason": e.reason,
            "experiment_id": e.experiment, "created_at": e.created_at, "ended_at": e.ended_at,
            "parameters": e.parameters, "storages": e.storages, "reused": e.reused,
            "steps": steps,
        }))
    }
}

fn json_col(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[derive(Debug, Clone)]
pub struct ExecutionRow {
    pub id: String,
    pub workflow: String,
    pub status: String,
    pub reason: Option<String>,
    pub experiment: Option<String>,
    pub definition: String,
    pub base_dir: String,
    pub parameters: Value,
    pub storages: Value,
    pub reused: Value,
    pub max_parallel: usize,
    pub created_at: String,
    pub ended_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StepRow {
    pub name: String,
    pub ty: String,
    pub status: String,
    pub reason: Option<String>,
    pub attempt: u32,
    pub pid: Option<u32>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub inputs: Option<Value>,
    pub outputs: Option<Value>,
    pub metrics: Option<Value>,
    pub result: Option<bool>,
    pub error: Option<String>,
}
