//! Page cache metrics: how often a rewritten page was served from the cache, what the
//! cache holds (to size `page_cache_bytes`), and how revalidations are shared.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    pub site: Arc<str>,
    /// `hit` (served from the cache), `miss` (rewritten, then kept), `bypass` (never
    /// kept: larger than `page_cache_page_bytes`, or a per-response CSP nonce).
    pub result: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct PageCacheMetrics {
    pub lookups: Family<LookupLabels, Counter>,
    /// Passthrough responses (`proxy::keep`): `hit` (a 304 answered from memory), `kept`
    /// (copied while it streamed, then kept), `bypass` (no room left to copy it).
    pub passthrough: Family<LookupLabels, Counter>,
    pub bytes: Gauge<i64, AtomicI64>,
    pub pages: Gauge<i64, AtomicI64>,
    /// Requests answered by a revalidation another request sent (`proxy::coalesce`).
    pub shared: Family<super::metrics::SiteLabels, Counter>,
    /// Requests queued for the next shared revalidation right now.
    pub waiting: Gauge<i64, AtomicI64>,
}

/// One queued request, counted in the gauge for as long as it waits (dropped with it).
pub struct Waiting<'a>(&'a Gauge<i64, AtomicI64>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl PageCacheMetrics {
    pub fn register(registry: &mut Registry) -> PageCacheMetrics {
        let metrics = PageCacheMetrics::default();
        registry.register(
            "page_cache_lookups",
            "Rewritten pages by where their bytes came from: hit, miss or bypass",
            metrics.lookups.clone(),
        );
        registry.register(
            "page_cache_passthrough",
            "Passthrough responses kept for revalidation: hit, kept or bypass",
            metrics.passthrough.clone(),
        );
        registry.register(
            "page_cache_bytes",
            "Bytes the page cache holds",
            metrics.bytes.clone(),
        );
        registry.register(
            "page_cache_pages",
            "Rewritten pages the page cache holds",
            metrics.pages.clone(),
        );
        registry.register(
            "page_cache_revalidations_shared",
            "Requests for a kept page answered by a revalidation another request sent",
            metrics.shared.clone(),
        );
        registry.register(
            "page_cache_revalidations_waiting",
            "Requests queued for the next shared revalidation of their page",
            metrics.waiting.clone(),
        );
        metrics
    }

    pub fn count_passthrough(&self, site: &Arc<str>, result: &'static str) {
        bump(&self.passthrough, site, result);
    }

    pub fn count(&self, site: &Arc<str>, result: &'static str) {
        bump(&self.lookups, site, result);
    }

    /// What the cache holds after an entry went in: its weight in bytes, its pages.
    pub fn held(&self, bytes: u64, pages: usize) {
        self.bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.pages.set(i64::try_from(pages).unwrap_or(i64::MAX));
    }

    pub fn wait(&self) -> Waiting<'_> {
        self.waiting.inc();
        Waiting(&self.waiting)
    }
}

fn bump(family: &Family<LookupLabels, Counter>, site: &Arc<str>, result: &'static str) {
    family
        .get_or_create(&LookupLabels {
            site: Arc::clone(site),
            result,
        })
        .inc();
}
