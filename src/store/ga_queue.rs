//! The durable queue of events for Google Analytics: rows are written with the events
//! (group commit, see `events`), claimed by the sender in batches, deleted once GA took
//! them, retried with backoff when it did not, and bounded by size and age — what goes
//! is counted, never silently lost.

use sqlx::Row;

use super::{Store, StoreError};

pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ga_queue (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        consent_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        created INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        payload TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS ga_queue_next ON ga_queue (next_at)",
    "CREATE INDEX IF NOT EXISTS ga_queue_consent ON ga_queue (consent_id)",
];

/// A queued event as the sender reads it.
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    pub id: i64,
    pub site: String,
    pub client_id: String,
    pub attempts: u32,
    pub payload: String,
}

impl Store {
    /// Up to `limit` events due at `now_ms`, oldest first.
    pub async fn ga_due(&self, now_ms: i64, limit: u32) -> Result<Vec<QueuedEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, site, client_id, attempts, payload FROM ga_queue
             WHERE next_at <= ? ORDER BY id LIMIT ?",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| QueuedEvent {
                id: r.get("id"),
                site: r.get("site"),
                client_id: r.get("client_id"),
                attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
                payload: r.get("payload"),
            })
            .collect())
    }

    /// GA took these (or refused them for good): they leave the queue.
    pub async fn ga_done(&self, ids: &[i64]) -> Result<(), StoreError> {
        for chunk in ids.chunks(500) {
            let mut delete = sqlx::QueryBuilder::new("DELETE FROM ga_queue WHERE id IN (");
            let mut list = delete.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            delete.push(")");
            delete.build().execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Try these again at `next_ms`.
    pub async fn ga_retry(&self, ids: &[i64], next_ms: i64) -> Result<(), StoreError> {
        for chunk in ids.chunks(500) {
            let mut update =
                sqlx::QueryBuilder::new("UPDATE ga_queue SET attempts = attempts + 1, next_at = ");
            update.push_bind(next_ms).push(" WHERE id IN (");
            let mut list = update.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            update.push(")");
            update.build().execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Drops events created before `cutoff_ms` (GA refuses events older than 72 hours);
    /// returns how many.
    pub async fn ga_expire(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM ga_queue WHERE created < ?")
            .bind(cutoff_ms)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Keeps the newest `limit` events; returns how many older ones were dropped.
    pub async fn ga_trim(&self, limit: u32) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "DELETE FROM ga_queue WHERE id <= (
                SELECT id FROM ga_queue ORDER BY id DESC LIMIT 1 OFFSET ?)",
        )
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn ga_depth(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM ga_queue")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Withdrawal stops forwarding at once (GDPR art. 7(3)): what this consent allowed and
    /// is still queued is deleted.
    pub async fn ga_forget(&self, consent_id: &str) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM ga_queue WHERE consent_id = ?")
            .bind(consent_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
