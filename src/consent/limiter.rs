//! A limit on consent records per network and minute, so a stranger replaying
//! `POST /_cp/consent` cannot fill the disk. Keyed by the *truncated* address (a /24 or
//! /48 by default): the limiter never holds a full address either.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::privacy::AnonymizedIp;

/// Past this many networks in one minute the table is swept, so it stays bounded.
const MAX_TRACKED: usize = 65_536;

#[derive(Debug)]
pub struct ConsentLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<AnonymizedIp, (u64, u32)>>,
}

impl ConsentLimiter {
    pub fn new(per_minute: u32) -> ConsentLimiter {
        ConsentLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one choice from `network` at `now` (Unix seconds); `false` once the network
    /// has used its budget for this minute.
    pub fn allow(&self, network: AnonymizedIp, now: u64) -> bool {
        let minute = now / 60;
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&network) {
            windows.retain(|_, (m, _)| *m == minute);
            if windows.len() >= MAX_TRACKED {
                windows.clear();
            }
        }
        let window = windows.entry(network).or_insert((minute, 0));
        if window.0 != minute {
            *window = (minute, 0);
        }
        window.1 = window.1.saturating_add(1);
        window.1 <= self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::IpAnonymizer;

    #[test]
    fn budget_per_network_and_minute() {
        let anon = IpAnonymizer::new(24, 48);
        let a = anon.anonymize("192.0.2.10".parse().unwrap());
        let same_net = anon.anonymize("192.0.2.99".parse().unwrap());
        let b = anon.anonymize("198.51.100.1".parse().unwrap());
        let limiter = ConsentLimiter::new(2);
        assert!(limiter.allow(a, 120));
        assert!(limiter.allow(same_net, 121));
        assert!(!limiter.allow(a, 122), "the /24 has used its two");
        assert!(limiter.allow(b, 122), "other networks are not affected");
        assert!(limiter.allow(a, 180), "a new minute");
    }
}
