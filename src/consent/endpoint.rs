//! The proxy's own consent endpoints on every site's host:
//!
//! - `GET /_cp/banner.json?lang=xx` — the banner's texts, categories and services;
//! - `POST /_cp/consent` — a visitor's choice: validated, recorded durably, then answered
//!   with the signed `cp_consent` cookie and expiring cookies for what was refused.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::cookie::{ConsentCookie, CookieKey};
use super::enforce::{self, Enforced};
use super::policy::SitePolicy;
use super::{Category, CategorySet, ConsentState};
use crate::body::{ProxyBody, full};
use crate::catalog::ConsentId;
use crate::config::Language;
use crate::privacy::{AnonymizedIp, BrowserFamily};
use crate::store::{ConsentRecord, Method as ChoiceMethod, Store};

/// A consent body is a few dozen bytes; anything near this is not a browser's choice.
const MAX_BODY: usize = 4096;

/// What the consent endpoint needs from the proxy besides the request.
pub struct Context<'a> {
    pub site: &'a SitePolicy,
    pub key: &'a CookieKey,
    pub store: &'a Store,
    pub metrics: &'a crate::telemetry::Metrics,
    pub limiter: &'a crate::limiter::RateLimiter,
    /// The consent funnel's aggregate counts.
    pub funnel: &'a crate::store::funnel::FunnelCounter,
    pub client: AnonymizedIp,
    /// The full client address, in memory only: the rate limit counts a keyed hash of it.
    pub address: std::net::IpAddr,
    /// `http` or `https`, as the visitor spoke.
    pub proto: &'static str,
    /// The visitor's `Host`.
    pub host: &'a str,
    pub idle_timeout: std::time::Duration,
}

/// `GET /_cp/banner.json?lang=xx`.
pub fn banner_document(
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    site: &SitePolicy,
) -> Response<ProxyBody> {
    if method != Method::GET && method != Method::HEAD {
        return refuse_method("GET, HEAD");
    }
    let lang = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("lang="))
        .and_then(Language::parse);
    // Without `?lang`, the visitor's `Accept-Language` chooses, as for the loader.
    let by_header = lang.is_none();
    let lang = lang.or_else(|| {
        site.ui.negotiate(
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        )
    });
    let (_, doc) = site.ui.document(lang);
    let mut resp = super::assets::respond(method, headers, &doc, "application/json");
    if by_header {
        resp.headers_mut().insert(
            header::VARY,
            HeaderValue::from_static("Accept-Encoding, Accept-Language"),
        );
    }
    resp
}

/// The body of `POST /_cp/consent`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Choice {
    method: ChoiceMethod,
    /// For `custom`: the categories granted. Ignored for `accept-all` / `reject-all`.
    #[serde(default)]
    granted: Vec<String>,
    /// The banner's language when the choice was made.
    #[serde(default)]
    language: Option<String>,
}

/// `POST /_cp/consent`.
pub async fn record(req: Request<Incoming>, ctx: &Context<'_>) -> Response<ProxyBody> {
    if req.method() != Method::POST {
        return refuse_method("GET, HEAD, POST");
    }
    if let Err(status) = same_origin(req.headers(), ctx.proto, ctx.host) {
        return problem(status, "consent is only accepted from the site's own pages");
    }
    // Exactly one Content-Type, and JSON: a form or text/plain POST (what a cross-site
    // page can send without a CORS preflight) never counts.
    if !content_type_is(req.headers(), &["application/json"]) {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        );
    }
    let (parts, bytes) = match read_body(req, MAX_BODY, ctx.idle_timeout).await {
        Ok(read) => read,
        Err(resp) => return resp,
    };
    // serde_json refuses nesting deeper than 128 levels, so a stranger's deeply nested
    // body is an error, not a stack overflow.
    let choice: Choice = match serde_json::from_slice(&bytes) {
        Ok(choice) => choice,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("invalid choice: {e}")),
    };
    let granted = match granted(&choice, ctx.site) {
        Ok(granted) => granted,
        Err(message) => return problem(StatusCode::UNPROCESSABLE_ENTITY, &message),
    };
    let now = crate::clock::unix_now();
    if !ctx.limiter.allow(ctx.address, ctx.client, now) {
        let mut resp = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "too many choices from this address or network; try again in a minute",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return resp;
    }
    answer(&parts.headers, &choice, granted, now, ctx).await
}

/// The categories a choice grants, checked against the site's.
fn granted(choice: &Choice, site: &SitePolicy) -> Result<CategorySet, String> {
    let offered = site.ui.choices;
    match choice.method {
        ChoiceMethod::AcceptAll => Ok(offered.with(Category::Necessary)),
        ChoiceMethod::RejectAll => Ok(CategorySet::NECESSARY_ONLY),
        ChoiceMethod::Custom => {
            let mut set = CategorySet::NECESSARY_ONLY;
            for name in &choice.granted {
                let category = Category::parse(name)
                    .filter(|c| *c == Category::Necessary || offered.contains(*c))
                    .ok_or_else(|| {
                        let shown: String = name.chars().take(40).collect();
                        format!("`{shown}` is not a category of this site")
                    })?;
                set = set.with(category);
            }
            Ok(set)
        }
    }
}

async fn answer(
    headers: &HeaderMap,
    choice: &Choice,
    granted: CategorySet,
    now: u64,
    ctx: &Context<'_>,
) -> Response<ProxyBody> {
    let site = ctx.site;
    // A visitor who changes their mind keeps their consent id: the records then show the
    // whole history of one visitor's choices.
    let id = super::cookie::find(headers)
        .and_then(|v| ConsentCookie::verify(v, ctx.key, &site.name, &site.policy_version, now))
        .map_or_else(ConsentId::random, |c| c.id);
    let gpc = super::gpc(headers);
    let mut state = ConsentState::decided(granted);
    if gpc {
        state = state.refusing_by_gpc(&site.gpc_refuses);
    }
    let granted = state.granted();
    let offered = site.ui.choices;
    let refused: CategorySet = offered.iter().filter(|c| !granted.contains(*c)).collect();
    let issued = u32::try_from(now).unwrap_or(u32::MAX);
    let expires =
        issued.saturating_add(u32::try_from(site.consent_lifetime.as_secs()).unwrap_or(u32::MAX));
    let language = choice
        .language
        .as_deref()
        .and_then(Language::parse)
        .filter(|l| site.ui.languages.contains(l))
        .unwrap_or(site.ui.default_language);
    let record = ConsentRecord {
        id,
        site: site.name.to_string(),
        recorded_at: i64::from(issued),
        expires_at: i64::from(expires),
        policy_version: site.policy_version.to_string(),
        granted,
        refused,
        method: choice.method,
        gpc,
        language: language.code(),
        ip: ctx.client,
        browser: BrowserFamily::of(
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        ),
    };
    // Proof first (GDPR art. 7(1)): no cookie is set for a choice that is not on disk.
    if let Err(e) = ctx.store.record_consent(&record).await {
        tracing::error!(site = %site.name, error = %e, "cannot store a consent record");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the choice could not be recorded; please try again",
        );
    }
    // Withdrawal stops forwarding at once (GDPR art. 7(3)): events this consent let into
    // the GA queue and not yet sent are deleted before the answer.
    if !granted.contains(Category::Analytics) {
        match ctx.store.ga_forget(&id.to_string()).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(site = %site.name, events = n, "GA events of a withdrawn consent deleted")
            }
            Err(e) => {
                tracing::error!(site = %site.name, error = %e, "cannot delete GA events of a withdrawn consent")
            }
        }
    }
    ctx.funnel.add(&site.name, choice.method.funnel_metric());
    for category in granted.iter().filter(|c| *c != Category::Necessary) {
        ctx.funnel.add(&site.name, category.granted_metric());
    }
    if gpc {
        ctx.funnel.add(&site.name, "gpc");
    }
    ctx.metrics
        .consents
        .get_or_create(&crate::telemetry::metrics::ConsentLabels {
            site: std::sync::Arc::clone(&site.name),
            method: choice.method.as_str(),
        })
        .inc();

    let cookie = ConsentCookie {
        id,
        granted,
        issued,
        expires,
    };
    let secure = ctx.proto == "https";
    // Read by the proxy only (HttpOnly); Lax so the choice holds on arrival from a link.
    let set_cookie = ::cookie::Cookie::build((
        super::cookie::NAME,
        cookie.encode(ctx.key, &site.name, &site.policy_version),
    ))
    .path("/")
    .max_age(::cookie::time::Duration::seconds(
        i64::try_from(site.consent_lifetime.as_secs()).unwrap_or(i64::MAX),
    ))
    .same_site(::cookie::SameSite::Lax)
    .http_only(true)
    .secure(secure)
    .to_string();
    let body = serde_json::json!({
        "id": id.to_string(),
        "date": issued,
        "expires": expires,
        "granted": granted.iter().map(Category::as_str).collect::<Vec<_>>(),
        "refused": refused.iter().map(Category::as_str).collect::<Vec<_>>(),
        "gpc": gpc,
    });
    let mut resp = no_store_json(StatusCode::OK, &body);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&set_cookie) {
        h.append(header::SET_COOKIE, v);
    }
    // Withdrawal takes effect at once (GDPR art. 7(3)): cookies of what is now refused
    // that the browser still holds are expired on this very answer.
    expire_held(headers, h, site, &state, ctx.host, secure);
    resp
}

/// Expires, on `out`, the cookies of categories `state` refuses that the browser sent in
/// `headers`; returns what was expired.
fn expire_held(
    headers: &HeaderMap,
    out: &mut HeaderMap,
    site: &SitePolicy,
    state: &ConsentState,
    host: &str,
    secure: bool,
) -> Enforced {
    let mut held = headers.clone();
    let mut enforced = Enforced::default();
    enforce::strip_request_cookies(
        &mut held,
        &site.rules,
        state,
        site.unknown_cookies,
        &mut enforced,
    );
    enforce::expire_stripped(out, &enforced, host, secure);
    enforced
}

/// `POST /_cp/cookies`: the banner calls it when `document.cookie` changed after the page
/// came — a site's own script may write a tracker's cookie (`document.cookie = "_fbp=…"`).
/// Cookies of refused categories the browser now holds are expired on the answer, as on
/// every page (ePrivacy art. 5(3)); what was expired is returned for the counters.
pub fn sweep(
    method: &Method,
    headers: &HeaderMap,
    site: &SitePolicy,
    state: &ConsentState,
    proto: &str,
    host: &str,
) -> (Response<ProxyBody>, Enforced) {
    if method != Method::POST {
        return (refuse_method("POST"), Enforced::default());
    }
    if let Err(status) = same_origin(headers, proto, host) {
        return (problem(status, "cross-origin request"), Enforced::default());
    }
    let mut resp = Response::new(crate::body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let enforced = expire_held(headers, h, site, state, host, proto == "https");
    (resp, enforced)
}

/// Cross-site request forgery guard: a consent comes from the site's own pages only.
/// Browsers send `Sec-Fetch-Site` (Fetch Metadata) and `Origin` with every `fetch` POST.
pub fn same_origin(headers: &HeaderMap, proto: &str, host: &str) -> Result<(), StatusCode> {
    let fetch_site = headers.get("sec-fetch-site");
    let origin = headers.get(header::ORIGIN);
    if fetch_site.is_none() && origin.is_none() {
        return Err(StatusCode::FORBIDDEN);
    }
    if let Some(v) = fetch_site
        && v.as_bytes() != b"same-origin"
    {
        return Err(StatusCode::FORBIDDEN);
    }
    if let Some(v) = origin {
        let expected = format!("{proto}://{host}");
        if !v.as_bytes().eq_ignore_ascii_case(expected.as_bytes()) {
            return Err(StatusCode::FORBIDDEN);
        }
    }
    Ok(())
}

/// `GET /_cp/consent`: the visitor's own consent as their verified `cp_consent` says.
///
/// Pages carry no consent id (one rewritten page serves every visitor of a consent class),
/// so the preference centre asks here for the id and date it shows the visitor (GDPR
/// art. 7(1): the controller can show the consent; arts. 15–17: the visitor can name it).
/// The cookie is `SameSite=Lax` and the answer has no CORS header: only the site's own
/// pages can read it.
pub fn current(state: &ConsentState) -> Response<ProxyBody> {
    let record = state.record();
    let body = serde_json::json!({
        "decided": state.is_decided(),
        "granted": state.granted().iter().map(Category::as_str).collect::<Vec<_>>(),
        "id": record.map(|(id, _)| id.to_string()),
        "date": record.map(|(_, issued)| issued),
        "gpc": state.gpc(),
    });
    no_store_json(StatusCode::OK, &body)
}

fn refuse_method(allow: &'static str) -> Response<ProxyBody> {
    let mut resp = problem(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// Whether the request has exactly one `Content-Type`, of one of `allowed` (parameters
/// such as `charset` aside).
pub fn content_type_is(headers: &HeaderMap, allowed: &[&str]) -> bool {
    let mut types = headers.get_all(header::CONTENT_TYPE).iter();
    match (types.next(), types.next()) {
        (Some(v), None) => v
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| allowed.iter().any(|a| v.trim().eq_ignore_ascii_case(a))),
        _ => false,
    }
}

/// Reads a stranger's body: at most `max` bytes (by `Content-Length` or while reading),
/// no pause longer than `idle`. The refusal is a ready 4xx answer.
pub async fn read_body(
    req: Request<Incoming>,
    max: usize,
    idle: std::time::Duration,
) -> Result<(http::request::Parts, Bytes), Response<ProxyBody>> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is too large",
        ));
    }
    let (parts, body) = req.into_parts();
    let collected = tokio::time::timeout(idle, Limited::new(body, max).collect()).await;
    match collected {
        Ok(Ok(c)) => Ok((parts, c.to_bytes())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is too large",
        )),
        Ok(Err(_)) => Err(problem(
            StatusCode::BAD_REQUEST,
            "the body could not be read",
        )),
        Err(_) => Err(problem(
            StatusCode::REQUEST_TIMEOUT,
            "the body took too long",
        )),
    }
}

/// A JSON error answer; `message` is ours, never the stranger's input unescaped.
pub fn problem(status: StatusCode, message: &str) -> Response<ProxyBody> {
    no_store_json(status, &serde_json::json!({ "error": message }))
}

/// A JSON answer about one visitor: never stored by a cache.
fn no_store_json(status: StatusCode, body: &serde_json::Value) -> Response<ProxyBody> {
    let mut resp = Response::new(full(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
