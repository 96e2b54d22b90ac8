//! Rate limits per minute for what strangers can post (consent choices, events), so a
//! replaying client cannot fill the disk — without letting one address use up the budget
//! of its whole network (neighbours behind the same carrier-grade NAT still get through).
//!
//! Two budgets: per address, and a higher one per network (the *truncated* address, a /24
//! or /48 by default). Addresses are never stored: the per-address table is keyed by a
//! hash under a random key made at start, held in memory for the current minute only.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::privacy::AnonymizedIp;

/// Past this many keys in one minute a table is swept, so it stays bounded.
const MAX_TRACKED: usize = 65_536;

#[derive(Debug)]
pub struct RateLimiter {
    per_address: u32,
    per_network: u32,
    /// The random key of the address hashes, new at every start.
    hasher: RandomState,
    addresses: Mutex<Windows<u64>>,
    networks: Mutex<Windows<AnonymizedIp>>,
}

/// Counts per key in the current minute: key → (minute, count).
type Windows<K> = HashMap<K, (u64, u32)>;

impl RateLimiter {
    pub fn new(per_address: u32, per_network: u32) -> RateLimiter {
        RateLimiter {
            per_address,
            per_network,
            hasher: RandomState::new(),
            addresses: Mutex::new(HashMap::new()),
            networks: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one choice from `address` (in `network`) at `now` (Unix seconds); `false`
    /// once the address or its network has used its budget for this minute.
    pub fn allow(&self, address: IpAddr, network: AnonymizedIp, now: u64) -> bool {
        let minute = now / 60;
        let tag = self.hasher.hash_one(address);
        count(&self.addresses, tag, minute) <= self.per_address
            && count(&self.networks, network, minute) <= self.per_network
    }
}

/// Adds one to `key`'s count in `minute` and returns it.
fn count<K: std::hash::Hash + Eq>(table: &Mutex<Windows<K>>, key: K, minute: u64) -> u32 {
    let mut windows = table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if windows.len() >= MAX_TRACKED && !windows.contains_key(&key) {
        windows.retain(|_, (m, _)| *m == minute);
        if windows.len() >= MAX_TRACKED {
            windows.clear();
        }
    }
    let window = windows.entry(key).or_insert((minute, 0));
    if window.0 != minute {
        *window = (minute, 0);
    }
    window.1 = window.1.saturating_add(1);
    window.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::IpAnonymizer;

    #[test]
    fn budget_per_address_and_network_and_minute() {
        let anon = IpAnonymizer::new(24, 48);
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let (a, neighbour, b) = (ip("192.0.2.10"), ip("192.0.2.99"), ip("198.51.100.1"));
        let net = |i: IpAddr| anon.anonymize(i);
        let limiter = RateLimiter::new(2, 3);
        assert!(limiter.allow(a, net(a), 120));
        assert!(limiter.allow(a, net(a), 121));
        assert!(
            !limiter.allow(a, net(a), 122),
            "the address has used its two"
        );
        assert!(
            limiter.allow(neighbour, net(neighbour), 122),
            "a neighbour in the same /24 still gets through"
        );
        assert!(
            !limiter.allow(ip("192.0.2.7"), net(ip("192.0.2.7")), 123),
            "the /24 has used its ceiling"
        );
        assert!(
            limiter.allow(b, net(b), 122),
            "other networks are not affected"
        );
        assert!(limiter.allow(a, net(a), 180), "a new minute");
    }
}
