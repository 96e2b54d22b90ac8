//! Who the client is, and what the upstream is told about it.
//!
//! `X-Forwarded-For` and `Forwarded` (RFC 7239) are only believed when the TCP peer is a
//! configured trusted proxy; otherwise a visitor could claim any address. The address
//! found here is the one the rest of the proxy uses (anonymised before any log or store).

use std::fmt::Write as _;
use std::net::IpAddr;

use http::HeaderMap;
use http::header::{FORWARDED, HeaderName, HeaderValue};
use ipnet::IpNet;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The `trusted_proxies` list.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        TrustedProxies(nets.into_iter().collect())
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// IPv4-mapped IPv6 peers (dual-stack sockets) are IPv4 clients.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The real client address: the peer, or — when the peer is trusted — the right-most
/// untrusted address of the forwarding chain (as nginx `real_ip_recursive`).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let chain = forwarded_for_chain(headers);
    let mut client = peer;
    for ip in chain.iter().rev() {
        client = canonical(*ip);
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// Addresses from `X-Forwarded-For`, else from the `for=` parameters of `Forwarded`, in
/// order. Parsing stops at the first entry that is not an address (`unknown`, obfuscated
/// identifiers): nothing to the left of it can be believed.
fn forwarded_for_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let xff: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let entries: Vec<Option<IpAddr>> = if !xff.is_empty() {
        xff.iter().map(|e| parse_node(e)).collect()
    } else {
        headers
            .get_all(FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(v.trim()))
                })
            })
            .collect()
    };
    // Keep only the trailing run of parseable addresses.
    let mut out: Vec<IpAddr> = Vec::new();
    for e in entries.iter().rev() {
        match e {
            Some(ip) => out.push(*ip),
            None => break,
        }
    }
    out.reverse();
    out
}

/// `203.0.113.7`, `203.0.113.7:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.rsplit_once(':')?.0.parse().ok()
}

/// What the upstream learns about the hop it came through.
pub struct Hop<'a> {
    pub peer: IpAddr,
    pub peer_trusted: bool,
    /// `http` or `https`, as the visitor (or a trusted proxy before us) spoke it.
    pub proto: &'static str,
    pub host: &'a str,
}

/// Client-address headers of other proxies and CDNs. An upstream may believe them, so a
/// visitor must not be able to send them: only a trusted proxy's pass through.
static CLIENT_ADDRESS_HEADERS: [HeaderName; 9] = [
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("true-client-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("x-client-ip"),
    HeaderName::from_static("x-cluster-client-ip"),
    HeaderName::from_static("fastly-client-ip"),
    HeaderName::from_static("x-original-forwarded-for"),
    HeaderName::from_static("client-ip"),
    HeaderName::from_static("x-forwarded"),
];

/// Sets `X-Forwarded-For` (appended), `X-Forwarded-Proto`, `X-Forwarded-Host` and
/// `Forwarded`. Values a client sent are kept only when it is a trusted proxy; so are the
/// other client-address headers ([`CLIENT_ADDRESS_HEADERS`]).
pub fn set_upstream_headers(headers: &mut HeaderMap, hop: &Hop<'_>) {
    // A look at each name first: few requests carry one, and a standard name never matches.
    if !hop.peer_trusted
        && headers
            .keys()
            .any(|name| CLIENT_ADDRESS_HEADERS.contains(name))
    {
        for name in &CLIENT_ADDRESS_HEADERS {
            headers.remove(name);
        }
    }
    let peer = canonical(hop.peer);
    let mut xff = String::with_capacity(64);
    let mut fwd = String::with_capacity(96);
    if hop.peer_trusted {
        join_existing(headers, &X_FORWARDED_FOR, &mut xff);
        join_existing(headers, &FORWARDED, &mut fwd);
    }
    if !xff.is_empty() {
        xff.push_str(", ");
    }
    let _ = write!(xff, "{peer}");
    if !fwd.is_empty() {
        fwd.push_str(", ");
    }
    // RFC 7239 §6: IPv6 nodes are bracketed and quoted; a host with a port is quoted.
    match peer {
        IpAddr::V4(v4) => {
            let _ = write!(fwd, "for={v4}");
        }
        IpAddr::V6(v6) => {
            let _ = write!(fwd, "for=\"[{v6}]\"");
        }
    }
    let _ = write!(fwd, ";proto={}", hop.proto);
    if hop
        .host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        let _ = write!(fwd, ";host={}", hop.host);
    } else {
        let _ = write!(fwd, ";host=\"{}\"", hop.host.replace(['"', '\\'], ""));
    }

    set(headers, &X_FORWARDED_FOR, &xff);
    set(headers, &FORWARDED, &fwd);
    let keep_proto = hop.peer_trusted && headers.contains_key(&X_FORWARDED_PROTO);
    if !keep_proto {
        headers.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static(hop.proto),
        );
    }
    let keep_host = hop.peer_trusted && headers.contains_key(&X_FORWARDED_HOST);
    if !keep_host {
        set(headers, &X_FORWARDED_HOST, hop.host);
    }
}

/// The protocol the visitor used: ours, or what a trusted proxy in front of us says.
pub fn visitor_proto(headers: &HeaderMap, peer_trusted: bool, tls: bool) -> &'static str {
    if peer_trusted && let Some(v) = headers.get(&X_FORWARDED_PROTO) {
        return if v.as_bytes().eq_ignore_ascii_case(b"https") {
            "https"
        } else {
            "http"
        };
    }
    if tls { "https" } else { "http" }
}

fn join_existing(headers: &HeaderMap, name: &HeaderName, out: &mut String) {
    for v in headers.get_all(name).iter() {
        if let Ok(s) = v.to_str() {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(s.trim());
        }
    }
}

fn set(headers: &mut HeaderMap, name: &HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name.clone(), v);
    } else {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(["10.0.0.0/8".parse().expect("net")])
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn untrusted_peer_cannot_claim_an_address() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        let ip = client_ip("198.51.100.1".parse().expect("ip"), &h, &trusted());
        assert_eq!(ip, "198.51.100.1".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn trusted_peer_gives_rightmost_untrusted_address() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        let ip = client_ip("10.0.0.2".parse().expect("ip"), &h, &trusted());
        assert_eq!(ip, "203.0.113.9".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn forwarded_header_is_used_without_xff() {
        let h = headers(&[("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")]);
        let ip = client_ip("10.0.0.2".parse().expect("ip"), &h, &trusted());
        assert_eq!(ip, "2001:db8::7".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn garbage_in_chain_stops_the_walk() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9, unknown, 10.1.1.1")]);
        let ip = client_ip("10.0.0.2".parse().expect("ip"), &h, &trusted());
        assert_eq!(ip, "10.1.1.1".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn upstream_headers_for_untrusted_peer_replace_client_values() {
        let mut h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let hop = Hop {
            peer: "198.51.100.1".parse().expect("ip"),
            peer_trusted: false,
            proto: "http",
            host: "voipexpress.nl",
        };
        set_upstream_headers(&mut h, &hop);
        assert_eq!(h["x-forwarded-for"], "198.51.100.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(
            h["forwarded"],
            "for=198.51.100.1;proto=http;host=voipexpress.nl"
        );
    }

    #[test]
    fn upstream_headers_for_trusted_peer_append() {
        let mut h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let hop = Hop {
            peer: "10.0.0.2".parse().expect("ip"),
            peer_trusted: true,
            proto: "https",
            host: "voipexpress.nl:8443",
        };
        set_upstream_headers(&mut h, &hop);
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 10.0.0.2");
        assert_eq!(
            h["forwarded"],
            "for=10.0.0.2;proto=https;host=\"voipexpress.nl:8443\""
        );
    }
}
