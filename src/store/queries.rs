//! Reads and small writes the front-ends ask of the records, so that no SQL is written
//! outside `src/store`.

use super::{now, Result, Store};

impl Store {
    /// The file name of a dataset's sample, from its content hash.
    pub fn sample_name(&self, dataset: &str, hash: &str) -> Result<String> {
        Ok(self.conn.query_row(
            "SELECT name FROM samples WHERE dataset = ?1 AND hash = ?2",
            [dataset, hash],
            |r| r.get(0),
        )?)
    }

    /// Marks a stopped or failed service as deploying again (`wf service start`), before its
    /// supervisor is started; a service in any other state is left as it is. Returns whether
    /// it was marked.
    pub fn redeploy_service(&self, name: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE services SET status = 'deploying', reason = NULL, updated_at = ?2 \
             WHERE name = ?1 AND status IN ('stopped', 'failed')",
            rusqlite::params![name, now()],
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(s: &Store, name: &str, status: &str) {
        s.conn
            .execute(
                "INSERT INTO services(name, status, reason, created_at, updated_at) VALUES (?1, ?2, 'why', ?3, ?3)",
                [name, status, &now()],
            )
            .unwrap();
    }

    fn status(s: &Store, name: &str) -> (String, Option<String>) {
        s.conn
            .query_row(
                "SELECT status, reason FROM services WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    #[test]
    fn a_sample_name_is_read_by_its_dataset_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.conn
            .execute(
                "INSERT INTO samples(dataset, hash, ext, size, name, added_at) VALUES ('ds', 'abc', 'png', 3, 'cat.png', ?1)",
                [now()],
            )
            .unwrap();
        assert_eq!(s.sample_name("ds", "abc").unwrap(), "cat.png");
        assert!(s.sample_name("other", "abc").is_err());
    }

    #[test]
    fn only_a_stopped_or_failed_service_is_redeployed() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        service(&s, "a", "stopped");
        service(&s, "b", "failed");
        service(&s, "c", "running");
        assert!(s.redeploy_service("a").unwrap());
        assert!(s.redeploy_service("b").unwrap());
        assert!(!s.redeploy_service("c").unwrap());
        assert_eq!(status(&s, "a"), ("deploying".into(), None));
        assert_eq!(status(&s, "b"), ("deploying".into(), None));
        assert_eq!(status(&s, "c"), ("running".into(), Some("why".into())));
    }
}
