//! Reads and writes of the records the REST API needs beyond the CLI's: execution tags,
//! filtered summaries, deleting an execution, and the events table read in order.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Result, Store};
use crate::model::status::ExecStatus;

/// One line of `GET /api/executions`: an execution without its steps' details.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionSummary {
    pub execution_id: String,
    pub workflow: String,
    pub status: ExecStatus,
    pub reason: Option<String>,
    pub experiment_id: Option<String>,
    pub created_at: String,
    pub ended_at: Option<String>,
    pub tags: Vec<String>,
    /// How many of its steps are in each status.
    pub steps: Map<String, Value>,
}

/// One row of the events table: a committed status change.
#[derive(Debug, Clone, Serialize)]
pub struct EventEntry {
    pub id: i64,
    pub execution_id: String,
    /// `None` once the execution's record is deleted.
    pub workflow: Option<String>,
    /// `None` for the execution itself.
    pub step: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub at: String,
}

/// Tags are kept joined by this character in one query's answer.
const SEP: char = '\u{1f}';

fn split_tags(joined: Option<String>) -> Vec<String> {
    let mut tags: Vec<String> = joined
        .map(|j| j.split(SEP).map(str::to_string).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

impl Store {
    /// The tags of an execution, sorted.
    pub fn tags(&self, exec: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT tag FROM execution_tags WHERE execution_id = ?1 ORDER BY tag",
        )?;
        let tags = stmt
            .query_map(params![exec], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(tags)
    }

    /// Replaces the tags of an execution.
    pub fn set_tags(&self, exec: &str, tags: &[String]) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM execution_tags WHERE execution_id = ?1",
            params![exec],
        )?;
        for t in tags {
            tx.execute(
                "INSERT OR IGNORE INTO execution_tags(execution_id, tag) VALUES (?1, ?2)",
                params![exec, t],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Executions newest first, optionally of one workflow, status or tag.
    pub fn summaries(
        &self,
        workflow: Option<&str>,
        status: Option<ExecStatus>,
        tag: Option<&str>,
    ) -> Result<Vec<ExecutionSummary>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.id, e.workflow, e.status, e.reason, e.experiment, e.created_at, e.ended_at,
                    (SELECT group_concat(t.tag, char(31)) FROM execution_tags t WHERE t.execution_id = e.id),
                    (SELECT json_group_object(status, n) FROM
                        (SELECT s.status, count(*) AS n FROM steps s WHERE s.execution_id = e.id GROUP BY s.status))
               FROM executions e
              WHERE (?1 IS NULL OR e.workflow = ?1) AND (?2 IS NULL OR e.status = ?2)
                AND (?3 IS NULL OR EXISTS (SELECT 1 FROM execution_tags t WHERE t.execution_id = e.id AND t.tag = ?3))
              ORDER BY e.created_at DESC, e.rowid DESC",
        )?;
        let raw = stmt
            .query_map(
                params![workflow, status.map(ExecStatus::as_str), tag],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                },
            )?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        raw.into_iter()
            .map(
                |(id, workflow, status, reason, experiment, created_at, ended_at, tags, steps)| {
                    let steps = match steps.and_then(|s| serde_json::from_str(&s).ok()) {
                        Some(Value::Object(m)) => m,
                        _ => Map::new(),
                    };
                    Ok(ExecutionSummary {
                        execution_id: id,
                        workflow,
                        status: ExecStatus::parse(&status)?,
                        reason,
                        experiment_id: experiment,
                        created_at,
                        ended_at,
                        tags: split_tags(tags),
                        steps,
                    })
                },
            )
            .collect()
    }

    /// Executions not ended (`running` or `awaiting_input`), optionally of one workflow:
    /// their ids and statuses.
    pub fn unfinished(&self, workflow: Option<&str>) -> Result<Vec<(String, ExecStatus)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, status FROM executions
              WHERE status IN ('running', 'awaiting_input') AND (?1 IS NULL OR workflow = ?1)
              ORDER BY created_at, rowid",
        )?;
        let raw = stmt
            .query_map(params![workflow], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        raw.into_iter()
            .map(|(id, s)| Ok((id, ExecStatus::parse(&s)?)))
            .collect()
    }

    /// Deletes an execution's records: the execution, its steps, attempts, events, stop
    /// requests and tags, in one commit. Its logs are the caller's to remove.
    pub fn delete_execution(&self, exec: &str) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for sql in [
            "DELETE FROM attempts WHERE execution_id = ?1",
            "DELETE FROM steps WHERE execution_id = ?1",
            "DELETE FROM events WHERE execution_id = ?1",
            "DELETE FROM requests WHERE execution_id = ?1",
            "DELETE FROM execution_tags WHERE execution_id = ?1",
            "DELETE FROM executions WHERE id = ?1",
        ] {
            tx.execute(sql, params![exec])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The id of the newest event (0 when there is none).
    pub fn last_event_id(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT max(id) FROM events", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()?
            .flatten()
            .unwrap_or(0))
    }

    /// Events after the event `after`, in order, at most `limit`.
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<EventEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT v.id, v.execution_id, e.workflow, v.step, v.status, v.reason, v.at
               FROM events v LEFT JOIN executions e ON e.id = v.execution_id
              WHERE v.id > ?1 ORDER BY v.id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok(EventEntry {
                    id: r.get(0)?,
                    execution_id: r.get(1)?,
                    workflow: r.get(2)?,
                    step: r.get(3)?,
                    status: r.get(4)?,
                    reason: r.get(5)?,
                    at: r.get(6)?,
                })
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewExecution;
    use super::*;
    use crate::model::kind::StepKind;
    use serde_json::json;
    use std::path::Path;

    fn new_execution(store: &Store, id: &str, workflow: &str) {
        store
            .create_execution(&NewExecution {
                id,
                workflow,
                experiment: None,
                definition: "{}",
                base_dir: Path::new("/"),
                parameters: &json!({}),
                storages: &json!({}),
                reused: &json!({}),
                max_parallel: 1,
                steps: &[("a".to_string(), StepKind::Job)],
            })
            .unwrap();
    }

    #[test]
    fn tags_filter_summaries_and_deleting_leaves_no_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        new_execution(&store, "e1", "w");
        new_execution(&store, "e2", "w");
        new_execution(&store, "e3", "v");
        store
            .set_tags("e2", &["best".to_string(), "a".to_string()])
            .unwrap();
        assert_eq!(store.tags("e2").unwrap(), ["a", "best"]);
        let all = store.summaries(None, None, None).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].execution_id, "e3");
        assert_eq!(all[0].steps["waiting"], json!(1));
        let best = store.summaries(Some("w"), None, Some("best")).unwrap();
        assert_eq!(best.len(), 1);
        assert_eq!(best[0].tags, ["a", "best"]);
        assert_eq!(store.unfinished(Some("w")).unwrap().len(), 2);
        let first = store.last_event_id().unwrap();
        assert!(first >= 3);
        let events = store.events_after(0, 10).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].workflow.as_deref(), Some("v"));
        store.delete_execution("e2").unwrap();
        assert!(store.execution("e2").is_err());
        assert!(store.tags("e2").unwrap().is_empty());
        assert!(store.steps("e2").unwrap().is_empty());
        assert_eq!(store.events_after(0, 10).unwrap().len(), 2);
    }
}
