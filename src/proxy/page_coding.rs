//! Which coding a request for a page asks the upstream for (`[[site]]
//! upstream_page_coding`).
//!
//! A page is decoded, rewritten and compressed again by the proxy, so an origin that
//! compresses it spends CPU on bytes the proxy undoes at once. Worse, most origins weaken
//! their `ETag` when they compress (nginx turns `"abc"` into `W/"abc"`; RFC 9110 §8.8.1
//! lets a server do so), and a weak tag cannot prove a kept page unchanged: every request
//! then reads the whole page again. Next to the origin (same machine, a private network)
//! the bytes cost nothing, so pages are asked for uncompressed there — what every nginx
//! `sub_filter` set-up does with `proxy_set_header Accept-Encoding ""`. An origin across
//! the internet keeps being asked for the visitor's codings (fewer bytes on the way).
//! Responses that pass through untouched keep the visitor's codings everywhere: the proxy
//! does not compress them, so asking for identity would send visitors bigger files.

use std::net::IpAddr;

use http::HeaderMap;
use http::header;

use crate::config::UpstreamPageCoding;

/// Whether pages of a site whose upstream is `host` (as in its URL) are asked for
/// uncompressed.
pub fn asks_identity(setting: UpstreamPageCoding, host: &str) -> bool {
    match setting {
        UpstreamPageCoding::Identity => true,
        UpstreamPageCoding::Compressed => false,
        UpstreamPageCoding::Auto => nearby(host),
    }
}

/// The host is this machine or on a private network: a loopback, private (RFC 1918,
/// RFC 4193), shared (RFC 6598) or link-local address, `localhost` (RFC 6761 §6.3), a
/// name under a suffix that never leaves a private network (`.internal`, `.local`,
/// `.home.arpa`: RFC 6762, RFC 8375), or a name without a dot (a Docker or LAN service
/// name; the public DNS has none that resolve).
pub fn nearby(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => private_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => private_v4(v4),
                // ::1, fc00::/7 (unique local), fe80::/10 (link-local).
                None => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
            },
        };
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    !name.contains('.')
        || ["localhost", "internal", "local", "home.arpa"]
            .iter()
            .any(|suffix| name.strip_suffix(suffix).is_some_and(|p| p.ends_with('.')))
}

fn private_v4(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b))
}

/// The request is for a page: it says it takes HTML (a browser's navigation and its
/// frames do; `fetch`, scripts, styles and images do not).
pub fn asks_for_a_page(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|value| {
        value
            .as_bytes()
            .windows(9)
            .any(|w| w.eq_ignore_ascii_case(b"text/html"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn addresses_next_to_the_proxy_are_nearby() {
        for host in [
            "127.0.0.1",
            "127.3.2.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.10",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.1",
            "[::1]",
            "[fd12:3456::1]",
            "[fe80::1]",
            "[::ffff:10.0.0.1]",
            "localhost",
            "LocalHost.",
            "wp.localhost",
            "origin.internal",
            "nas.local",
            "web.home.arpa",
            "wordpress",
        ] {
            assert!(nearby(host), "{host}");
        }
    }

    #[test]
    fn public_addresses_and_names_are_not() {
        for host in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "100.63.0.1",
            "192.169.0.1",
            "[2001:db8::1]",
            "[::ffff:8.8.8.8]",
            "voipexpress.nl",
            "origin.example.com",
            "notlocalhost.nl",
            "internal.example",
        ] {
            assert!(!nearby(host), "{host}");
        }
    }

    #[test]
    fn the_setting_overrides_the_address() {
        assert!(asks_identity(UpstreamPageCoding::Auto, "127.0.0.1"));
        assert!(!asks_identity(
            UpstreamPageCoding::Auto,
            "origin.example.com"
        ));
        assert!(asks_identity(
            UpstreamPageCoding::Identity,
            "origin.example.com"
        ));
        assert!(!asks_identity(UpstreamPageCoding::Compressed, "127.0.0.1"));
    }

    #[test]
    fn a_page_request_is_told_by_its_accept() {
        let with = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::ACCEPT,
                HeaderValue::from_str(accept).expect("value"),
            );
            asks_for_a_page(&h)
        };
        assert!(with(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(with("TEXT/HTML"));
        assert!(!with("*/*"));
        assert!(!with("application/json"));
        assert!(!with("text/css,*/*;q=0.1"));
        assert!(!asks_for_a_page(&HeaderMap::new()));
    }
}
