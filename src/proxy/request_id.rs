//! `X-Request-Id` values for requests that come without a trusted one.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::HeaderValue;

/// Request ids: a random per-process prefix and a counter — unique, cheap, and unlike a
/// timestamp they say nothing about the visitor.
#[derive(Debug)]
pub(super) struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl RequestIds {
    pub(super) fn new() -> RequestIds {
        // RandomState is seeded from the OS; enough randomness for an id prefix.
        let prefix = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        RequestIds {
            prefix,
            counter: AtomicU64::new(0),
        }
    }

    pub(super) fn next(&self) -> HeaderValue {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}-{n:x}", self.prefix);
        HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}
