//! Raw events of the site's own statistics, written through one group-committing writer:
//! every `/_cp/collect` request waits until its events (and their GA queue entries) are
//! on disk, yet many requests share one transaction and one fsync, so durability does not
//! cost throughput.
//!
//! The table is laid out for the statistics to come: one row per event with the visit,
//! the cleaned page, the source (referrer host, UTM), place and device as dimensions.

use tokio::sync::{mpsc, oneshot};

use super::db::{Db, on_db};
use super::{Store, StoreError};
use crate::privacy::AnonymizedEvent;
use crate::privacy::event::ParamValue;

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
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar(&pool.sql(
                "SELECT COUNT(*) FROM events WHERE site = ? AND ts >= ? AND ts < ?",
            ))
            .bind(site)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Deletes raw events older than `cutoff_ms`.
    pub async fn delete_events_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(&pool.sql("DELETE FROM events WHERE ts < ?"))
                .bind(cutoff_ms)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

/// The writer task: takes every waiting request, writes them in one transaction, answers
/// them all.
pub(super) async fn run_writer(db: Db, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(GROUP);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let result = write(&db, &batch).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "cannot write events");
        }
        for (_, done) in batch.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

/// Rows per `INSERT` statement: one statement for many rows costs far less than a
/// statement per row (SQLite allows 32,766 bound values, PostgreSQL 65,535; events have
/// 25 columns).
const ROWS_PER_STATEMENT: usize = 500;

async fn write(db: &Db, batch: &[Job]) -> Result<(), sqlx::Error> {
    let events: Vec<&AnonymizedEvent> = batch.iter().flat_map(|(i, _)| &i.events).collect();
    let queued: Vec<&GaQueued> = batch.iter().flat_map(|(i, _)| &i.ga).collect();
    let rows: Vec<EventRow> = events.iter().map(|e| EventRow::of(e)).collect();
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO events (site, ts, name, visitor, visit, visit_start, entry, host, path,
                    query, referrer, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
                    country, region, browser, browser_version, os, device, language, engagement_ms, props) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(e.site)
                    .push_bind(e.ts)
                    .push_bind(e.name)
                    .push_bind(e.visitor)
                    .push_bind(e.visit)
                    .push_bind(e.visit_start)
                    .push_bind(e.entry)
                    .push_bind(e.host)
                    .push_bind(e.path)
                    .push_bind(e.query.as_deref())
                    .push_bind(e.referrer)
                    .push_bind(e.utm[0])
                    .push_bind(e.utm[1])
                    .push_bind(e.utm[2])
                    .push_bind(e.utm[3])
                    .push_bind(e.utm[4])
                    .push_bind(e.country)
                    .push_bind(e.region)
                    .push_bind(e.browser)
                    .push_bind(e.browser_version.as_deref())
                    .push_bind(e.os)
                    .push_bind(e.device)
                    .push_bind(e.language)
                    .push_bind(e.engagement_ms)
                    .push_bind(e.props.as_deref());
            });
            insert.build().execute(&mut *tx).await?;
        }
        for chunk in queued.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO ga_queue (site, consent_id, client_id, created, next_at, payload) ",
            );
            insert.push_values(chunk, |mut row, g| {
                row.push_bind(g.site.as_str())
                    .push_bind(g.consent_id.as_str())
                    .push_bind(g.client_id.as_str())
                    .push_bind(g.created_ms)
                    .push_bind(g.created_ms)
                    .push_bind(g.payload.as_str());
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await
    })
}

/// One event's columns, borrowed from the event where they can be.
struct EventRow<'a> {
    site: &'a str,
    ts: i64,
    name: &'a str,
    visitor: i64,
    visit: i64,
    visit_start: i64,
    entry: bool,
    host: &'a str,
    path: &'a str,
    query: Option<String>,
    referrer: Option<&'a str>,
    utm: [Option<&'a str>; 5],
    country: Option<&'a str>,
    region: Option<&'a str>,
    browser: &'static str,
    browser_version: Option<String>,
    os: &'static str,
    device: &'static str,
    language: Option<&'a str>,
    engagement_ms: i64,
    props: Option<String>,
}

impl<'a> EventRow<'a> {
    fn of(e: &'a AnonymizedEvent) -> EventRow<'a> {
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
        EventRow {
            site: e.site(),
            ts: e.ts_ms(),
            name: e.name(),
            visitor: e.visitor().get(),
            visit: visit.id,
            visit_start: visit.started_ms,
            entry: visit.entry,
            host: &page.host,
            path: &page.path,
            query,
            referrer: e.referrer(),
            utm: [
                utm.source.as_deref(),
                utm.medium.as_deref(),
                utm.campaign.as_deref(),
                utm.term.as_deref(),
                utm.content.as_deref(),
            ],
            country: e.location().country.as_deref(),
            region: e.location().region.as_deref(),
            browser: device.browser_name(),
            browser_version: device.browser_version.map(|v| v.to_string()),
            os: device.os,
            device: device.category.as_str(),
            language: e.language(),
            engagement_ms: i64::try_from(e.engagement_ms()).unwrap_or(i64::MAX),
            props,
        }
    }
}
