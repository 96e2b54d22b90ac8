//! The proxy's own endpoints under `/_cp/` on every site's host: answered here, never
//! forwarded — consent choices, events, the cookie sweep, the banner's document and the
//! embedded assets.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::route::Site;
use super::route::visitor_host;
use super::{ConnInfo, Exchange, Proxy, error_page, forwarding};
use crate::body::ProxyBody;
use crate::consent;

impl Proxy {
    /// `/_cp/…`: the consent endpoint, the banner's document, the embedded assets.
    pub(super) async fn own_endpoint(
        &self,
        req: Request<Incoming>,
        conn: &ConnInfo,
        site: &Site,
        ex: &Exchange,
    ) -> Response<ProxyBody> {
        // Where the visitor is: for same-origin checks and the cookies' domains.
        let proto = forwarding::visitor_proto(req.headers(), ex.peer_trusted, conn.tls);
        let host = visitor_host(req.uri(), req.headers())
            .and_then(|h| h.to_str().ok().map(str::to_owned))
            .unwrap_or_default();
        match req.uri().path() {
            "/_cp/consent" if matches!(*req.method(), Method::GET | Method::HEAD) => {
                consent::endpoint::current(&self.consent_of(req.headers(), site))
            }
            "/_cp/consent" => {
                let ctx = consent::endpoint::Context {
                    site: &site.consent,
                    key: &self.key,
                    store: &self.store,
                    metrics: &self.metrics,
                    limiter: &self.consent_limiter,
                    funnel: &self.collector.funnel,
                    client: self.anonymizer.anonymize(ex.client),
                    address: ex.client,
                    proto,
                    host: &host,
                    idle_timeout: self.timeouts.idle_body,
                };
                consent::endpoint::record(req, &ctx).await
            }
            "/_cp/collect" => {
                let ctx = crate::collect::endpoint::Context {
                    site_name: &site.name,
                    site: &site.collect,
                    consent: self.consent_of(req.headers(), site),
                    collector: &self.collector,
                    metrics: &self.metrics,
                    address: ex.client,
                    anonymized: self.anonymizer.anonymize(ex.client),
                    proto,
                    host: &host,
                    idle_timeout: self.timeouts.idle_body,
                };
                crate::collect::endpoint::collect(req, &ctx).await
            }
            "/_cp/cookies" => {
                let state = self.consent_of(req.headers(), site);
                let (resp, expired) = consent::endpoint::sweep(
                    req.method(),
                    req.headers(),
                    &site.consent,
                    &state,
                    proto,
                    &host,
                );
                self.count_enforced(&site.name, &expired.stripped, 0, "script");
                resp
            }
            "/_cp/banner.json" => consent::endpoint::banner_document(
                req.method(),
                req.uri().query(),
                req.headers(),
                &site.consent,
            ),
            path => consent::assets::serve(req.method(), path, req.headers())
                .unwrap_or_else(|| error_page::page(StatusCode::NOT_FOUND)),
        }
    }
}
