//! A kept page version checked with the upstream instead of read again: when the upstream
//! gave the page a strong `ETag`, the next request for it asks `If-None-Match` (RFC 9110
//! §13.1.2); when it sent no `ETag` but a `Last-Modified` date, `If-Modified-Since`
//! (§13.1.3). A `304 Not Modified` is answered with the kept body under the stored head,
//! updated with the 304's fields (RFC 9111 §4.3.4), as nginx's `proxy_cache_revalidate`
//! does. The rest of the response path then sees the upstream's page as if it had sent it
//! whole, so the page cache serves its rewrite for the visitor's consent class — and a
//! changed page (another validator, a `200`) is rewritten anew.
//!
//! A page is kept only under a strong validator: a weak `ETag` promises an equivalent page,
//! not the same bytes (RFC 9110 §8.8.1), and the rewrite's invalidation must be exact. So a
//! weak `ETag` rules the page out even when a date comes with it. A response that passes
//! through untouched may be kept under a weak `ETag` (RFC 9111 §4.3.1 lets a cache ask with
//! one, as nginx's `proxy_cache_revalidate` and Varnish do): an origin that compresses
//! weakens its tag, and without it no compressed response would ever be kept.
//!
//! A `Last-Modified` date counts only when it is implicitly strong (§8.8.2.2): the origin's
//! own `Date` is at least 60 seconds later, so a second change within the same second
//! cannot share the date. A version is kept only for a response any visitor may be given:
//! no `Set-Cookie` (a visitor's own cookie never reaches another), `Vary` at most on
//! `Accept-Encoding` (which is in the key), and no `Cache-Control: no-store` or `private`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::config::RevalidateWith;
use crate::rewrite::cache::{PageCache, Validator, Version, VersionKey};

/// The upstream's response body: as it arrives, or a kept version's after a 304.
pub enum UpstreamBody {
    Origin(Incoming),
    Kept(Option<Bytes>),
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            UpstreamBody::Origin(body) => Pin::new(body).poll_frame(cx),
            UpstreamBody::Kept(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Origin(body) => body.is_end_stream(),
            UpstreamBody::Kept(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Origin(body) => body.size_hint(),
            UpstreamBody::Kept(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// The validators a site's upstream is trusted with (`[[site]] revalidate_with`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trusted {
    pub tags: bool,
    pub dates: bool,
    /// Weak tags, for passthrough responses only.
    pub weak_tags: bool,
}

impl Trusted {
    pub fn new(with: &[RevalidateWith]) -> Trusted {
        Trusted {
            tags: with.contains(&RevalidateWith::Etag),
            dates: with.contains(&RevalidateWith::LastModified),
            weak_tags: with.contains(&RevalidateWith::WeakEtag),
        }
    }

    pub fn any(self) -> bool {
        self.tags || self.dates || self.weak_tags
    }
}

/// A request that may be revalidated: a plain `GET` of the whole page, with no conditions
/// of the visitor's own (those go to the upstream untouched, as before), and no
/// credentials: a shared cache keeps no answer to a request carrying `Authorization`
/// for anyone else (RFC 9111 §3.5).
pub fn may_ask<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    req.method() == Method::GET
        && ![
            header::AUTHORIZATION,
            header::IF_NONE_MATCH,
            header::IF_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
            header::IF_RANGE,
            header::RANGE,
        ]
        .iter()
        .any(|name| h.contains_key(name))
}

/// One request's revalidation: which version of the page it is about, and the kept one
/// the upstream was asked about (`None`: nothing kept yet, the page is read whole).
pub struct Revalidation {
    pub key: VersionKey,
    pub kept: Option<Version>,
}

/// Adds the condition for the kept version of this page, if there is one. (A reload
/// builds a new cache, so a kept version's validator is always one the site trusts.)
pub fn ask<B>(cache: &PageCache, key: VersionKey, req: &mut Request<B>) -> Revalidation {
    let kept = cache.version(&key);
    if let Some(version) = &kept {
        let (name, value) = match &version.validator {
            Validator::Tag(tag) | Validator::WeakTag(tag) => (header::IF_NONE_MATCH, tag),
            Validator::Modified(date) => (header::IF_MODIFIED_SINCE, date),
        };
        req.headers_mut().insert(name, value.clone());
    }
    Revalidation { key, kept }
}

/// The upstream's answer as the response path takes it: a 304 to the proxy's own question
/// becomes the kept version (status 200, stored head with the 304's fields, kept body).
pub fn answer(resp: Response<Incoming>, asked: Option<&Revalidation>) -> Response<UpstreamBody> {
    match asked.and_then(|r| r.kept.clone()) {
        Some(version) if resp.status() == StatusCode::NOT_MODIFIED => {
            let (parts, _) = resp.into_parts();
            let mut rebuilt = from_kept(version, &parts.headers);
            *rebuilt.version_mut() = parts.version;
            *rebuilt.extensions_mut() = parts.extensions;
            rebuilt
        }
        _ => resp.map(UpstreamBody::Origin),
    }
}

/// The kept version as a `200`, its stored head updated with a 304's fields (this
/// request's own 304, or the one of the revalidation it shared, `proxy::coalesce`).
pub fn from_kept(version: Version, not_modified: &HeaderMap) -> Response<UpstreamBody> {
    let mut headers = HeaderMap::clone(&version.headers);
    // RFC 9111 §4.3.4: the 304's fields replace the stored ones of the same name, except
    // those the kept body depends on (§3.2): its Content-Length describes no body, and the
    // kept bytes keep their own type and coding — so a response kept as it passed through
    // can never become a page to rewrite.
    let updates = |name: &header::HeaderName| {
        ![
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ]
        .contains(name)
    };
    for name in not_modified.keys().filter(|n| updates(n)) {
        headers.remove(name);
    }
    for (name, value) in not_modified.iter().filter(|(n, _)| updates(n)) {
        headers.append(name.clone(), value.clone());
    }
    // The stored head may say how the first answer was framed; this one has a length.
    headers.remove(header::TRANSFER_ENCODING);
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(version.source.len()),
    );
    let mut rebuilt = Response::new(UpstreamBody::Kept(Some(version.source)));
    *rebuilt.status_mut() = StatusCode::OK;
    *rebuilt.headers_mut() = headers;
    rebuilt
}

/// Whether this upstream response's version may be kept for revalidation: its validator
/// of a kind the site trusts, if so (and if it is not the version already kept). A strong
/// `ETag` wins over a date; a site not trusting tags is asked by the date. A weak `ETag`
/// (if trusted) is returned as such, for the caller to keep only a passthrough response
/// under it.
pub fn validator(
    status: StatusCode,
    headers: &HeaderMap,
    kept: Option<&Version>,
    trusted: Trusted,
) -> Option<Validator> {
    if status != StatusCode::OK || headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    let validator = match headers.get(header::ETAG) {
        Some(etag) if trusted.weak_tags && is_weak(etag.as_bytes()) => {
            Validator::WeakTag(etag.clone())
        }
        Some(etag) if !is_strong(etag.as_bytes()) => return None,
        Some(etag) if trusted.tags => Validator::Tag(etag.clone()),
        _ if trusted.dates => Validator::Modified(headers.get(header::LAST_MODIFIED)?.clone()),
        _ => return None,
    };
    // The version already kept (every answer rebuilt from a 304) needs no dates parsed.
    if kept.is_some_and(|v| v.validator == validator)
        || (matches!(validator, Validator::Modified(_)) && !implicitly_strong(headers))
    {
        return None;
    }
    let varies_otherwise = headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|field| !field.is_empty() && !field.eq_ignore_ascii_case(b"accept-encoding"));
    let not_for_everyone = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|d| d.split(|&b| b == b'=').next().unwrap_or(b"").trim_ascii())
        .any(|d| d.eq_ignore_ascii_case(b"no-store") || d.eq_ignore_ascii_case(b"private"));
    (!varies_otherwise && !not_for_everyone).then_some(validator)
}

/// RFC 9110 §8.8.2.2: a `Last-Modified` date is implicitly strong when the origin's own
/// `Date` is at least 60 seconds later: the page stood unchanged for a while before it was
/// sent, so a later change gets a later date, whereas a date of the last second could be
/// shared by a second change within it. Without a `Date` the gap is unknown: not used.
fn implicitly_strong(headers: &HeaderMap) -> bool {
    let date = |name| httpdate::parse_http_date(headers.get(name)?.to_str().ok()?).ok();
    let gap = date(header::DATE)
        .zip(date(header::LAST_MODIFIED))
        .and_then(|(sent, modified)| sent.duration_since(modified).ok());
    gap.is_some_and(|gap| gap >= std::time::Duration::from_secs(60))
}

/// RFC 9110 §8.8.3: `entity-tag = [ "W/" ] opaque-tag`, `opaque-tag = DQUOTE *etagc DQUOTE`.
fn is_strong(etag: &[u8]) -> bool {
    etag.len() >= 2
        && etag[0] == b'"'
        && etag[etag.len() - 1] == b'"'
        && etag[1..etag.len() - 1]
            .iter()
            .all(|&c| c == 0x21 || (0x23..=0x7e).contains(&c) || c >= 0x80)
}

/// RFC 9110 §8.8.3: `weak = %s"W/"`, case-sensitive, before a strong tag's syntax.
fn is_weak(etag: &[u8]) -> bool {
    etag.strip_prefix(b"W/").is_some_and(is_strong)
}

/// A version to keep once the page's whole body is known.
pub struct ToKeep {
    pub key: VersionKey,
    pub validator: Validator,
    pub headers: Arc<HeaderMap>,
}

impl ToKeep {
    pub fn keep(self, cache: &PageCache, source: Bytes) {
        cache.keep_version(
            self.key,
            Version {
                validator: self.validator,
                headers: self.headers,
                source,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        fields
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    /// Both strong kinds: what a page may be kept by.
    const STRONG: Trusted = Trusted {
        tags: true,
        dates: true,
        weak_tags: false,
    };

    /// The validator a page is kept by for a site trusting both strong kinds (the default).
    fn kept_by(
        status: StatusCode,
        headers: &HeaderMap,
        kept: Option<&Version>,
    ) -> Option<Validator> {
        validator(status, headers, kept, STRONG)
    }

    #[test]
    fn only_strong_validators_of_pages_for_everyone_are_kept() {
        let ok = StatusCode::OK;
        assert!(kept_by(ok, &headers(&[("etag", "\"v1\"")]), None).is_some());
        assert!(
            kept_by(
                ok,
                &headers(&[("etag", "\"v1\""), ("vary", "Accept-Encoding")]),
                None
            )
            .is_some()
        );
        for refused in [
            headers(&[("etag", "W/\"v1\"")]),
            headers(&[("etag", "v1")]),
            headers(&[("etag", "\"v\"1\"")]),
            headers(&[]),
            headers(&[("etag", "\"v1\""), ("set-cookie", "s=1")]),
            headers(&[("etag", "\"v1\""), ("vary", "accept-encoding, Cookie")]),
            headers(&[("etag", "\"v1\""), ("cache-control", "max-age=0, private")]),
            headers(&[("etag", "\"v1\""), ("cache-control", "no-store")]),
        ] {
            assert!(kept_by(ok, &refused, None).is_none(), "{refused:?}");
        }
        assert!(kept_by(StatusCode::NOT_FOUND, &headers(&[("etag", "\"v1\"")]), None).is_none());
        let kept = Version {
            validator: Validator::Tag(HeaderValue::from_static("\"v1\"")),
            headers: Arc::default(),
            source: Bytes::new(),
        };
        assert!(kept_by(ok, &headers(&[("etag", "\"v1\"")]), Some(&kept)).is_none());
        assert!(kept_by(ok, &headers(&[("etag", "\"v2\"")]), Some(&kept)).is_some());
    }

    #[test]
    fn a_date_stands_in_for_a_missing_etag_only_when_it_is_strong() {
        let ok = StatusCode::OK;
        const DATE: (&str, &str) = ("date", "Mon, 07 Dec 2026 20:00:00 GMT");
        let old = headers(&[DATE, ("last-modified", "Mon, 07 Dec 2026 19:59:00 GMT")]);
        assert_eq!(
            kept_by(ok, &old, None),
            Some(Validator::Modified(HeaderValue::from_static(
                "Mon, 07 Dec 2026 19:59:00 GMT"
            )))
        );
        // A strong ETag is the better validator when both are sent.
        let both = headers(&[
            DATE,
            ("last-modified", "Mon, 07 Dec 2026 19:59:00 GMT"),
            ("etag", "\"v1\""),
        ]);
        assert!(matches!(kept_by(ok, &both, None), Some(Validator::Tag(_))));
        for refused in [
            // Changed less than a minute before it was sent: another change in the same
            // second would carry the same date.
            headers(&[DATE, ("last-modified", "Mon, 07 Dec 2026 19:59:01 GMT")]),
            headers(&[DATE, ("last-modified", "Mon, 07 Dec 2026 20:05:00 GMT")]),
            headers(&[("last-modified", "Mon, 07 Dec 2026 19:00:00 GMT")]),
            headers(&[DATE, ("last-modified", "yesterday")]),
            headers(&[
                ("date", "now"),
                ("last-modified", "Mon, 07 Dec 2026 19:00:00 GMT"),
            ]),
            // The origin says its bytes may differ between equivalent versions.
            headers(&[
                DATE,
                ("last-modified", "Mon, 07 Dec 2026 19:00:00 GMT"),
                ("etag", "W/\"v1\""),
            ]),
            headers(&[
                DATE,
                ("last-modified", "Mon, 07 Dec 2026 19:00:00 GMT"),
                ("set-cookie", "s=1"),
            ]),
        ] {
            assert!(kept_by(ok, &refused, None).is_none(), "{refused:?}");
        }
        let kept = Version {
            validator: kept_by(ok, &old, None).expect("strong"),
            headers: Arc::default(),
            source: Bytes::new(),
        };
        assert!(kept_by(ok, &old, Some(&kept)).is_none());
        let newer = headers(&[DATE, ("last-modified", "Mon, 07 Dec 2026 19:58:00 GMT")]);
        assert!(kept_by(ok, &newer, Some(&kept)).is_some());
    }

    #[test]
    fn a_site_is_asked_only_by_the_validators_it_trusts() {
        let ok = StatusCode::OK;
        let both = headers(&[
            ("date", "Mon, 07 Dec 2026 20:00:00 GMT"),
            ("last-modified", "Mon, 07 Dec 2026 19:00:00 GMT"),
            ("etag", "\"v1\""),
        ]);
        let dated = HeaderValue::from_static("Mon, 07 Dec 2026 19:00:00 GMT");
        let tags = Trusted::new(&[RevalidateWith::Etag]);
        let dates = Trusted::new(&[RevalidateWith::LastModified]);
        assert!(matches!(
            validator(ok, &both, None, tags),
            Some(Validator::Tag(_))
        ));
        // Tags not trusted (they differ between the origin's servers): the date asks.
        assert_eq!(
            validator(ok, &both, None, dates),
            Some(Validator::Modified(dated))
        );
        let undated = headers(&[
            ("date", "Mon, 07 Dec 2026 20:00:00 GMT"),
            ("last-modified", "Mon, 07 Dec 2026 19:00:00 GMT"),
        ]);
        assert_eq!(validator(ok, &undated, None, tags), None);
        let neither = Trusted::new(&[]);
        assert!(!neither.any());
        assert_eq!(validator(ok, &both, None, neither), None);
        // A weak tag still rules the date out: the bytes may differ.
        let weak = headers(&[
            ("date", "Mon, 07 Dec 2026 20:00:00 GMT"),
            ("last-modified", "Mon, 07 Dec 2026 19:00:00 GMT"),
            ("etag", "W/\"v1\""),
        ]);
        assert_eq!(validator(ok, &weak, None, dates), None);
    }

    #[test]
    fn a_weak_tag_is_kept_as_weak_and_only_when_trusted() {
        let ok = StatusCode::OK;
        let every = Trusted::new(&[
            RevalidateWith::Etag,
            RevalidateWith::LastModified,
            RevalidateWith::WeakEtag,
        ]);
        let weak = HeaderValue::from_static("W/\"v1\"");
        let gzipped = headers(&[("etag", "W/\"v1\""), ("vary", "Accept-Encoding")]);
        assert_eq!(
            validator(ok, &gzipped, None, every),
            Some(Validator::WeakTag(weak.clone()))
        );
        // Beside a date, the tag is what is asked: it changes with the bytes, the date
        // may not.
        let dated = headers(&[
            ("date", "Mon, 07 Dec 2026 20:00:00 GMT"),
            ("last-modified", "Mon, 07 Dec 2026 19:00:00 GMT"),
            ("etag", "W/\"v1\""),
        ]);
        assert_eq!(
            validator(ok, &dated, None, every),
            Some(Validator::WeakTag(weak.clone()))
        );
        assert_eq!(validator(ok, &gzipped, None, STRONG), None, "not trusted");
        for refused in [
            headers(&[("etag", "w/\"v1\"")]),
            headers(&[("etag", "W/v1")]),
            headers(&[("etag", "W/\"v\"1\"")]),
            headers(&[("etag", "W/\"v1\""), ("set-cookie", "s=1")]),
            headers(&[("etag", "W/\"v1\""), ("cache-control", "private")]),
        ] {
            assert_eq!(validator(ok, &refused, None, every), None, "{refused:?}");
        }
        let kept = Version {
            validator: Validator::WeakTag(weak),
            headers: Arc::default(),
            source: Bytes::new(),
        };
        assert_eq!(validator(ok, &gzipped, Some(&kept), every), None);
        assert!(matches!(
            validator(ok, &headers(&[("etag", "\"v1\"")]), None, every),
            Some(Validator::Tag(_))
        ));
    }

    #[test]
    fn a_304_updates_the_kept_head_but_not_what_its_body_is() {
        let version = Version {
            validator: Validator::WeakTag(HeaderValue::from_static("W/\"v1\"")),
            headers: Arc::new(headers(&[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
                ("cache-control", "max-age=60"),
                ("x-served", "first"),
            ])),
            source: Bytes::from_static(b"kept bytes"),
        };
        let not_modified = headers(&[
            ("content-type", "text/html"),
            ("content-encoding", "br"),
            ("content-length", "0"),
            ("x-served", "second"),
        ]);
        let rebuilt = from_kept(version, &not_modified);
        let field = |name| rebuilt.headers().get_all(name).iter().collect::<Vec<_>>();
        assert_eq!(field("content-type"), ["application/json"]);
        assert_eq!(field("content-encoding"), ["gzip"]);
        assert_eq!(field("content-length"), ["10"]);
        assert_eq!(field("x-served"), ["second"]);
        assert_eq!(field("cache-control"), ["max-age=60"]);
    }

    #[test]
    fn the_visitors_own_conditions_are_never_replaced() {
        let plain = Request::get("/").body(()).expect("request");
        assert!(may_ask(&plain));
        for name in [
            "if-none-match",
            "if-modified-since",
            "range",
            "if-range",
            "authorization",
        ] {
            let req = Request::get("/")
                .header(name, "\"x\"")
                .body(())
                .expect("request");
            assert!(!may_ask(&req), "{name}");
        }
        assert!(!may_ask(&Request::head("/").body(()).expect("request")));
    }
}
