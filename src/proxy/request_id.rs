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

    /// `<prefix as 16 hex digits>-<counter in hex>`, written without `core::fmt` (one per
    /// request).
    pub(super) fn next(&self) -> HeaderValue {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id = Vec::with_capacity(33);
        hex(&mut id, self.prefix, 16);
        id.push(b'-');
        hex(&mut id, n, (64 - n.leading_zeros()).div_ceil(4).max(1));
        HeaderValue::from_maybe_shared(bytes::Bytes::from(id))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

/// The low `digits` hex digits of `n`, most significant first.
fn hex(out: &mut Vec<u8>, n: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..digits).rev() {
        out.push(HEX[((n >> (shift * 4)) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_prefix_and_a_counter_in_hex() {
        let ids = RequestIds {
            prefix: 0x1a8a_c002_0d4b_9144,
            counter: AtomicU64::new(0),
        };
        assert_eq!(ids.next(), "1a8ac0020d4b9144-0");
        ids.counter.store(0xfff, Ordering::Relaxed);
        assert_eq!(ids.next(), "1a8ac0020d4b9144-fff");
        ids.counter.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(ids.next(), "1a8ac0020d4b9144-ffffffffffffffff");
        let small = RequestIds {
            prefix: 1,
            counter: AtomicU64::new(16),
        };
        assert_eq!(small.next(), "0000000000000001-10");
    }
}
