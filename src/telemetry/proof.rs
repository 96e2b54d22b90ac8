//! Proof of enforcement as daily counts for the statistics: the same events as the
//! `neutralised` and `cookies_blocked` counters, kept per site, UTC day, category and
//! action in memory and written to the store every few seconds (aggregate counts need no
//! per-request durability).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

type Counts = HashMap<(Arc<str>, i64, &'static str, &'static str), i64>;

#[derive(Debug, Default)]
pub struct ProofTally {
    counts: Mutex<Counts>,
}

impl ProofTally {
    /// Counts `n` of `action` (`response`, `request`, `script`, `iframe`, …) for `category`.
    pub fn add(&self, site: &Arc<str>, category: &'static str, action: &'static str, n: i64) {
        let day = i64::try_from(crate::clock::unix_now() / 86_400).unwrap_or(i64::MAX);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts
            .entry((Arc::clone(site), day, category, action))
            .or_insert(0) += n;
    }

    /// What was counted since the last call: (site, day, category, action, n).
    pub fn take(&self) -> Vec<(String, i64, &'static str, &'static str, i64)> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .drain()
            .map(|((site, day, category, action), n)| (site.to_string(), day, category, action, n))
            .collect()
    }

    /// Puts counts back after a failed write, so they are tried again.
    pub fn restore(&self, taken: Vec<(String, i64, &'static str, &'static str, i64)>) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        for (site, day, category, action, n) in taken {
            *counts
                .entry((Arc::from(site), day, category, action))
                .or_insert(0) += n;
        }
    }
}
