//! Proof of enforcement: what one page had neutralised, added to the Prometheus counters
//! and the daily tally the statistics keep.

use std::sync::Arc;

use crate::rewrite;
use crate::telemetry::Metrics;
use crate::telemetry::metrics::{NeutralisedLabels, SiteLabels};

/// Adds one page's neutralised elements to the proof-of-enforcement counters.
pub(super) fn record_neutralised(
    metrics: &Metrics,
    site: &Arc<str>,
    counts: &rewrite::html::Counts,
) {
    if counts.failsafe {
        metrics
            .failsafe_pages
            .get_or_create(&SiteLabels {
                site: Arc::clone(site),
            })
            .inc();
    }
    if counts.total() == 0 {
        return;
    }
    for kind in rewrite::html::Kind::ALL {
        for category in crate::catalog::Category::ALL {
            let n = counts.by_kind[kind as usize][category as usize];
            if n > 0 {
                metrics
                    .neutralised
                    .get_or_create(&NeutralisedLabels {
                        site: Arc::clone(site),
                        category: category.as_str(),
                        kind: kind.as_str(),
                    })
                    .inc_by(u64::from(n));
                metrics
                    .proof
                    .add(site, category.as_str(), kind.as_str(), i64::from(n));
            }
        }
    }
}
