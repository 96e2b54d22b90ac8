//! Prometheus metrics, served in text format on the admin listener's `/metrics`.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The site's name; `-` when no site matched.
    pub site: Arc<str>,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SiteLabels {
    pub site: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NeutralisedLabels {
    pub site: Arc<str>,
    pub category: &'static str,
    /// `script`, `inline_script`, `iframe`, `pixel` or `hint`.
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CookieLabels {
    pub site: Arc<str>,
    pub category: &'static str,
    /// `request` (stripped before the upstream) or `response` (Set-Cookie dropped).
    pub direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsentLabels {
    pub site: Arc<str>,
    /// `accept-all`, `reject-all` or `custom`.
    pub method: &'static str,
}

/// Every metric of the process; one instance lives as long as the process (across
/// config reloads) so counters never reset on SIGHUP.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub upstream_latency: Family<SiteLabels, Histogram>,
    pub open_connections: Gauge<i64, AtomicI64>,
    /// Proof of enforcement: what pages had removed or made inert, per site and category.
    pub neutralised: Family<NeutralisedLabels, Counter>,
    /// Proof of enforcement: cookies of refused categories kept from the site or the browser.
    pub cookies_blocked: Family<CookieLabels, Counter>,
    /// Cookies no tracker rule knows, per site (for the cookie inventory).
    pub unknown_cookies: Family<SiteLabels, Counter>,
    /// Choices recorded, by site and how they were made (consent rates).
    pub consents: Family<ConsentLabels, Counter>,
    /// `accept()` failures (e.g. out of file descriptors), on any listener.
    pub accept_errors: Counter,
    /// Connections closed because they stayed silent (no request in time).
    pub silent_closed: Counter,
    /// Pages the rewriter gave up on, whose rest was disarmed (fail closed), per site.
    pub failsafe_pages: Family<SiteLabels, Counter>,
    /// `/_cp/collect`.
    pub collect: super::flow::CollectMetrics,
    /// The GA queue and sender.
    pub ga: super::flow::GaMetrics,
    /// The proof of enforcement per day, for the statistics.
    pub proof: super::proof::ProofTally,
    pub acme: super::acme::AcmeMetrics,
    pub page_cache: super::page_cache::PageCacheMetrics,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("consent_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by site and status",
            requests.clone(),
        );
        let upstream_latency = Family::<SiteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "upstream_latency_seconds",
            "Time from sending a request upstream to its response head",
            upstream_latency.clone(),
        );
        let open_connections = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "open_connections",
            "Client connections currently open (HTTP and HTTPS listeners)",
            open_connections.clone(),
        );
        let neutralised = Family::<NeutralisedLabels, Counter>::default();
        registry.register(
            "neutralised",
            "Tracker elements neutralised in HTML, by site, category and kind",
            neutralised.clone(),
        );
        let cookies_blocked = Family::<CookieLabels, Counter>::default();
        registry.register(
            "cookies_blocked",
            "Cookies of refused categories stripped from requests or dropped from responses",
            cookies_blocked.clone(),
        );
        let unknown_cookies = Family::<SiteLabels, Counter>::default();
        registry.register(
            "unknown_cookies",
            "Cookies seen that no tracker rule knows",
            unknown_cookies.clone(),
        );
        let consents = Family::<ConsentLabels, Counter>::default();
        registry.register(
            "consents",
            "Consent choices recorded, by site and method",
            consents.clone(),
        );
        let accept_errors = register(
            &mut registry,
            "accept_errors",
            "Failed accepts of new connections (e.g. out of file descriptors)",
        );
        let silent_closed = register(
            &mut registry,
            "silent_connections_closed",
            "Connections closed because they sent nothing within the allowed time",
        );
        let failsafe_pages = register(
            &mut registry,
            "failsafe_pages",
            "Pages the HTML rewriter gave up on; the rest of each was disarmed (fail closed)",
        );
        let collect = super::flow::CollectMetrics::register(&mut registry);
        let ga = super::flow::GaMetrics::register(&mut registry);
        let acme = super::acme::AcmeMetrics::register(&mut registry);
        let page_cache = super::page_cache::PageCacheMetrics::register(&mut registry);
        Metrics {
            page_cache,
            acme,
            registry,
            proof: super::proof::ProofTally::default(),
            collect,
            ga,
            failsafe_pages,
            accept_errors,
            silent_closed,
            consents,
            neutralised,
            cookies_blocked,
            unknown_cookies,
            requests,
            upstream_latency,
            open_connections,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Registers a new metric under `name` and returns it.
fn register<M>(registry: &mut Registry, name: &str, help: &str) -> M
where
    M: Default + Clone + prometheus_client::registry::Metric,
{
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}
