//! Proof of enforcement per site, UTC day, category and action: what the proxy kept from
//! the site or the browser (GDPR art. 5(2), accountability). Counted in memory on the hot
//! path (`telemetry::ProofTally`) and added here every few seconds.

use super::db::on_db;
use super::{Store, StoreError};

/// One day's count of one action for one category of one site.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProofCount {
    pub day: i64,
    pub category: String,
    pub action: String,
    pub count: i64,
}

impl Store {
    /// Adds `counts` (site, day, category, action, n).
    pub async fn add_enforcement(
        &self,
        counts: &[(String, i64, &'static str, &'static str, i64)],
    ) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for (site, day, category, action, n) in counts {
                sqlx::query(&pool.sql(
                    "INSERT INTO enforcement (site, day, category, action, count)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (site, day, category, action)
                     DO UPDATE SET count = enforcement.count + excluded.count",
                ))
                .bind(site)
                .bind(day)
                .bind(*category)
                .bind(*action)
                .bind(n)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The proof of `site` over days `[from_day, to_day)`.
    pub async fn enforcement(
        &self,
        site: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<ProofCount>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as(&pool.sql(
                "SELECT day, category, action, count FROM enforcement
                 WHERE site = ? AND day >= ? AND day < ? ORDER BY day, category, action",
            ))
            .bind(site)
            .bind(from_day)
            .bind(to_day)
            .fetch_all(pool)
            .await?
        }))
    }
}
