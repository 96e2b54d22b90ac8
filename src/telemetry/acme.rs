//! Certificate metrics: what a site owner alerts on before a certificate runs out.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::metrics::SiteLabels;

#[derive(Debug, Clone, Default)]
pub struct AcmeMetrics {
    /// Days until the site's certificate expires (negative once it has).
    pub days_left: Family<SiteLabels, Gauge<f64, AtomicU64>>,
    /// Orders placed with the CA.
    pub orders: Family<SiteLabels, Counter>,
    /// Orders that failed (and will be retried after a backoff).
    pub failures: Family<SiteLabels, Counter>,
}

impl AcmeMetrics {
    pub fn register(registry: &mut Registry) -> AcmeMetrics {
        let metrics = AcmeMetrics::default();
        registry.register(
            "acme_certificate_days_left",
            "Days until the site's ACME certificate expires",
            metrics.days_left.clone(),
        );
        registry.register(
            "acme_orders",
            "Certificate orders placed with the ACME CA",
            metrics.orders.clone(),
        );
        registry.register(
            "acme_order_failures",
            "Certificate orders that failed; each is retried after a backoff",
            metrics.failures.clone(),
        );
        metrics
    }
}
