//! The reverse proxy: one request passes through named phases, each one function with
//! one job (the phase names follow Pingora's):
//!
//! 1. [`Proxy::request_filter`] — route by host, refuse what must not be forwarded;
//! 2. [`Proxy::upstream_request_filter`] — hop-by-hop out, forwarding headers in;
//! 3. [`Proxy::upstream`] — send through the pooled client, with timeouts;
//! 4. [`Proxy::response_filter`] — hop-by-hop out, `Via`, HSTS;
//! 5. [`Proxy::logging`] — the access-log line (anonymised address) and metrics.

mod coalesce;
mod cookies;
pub mod error_page;
pub mod forwarding;
pub mod hop;
mod keep;
mod outbound;
mod own;
mod page;
mod page_coding;
mod proof;
mod refusal;
pub mod request_body;
mod request_id;
mod revalidate;
pub mod route;
pub mod upgrade;
pub mod upstream;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::uri::Uri;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::acme;
use crate::body::{self, IdleTimeout, ProxyBody};
use crate::config::{Config, Limits, Timeouts};
use crate::consent::cookie::{ConsentCookie, CookieKey};
use crate::consent::enforce::Enforced;
use crate::consent::{self, ConsentState};
use crate::privacy::IpAnonymizer;
use crate::rewrite;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::telemetry::access::AccessLine;
use crate::telemetry::metrics::{RequestLabels, SiteLabels};
use forwarding::TrustedProxies;
use refusal::{Refusal, https_location};
use request_id::RequestIds;
use revalidate::{Revalidation, UpstreamBody};
use route::{HostError, Router, Site};
use upstream::{Failure, UpstreamPool};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the proxy knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// The TLS server name the client asked for, lowercase.
    pub sni: Option<Arc<str>>,
}

/// Everything the request path needs, compiled once per configuration (and swapped as a
/// whole on reload).
#[derive(Debug)]
pub struct Proxy {
    router: Router,
    trusted: TrustedProxies,
    anonymizer: IpAnonymizer,
    timeouts: Timeouts,
    limits: Limits,
    redirect_to_https: bool,
    upstream: UpstreamPool,
    metrics: Arc<Metrics>,
    request_ids: RequestIds,
    /// Metric label for requests that matched no site.
    no_site: Arc<str>,
    /// Verifies `cp_consent` cookies.
    key: Arc<CookieKey>,
    /// Where consent records go.
    store: Store,
    /// Consent records per network and minute.
    consent_limiter: crate::limiter::RateLimiter,
    /// Protocols a visitor may upgrade to (`[server] upgrades`).
    upgrades: Vec<String>,
    /// Event collection state shared across reloads.
    collector: Arc<crate::collect::Collector>,
    /// ACME certificates (for the HTTPS redirect) and `http-01` answers.
    acme: Arc<crate::acme::Acme>,
    /// Rewritten pages by version and consent class (`None`: off).
    page_cache: Option<Arc<rewrite::cache::PageCache>>,
    /// Revalidations shared by the requests queued behind one (`None`: each asks alone).
    coalescer: Option<coalesce::Coalescer>,
}

/// Facts about one request, gathered on the way for the logging phase.
struct Exchange {
    started: Instant,
    request_id: HeaderValue,
    client: IpAddr,
    peer_trusted: bool,
    method: Method,
    uri: Uri,
    site: Option<Arc<Site>>,
    upstream_time: Option<Duration>,
    note: Option<&'static str>,
    /// What the request says about rewriting its response.
    facts: Option<rewrite::RequestFacts>,
    /// The consent this request carries: from a verified `cp_consent`, else undecided.
    consent: ConsentState,
    /// Cookies kept from the upstream or the browser.
    enforced: Enforced,
}

impl Proxy {
    pub fn new(
        config: &Config,
        metrics: Arc<Metrics>,
        key: Arc<CookieKey>,
        store: Store,
        collector: Arc<crate::collect::Collector>,
        acme: Arc<crate::acme::Acme>,
    ) -> Proxy {
        Proxy {
            router: Router::new(config),
            trusted: TrustedProxies::new(config.server.trusted_proxies.iter().map(|c| c.0)),
            anonymizer: IpAnonymizer::new(config.privacy.ipv4_prefix, config.privacy.ipv6_prefix),
            timeouts: config.server.timeouts.clone(),
            limits: config.server.limits.clone(),
            redirect_to_https: config.server.redirect_to_https,
            upstream: UpstreamPool::new(
                &config.server.timeouts,
                &config.server.limits,
                config.server.worker_count(),
            ),
            metrics,
            request_ids: RequestIds::new(),
            no_site: Arc::from("-"),
            key,
            store,
            consent_limiter: crate::limiter::RateLimiter::new(
                config.server.limits.consents_per_minute,
                config.server.limits.consents_per_minute_network,
            ),
            upgrades: config.server.upgrades.clone(),
            collector,
            acme,
            page_cache: rewrite::cache::PageCache::new(
                config.server.limits.page_cache_bytes,
                config.server.limits.page_cache_page_bytes,
            )
            .map(Arc::new),
            coalescer: (config.server.limits.page_cache_bytes > 0
                && config.server.limits.page_cache_revalidate
                && config.server.limits.page_cache_share_revalidations)
                .then(coalesce::Coalescer::default),
        }
    }

    /// Answers one request. Never fails: every problem becomes a response.
    pub async fn handle(&self, mut req: Request<Incoming>, conn: &ConnInfo) -> Response<ProxyBody> {
        let peer_trusted = self.trusted.contains(conn.peer.ip());
        let request_id = match req.headers().get(&X_REQUEST_ID) {
            Some(id) if peer_trusted && id.len() <= 128 => id.clone(),
            _ => self.request_ids.next(),
        };
        let mut ex = Exchange {
            started: Instant::now(),
            client: forwarding::client_ip(conn.peer.ip(), req.headers(), &self.trusted),
            peer_trusted,
            method: req.method().clone(),
            uri: req.uri().clone(),
            request_id,
            site: None,
            upstream_time: None,
            note: None,
            facts: None,
            consent: ConsentState::undecided(),
            enforced: Enforced::default(),
        };
        // The rare paths' futures (ACME, the proxy's own endpoints) are boxed: inline they
        // would make every request's future ~800 bytes larger, moved on every request.
        let mut resp = match self.request_filter(&req, conn) {
            Err(Refusal::AcmeChallenge(token)) => {
                match Box::pin(self.acme.http_challenge(&token)).await {
                    Some(answer) => refusal::acme_answer(answer),
                    None => error_page::page(StatusCode::NOT_FOUND),
                }
            }
            Err(refusal) => refusal.into_response(),
            Ok(site) if req.uri().path().starts_with("/_cp/") => {
                ex.site = Some(Arc::clone(&site));
                // The proxy's own endpoints are answered here and never forwarded.
                Box::pin(self.own_endpoint(req, conn, &site, &ex)).await
            }
            Ok(site) => {
                ex.site = Some(Arc::clone(&site));
                ex.consent = self.consent_of(req.headers(), &site);
                let upgrade = upgrade::requested(req.version(), req.headers(), &self.upgrades);
                let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
                let mut upstream_req =
                    self.upstream_request_filter(req, conn, &site, &mut ex, upgrade);
                let asked = self.revalidation(&mut upstream_req, &site, &ex);
                let shared = client_upgrade.is_none();
                match self
                    .exchange(upstream_req, &site, &mut ex, asked.as_ref(), shared)
                    .await
                {
                    Ok(resp) => {
                        self.response_filter(resp, conn, &site, &ex, client_upgrade, asked)
                            .await
                    }
                    Err(status) => error_page::page(status),
                }
            }
        };
        resp.headers_mut()
            .insert(X_REQUEST_ID.clone(), ex.request_id.clone());
        self.logging(&ex, resp.status());
        resp
    }

    /// Phase 1: which site, and may this request go there at all?
    fn request_filter(
        &self,
        req: &Request<Incoming>,
        conn: &ConnInfo,
    ) -> Result<Arc<Site>, Refusal> {
        // A reverse proxy is not a tunnel: CONNECT would let anyone reach any host.
        if req.method() == Method::CONNECT {
            return Err(Refusal::Page(StatusCode::METHOD_NOT_ALLOWED));
        }
        if req.headers().len() > self.limits.max_headers {
            return Err(Refusal::Page(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        }
        let host = match route::request_host(req) {
            Ok(host) => host,
            Err(HostError::Invalid) => return Err(Refusal::Page(StatusCode::BAD_REQUEST)),
            Err(HostError::Missing) => {
                return Err(Refusal::Page(StatusCode::MISDIRECTED_REQUEST));
            }
        };
        // RFC 9110 §15.5.20: a request for a site this server does not serve is misdirected;
        // it is never forwarded anywhere.
        let site = self
            .router
            .site(host)
            .ok_or(Refusal::Page(StatusCode::MISDIRECTED_REQUEST))?;
        // A TLS connection opened for one site may not be used to reach another
        // (no domain fronting between the sites behind this proxy).
        if let Some(sni) = &conn.sni
            && !self.router.site(sni).is_some_and(|s| Arc::ptr_eq(s, site))
        {
            return Err(Refusal::Page(StatusCode::MISDIRECTED_REQUEST));
        }
        // An ACME site's `http-01` path belongs to the proxy (RFC 8555 §8.3), before any
        // redirect: the CA asks over plain HTTP.
        if !conn.tls
            && site.acme
            && let Some(token) = req.uri().path().strip_prefix(acme::HTTP_CHALLENGE_PATH)
        {
            return Err(Refusal::AcmeChallenge(token.to_owned()));
        }
        // An ACME site without its first certificate yet keeps serving plain HTTP.
        if self.redirect_to_https
            && !conn.tls
            && site.has_tls
            && (!site.acme || self.acme.certificate(host).is_some())
        {
            return Err(Refusal::RedirectToHttps(https_location(host, req.uri())));
        }
        Ok(Arc::clone(site))
    }

    /// The consent this request carries: a verified `cp_consent` for this site and policy
    /// version, else undecided.
    fn consent_of(&self, headers: &http::HeaderMap, site: &Site) -> ConsentState {
        let state = consent::cookie::find(headers)
            .and_then(|value| {
                let now = crate::clock::unix_now();
                ConsentCookie::verify(
                    value,
                    &self.key,
                    &site.name,
                    &site.consent.policy_version,
                    now,
                )
            })
            .map_or(ConsentState::undecided(), |cookie| {
                ConsentState::from_cookie(&cookie)
            });
        // Global Privacy Control (`Sec-GPC: 1`): an opt-out of marketing (and what the
        // site adds), honoured without a click and over an earlier grant (binding under
        // CCPA/CPRA; a clear signal under the GDPR).
        if consent::gpc(headers) {
            return state.refusing_by_gpc(&site.consent.gpc_refuses);
        }
        state
    }

    /// Phase 2½: a page whose version the cache keeps is asked `If-None-Match` or
    /// `If-Modified-Since` (as the site's `revalidate_with` allows), so an unchanged page
    /// costs the upstream a 304 instead of its body (`proxy::revalidate`).
    fn revalidation(
        &self,
        req: &mut Request<upstream::UpstreamBody>,
        site: &Site,
        ex: &Exchange,
    ) -> Option<Revalidation> {
        let cache = self.page_cache.as_ref()?;
        let facts = ex.facts.as_ref()?;
        if !self.limits.page_cache_revalidate || !site.revalidate.any() || !revalidate::may_ask(req)
        {
            return None;
        }
        let key = rewrite::cache::VersionKey {
            site: Arc::clone(&site.name),
            page: page::resource_url(&facts.origin(), &ex.uri).into_boxed_str(),
            accept_encoding: req.headers().get(header::ACCEPT_ENCODING)?.clone(),
        };
        Some(revalidate::ask(cache, key, req))
    }

    /// Phase 3: the pooled client. The response-head timeout runs from the end of the
    /// visitor's body (an upload takes the visitor's time); a body the visitor breaks or
    /// stalls is answered as the visitor's error.
    async fn upstream(
        &self,
        req: Request<upstream::UpstreamBody>,
        site: &Site,
        ex: &mut Exchange,
    ) -> Result<Response<Incoming>, StatusCode> {
        let watch = req.body().watch();
        let response = match &site.origin_tls {
            Some(pool) => pool.request(req),
            None => self.upstream.client().request(req),
        };
        tokio::pin!(response);
        let early = tokio::select! {
            biased;
            result = &mut response => Some(result),
            () = watch.settled() => None,
        };
        let sent = Instant::now();
        let result = match early {
            Some(result) => Ok(result),
            None => tokio::time::timeout(self.timeouts.upstream_response, response).await,
        };
        let elapsed = sent.elapsed();
        ex.upstream_time = Some(elapsed);
        self.metrics
            .upstream_latency
            .get_or_create(&SiteLabels {
                site: Arc::clone(&site.name),
            })
            .observe(elapsed.as_secs_f64());
        match (result, watch.progress()) {
            (Ok(Ok(resp)), _) => Ok(resp),
            (Ok(Err(_)), request_body::Progress::Failed) => {
                tracing::info!(site = %site.name, "client sent a malformed or broken request body");
                ex.note = Some("client body malformed");
                Err(StatusCode::BAD_REQUEST)
            }
            (Ok(Err(_)), request_body::Progress::Stalled) => {
                tracing::info!(site = %site.name, timeout = ?self.timeouts.idle_body, "client stopped sending its request body");
                ex.note = Some("client body stalled");
                Err(StatusCode::REQUEST_TIMEOUT)
            }
            (Ok(Err(e)), _) => {
                let failure = upstream::classify(&e);
                let error = upstream::describe(&e);
                tracing::warn!(site = %site.name, upstream = %site.upstream_authority, error = %error, "upstream failed");
                ex.note = Some(match failure {
                    Failure::Timeout => "upstream connect timeout",
                    Failure::Unreachable => "upstream unreachable",
                    Failure::Tls => "upstream certificate refused",
                });
                Err(match failure {
                    Failure::Timeout => StatusCode::GATEWAY_TIMEOUT,
                    Failure::Unreachable | Failure::Tls => StatusCode::BAD_GATEWAY,
                })
            }
            (Err(_), _) => {
                tracing::warn!(site = %site.name, upstream = %site.upstream_authority, timeout = ?self.timeouts.upstream_response, "upstream response timeout");
                ex.note = Some("upstream response timeout");
                Err(StatusCode::GATEWAY_TIMEOUT)
            }
        }
    }

    /// Phase 4: the response as the visitor will see it.
    async fn response_filter(
        &self,
        mut resp: Response<UpstreamBody>,
        conn: &ConnInfo,
        site: &Site,
        ex: &Exchange,
        client_upgrade: Option<hyper::upgrade::OnUpgrade>,
        asked: Option<Revalidation>,
    ) -> Response<ProxyBody> {
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let (Some(client), Some(upgrade_value)) =
                (client_upgrade, resp.headers().get(header::UPGRADE).cloned())
            else {
                // An upstream may not switch protocols the visitor did not ask for.
                return error_page::page(StatusCode::BAD_GATEWAY);
            };
            let upstream = hyper::upgrade::on(&mut resp);
            upgrade::tunnel(client, upstream, Arc::clone(&site.name));
            let (mut parts, _) = resp.into_parts();
            hop::strip(&mut parts.headers);
            upgrade::restore(&mut parts.headers, upgrade_value);
            hop::append_via(&mut parts.headers, Version::HTTP_11);
            // Every response with headers goes through enforcement, whatever its status.
            self.enforce_cookies(&mut parts.headers, site, ex);
            return Response::from_parts(parts, body::empty());
        }
        let (mut parts, body) = resp.into_parts();
        // A version worth revalidating next time: its head as the upstream sent it.
        let to_keep = asked.as_ref().and_then(|r| {
            let validator = revalidate::validator(
                parts.status,
                &parts.headers,
                r.kept.as_ref(),
                site.revalidate,
            )?;
            Some((validator, Arc::new(parts.headers.clone())))
        });
        let kept_source = asked
            .as_ref()
            .filter(|_| matches!(body, UpstreamBody::Kept(_)))
            .and_then(|r| r.kept.as_ref().map(|v| v.source.clone()));
        let version = match (asked, to_keep) {
            (Some(asked), Some((validator, headers))) => Some(revalidate::ToKeep {
                key: asked.key,
                validator,
                headers,
            }),
            _ => None,
        };
        // Read before the framing fields go with the other hop-by-hop ones.
        let end = keep::End::of(parts.version, &parts.headers);
        let length = end.and_then(keep::End::length);
        hop::strip(&mut parts.headers);
        hop::append_via(&mut parts.headers, Version::HTTP_11);
        self.enforce_cookies(&mut parts.headers, site, ex);
        if conn.tls
            && let Some(hsts) = &site.hsts
        {
            parts
                .headers
                .insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        let body = IdleTimeout::new(body, self.timeouts.idle_body);
        let decision = match &ex.facts {
            Some(facts) => rewrite::decide(facts, parts.status, &parts.headers),
            None => rewrite::Decision::PassThrough,
        };
        let rewrite::Decision::Rewrite {
            upstream,
            visitor,
            charset,
        } = decision
        else {
            let Some(cache) = self
                .page_cache
                .as_ref()
                .filter(|_| self.limits.page_cache_passthrough)
            else {
                return Response::from_parts(parts, body.boxed_unsync());
            };
            let keeper = keep::Keeper {
                cache,
                metrics: &self.metrics.page_cache,
                site: &site.name,
            };
            if let Some(kept) = kept_source {
                keeper.metrics.count_passthrough(keeper.site, "hit");
                return Response::from_parts(parts, body::full(kept));
            }
            return Response::from_parts(parts, keep::body(body, keeper, version, end));
        };
        let origin = ex
            .facts
            .as_ref()
            .map(rewrite::RequestFacts::origin)
            .unwrap_or_default();
        let csp = rewrite::csp::adapt(&mut parts.headers, &origin);
        rewrite::adapt_headers(&mut parts.headers, visitor, site.rewrite.public_html);
        let language = site.consent.ui.negotiate(
            ex.facts
                .as_ref()
                .and_then(|f| f.accept_language.as_ref())
                .and_then(|v| v.to_str().ok()),
        );
        let ctx = || rewrite::html::PageContext {
            rules: Arc::clone(&site.rewrite.rules),
            consent: ex.consent,
            loader: Arc::from(rewrite::inject::loader(
                &site.rewrite.loader,
                &ex.consent,
                language,
                csp.nonce.as_deref(),
            )),
            language: site.rewrite.language,
            memory_limit: site.rewrite.memory_limit,
            decompression_ratio: self.limits.decompression_ratio,
            base: url::Url::parse(&origin)
                .ok()
                .and_then(|o| o.join(ex.uri.path()).ok()),
            gtag_id: site.rewrite.gtag_id.clone(),
        };
        let metrics = Arc::clone(&self.metrics);
        let site_name = Arc::clone(&site.name);
        let report = Box::new(move |counts: rewrite::html::Counts| {
            proof::record_neutralised(&metrics, &site_name, &counts);
        });
        let slot = self.page_cache.as_ref().map(|cache| page::Slot {
            cache,
            metrics: &self.metrics.page_cache,
            site: &site.name,
            page: page::page_url(&origin, &ex.uri),
            // A page's rewrite is invalidated by its bytes: never kept under a weak tag.
            version: version.filter(|v| !v.validator.is_weak()),
            kept_source,
            // A nonce is new in every response: such a page is never the same twice.
            class: csp
                .nonce
                .is_none()
                .then(|| rewrite::cache::Class::of(&ex.consent, language)),
            length,
        });
        let plan = page::Plan {
            upstream,
            visitor,
            charset,
        };
        match page::body(body, plan, ctx, report, slot).await {
            Ok(body) => Response::from_parts(parts, body),
            Err(e) => {
                tracing::warn!(site = %site.name, error = %e, "page not sent: the upstream body failed or the rewrite could not start");
                error_page::page(StatusCode::BAD_GATEWAY)
            }
        }
    }

    /// Phase 5: one access-log line and the request counters. The address is anonymised
    /// before it is written (a full IP never reaches a log).
    fn logging(&self, ex: &Exchange, status: StatusCode) {
        let site = ex.site.as_ref().map(|s| &s.name).unwrap_or(&self.no_site);
        self.count_enforced(site, &ex.enforced.stripped, ex.enforced.unknown, "request");
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                site: Arc::clone(site),
                status: status.as_u16(),
            })
            .inc();
        AccessLine {
            request_id: ex.request_id.to_str().unwrap_or("-"),
            site,
            client: self.anonymizer.anonymize(ex.client),
            method: ex.method.as_str(),
            path: ex.uri.path(),
            status: status.as_u16(),
            micros: u64::try_from(ex.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            upstream_micros: ex
                .upstream_time
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            note: ex.note,
        }
        .log();
    }
}
