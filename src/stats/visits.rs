//! Raw events → visits → additive counts.
//!
//! A visit is a visitor's run of events on one UTC day with no gap of 30 minutes or more
//! (as Plausible and GA count). Visits are rebuilt here from the stored events rather
//! than taken from the collector's in-memory visit ids, so events of one visitor that
//! reached different replicas still form one visit. Because the visitor hash changes each
//! UTC day, a visit never spans two days, and everything counted per day adds up exactly
//! over a range of days — which is what makes daily rollups exact.

use std::collections::{HashMap, HashSet};

use super::dims::{Dim, Filter, Key};
use crate::collect::visits::VISIT_TIMEOUT_MS;
use crate::store::rollup::{Counts, DAY_MS, RawEvent};

/// The page view event.
pub const PAGE_VIEW: &str = "page_view";
/// Time in view, sent when a page is hidden: it lengthens a visit but is no interaction
/// (a visit with one page view and only this is still a bounce) and no goal.
pub const ENGAGEMENT: &str = "page_engagement";

/// One visit, its events in time order.
#[derive(Debug)]
pub struct Visit<'a> {
    pub day: i64,
    pub visitor: i64,
    pub events: Vec<&'a RawEvent>,
}

impl<'a> Visit<'a> {
    pub fn first(&self) -> &'a RawEvent {
        self.events[0]
    }

    pub fn start(&self) -> i64 {
        self.first().ts
    }

    pub fn duration_ms(&self) -> i64 {
        self.events[self.events.len() - 1].ts - self.start()
    }

    pub fn page_views(&self) -> impl Iterator<Item = &'a RawEvent> + '_ {
        self.events.iter().copied().filter(|e| e.name == PAGE_VIEW)
    }

    /// Page views and goals (custom events), not engagement pings.
    pub fn counted(&self) -> impl Iterator<Item = &'a RawEvent> + '_ {
        self.events.iter().copied().filter(|e| e.name != ENGAGEMENT)
    }

    /// One page view and no interaction.
    pub fn bounced(&self) -> bool {
        self.counted().count() <= 1
    }

    pub fn entry_page(&self) -> Option<&'a str> {
        self.page_views().next().map(|e| e.path.as_str())
    }

    pub fn exit_page(&self) -> Option<&'a str> {
        self.page_views().last().map(|e| e.path.as_str())
    }
}

/// Cuts events (any order) into visits.
pub fn visits<'a>(events: impl IntoIterator<Item = &'a RawEvent>) -> Vec<Visit<'a>> {
    let all: Vec<&RawEvent> = events.into_iter().collect();
    cut(&all)
        .into_iter()
        .map(|(day, visitor, at)| Visit {
            day,
            visitor,
            events: at.into_iter().map(|i| all[i]).collect(),
        })
        .collect()
}

/// The visits of `events` as (day, visitor, indices into `events` in time order).
pub fn cut(events: &[&RawEvent]) -> Vec<(i64, i64, Vec<usize>)> {
    let mut by_visitor: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        by_visitor
            .entry((e.ts.div_euclid(DAY_MS), e.visitor))
            .or_default()
            .push(i);
    }
    let mut visits = Vec::with_capacity(by_visitor.len());
    for ((day, visitor), mut list) in by_visitor {
        list.sort_by_key(|i| events[*i].ts);
        let mut current: Vec<usize> = Vec::new();
        for i in list {
            if let Some(last) = current.last()
                && events[i].ts - events[*last].ts >= VISIT_TIMEOUT_MS
            {
                visits.push((day, visitor, std::mem::take(&mut current)));
            }
            current.push(i);
        }
        if !current.is_empty() {
            visits.push((day, visitor, current));
        }
    }
    visits
}

/// Counts per group: the visits that pass `filter`, grouped by `dims` (none: one group
/// with an empty key).
///
/// Visit dimensions put a whole visit in one group. An event dimension (`event:page`,
/// `event:goal`) puts it in the group of each of its events that has a value there: page
/// views (or goals) count per event, the visit and its visitor once per group. With an
/// event filter, only the events that pass it are counted as page views and events.
pub fn group(visits: &[Visit<'_>], dims: &[Dim], filter: &Filter) -> HashMap<Key, Counts> {
    let mut counts: HashMap<Key, Counts> = HashMap::new();
    let mut seen_visitors: HashMap<Key, HashSet<(i64, i64)>> = HashMap::new();
    let event_dim = dims.iter().position(|d| d.is_event());
    for visit in visits {
        if !filter.visit_passes(visit) {
            continue;
        }
        let counted: Vec<&RawEvent> = visit.counted().filter(|e| filter.event_passes(e)).collect();
        if filter.has_event_terms() && counted.is_empty() {
            continue;
        }
        let bounce = i64::from(visit.bounced());
        let duration = visit.duration_ms();
        // (key, page views, events) of this visit.
        let mut parts: Vec<(Key, i64, i64)> = Vec::new();
        match event_dim {
            None => {
                let key = Key::of(dims.iter().map(|d| d.of_visit(visit)));
                let Some(key) = key else { continue };
                let views = counted.iter().filter(|e| e.name == PAGE_VIEW).count();
                parts.push((key, views as i64, counted.len() as i64));
            }
            Some(_) => {
                for e in &counted {
                    let key = Key::of(dims.iter().map(|d| {
                        if d.is_event() {
                            d.of_event(e)
                        } else {
                            d.of_visit(visit)
                        }
                    }));
                    let Some(key) = key else { continue };
                    let view = i64::from(e.name == PAGE_VIEW);
                    match parts.iter_mut().find(|(k, _, _)| *k == key) {
                        Some((_, views, events)) => {
                            *views += view;
                            *events += 1;
                        }
                        None => parts.push((key, view, 1)),
                    }
                }
            }
        }
        for (key, views, events) in parts {
            let c = counts.entry(key.clone()).or_default();
            c.visits += 1;
            c.pageviews += views;
            c.events += events;
            c.bounces += bounce;
            c.duration_ms += duration;
            if seen_visitors
                .entry(key)
                .or_default()
                .insert((visit.day, visit.visitor))
            {
                c.visitors += 1;
            }
        }
    }
    counts
}
