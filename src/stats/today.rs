//! The open day — today, not rolled up yet — kept in memory per site, so the queries of a
//! dashboard do not each read the day's raw events again. A snapshot is refreshed at most
//! every [`REFRESH`] with only the events stored since the last one (ids only grow); it is
//! dropped when the day changes. Today's numbers are therefore at most that old.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::store::rollup::{DAY_MS, RawEvent};
use crate::store::{Store, StoreError};

/// How old a snapshot may be before a query refreshes it.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Today's events of one site, in chunks shared between snapshots.
#[derive(Debug)]
pub struct Snapshot {
    day: i64,
    last_id: i64,
    taken: Instant,
    chunks: Vec<Arc<Vec<RawEvent>>>,
}

impl Snapshot {
    pub fn events(&self) -> impl Iterator<Item = &RawEvent> {
        self.chunks.iter().flat_map(|c| c.iter())
    }
}

#[derive(Debug, Default)]
pub struct OpenDays {
    sites: tokio::sync::Mutex<HashMap<String, Arc<Snapshot>>>,
}

impl OpenDays {
    /// The events of `site` on `day` (today), at most [`REFRESH`] old.
    pub async fn snapshot(
        &self,
        store: &Store,
        site: &str,
        day: i64,
    ) -> Result<Arc<Snapshot>, StoreError> {
        // Held while refreshing: concurrent queries of one dashboard wait for one read.
        let mut sites = self.sites.lock().await;
        let current = sites.get(site).filter(|s| s.day == day).cloned();
        if let Some(s) = &current
            && s.taken.elapsed() < REFRESH
        {
            return Ok(Arc::clone(s));
        }
        let (mut chunks, last_id) = match &current {
            Some(s) => (s.chunks.clone(), s.last_id),
            None => (Vec::new(), 0),
        };
        let taken = Instant::now();
        let new = store
            .raw_events_after(site, day * DAY_MS, (day + 1) * DAY_MS, last_id)
            .await?;
        let last_id = new.last().map_or(last_id, |e| e.id);
        if !new.is_empty() {
            chunks.push(Arc::new(new));
        }
        let snapshot = Arc::new(Snapshot {
            day,
            last_id,
            taken,
            chunks,
        });
        sites.insert(site.to_owned(), Arc::clone(&snapshot));
        Ok(snapshot)
    }
}
