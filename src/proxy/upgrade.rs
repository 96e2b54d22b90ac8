//! Protocol upgrades (WebSocket, RFC 6455 over RFC 9110 §7.8): the handshake is proxied
//! like any request, then both upgraded connections are spliced together.

use http::{HeaderMap, HeaderValue, Version, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::hop;

/// The `Upgrade` value of an HTTP/1.1 request that asks for one, when every protocol it
/// names is in `allowed` (`[server] upgrades`); otherwise the request goes upstream as a
/// plain request (hop-by-hop stripping removes the `Upgrade`).
pub fn requested(version: Version, headers: &HeaderMap, allowed: &[String]) -> Option<HeaderValue> {
    if version != Version::HTTP_11 || !hop::connection_has(headers, "upgrade") {
        return None;
    }
    let value = headers.get(header::UPGRADE)?;
    let text = value.to_str().ok()?;
    let all_allowed = text.split(',').all(|item| {
        // `websocket`, or `name/version`: the name decides.
        let name = item.trim().split('/').next().unwrap_or("").trim();
        !name.is_empty() && allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
    });
    all_allowed.then(|| value.clone())
}

/// Puts the upgrade request back after hop-by-hop stripping removed it.
pub fn restore(headers: &mut HeaderMap, upgrade: HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, upgrade);
}

/// Splices the visitor's and the upstream's upgraded connections until either side closes.
pub fn tunnel(client: OnUpgrade, upstream: OnUpgrade, site: std::sync::Arc<str>) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(%site, error = %e, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(%site, error = %e, "upgraded connection ended");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn only_allowed_protocols_are_upgraded() {
        let allowed = vec!["websocket".to_owned()];
        let ask = |v| requested(Version::HTTP_11, &upgrade(v), &allowed);
        assert!(ask("websocket").is_some());
        assert!(ask("WebSocket").is_some());
        assert!(ask("h2c").is_none());
        assert!(ask("websocket, h2c").is_none());
        assert!(ask("TLS/1.2").is_none());
        assert!(requested(Version::HTTP_10, &upgrade("websocket"), &allowed).is_none());
    }
}
