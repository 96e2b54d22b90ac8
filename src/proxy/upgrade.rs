//! Protocol upgrades (WebSocket, RFC 6455 over RFC 9110 §7.8): the handshake is proxied
//! like any request, then both upgraded connections are spliced together.

use http::{HeaderMap, HeaderValue, Version, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::hop;

/// The `Upgrade` value of an HTTP/1.1 request that asks for one.
pub fn requested(version: Version, headers: &HeaderMap) -> Option<HeaderValue> {
    if version != Version::HTTP_11 || !hop::connection_has(headers, "upgrade") {
        return None;
    }
    headers.get(header::UPGRADE).cloned()
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
