//! The sender: takes due events from the durable queue, posts them to each site's GA4
//! endpoint, deletes what GA took, retries the rest with exponential backoff and jitter,
//! and keeps the queue within its size and age bounds — counting whatever it drops.
//! Nothing queued is lost by a restart: the queue is in the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::StreamExt;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::{Notify, watch};

use super::Target;
use super::payload;
use crate::store::Store;
use crate::telemetry::Metrics;

/// Each site's target, swapped on reload.
pub type Targets = Arc<ArcSwap<HashMap<String, Target>>>;

/// Bounds of the queue.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub limit: u32,
    pub max_age: Duration,
}

/// Rows taken per round.
const ROUND: u32 = 500;
/// The longest wait between two tries of one event.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Runs until `shutdown` flips; `wake` is notified when new events are queued.
pub async fn run(
    store: Store,
    targets: Targets,
    metrics: Arc<Metrics>,
    bounds: Bounds,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("consent-proxy/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "GA forwarding disabled: cannot build the HTTP client");
            return;
        }
    };
    let mut last_housekeeping = tokio::time::Instant::now() - Duration::from_secs(3600);
    loop {
        if last_housekeeping.elapsed() >= Duration::from_secs(10) {
            housekeeping(&store, &metrics, bounds).await;
            last_housekeeping = tokio::time::Instant::now();
        }
        let sent = round(&store, &targets, &metrics, &http).await;
        if sent {
            continue;
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Age and size bounds; the queue depth gauge.
async fn housekeeping(store: &Store, metrics: &Metrics, bounds: Bounds) {
    let cutoff =
        crate::clock::unix_now_ms() - i64::try_from(bounds.max_age.as_millis()).unwrap_or(i64::MAX);
    match store.ga_expire(cutoff).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(
                dropped = n,
                "GA: events older than the queue's age limit dropped"
            );
            metrics.ga.dropped("expired").inc_by(n);
        }
        Err(e) => tracing::error!(error = %e, "GA queue: cannot expire old events"),
    }
    match store.ga_trim(bounds.limit).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(
                dropped = n,
                limit = bounds.limit,
                "GA: queue full, oldest events dropped"
            );
            metrics.ga.dropped("queue_full").inc_by(n);
        }
        Err(e) => tracing::error!(error = %e, "GA queue: cannot trim"),
    }
    if let Ok(depth) = store.ga_depth().await {
        metrics.ga.queue_depth.set(depth);
    }
}

/// Requests to GA in flight at once.
const IN_FLIGHT: usize = 32;

/// Sends one round of due events; `true` when GA took or refused any (so another round
/// follows at once), `false` when there was nothing to send or everything failed.
async fn round(
    store: &Store,
    targets: &Targets,
    metrics: &Metrics,
    http: &reqwest::Client,
) -> bool {
    let now = crate::clock::unix_now_ms();
    let due = match store.ga_due(now, ROUND).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "GA queue: cannot read");
            return false;
        }
    };
    if due.is_empty() {
        return false;
    }
    let attempts: HashMap<i64, u32> = due.iter().map(|r| (r.id, r.attempts)).collect();
    let (requests, broken) = payload::requests(&due);
    let mut done = broken.clone();
    if !broken.is_empty() {
        metrics.ga.dropped("unreadable").inc_by(broken.len() as u64);
    }
    let targets = targets.load();
    let mut sends = Vec::with_capacity(requests.len());
    for request in requests {
        match targets.get(&request.site) {
            Some(target) => sends.push((target.url(false), request)),
            None => {
                // The site no longer forwards (config changed): these cannot go anywhere.
                metrics
                    .ga
                    .dropped("no_target")
                    .inc_by(request.ids.len() as u64);
                done.extend(request.ids);
            }
        }
    }
    let outcomes = futures_util::stream::iter(sends.into_iter().map(|(url, request)| async move {
        let outcome = http
            .post(url)
            .header("content-type", "application/json")
            .body(request.body.clone())
            .send()
            .await;
        let status = match outcome {
            Ok(resp) => Some(resp.status().as_u16()),
            Err(e) => {
                // The error text can contain the URL, and the URL the secret: not logged.
                tracing::warn!(site = %request.site, timeout = e.is_timeout(), connect = e.is_connect(), "GA: request failed; will retry");
                None
            }
        };
        (request, status)
    }))
    .buffer_unordered(IN_FLIGHT)
    .collect::<Vec<_>>()
    .await;
    let mut progress = false;
    let mut retry: Vec<i64> = Vec::new();
    let mut tries = 0;
    for (request, status) in outcomes {
        match status {
            Some(s) if (200..300).contains(&s) => {
                progress = true;
                metrics
                    .ga
                    .sent(&request.site)
                    .inc_by(request.ids.len() as u64);
                done.extend(request.ids);
            }
            Some(s) if s != 429 && (400..500).contains(&s) => {
                progress = true;
                metrics.ga.error(s).inc();
                metrics
                    .ga
                    .dropped("refused")
                    .inc_by(request.ids.len() as u64);
                tracing::warn!(site = %request.site, status = s, events = request.ids.len(), "GA refused events; dropped");
                done.extend(request.ids);
            }
            other => {
                if let Some(s) = other {
                    metrics.ga.error(s).inc();
                }
                metrics.ga.retried.inc_by(request.ids.len() as u64);
                tries = request
                    .ids
                    .iter()
                    .filter_map(|id| attempts.get(id))
                    .copied()
                    .fold(tries, u32::max);
                retry.extend(request.ids);
            }
        }
    }
    if let Err(e) = store.ga_done(&done).await {
        tracing::error!(error = %e, "GA queue: cannot delete sent events");
    }
    if !retry.is_empty() {
        let next = now + i64::try_from(backoff(tries).as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = store.ga_retry(&retry, next).await {
            tracing::error!(error = %e, "GA queue: cannot schedule a retry");
        }
    }
    progress
}

/// 1 s, 2 s, 4 s … up to an hour, each spread by ±50 % so that many events failing
/// together do not come back together.
fn backoff(attempts: u32) -> Duration {
    let base = Duration::from_secs(1u64 << attempts.min(12)).min(MAX_BACKOFF);
    let mut random = [0u8; 2];
    let _ = SystemRandom::new().fill(&mut random);
    let spread = 0.5 + f64::from(u16::from_be_bytes(random)) / f64::from(u16::MAX);
    base.mul_f64(spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        for attempts in 0..20 {
            let d = backoff(attempts);
            let base = Duration::from_secs(1u64 << attempts.min(12)).min(MAX_BACKOFF);
            assert!(
                d >= base.mul_f64(0.5) && d <= base.mul_f64(1.5),
                "{attempts}: {d:?}"
            );
        }
        assert!(backoff(30) <= MAX_BACKOFF.mul_f64(1.5));
    }
}
