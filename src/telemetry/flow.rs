//! Metrics of the event flow: what `/_cp/collect` accepted and refused, bots, and the GA
//! queue — Prometheus names, registered with the process's other metrics.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SiteLabel {
    pub site: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

/// `/_cp/collect`.
pub struct CollectMetrics {
    pub accepted: Family<SiteLabel, Counter>,
    pub refused: Family<ReasonLabel, Counter>,
    pub bots: Family<SiteLabel, Counter>,
}

impl CollectMetrics {
    pub(super) fn register(registry: &mut Registry) -> CollectMetrics {
        let m = CollectMetrics {
            accepted: Family::default(),
            refused: Family::default(),
            bots: Family::default(),
        };
        registry.register(
            "events_accepted",
            "Events accepted by /_cp/collect, per site",
            m.accepted.clone(),
        );
        registry.register(
            "events_refused",
            "Event requests refused by /_cp/collect, by reason",
            m.refused.clone(),
        );
        registry.register(
            "events_bots",
            "Event requests from bots and headless browsers: counted, not stored",
            m.bots.clone(),
        );
        m
    }

    pub fn accepted(&self, site: &Arc<str>) -> Counter {
        self.accepted
            .get_or_create(&SiteLabel {
                site: Arc::clone(site),
            })
            .clone()
    }

    pub fn refused(&self, reason: &'static str) -> Counter {
        self.refused.get_or_create(&ReasonLabel { reason }).clone()
    }

    pub fn bot(&self, site: &Arc<str>) -> Counter {
        self.bots
            .get_or_create(&SiteLabel {
                site: Arc::clone(site),
            })
            .clone()
    }
}

/// The GA queue and sender.
pub struct GaMetrics {
    pub queued: Family<SiteLabel, Counter>,
    pub sent: Family<SiteLabel, Counter>,
    pub retried: Counter,
    pub dropped: Family<ReasonLabel, Counter>,
    pub errors: Family<StatusLabel, Counter>,
    pub queue_depth: Gauge<i64, AtomicI64>,
}

impl GaMetrics {
    pub(super) fn register(registry: &mut Registry) -> GaMetrics {
        let m = GaMetrics {
            queued: Family::default(),
            sent: Family::default(),
            retried: Counter::default(),
            dropped: Family::default(),
            errors: Family::default(),
            queue_depth: Gauge::default(),
        };
        registry.register(
            "ga_queued",
            "Events queued for Google Analytics, per site",
            m.queued.clone(),
        );
        registry.register(
            "ga_sent",
            "Events Google Analytics accepted, per site",
            m.sent.clone(),
        );
        registry.register(
            "ga_retried",
            "Events whose sending failed and will be retried",
            m.retried.clone(),
        );
        registry.register(
            "ga_dropped",
            "Events dropped without reaching Google Analytics, by reason",
            m.dropped.clone(),
        );
        registry.register(
            "ga_errors",
            "Error answers from Google Analytics, by status",
            m.errors.clone(),
        );
        registry.register(
            "ga_queue_depth",
            "Events waiting for Google Analytics",
            m.queue_depth.clone(),
        );
        m
    }

    pub fn queued(&self, site: &str) -> Counter {
        self.queued
            .get_or_create(&SiteLabel {
                site: Arc::from(site),
            })
            .clone()
    }

    pub fn sent(&self, site: &str) -> Counter {
        self.sent
            .get_or_create(&SiteLabel {
                site: Arc::from(site),
            })
            .clone()
    }

    pub fn dropped(&self, reason: &'static str) -> Counter {
        self.dropped.get_or_create(&ReasonLabel { reason }).clone()
    }

    pub fn error(&self, status: u16) -> Counter {
        self.errors.get_or_create(&StatusLabel { status }).clone()
    }
}
