//! IP truncation: IPv4 to /24 and IPv6 to /48 by default (the Dutch AP's condition for
//! privacy-friendly analytics: the last octet removed; CNIL's proxy recipe).

use std::fmt;
use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};

/// An address with its host bits cleared. The only way to build one is
/// [`IpAnonymizer::anonymize`], so a value of this type can go to logs and storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnonymizedIp(IpAddr);

impl AnonymizedIp {
    /// The truncated address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.0
    }
}

impl fmt::Display for AnonymizedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Truncates addresses to the configured prefixes.
#[derive(Debug, Clone, Copy)]
pub struct IpAnonymizer {
    v4_prefix: u8,
    v6_prefix: u8,
}

impl IpAnonymizer {
    /// Prefix lengths above /24 and /48 are clamped: a configuration can be more private
    /// than the default, never less.
    pub fn new(v4_prefix: u8, v6_prefix: u8) -> IpAnonymizer {
        IpAnonymizer {
            v4_prefix: v4_prefix.min(24),
            v6_prefix: v6_prefix.min(48),
        }
    }

    pub fn anonymize(&self, ip: IpAddr) -> AnonymizedIp {
        let ip = match ip {
            // An IPv4-mapped IPv6 address is an IPv4 visitor; truncate it as one.
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => IpAddr::V4(
                v6.to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ),
            other => other,
        };
        let truncated = match ip {
            IpAddr::V4(v4) => Ipv4Net::new(v4, self.v4_prefix)
                .map(|n| IpAddr::V4(n.network()))
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            IpAddr::V6(v6) => Ipv6Net::new(v6, self.v6_prefix)
                .map(|n| IpAddr::V6(n.network()))
                .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
        };
        AnonymizedIp(truncated)
    }
}

impl Default for IpAnonymizer {
    fn default() -> Self {
        IpAnonymizer::new(24, 48)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(ip: &str) -> String {
        IpAnonymizer::default()
            .anonymize(ip.parse().expect("test address"))
            .to_string()
    }

    #[test]
    fn ipv4_loses_last_octet() {
        assert_eq!(anon("203.0.113.77"), "203.0.113.0");
    }

    #[test]
    fn ipv6_keeps_48_bits() {
        assert_eq!(anon("2001:db8:abcd:12:3456::1"), "2001:db8:abcd::");
    }

    #[test]
    fn mapped_ipv4_is_truncated_as_ipv4() {
        assert_eq!(anon("::ffff:198.51.100.9"), "198.51.100.0");
    }

    #[test]
    fn prefixes_are_clamped_to_the_private_side() {
        let a = IpAnonymizer::new(32, 128);
        assert_eq!(
            a.anonymize("203.0.113.77".parse().expect("addr"))
                .to_string(),
            "203.0.113.0"
        );
        let b = IpAnonymizer::new(16, 32);
        assert_eq!(
            b.anonymize("203.0.113.77".parse().expect("addr"))
                .to_string(),
            "203.0.0.0"
        );
    }
}
