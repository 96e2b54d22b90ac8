//! Phase 2 of a proxied request: the request as the upstream will see it — hop-by-hop
//! headers gone (RFC 9110 §7.6.1), refused categories' cookies stripped (ePrivacy art. 5(3)),
//! forwarding headers set, the upstream's authority and HTTP/1.1.

use http::header::{self, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use http::{Request, Version};
use hyper::body::Incoming;

use super::route::{self, Site};
use super::{
    ConnInfo, Exchange, Proxy, X_REQUEST_ID, forwarding, hop, page_coding, request_body, upgrade,
    upstream,
};
use crate::consent::enforce;
use crate::rewrite;

impl Proxy {
    /// Phase 2: the request as the upstream will see it.
    pub(super) fn upstream_request_filter(
        &self,
        req: Request<Incoming>,
        conn: &ConnInfo,
        site: &Site,
        ex: &mut Exchange,
        upgrade: Option<HeaderValue>,
    ) -> Request<upstream::UpstreamBody> {
        let (mut parts, body) = req.into_parts();
        let visitor_host = route::visitor_host(&parts.uri, &parts.headers);
        hop::strip(&mut parts.headers);
        enforce::strip_request_cookies(
            &mut parts.headers,
            &site.rewrite.rules,
            &ex.consent,
            site.consent.unknown_cookies,
            &mut ex.enforced,
        );
        let proto = forwarding::visitor_proto(&parts.headers, ex.peer_trusted, conn.tls);
        ex.facts = Some(rewrite::RequestFacts {
            method: parts.method.clone(),
            range: parts.headers.contains_key(header::RANGE),
            accept_encoding: parts.headers.get(header::ACCEPT_ENCODING).cloned(),
            proto,
            host: visitor_host.clone(),
            accept_language: parts.headers.get(header::ACCEPT_LANGUAGE).cloned(),
        });
        // Ask the upstream only for codings the rewriter can decode, and the visitor can
        // take if the response passes through untouched; a page from a nearby upstream
        // uncompressed (`proxy::page_coding`).
        let accept = if site.pages_identity && page_coding::asks_for_a_page(&parts.headers) {
            HeaderValue::from_static("identity")
        } else {
            crate::coding::upstream_accept_encoding(parts.headers.get(header::ACCEPT_ENCODING))
        };
        parts.headers.insert(header::ACCEPT_ENCODING, accept);
        if let Some(upgrade) = upgrade {
            upgrade::restore(&mut parts.headers, upgrade);
        }
        forwarding::set_upstream_headers(
            &mut parts.headers,
            &forwarding::Hop {
                peer: conn.peer.ip(),
                peer_trusted: ex.peer_trusted,
                proto,
                host: visitor_host
                    .as_ref()
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or(""),
            },
        );
        hop::append_via(&mut parts.headers, parts.version);
        parts
            .headers
            .insert(X_REQUEST_ID.clone(), ex.request_id.clone());
        let host_value = if site.preserve_host {
            visitor_host
        } else {
            HeaderValue::from_str(site.upstream_authority.as_str()).ok()
        };
        if let Some(host) = host_value {
            parts.headers.insert(header::HOST, host);
        }
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        parts.uri = Uri::builder()
            .scheme(site.upstream_scheme.clone())
            .authority(site.upstream_authority.clone())
            .path_and_query(path)
            .build()
            .unwrap_or_default();
        // The upstream hop is always HTTP/1.1, whatever the visitor spoke.
        parts.version = Version::HTTP_11;
        Request::from_parts(
            parts,
            request_body::RequestBody::new(body, self.timeouts.idle_body),
        )
    }
}
