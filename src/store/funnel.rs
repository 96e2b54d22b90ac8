//! The consent funnel as aggregate counts per site and hour — banner shown, accept all,
//! reject all, custom, each category granted, GPC — without any identifier.

use super::db::on_db;
use super::{Store, StoreError};

impl Store {
    /// Adds `counts` (site, hour as Unix seconds / 3600, metric, n) to the funnel.
    pub async fn add_funnel(
        &self,
        counts: &[(String, i64, &'static str, i64)],
    ) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for (site, hour, metric, n) in counts {
                sqlx::query(&pool.sql(
                    "INSERT INTO consent_funnel (site, hour, metric, count) VALUES (?, ?, ?, ?)
                     ON CONFLICT (site, hour, metric)
                     DO UPDATE SET count = consent_funnel.count + excluded.count",
                ))
                .bind(site)
                .bind(hour)
                .bind(*metric)
                .bind(n)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The funnel of a site: (metric, total) over hours `[from, to)`.
    pub async fn funnel(
        &self,
        site: &str,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as(&pool.sql(
                "SELECT metric, CAST(SUM(count) AS BIGINT) FROM consent_funnel
                 WHERE site = ? AND hour >= ? AND hour < ? GROUP BY metric ORDER BY metric",
            ))
            .bind(site)
            .bind(from_hour)
            .bind(to_hour)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The funnel of a site hour by hour: (hour, metric, count) over hours `[from, to)`.
    pub async fn funnel_hours(
        &self,
        site: &str,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<(i64, String, i64)>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as(&pool.sql(
                "SELECT hour, metric, count FROM consent_funnel
                 WHERE site = ? AND hour >= ? AND hour < ? ORDER BY hour, metric",
            ))
            .bind(site)
            .bind(from_hour)
            .bind(to_hour)
            .fetch_all(pool)
            .await?
        }))
    }
}

/// Funnel counts gathered in memory and written every few seconds (aggregate counts
/// need no per-request durability; losing a few seconds in a crash is acceptable).
/// (site, hour, metric) → count.
type Counts = std::collections::HashMap<(std::sync::Arc<str>, i64, &'static str), i64>;

#[derive(Debug, Default)]
pub struct FunnelCounter {
    counts: std::sync::Mutex<Counts>,
}

impl FunnelCounter {
    /// Counts one `metric` (`banner_shown`, `accept_all`, `granted_analytics`, `gpc`, …)
    /// for `site` now.
    pub fn add(&self, site: &std::sync::Arc<str>, metric: &'static str) {
        let hour = i64::try_from(crate::clock::unix_now() / 3600).unwrap_or(i64::MAX);
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts
            .entry((std::sync::Arc::clone(site), hour, metric))
            .or_insert(0) += 1;
    }

    /// Writes what was counted since the last flush.
    pub async fn flush(&self, store: &Store) {
        let taken: Vec<(String, i64, &'static str, i64)> = {
            let mut counts = self
                .counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            counts
                .drain()
                .map(|((site, hour, metric), n)| (site.to_string(), hour, metric, n))
                .collect()
        };
        if taken.is_empty() {
            return;
        }
        if let Err(e) = store.add_funnel(&taken).await {
            tracing::error!(error = %e, "cannot write consent funnel counts");
        }
    }
}
