//! The statistics' storage side: raw events read back for the statistics, and the daily
//! rollups made from them (per site, UTC day, dimension and value) so no dashboard query
//! scans months of raw rows. The rollups are made by `stats::rollup`; this module only
//! stores and reads them.
//!
//! Daily is the grain because the visitor hash changes every UTC day (a new salt): a
//! visitor counted on two days is two hashes, so daily unique visitors add up exactly
//! over any range of days. The hour of the day is one of the dimensions.

use super::db::on_db;
use super::{Store, StoreError};

pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// One raw event as the statistics read it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RawEvent {
    pub id: i64,
    pub ts: i64,
    pub name: String,
    pub visitor: i64,
    pub path: String,
    pub referrer: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub browser: String,
    pub os: String,
    pub device: String,
}

/// Additive counts of one group: any two can be summed (see the module note).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Counts {
    pub visitors: i64,
    pub visits: i64,
    pub pageviews: i64,
    pub events: i64,
    pub bounces: i64,
    pub duration_ms: i64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.visitors += o.visitors;
        self.visits += o.visits;
        self.pageviews += o.pageviews;
        self.events += o.events;
        self.bounces += o.bounces;
        self.duration_ms += o.duration_ms;
    }
}

/// One rollup row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rolled {
    pub dim: &'static str,
    pub value: String,
    pub counts: Counts,
}

/// A rollup read back: per value (summed over the days asked), or per day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RolledValue {
    pub key: String,
    #[sqlx(flatten)]
    pub counts: Counts,
}

const RAW_COLUMNS: &str = "SELECT id, ts, name, visitor, path, referrer, utm_source, utm_medium,
    utm_campaign, utm_term, utm_content, country, region, browser, os, device FROM events";

impl Store {
    /// The raw events of `site` in `[from_ms, to_ms)`, oldest first.
    pub async fn raw_events(
        &self,
        site: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<RawEvent>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            let mut select = sqlx::QueryBuilder::new(RAW_COLUMNS);
            select
                .push(" WHERE site = ")
                .push_bind(site)
                .push(" AND ts >= ")
                .push_bind(from_ms)
                .push(" AND ts < ")
                .push_bind(to_ms)
                .push(" ORDER BY ts");
            select.build_query_as().fetch_all(pool).await?
        }))
    }

    /// Up to `limit` raw events of `site` in `[from_ms, to_ms)` stored after the event
    /// `after_id` (ids grow with every insert), in id order: what is new since the last
    /// read. Read in bounded pieces: a read that lasts seconds would keep SQLite from
    /// checkpointing its WAL while events are written.
    pub async fn raw_events_after(
        &self,
        site: &str,
        from_ms: i64,
        to_ms: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<RawEvent>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            let mut select = sqlx::QueryBuilder::new(RAW_COLUMNS);
            select
                .push(" WHERE site = ")
                .push_bind(site)
                .push(" AND ts >= ")
                .push_bind(from_ms)
                .push(" AND ts < ")
                .push_bind(to_ms)
                .push(" AND id > ")
                .push_bind(after_id)
                .push(" ORDER BY id LIMIT ")
                .push_bind(limit);
            select.build_query_as().fetch_all(pool).await?
        }))
    }

    /// The first day of `site` with raw events, if any.
    pub async fn first_event_day(&self, site: &str) -> Result<Option<i64>, StoreError> {
        let first: Option<i64> = on_db!(&self.db, pool => {
            sqlx::query_scalar(&pool.sql("SELECT MIN(ts) FROM events WHERE site = ?"))
                .bind(site)
                .fetch_one(pool)
                .await?
        });
        Ok(first.map(|ts| ts.div_euclid(DAY_MS)))
    }

    /// The days of `site` in `[from_day, to_day)` that have their rollups.
    pub async fn rolled_days(
        &self,
        site: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar(&pool.sql(
                "SELECT day FROM rollup_days WHERE site = ? AND day >= ? AND day < ? ORDER BY day",
            ))
            .bind(site)
            .bind(from_day)
            .bind(to_day)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Stores the rollups of one closed day. Returns `false` (writing nothing) when the
    /// day already has them — another replica was first.
    pub async fn write_rollup(
        &self,
        site: &str,
        day: i64,
        raw_events: i64,
        rows: &[Rolled],
    ) -> Result<bool, StoreError> {
        let now = crate::clock::unix_now_ms();
        Ok(on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            // The claim: on PostgreSQL a second replica's insert waits for this
            // transaction and then finds the row.
            let claimed = sqlx::query(&pool.sql(
                "INSERT INTO rollup_days (site, day, rolled_at, raw_events) VALUES (?, ?, ?, ?)
                 ON CONFLICT (site, day) DO NOTHING",
            ))
            .bind(site)
            .bind(day)
            .bind(now)
            .bind(raw_events)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if claimed {
                for chunk in rows.chunks(1000) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO rollups (site, day, dim, value, visitors, visits, pageviews,
                            events, bounces, duration_ms) ",
                    );
                    insert.push_values(chunk, |mut row, r| {
                        row.push_bind(site)
                            .push_bind(day)
                            .push_bind(r.dim)
                            .push_bind(r.value.as_str())
                            .push_bind(r.counts.visitors)
                            .push_bind(r.counts.visits)
                            .push_bind(r.counts.pageviews)
                            .push_bind(r.counts.events)
                            .push_bind(r.counts.bounces)
                            .push_bind(r.counts.duration_ms);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            claimed
        }))
    }

    /// The rollups of `dim` for `site` over days `[from_day, to_day)`, summed per value.
    pub async fn rollup_by_value(
        &self,
        site: &str,
        dim: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<RolledValue>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as(&pool.sql(
                "SELECT value AS key, CAST(SUM(visitors) AS BIGINT) AS visitors,
                    CAST(SUM(visits) AS BIGINT) AS visits,
                    CAST(SUM(pageviews) AS BIGINT) AS pageviews,
                    CAST(SUM(events) AS BIGINT) AS events,
                    CAST(SUM(bounces) AS BIGINT) AS bounces,
                    CAST(SUM(duration_ms) AS BIGINT) AS duration_ms
                 FROM rollups WHERE site = ? AND dim = ? AND day >= ? AND day < ?
                 GROUP BY value",
            ))
            .bind(site)
            .bind(dim)
            .bind(from_day)
            .bind(to_day)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The rollups of `dim` = `value` for `site`, one row per day in `[from_day, to_day)`.
    pub async fn rollup_by_day(
        &self,
        site: &str,
        dim: &str,
        value: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<(i64, Counts)>, StoreError> {
        let rows: Vec<RolledValue> = on_db!(&self.db, pool => {
            sqlx::query_as(&pool.sql(
                "SELECT CAST(day AS TEXT) AS key, visitors, visits, pageviews, events, bounces,
                    duration_ms
                 FROM rollups WHERE site = ? AND dim = ? AND value = ? AND day >= ? AND day < ?
                 ORDER BY day",
            ))
            .bind(site)
            .bind(dim)
            .bind(value)
            .bind(from_day)
            .bind(to_day)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((r.key.parse().ok()?, r.counts)))
            .collect())
    }

    /// Rollups of days before `cutoff_day` go (their own, longer retention).
    pub async fn delete_rollups_before(&self, cutoff_day: i64) -> Result<u64, StoreError> {
        Ok(on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(&pool.sql("DELETE FROM rollups WHERE day < ?"))
                .bind(cutoff_day)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(&pool.sql("DELETE FROM rollup_days WHERE day < ?"))
                .bind(cutoff_day)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n
        }))
    }

    /// Distinct visitors of `site` with an event since `since_ms` (realtime).
    pub async fn visitors_since(&self, site: &str, since_ms: i64) -> Result<i64, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar(&pool.sql(
                "SELECT COUNT(DISTINCT visitor) FROM events WHERE site = ? AND ts >= ?",
            ))
            .bind(site)
            .bind(since_ms)
            .fetch_one(pool)
            .await?
        }))
    }
}
