//! `POST /_cp/collect`: a beacon's events, checked, anonymised, stored and queued.
//!
//! Refusals, each a 4xx with a reason and nothing stored: another origin → 403; a body
//! that is neither `application/json` nor `text/plain` (what `navigator.sendBeacon` sends)
//! → 415; over 16 KB → 413; not JSON or unknown fields → 400; against GA4's rules or a
//! page of another site → 422; too many from one address or network → 429. Bots get 202
//! and are only counted. A store failure is a 503, so the beacon's event is not lost
//! silently; otherwise 204.

use std::net::IpAddr;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::wire::{self, BANNER_SHOWN};
use super::{Collector, SiteCollect};
use crate::body::ProxyBody;
use crate::config::Statistics;
use crate::consent::ConsentState;
use crate::consent::endpoint::{content_type_is, problem, read_body, same_origin};
use crate::ga::client::Client;
use crate::privacy::event::Parts;
use crate::privacy::{AnonymizedEvent, AnonymizedIp, CleanPage, Device, VisitorHash};
use crate::store::{GaQueued, Ingest};
use crate::telemetry::Metrics;

/// An event request is a few hundred bytes; 25 events with parameters fit in this.
pub const MAX_BODY: usize = 16 * 1024;

/// What the endpoint needs from the proxy besides the request.
pub struct Context<'a> {
    pub site_name: &'a Arc<str>,
    pub site: &'a SiteCollect,
    pub consent: ConsentState,
    pub collector: &'a Collector,
    pub metrics: &'a Metrics,
    /// The full client address: in memory only, for the geo lookup, the visitor hash and
    /// the rate limit; never stored, logged or sent.
    pub address: IpAddr,
    pub anonymized: AnonymizedIp,
    pub proto: &'static str,
    pub host: &'a str,
    pub idle_timeout: std::time::Duration,
}

pub async fn collect(req: Request<Incoming>, ctx: &Context<'_>) -> Response<ProxyBody> {
    let refuse = |status: StatusCode, reason: &'static str, message: &str| {
        ctx.metrics.collect.refused(reason).inc();
        problem(status, message)
    };
    if req.method() != Method::POST {
        let mut resp = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            "method not allowed",
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    if let Err(status) = same_origin(req.headers(), ctx.proto, ctx.host) {
        return refuse(
            status,
            "origin",
            "events are only accepted from the site's own pages",
        );
    }
    if !content_type_is(req.headers(), &["application/json", "text/plain"]) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            "the body must be JSON",
        );
    }
    let now_ms = crate::clock::unix_now_ms();
    if !ctx.collector.limiter.allow(
        ctx.address,
        ctx.anonymized,
        u64::try_from(now_ms / 1000).unwrap_or(0),
    ) {
        let mut resp = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "rate",
            "too many events from this address or network; try again in a minute",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return resp;
    }
    let (parts, bytes) = match read_body(req, MAX_BODY, ctx.idle_timeout).await {
        Ok(read) => read,
        Err(resp) => {
            ctx.metrics.collect.refused("body").inc();
            return resp;
        }
    };
    let batch: wire::Batch = match serde_json::from_slice(&bytes) {
        Ok(batch) => batch,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "json",
                &format!("invalid events: {e}"),
            );
        }
    };
    let events = match wire::check(batch) {
        Ok(events) => events,
        Err(message) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, "rules", &message),
    };
    let headers = &parts.headers;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if super::bots::is_bot(user_agent, headers) {
        ctx.metrics.collect.bot(ctx.site_name).inc();
        return status_only(StatusCode::ACCEPTED);
    }

    // The consent funnel's banner impressions: counted without any identifier, whatever
    // the visitor's choice (there is none yet), never stored as events.
    let (funnel, events): (Vec<_>, Vec<_>) =
        events.into_iter().partition(|e| e.name == BANNER_SHOWN);
    for _ in &funnel {
        ctx.collector.funnel.add(ctx.site_name, "banner_shown");
    }
    let analytics = ctx.consent.allows(crate::catalog::Category::Analytics);
    let to_stats = match ctx.site.statistics {
        Statistics::Always => true,
        Statistics::WithConsent => analytics,
        Statistics::Off => false,
    };
    // Google Analytics gets events only from visitors who granted `analytics`, in every
    // regime (the Dutch exemption covers first-party statistics, not Google).
    let to_ga = ctx.site.forwards_to_ga && analytics;
    if events.is_empty() || !(to_stats || to_ga) {
        return status_only(StatusCode::NO_CONTENT);
    }

    // Anonymisation, in memory and in this order: place from the full address, then only
    // the day's hash of it; the user agent reduced to a device.
    let location = ctx.collector.geo.locate(ctx.address);
    let device = Device::of(user_agent);
    let salt = match ctx.collector.salt(now_ms).await {
        Ok(salt) => salt,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the day's salt");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "events cannot be recorded now",
            );
        }
    };
    let visitor = VisitorHash::of(&salt, ctx.site_name, ctx.address, user_agent);
    let language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split([',', ';', '-']).next())
        .map(|l| l.trim().to_owned());

    let mut anonymized = Vec::with_capacity(events.len());
    let mut ga_only = Vec::with_capacity(events.len());
    for e in events {
        ga_only.push(e.ga_only);
        let Some(page) = CleanPage::of(&e.url, &ctx.site.hosts, &ctx.site.query_allowlist) else {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "url",
                "url is not a page of this site",
            );
        };
        let referrer = e
            .referrer
            .as_deref()
            .and_then(|r| crate::privacy::page::referrer_host(r, &ctx.site.hosts));
        anonymized.push(AnonymizedEvent::new(Parts {
            site: Arc::clone(ctx.site_name),
            ts_ms: now_ms,
            name: e.name,
            visitor,
            visit: ctx.collector.visits.touch(visitor, now_ms),
            page,
            referrer,
            location: location.clone(),
            device,
            language: language.clone(),
            engagement_ms: e.engagement_ms,
            params: e.params,
        }));
    }

    let mut ingest = Ingest::default();
    let mut set_cookies = Vec::new();
    if to_ga {
        let client = Client::of(headers, now_ms);
        let marketing = ctx.consent.allows(crate::catalog::Category::Marketing);
        let ip = ctx.site.send_truncated_ip.then_some(ctx.anonymized);
        let consent_id = ctx
            .consent
            .record()
            .map(|(id, _)| id.to_string())
            .unwrap_or_default();
        for e in &anonymized {
            ingest.ga.push(GaQueued {
                site: ctx.site_name.to_string(),
                consent_id: consent_id.clone(),
                client_id: client.client_id.clone(),
                created_ms: now_ms,
                payload: crate::ga::payload::queued_payload(e, &client, marketing, ctx.proto, ip),
            });
        }
        set_cookies = client.set_cookies(now_ms, ctx.site.cookie_max_age, ctx.proto == "https");
    }
    let accepted = anonymized.len() as u64;
    let queued = ingest.ga.len() as u64;
    if to_stats {
        ingest.events = anonymized
            .into_iter()
            .zip(ga_only)
            .filter_map(|(e, ga_only)| (!ga_only).then_some(e))
            .collect();
    }
    // On disk before the answer: the GA queue survives a crash or a restart.
    if let Err(e) = ctx.collector.store.ingest(ingest).await {
        tracing::error!(site = %ctx.site_name, error = %e, "cannot store events");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "events cannot be recorded now",
        );
    }
    ctx.metrics.collect.accepted(ctx.site_name).inc_by(accepted);
    if queued > 0 {
        ctx.metrics.ga.queued(ctx.site_name).inc_by(queued);
        ctx.collector.ga_wake.notify_one();
    }
    let mut resp = status_only(StatusCode::NO_CONTENT);
    for cookie in set_cookies {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn status_only(status: StatusCode) -> Response<ProxyBody> {
    let mut resp = Response::new(crate::body::empty());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
