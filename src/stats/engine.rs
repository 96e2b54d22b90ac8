//! Answers a checked [`Query`]: traffic from the daily rollups where they can answer
//! (no filters, at most one rolled dimension) and from raw events otherwise and for days
//! not rolled up yet (today); consent from the funnel; proof from the enforcement table.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::dims::{Dim, Filter, Key};
use super::period::{self, Range};
use super::query::{ConsentMetric, Dimension, Metric, Query, Sort};
use super::visits;
use crate::store::rollup::Counts;
use crate::store::{Store, StoreError};

/// One row of the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub dimensions: Vec<String>,
    pub metrics: Vec<Value>,
    /// The previous period's metrics and the change, when asked.
    pub comparison: Option<(Vec<Value>, Vec<Value>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub rows: Vec<Row>,
    pub total_rows: usize,
    pub time_labels: Option<Vec<String>>,
}

/// Where answers come from: the store, and today's events held in memory.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub store: &'a Store,
    pub open: &'a super::today::OpenDays,
    /// Today (days since the epoch, UTC).
    pub today: i64,
}

/// Runs `query` over the sites named `sites` (one, or several added up: every count is
/// additive across sites, the visitor hash being per site).
pub async fn answer(
    src: Source<'_>,
    sites: &[String],
    query: &Query,
) -> Result<Answer, StoreError> {
    let current = values(src, sites, query, query.range).await?;
    let previous = if query.compare {
        Some(values(src, sites, query, query.range.previous()).await?)
    } else {
        None
    };
    let mut rows: Vec<Row> = current
        .into_iter()
        .map(|(key, metrics)| {
            let comparison = previous.as_ref().map(|prev| {
                let before = prev
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| query.metrics.iter().map(|_| json!(0)).collect());
                let change = query
                    .metrics
                    .iter()
                    .zip(metrics.iter().zip(&before))
                    .map(|(m, (now, then))| change(*m, now, then))
                    .collect();
                (before, change)
            });
            Row {
                dimensions: key.0,
                metrics,
                comparison,
            }
        })
        .collect();
    sort(&mut rows, &query.order_by);
    let total_rows = rows.len();
    let rows = rows
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .collect();
    let time_labels = query.time_labels.then(|| {
        let dim = query.dimensions.iter().find_map(|d| d.time());
        labels(query.range, dim)
    });
    Ok(Answer {
        rows,
        total_rows,
        time_labels,
    })
}

/// Every label of a time dimension over `range`.
fn labels(range: Range, dim: Option<Dim>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for day in range.from..range.to {
        match dim {
            Some(Dim::Month) => {
                let label = period::month_label(day);
                if out.last() != Some(&label) {
                    out.push(label);
                }
            }
            Some(Dim::Hour) => {
                for hour in 0..24 {
                    out.push(period::hour_label(
                        day * crate::store::rollup::DAY_MS + hour * 3_600_000,
                    ));
                }
            }
            _ => out.push(period::day_label(day)),
        }
    }
    out
}

/// Metric values per group for one range.
async fn values(
    src: Source<'_>,
    sites: &[String],
    query: &Query,
    range: Range,
) -> Result<HashMap<Key, Vec<Value>>, StoreError> {
    let dims = query.traffic_dims();
    let traffic = if query.metrics.iter().any(|m| m.is_traffic()) {
        Some(summed(src, sites, range, &dims, &query.filter).await?)
    } else {
        None
    };
    let total_visitors = if query.metrics.contains(&Metric::Percentage) {
        let all = summed(src, sites, range, &[], &query.filter).await?;
        all.get(&Key::default()).map_or(0, |c| c.visitors)
    } else {
        0
    };
    // Conversion rate: goal converters over all visitors of the same group without the
    // goal (Plausible's definition).
    let base = if query.metrics.contains(&Metric::ConversionRate) {
        let without_goal: Vec<Dim> = dims.iter().copied().filter(|d| *d != Dim::Goal).collect();
        Some((
            dims.iter().position(|d| *d == Dim::Goal),
            summed(src, sites, range, &without_goal, &strip_goal(&query.filter)).await?,
        ))
    } else {
        None
    };
    let funnel = if query
        .metrics
        .iter()
        .any(|m| matches!(m, Metric::Consent(_)))
    {
        Some(funnel(src.store, sites, range, &query.dimensions).await?)
    } else {
        None
    };
    let proof = if query.metrics.iter().any(|m| matches!(m, Metric::Proof(_))) {
        Some(proof(src.store, sites, range, &query.dimensions).await?)
    } else {
        None
    };

    let mut keys: HashSet<Key> = HashSet::new();
    if let Some(t) = &traffic {
        keys.extend(t.keys().cloned());
    }
    if let Some(f) = &funnel {
        keys.extend(f.keys().cloned());
    }
    if let Some(p) = &proof {
        keys.extend(p.keys().cloned());
    }
    if query.dimensions.is_empty() {
        keys.insert(Key::default());
    }
    let zero = Counts::default();
    let empty_funnel = HashMap::new();
    let empty_proof = HashMap::new();
    let mut out = HashMap::with_capacity(keys.len());
    for key in keys {
        let c = traffic.as_ref().and_then(|t| t.get(&key)).unwrap_or(&zero);
        let f = funnel
            .as_ref()
            .and_then(|f| f.get(&key))
            .unwrap_or(&empty_funnel);
        let p = proof
            .as_ref()
            .and_then(|p| p.get(&key))
            .unwrap_or(&empty_proof);
        let metrics = query
            .metrics
            .iter()
            .map(|m| match m {
                Metric::Visitors => json!(c.visitors),
                Metric::Visits => json!(c.visits),
                Metric::Pageviews => json!(c.pageviews),
                Metric::Events => json!(c.events),
                Metric::ViewsPerVisit => json!(round(ratio(c.pageviews, c.visits), 2)),
                Metric::BounceRate => json!(ratio(c.bounces * 100, c.visits).round() as i64),
                Metric::VisitDuration => {
                    json!(ratio(c.duration_ms, c.visits * 1000).round() as i64)
                }
                Metric::Percentage => json!(round(ratio(c.visitors * 100, total_visitors), 1)),
                Metric::ConversionRate => {
                    let (goal_at, base) =
                        base.as_ref().map_or((None, None), |(g, b)| (*g, Some(b)));
                    let mut base_key = key.clone();
                    if let Some(i) = goal_at {
                        base_key.0.remove(i);
                    }
                    let all = base
                        .and_then(|b| b.get(&base_key))
                        .map_or(0, |c| c.visitors);
                    json!(round(ratio(c.visitors * 100, all), 2))
                }
                Metric::Consent(cm) => consent_value(*cm, f),
                Metric::Proof(pm) => {
                    json!(
                        pm.actions()
                            .iter()
                            .map(|a| p.get(*a).copied().unwrap_or(0))
                            .sum::<i64>()
                    )
                }
            })
            .collect();
        out.insert(key, metrics);
    }
    Ok(out)
}

fn ratio(a: i64, b: i64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn consent_value(m: ConsentMetric, f: &HashMap<String, i64>) -> Value {
    let get = |k: &str| f.get(k).copied().unwrap_or(0);
    let decisions = get("accept_all") + get("reject_all") + get("custom");
    let rate = |k: &str| json!(round(ratio(get(k) * 100, decisions), 1));
    match m {
        ConsentMetric::Impressions => json!(get("banner_shown")),
        ConsentMetric::Decisions => json!(decisions),
        ConsentMetric::AcceptAll => json!(get("accept_all")),
        ConsentMetric::RejectAll => json!(get("reject_all")),
        ConsentMetric::Custom => json!(get("custom")),
        ConsentMetric::AcceptRate => rate("accept_all"),
        ConsentMetric::RejectRate => rate("reject_all"),
        ConsentMetric::CustomRate => rate("custom"),
        ConsentMetric::GpcShare => rate("gpc"),
        ConsentMetric::GrantRate(c) => rate(c.granted_metric()),
    }
}

/// The change from `then` to `now`: percent for counts, points for rates (as Plausible).
fn change(metric: Metric, now: &Value, then: &Value) -> Value {
    let (a, b) = (now.as_f64().unwrap_or(0.0), then.as_f64().unwrap_or(0.0));
    let points = matches!(
        metric,
        Metric::BounceRate | Metric::ConversionRate | Metric::Percentage
    ) || matches!(
        metric,
        Metric::Consent(
            ConsentMetric::AcceptRate
                | ConsentMetric::RejectRate
                | ConsentMetric::CustomRate
                | ConsentMetric::GpcShare
                | ConsentMetric::GrantRate(_)
        )
    );
    if points {
        json!(round(a - b, 1))
    } else if b == 0.0 {
        if a == 0.0 { json!(0) } else { json!(100) }
    } else {
        json!(((a - b) * 100.0 / b).round() as i64)
    }
}

fn strip_goal(f: &Filter) -> Filter {
    match f {
        Filter::Term(_, Dim::Goal, _) => Filter::And(Vec::new()),
        Filter::Term(..) => f.clone(),
        Filter::And(l) => Filter::And(l.iter().map(strip_goal).collect()),
        Filter::Or(l) => Filter::Or(l.iter().map(strip_goal).collect()),
        Filter::Not(inner) => match strip_goal(inner) {
            Filter::And(l) if l.is_empty() => Filter::And(Vec::new()),
            other => Filter::Not(Box::new(other)),
        },
    }
}

fn sort(rows: &mut [Row], order: &[(Sort, bool)]) {
    rows.sort_by(|a, b| {
        for (sort, desc) in order {
            let ordering = match sort {
                Sort::Metric(i) => {
                    let x = a.metrics[*i].as_f64().unwrap_or(0.0);
                    let y = b.metrics[*i].as_f64().unwrap_or(0.0);
                    x.total_cmp(&y)
                }
                Sort::Dimension(i) => a.dimensions[*i].cmp(&b.dimensions[*i]),
            };
            let ordering = if *desc { ordering.reverse() } else { ordering };
            if ordering.is_ne() {
                return ordering;
            }
        }
        // Stable answers: then by the dimension values.
        a.dimensions.cmp(&b.dimensions)
    });
}

/// Traffic counts per group over `range`, added up over `sites`.
async fn summed(
    src: Source<'_>,
    sites: &[String],
    range: Range,
    dims: &[Dim],
    filter: &Filter,
) -> Result<HashMap<Key, Counts>, StoreError> {
    let mut out: HashMap<Key, Counts> = HashMap::new();
    for site in sites {
        for (key, c) in counts(src, site, range, dims, filter).await? {
            *out.entry(key).or_default() += c;
        }
    }
    Ok(out)
}

/// Traffic counts per group over `range`.
pub async fn counts(
    src: Source<'_>,
    site: &str,
    range: Range,
    dims: &[Dim],
    filter: &Filter,
) -> Result<HashMap<Key, Counts>, StoreError> {
    let rolled_dim: Option<Option<Dim>> = match dims {
        [] => Some(None),
        [d] if Dim::ROLLED.contains(d) || matches!(d, Dim::Day | Dim::Month) => Some(Some(*d)),
        _ => None,
    };
    let Some(rolled_dim) = rolled_dim.filter(|_| filter.is_empty()) else {
        return raw(src, site, range, dims, filter).await;
    };
    let store = src.store;
    let rolled: HashSet<i64> = store
        .rolled_days(site, range.from, range.to)
        .await?
        .into_iter()
        .collect();
    let mut out: HashMap<Key, Counts> = HashMap::new();
    if !rolled.is_empty() {
        match rolled_dim {
            None => {
                for r in store
                    .rollup_by_value(site, "", range.from, range.to)
                    .await?
                {
                    *out.entry(Key::default()).or_default() += r.counts;
                }
            }
            Some(d @ (Dim::Day | Dim::Month)) => {
                for (day, c) in store
                    .rollup_by_day(site, "", "", range.from, range.to)
                    .await?
                {
                    let label = if d == Dim::Day {
                        period::day_label(day)
                    } else {
                        period::month_label(day)
                    };
                    *out.entry(Key(vec![label])).or_default() += c;
                }
            }
            Some(d) => {
                for r in store
                    .rollup_by_value(site, d.name(), range.from, range.to)
                    .await?
                {
                    *out.entry(Key(vec![r.key])).or_default() += r.counts;
                }
            }
        }
    }
    // Days without rollups (today, or not rolled yet) from their raw events.
    let mut day = range.from;
    while day < range.to {
        if rolled.contains(&day) {
            day += 1;
            continue;
        }
        let start = day;
        while day < range.to && !rolled.contains(&day) {
            day += 1;
        }
        let part = raw(
            src,
            site,
            Range {
                from: start,
                to: day,
            },
            dims,
            filter,
        )
        .await?;
        for (k, c) in part {
            *out.entry(k).or_default() += c;
        }
    }
    Ok(out)
}

/// Counts from raw events; today's come from the in-memory snapshot.
async fn raw(
    src: Source<'_>,
    site: &str,
    range: Range,
    dims: &[Dim],
    filter: &Filter,
) -> Result<HashMap<Key, Counts>, StoreError> {
    let past = Range {
        from: range.from,
        to: range.to.min(src.today),
    };
    let events = if past.days() > 0 {
        src.store
            .raw_events(site, past.from_ms(), past.to_ms())
            .await?
    } else {
        Vec::new()
    };
    let today = if range.from <= src.today && src.today < range.to {
        Some(src.open.snapshot(src.store, site, src.today).await?)
    } else {
        None
    };
    // Past days and today never share a visit (a visit is within one UTC day), so their
    // counts add up; today's come from the snapshot, computed once per refresh. Counting
    // is CPU work of up to seconds: it runs on the blocking pool, never on the runtime
    // thread that also carries the store's event writer.
    let (dims, filter) = (dims.to_vec(), filter.clone());
    tokio::task::spawn_blocking(move || {
        let mut counts = visits::group(&visits::visits(&events), &dims, &filter);
        if let Some(snapshot) = &today {
            for (key, c) in snapshot.grouped(&dims, &filter).iter() {
                *counts.entry(key.clone()).or_default() += *c;
            }
        }
        counts
    })
    .await
    .map_err(|e| StoreError::Write(format!("counting failed: {e}")))
}

/// Funnel counts per group (time label or none) and metric.
async fn funnel(
    store: &Store,
    sites: &[String],
    range: Range,
    dims: &[Dimension],
) -> Result<HashMap<Key, HashMap<String, i64>>, StoreError> {
    let time = dims.iter().find_map(|d| d.time());
    let mut rows = Vec::new();
    for site in sites {
        rows.extend(
            store
                .funnel_hours(site, range.from * 24, range.to * 24)
                .await?,
        );
    }
    let mut out: HashMap<Key, HashMap<String, i64>> = HashMap::new();
    for (hour, metric, n) in rows {
        let day = hour.div_euclid(24);
        let key = match time {
            None => Key::default(),
            Some(Dim::Hour) => Key(vec![period::hour_label(hour * 3_600_000)]),
            Some(Dim::Month) => Key(vec![period::month_label(day)]),
            Some(_) => Key(vec![period::day_label(day)]),
        };
        *out.entry(key).or_default().entry(metric).or_default() += n;
    }
    Ok(out)
}

/// Enforcement counts per group (time label, category) and action.
async fn proof(
    store: &Store,
    sites: &[String],
    range: Range,
    dims: &[Dimension],
) -> Result<HashMap<Key, HashMap<String, i64>>, StoreError> {
    let mut rows = Vec::new();
    for site in sites {
        rows.extend(store.enforcement(site, range.from, range.to).await?);
    }
    let mut out: HashMap<Key, HashMap<String, i64>> = HashMap::new();
    for r in rows {
        let key = Key(dims
            .iter()
            .map(|d| match d {
                Dimension::ProofCategory => r.category.clone(),
                Dimension::Traffic(Dim::Month) => period::month_label(r.day),
                Dimension::Traffic(_) => period::day_label(r.day),
            })
            .collect());
        *out.entry(key).or_default().entry(r.action).or_default() += r.count;
    }
    Ok(out)
}
