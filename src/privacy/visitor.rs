//! Unique visitors without cookies, as Plausible counts them: a keyed hash of the day's
//! random salt, the site, the full address and the user agent. Salts are made per day,
//! kept in the store and deleted after two days, so a hash cannot be linked across days
//! nor recomputed later by anyone — the proxy's operator included.

use std::net::IpAddr;

use ring::hmac;

/// A day's salt: 32 random bytes.
#[derive(Clone)]
pub struct Salt(pub [u8; 32]);

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(…)")
    }
}

/// The visitor of one day on one site. Only [`VisitorHash::of`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VisitorHash(i64);

impl VisitorHash {
    pub fn of(salt: &Salt, site: &str, ip: IpAddr, user_agent: &str) -> VisitorHash {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salt.0);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(site.as_bytes());
        ctx.update(&[0]);
        // IPv4-mapped IPv6 is the same visitor as IPv4.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => ctx.update(&v4.octets()),
            IpAddr::V6(v6) => ctx.update(&v6.octets()),
        }
        ctx.update(&[0]);
        ctx.update(user_agent.as_bytes());
        let tag = ctx.sign();
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag.as_ref()[..8]);
        VisitorHash(i64::from_be_bytes(first))
    }

    /// The number as stored.
    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_day_same_visitor_other_day_unlinkable() {
        let monday = Salt([1; 32]);
        let tuesday = Salt([2; 32]);
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.10".parse().unwrap();
        let a = VisitorHash::of(&monday, "site", ip, "UA");
        assert_eq!(a, VisitorHash::of(&monday, "site", mapped, "UA"));
        assert_ne!(a, VisitorHash::of(&tuesday, "site", ip, "UA"));
        assert_ne!(a, VisitorHash::of(&monday, "other", ip, "UA"));
        assert_ne!(a, VisitorHash::of(&monday, "site", ip, "UA2"));
    }
}
