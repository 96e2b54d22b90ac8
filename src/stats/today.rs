//! The open day — today, not rolled up yet — kept in memory per site, so the queries of a
//! dashboard do not each read the day's raw events again. A snapshot is refreshed at most
//! every [`REFRESH`] with only the events stored since the last one (ids only grow); it is
//! dropped when the day changes. Today's numbers are therefore at most that old (or ten
//! times the last refresh's cost, on a very busy day). Each answer computed from a
//! snapshot is kept with it, so a dashboard's repeated queries cost nothing until the
//! next refresh.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dims::{Dim, Filter, Key};
use crate::store::rollup::{Counts, DAY_MS, RawEvent};
use crate::store::{Store, StoreError};

/// Rows read per query when refreshing (see `Store::raw_events_after`).
const PIECE: i64 = 20_000;

/// How old a snapshot may be before a query refreshes it.
pub const REFRESH: Duration = Duration::from_secs(5);

/// One visit: (day, visitor, its events as (chunk, index) in time order).
type VisitAt = (i64, i64, Vec<(u32, u32)>);

/// Today's events of one site, in chunks shared between snapshots, and their visits
/// (cut once per snapshot, not once per query).
#[derive(Debug)]
pub struct Snapshot {
    day: i64,
    last_id: i64,
    taken: Instant,
    chunks: Vec<Arc<Vec<RawEvent>>>,
    visits: Vec<VisitAt>,
    /// How long this snapshot took to make: the next waits at least ten times that, so
    /// refreshing never takes more than a tenth of a core however busy the day is.
    cost: Duration,
    /// Answers already computed from this snapshot, by query (dimensions and filter): a
    /// dashboard asking again within the refresh interval costs nothing.
    answers: std::sync::Mutex<HashMap<String, Arc<HashMap<Key, Counts>>>>,
}

impl Snapshot {
    pub fn events(&self) -> impl Iterator<Item = &RawEvent> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Today's counts grouped by `dims` under `filter`, computed once per snapshot.
    pub fn grouped(&self, dims: &[Dim], filter: &Filter) -> Arc<HashMap<Key, Counts>> {
        let key = format!("{dims:?} {filter:?}");
        if let Some(done) = self
            .answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Arc::clone(done);
        }
        let counts = Arc::new(super::visits::group(&self.visits(), dims, filter));
        let mut answers = self
            .answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A dashboard asks a few dozen distinct queries; a stranger cannot grow this (the
        // stats API needs a token), but bound it anyway.
        if answers.len() >= 256 {
            answers.clear();
        }
        answers.insert(key, Arc::clone(&counts));
        counts
    }

    /// Today's visits.
    pub fn visits(&self) -> Vec<super::visits::Visit<'_>> {
        self.visits
            .iter()
            .map(|(day, visitor, at)| super::visits::Visit {
                day: *day,
                visitor: *visitor,
                events: at
                    .iter()
                    .map(|(c, i)| &self.chunks[*c as usize][*i as usize])
                    .collect(),
            })
            .collect()
    }

    fn cut(chunks: &[Arc<Vec<RawEvent>>]) -> Vec<VisitAt> {
        let mut all: Vec<&RawEvent> = Vec::new();
        let mut at: Vec<(u32, u32)> = Vec::new();
        for (c, chunk) in chunks.iter().enumerate() {
            for (i, e) in chunk.iter().enumerate() {
                all.push(e);
                at.push((
                    u32::try_from(c).unwrap_or(u32::MAX),
                    u32::try_from(i).unwrap_or(u32::MAX),
                ));
            }
        }
        super::visits::cut(&all)
            .into_iter()
            .map(|(day, visitor, indices)| {
                (day, visitor, indices.into_iter().map(|i| at[i]).collect())
            })
            .collect()
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
            && s.taken.elapsed() < REFRESH.max(s.cost * 10)
        {
            return Ok(Arc::clone(s));
        }
        let (mut chunks, last_id) = match &current {
            Some(s) => (s.chunks.clone(), s.last_id),
            None => (Vec::new(), 0),
        };
        let taken = Instant::now();
        let mut last_id = last_id;
        loop {
            let new = store
                .raw_events_after(site, day * DAY_MS, (day + 1) * DAY_MS, last_id, PIECE)
                .await?;
            let full = new.len() as i64 == PIECE;
            last_id = new.last().map_or(last_id, |e| e.id);
            if !new.is_empty() {
                chunks.push(Arc::new(new));
            }
            if !full {
                break;
            }
        }
        // Cutting a busy day into visits takes a while: off the runtime thread.
        let (chunks, visits) = tokio::task::spawn_blocking(move || {
            let visits = Snapshot::cut(&chunks);
            (chunks, visits)
        })
        .await
        .map_err(|e| StoreError::Write(format!("cutting visits failed: {e}")))?;
        let snapshot = Arc::new(Snapshot {
            day,
            last_id,
            taken,
            chunks,
            visits,
            cost: taken.elapsed(),
            answers: std::sync::Mutex::default(),
        });
        sites.insert(site.to_owned(), Arc::clone(&snapshot));
        Ok(snapshot)
    }
}
