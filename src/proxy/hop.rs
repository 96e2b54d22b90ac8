//! Hop-by-hop header fields (RFC 9110 §7.6.1): they describe one connection, so a proxy
//! removes them, together with every field the `Connection` header names, in both
//! directions.

use http::HeaderMap;
use http::header::{self, HeaderName};

/// The fields that are hop-by-hop whether or not `Connection` lists them
/// (RFC 9110 §7.6.1, RFC 9112 §9.6, and the obsolete `Proxy-Connection` and `Keep-Alive`).
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop fields. `Upgrade` is removed too; a tunnel re-adds it.
pub fn strip(headers: &mut HeaderMap) {
    // Most messages carry none of them: one look at each name (an enum compare for the
    // standard ones) is cheaper than nine hashed removals, on every request and response.
    if !headers
        .keys()
        .any(|name| name == header::UPGRADE || HOP_BY_HOP.contains(name))
    {
        return;
    }
    // Names listed in Connection first, while the field is still there.
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Whether `Connection` names `token` (case-insensitive), as `Connection: keep-alive, Upgrade`.
pub fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// RFC 9110 §7.6.3: a proxy MUST add itself to `Via` in both directions.
static VIA_SELF: &str = "1.1 consent-proxy";

/// Adds this proxy to `Via`, with the protocol version the message came in.
pub fn append_via(headers: &mut http::HeaderMap, version: http::Version) {
    let own = match version {
        http::Version::HTTP_2 => "2 consent-proxy",
        http::Version::HTTP_10 => "1.0 consent-proxy",
        _ => VIA_SELF,
    };
    let value = match headers.get(http::header::VIA).and_then(|v| v.to_str().ok()) {
        Some(existing) => http::HeaderValue::from_str(&format!("{existing}, {own}")).ok(),
        None => Some(http::HeaderValue::from_static(own)),
    };
    if let Some(value) = value {
        headers.insert(http::header::VIA, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn removes_static_and_connection_listed_fields() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, X-Secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        strip(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn each_field_alone_is_removed() {
        for name in HOP_BY_HOP.iter().chain([&header::UPGRADE]) {
            let mut h = HeaderMap::new();
            h.insert(name.clone(), HeaderValue::from_static("x"));
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            strip(&mut h);
            assert!(!h.contains_key(name), "{name}");
            assert_eq!(h.len(), 1, "{name}");
        }
        let mut plain = HeaderMap::new();
        plain.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        plain.insert("x-secret", HeaderValue::from_static("1"));
        strip(&mut plain);
        assert_eq!(
            plain.len(),
            2,
            "a message without hop-by-hop fields is left whole"
        );
    }

    #[test]
    fn connection_tokens_are_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(connection_has(&h, "upgrade"));
        assert!(!connection_has(&h, "close"));
    }
}
