//! The rollup job: once a UTC day has closed, its raw events become rollup rows (totals
//! and one row per value of each rolled dimension), so dashboards read a few rows per
//! day instead of every event. Runs at start and every ten minutes; with several
//! replicas each day is written once (the store's claim).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::dims::{Dim, Filter};
use super::visits;
use crate::store::rollup::{DAY_MS, Rolled};
use crate::store::{Store, StoreError};

const EVERY: Duration = Duration::from_secs(600);

/// A day is rolled up this long after it ended: events still being written when the
/// clock passed midnight land first.
const GRACE_MS: i64 = 2 * 60 * 1000;

/// A configured site as the statistics know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRef {
    pub name: String,
    pub hosts: Vec<String>,
}

/// The configured sites (swapped on reload).
pub type Sites = Arc<ArcSwap<Vec<SiteRef>>>;

/// The sites of `config`.
pub fn sites_of(config: &crate::config::Config) -> Vec<SiteRef> {
    config
        .sites
        .iter()
        .map(|s| SiteRef {
            name: s.name.clone(),
            hosts: s.hosts.clone(),
        })
        .collect()
}

pub async fn run(store: Store, sites: Sites, mut shutdown: watch::Receiver<bool>) {
    loop {
        let names = sites.load_full();
        for site in names.iter().map(|s| s.name.as_str()) {
            match catch_up(&store, site, crate::clock::unix_now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(site = %site, days = n, "statistics: days rolled up"),
                Err(e) => tracing::error!(site = %site, error = %e, "statistics: rollup failed"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Rolls up every closed day of `site` that has none yet; returns how many it wrote.
pub async fn catch_up(store: &Store, site: &str, now_ms: i64) -> Result<usize, StoreError> {
    let Some(first) = store.first_event_day(site).await? else {
        return Ok(0);
    };
    let closed = (now_ms - GRACE_MS).div_euclid(DAY_MS);
    let done: std::collections::HashSet<i64> = store
        .rolled_days(site, first, closed)
        .await?
        .into_iter()
        .collect();
    let mut written = 0;
    for day in first..closed {
        if !done.contains(&day) && roll_day(store, site, day).await? {
            written += 1;
        }
    }
    Ok(written)
}

/// Rolls up one day; `false` when another replica already had.
pub async fn roll_day(store: &Store, site: &str, day: i64) -> Result<bool, StoreError> {
    let events = store
        .raw_events(site, day * DAY_MS, (day + 1) * DAY_MS)
        .await?;
    let count = events.len();
    let rows = tokio::task::spawn_blocking(move || rows(&events))
        .await
        .map_err(|e| StoreError::Write(format!("rolling up failed: {e}")))?;
    store
        .write_rollup(site, day, i64::try_from(count).unwrap_or(i64::MAX), &rows)
        .await
}

/// The rollup rows of one day's events: totals (`dim` and `value` empty), then every
/// value of every rolled dimension.
pub fn rows(events: &[crate::store::rollup::RawEvent]) -> Vec<Rolled> {
    let visits = visits::visits(events);
    let none = Filter::default();
    let mut out = Vec::new();
    for (_, counts) in visits::group(&visits, &[], &none) {
        out.push(Rolled {
            dim: "",
            value: String::new(),
            counts,
        });
    }
    for dim in Dim::ROLLED {
        for (key, counts) in visits::group(&visits, &[dim], &none) {
            out.push(Rolled {
                dim: dim.name(),
                value: key.0.into_iter().next().unwrap_or_default(),
                counts,
            });
        }
    }
    out
}
