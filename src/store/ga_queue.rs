//! The durable queue of events for Google Analytics: rows are written with the events
//! (group commit, see `events`), claimed by a sender in batches, deleted once GA took
//! them, retried with backoff when it did not, and bounded by size and age — what goes
//! is counted, never silently lost.
//!
//! Claiming leases the rows (their `next_at` moves a few minutes ahead), so with several
//! replicas on one PostgreSQL each event has one sender at a time: the claim skips rows
//! another replica has locked (`FOR UPDATE SKIP LOCKED`). A sender that dies mid-round
//! loses nothing: its lease runs out and the rows are due again.

use super::db::on_db;
use super::{Store, StoreError};

/// How long a claimed row stays with its sender before it is due again.
pub const LEASE_MS: i64 = 5 * 60 * 1000;

/// A queued event as the sender reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueuedEvent {
    pub id: i64,
    pub site: String,
    pub client_id: String,
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    pub payload: String,
}

impl Store {
    /// Claims up to `limit` events due at `now_ms`, oldest first, for [`LEASE_MS`].
    pub async fn ga_due(&self, now_ms: i64, limit: u32) -> Result<Vec<QueuedEvent>, StoreError> {
        let mut rows: Vec<QueuedEvent> = on_db!(&self.db, pool => {
            let lock = if matches!(self.db, super::db::Db::Postgres(_)) {
                " FOR UPDATE SKIP LOCKED"
            } else {
                ""
            };
            let mut claim = sqlx::QueryBuilder::new("UPDATE ga_queue SET next_at = ");
            claim
                .push_bind(now_ms.saturating_add(LEASE_MS))
                .push(" WHERE id IN (SELECT id FROM ga_queue WHERE next_at <= ")
                .push_bind(now_ms)
                .push(" ORDER BY id LIMIT ")
                .push_bind(i64::from(limit))
                .push(lock)
                .push(") RETURNING id, site, client_id, attempts, payload");
            claim.build_query_as().fetch_all(pool).await?
        });
        rows.sort_unstable_by_key(|r| r.id);
        Ok(rows)
    }

    /// GA took these (or refused them for good): they leave the queue.
    pub async fn ga_done(&self, ids: &[i64]) -> Result<(), StoreError> {
        for chunk in ids.chunks(500) {
            on_db!(&self.db, pool => {
                let mut delete = sqlx::QueryBuilder::new("DELETE FROM ga_queue WHERE id IN (");
                let mut list = delete.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                delete.push(")");
                delete.build().execute(pool).await?;
            });
        }
        Ok(())
    }

    /// Try these again at `next_ms`.
    pub async fn ga_retry(&self, ids: &[i64], next_ms: i64) -> Result<(), StoreError> {
        for chunk in ids.chunks(500) {
            on_db!(&self.db, pool => {
                let mut update = sqlx::QueryBuilder::new(
                    "UPDATE ga_queue SET attempts = attempts + 1, next_at = ",
                );
                update.push_bind(next_ms).push(" WHERE id IN (");
                let mut list = update.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                update.push(")");
                update.build().execute(pool).await?;
            });
        }
        Ok(())
    }

    /// Drops events created before `cutoff_ms` (GA refuses events older than 72 hours);
    /// returns how many.
    pub async fn ga_expire(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(&pool.sql("DELETE FROM ga_queue WHERE created < ?"))
                .bind(cutoff_ms)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// Keeps the newest `limit` events; returns how many older ones were dropped.
    pub async fn ga_trim(&self, limit: u32) -> Result<u64, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(&pool.sql(
                "DELETE FROM ga_queue WHERE id <= (
                    SELECT id FROM ga_queue ORDER BY id DESC LIMIT 1 OFFSET ?)",
            ))
            .bind(i64::from(limit))
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    pub async fn ga_depth(&self) -> Result<i64, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM ga_queue")
                .fetch_one(pool)
                .await?
        }))
    }

    /// Withdrawal stops forwarding at once (GDPR art. 7(3)): what this consent allowed and
    /// is still queued is deleted.
    pub async fn ga_forget(&self, consent_id: &str) -> Result<u64, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(&pool.sql("DELETE FROM ga_queue WHERE consent_id = ?"))
                .bind(consent_id)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
