//! Raw events of the site's own statistics, written through one group-committing writer:
//! every `/_cp/collect` request waits until its events (and their GA queue entries) are
//! on disk, yet many requests share one transaction and one fsync, so durability does not
//! cost throughput.
//!
//! The table is laid out for the statistics to come: one row per event with the visit,
//! the cleaned page, the source (referrer host, UTM), place and device as dimensions.

use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError};
use crate::privacy::AnonymizedEvent;
use crate::privacy::event::ParamValue;

pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        ts INTEGER NOT NULL,
        name TEXT NOT NULL,
        visitor INTEGER NOT NULL,
        visit INTEGER NOT NULL,
        visit_start INTEGER NOT NULL,
        entry INTEGER NOT NULL,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        query TEXT,
        referrer TEXT,
        utm_source TEXT,
        utm_medium TEXT,
        utm_campaign TEXT,
        utm_term TEXT,
        utm_content TEXT,
        country TEXT,
        region TEXT,
        browser TEXT NOT NULL,
        browser_version TEXT,
        os TEXT NOT NULL,
        device TEXT NOT NULL,
        language TEXT,
        engagement_ms INTEGER NOT NULL,
        props TEXT
    )",
    "CREATE INDEX IF NOT EXISTS events_site_ts ON events (site, ts)",
    "CREATE INDEX IF NOT EXISTS events_ts ON events (ts)",
];

/// An event waiting for GA: the Measurement Protocol payload of one event, built from an
/// [`AnonymizedEvent`] by the GA module, with what the queue needs to send and forget it.
#[derive(Debug, Clone)]
pub struct GaQueued {
    pub site: String,
    /// The consent that allowed it: withdrawing it removes what is still queued.
    pub consent_id: String,
    pub client_id: String,
    /// Unix milliseconds.
    pub created_ms: i64,
    /// The JSON of one event with its envelope (`user_location`, `device`, `consent`).
    pub payload: String,
}

/// What one request writes.
#[derive(Debug, Default)]
pub struct Ingest {
    pub events: Vec<AnonymizedEvent>,
    pub ga: Vec<GaQueued>,
}

pub(super) type Job = (Ingest, oneshot::Sender<Result<(), String>>);

/// Most requests one transaction takes.
const GROUP: usize = 512;

impl Store {
    /// Writes `ingest` durably; returns when it is on disk.
    pub async fn ingest(&self, ingest: Ingest) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.writer
            .send((ingest, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Write)
    }

    /// Events stored in `[from_ms, to_ms)`, for tests and the statistics.
    pub async fn count_events(
        &self,
        site: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<i64, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE site = ? AND ts >= ? AND ts < ?")
                .bind(site)
                .bind(from_ms)
                .bind(to_ms)
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }

    /// Deletes raw events older than `cutoff_ms`.
    pub async fn delete_events_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM events WHERE ts < ?")
            .bind(cutoff_ms)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}

/// The writer task: takes every waiting request, writes them in one transaction, answers
/// them all.
pub(super) async fn run_writer(pool: sqlx::SqlitePool, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(GROUP);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let result = write(&pool, &batch).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "cannot write events");
        }
        for (_, done) in batch.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

/// Rows per `INSERT` statement: one statement for many rows costs far less than a
/// statement per row (SQLite allows 32,766 bound values; events have 25 columns).
const ROWS_PER_STATEMENT: usize = 500;

async fn write(pool: &sqlx::SqlitePool, batch: &[Job]) -> Result<(), sqlx::Error> {
    let events: Vec<&AnonymizedEvent> = batch.iter().flat_map(|(i, _)| &i.events).collect();
    let queued: Vec<&GaQueued> = batch.iter().flat_map(|(i, _)| &i.ga).collect();
    let mut tx = pool.begin().await?;
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        insert_events(&mut tx, chunk).await?;
    }
    for chunk in queued.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO ga_queue (site, consent_id, client_id, created, next_at, payload) ",
        );
        insert.push_values(chunk, |mut row, g| {
            row.push_bind(&g.site)
                .push_bind(&g.consent_id)
                .push_bind(&g.client_id)
                .push_bind(g.created_ms)
                .push_bind(g.created_ms)
                .push_bind(&g.payload);
        });
        insert.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}

async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    events: &[&AnonymizedEvent],
) -> Result<(), sqlx::Error> {
    let mut insert = sqlx::QueryBuilder::new(
        "INSERT INTO events (site, ts, name, visitor, visit, visit_start, entry, host, path,
            query, referrer, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
            country, region, browser, browser_version, os, device, language, engagement_ms, props) ",
    );
    insert.push_values(events, |mut row, e| {
        let page = e.page();
        let query = (!page.query.is_empty()).then(|| {
            page.query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        });
        let props = (!e.params().is_empty()).then(|| {
            let map: serde_json::Map<String, serde_json::Value> = e
                .params()
                .iter()
                .map(|(k, v)| {
                    let value = match v {
                        ParamValue::Text(t) => serde_json::Value::from(t.as_str()),
                        ParamValue::Number(n) => serde_json::Value::from(*n),
                    };
                    (k.clone(), value)
                })
                .collect();
            serde_json::Value::Object(map).to_string()
        });
        let utm = e.utm();
        let device = e.device();
        let visit = e.visit();
        row.push_bind(e.site().to_owned())
            .push_bind(e.ts_ms())
            .push_bind(e.name().to_owned())
            .push_bind(e.visitor().get())
            .push_bind(visit.id)
            .push_bind(visit.started_ms)
            .push_bind(visit.entry)
            .push_bind(page.host.clone())
            .push_bind(page.path.clone())
            .push_bind(query)
            .push_bind(e.referrer().map(str::to_owned))
            .push_bind(utm.source.clone())
            .push_bind(utm.medium.clone())
            .push_bind(utm.campaign.clone())
            .push_bind(utm.term.clone())
            .push_bind(utm.content.clone())
            .push_bind(e.location().country.clone())
            .push_bind(e.location().region.clone())
            .push_bind(device.browser_name())
            .push_bind(device.browser_version.map(|v| v.to_string()))
            .push_bind(device.os)
            .push_bind(device.category.as_str())
            .push_bind(e.language().map(str::to_owned))
            .push_bind(i64::try_from(e.engagement_ms()).unwrap_or(i64::MAX))
            .push_bind(props);
    });
    insert.build().execute(&mut **tx).await?;
    Ok(())
}
