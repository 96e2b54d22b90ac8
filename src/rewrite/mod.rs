//! What each HTML page may contain, decided per request and applied as the page streams.
//!
//! [`decide`] says whether a response is rewritten (only HTML with a body, never HEAD,
//! 204, 304 or 206), [`adapt_headers`] makes its headers true for the rewritten body, and
//! [`body::RewriteBody`] decodes, rewrites ([`html`]) and re-encodes it chunk by chunk.

/// lol_html's `element!` and `text!`, with the selector parsed once per process instead of
/// once per page (a page's rewriter is built for every response).
macro_rules! on_element {
    ($selector:literal, $handler:expr) => {{
        static SELECTOR: std::sync::LazyLock<lol_html::Selector> =
            std::sync::LazyLock::new(|| $selector.parse().expect("a valid selector"));
        #[inline(always)]
        const fn type_hint<'h, T, H: lol_html::HandlerTypes>(h: T) -> T
        where
            T: FnMut(&mut lol_html::html_content::Element<'_, '_, H>) -> lol_html::HandlerResult
                + 'h,
        {
            h
        }
        (
            std::borrow::Cow::Borrowed(&*SELECTOR),
            lol_html::ElementContentHandlers::default().element(type_hint($handler)),
        )
    }};
}

macro_rules! on_text {
    ($selector:literal, $handler:expr) => {{
        static SELECTOR: std::sync::LazyLock<lol_html::Selector> =
            std::sync::LazyLock::new(|| $selector.parse().expect("a valid selector"));
        #[inline(always)]
        const fn type_hint<'h, T>(h: T) -> T
        where
            T: FnMut(&mut lol_html::html_content::TextChunk<'_>) -> lol_html::HandlerResult + 'h,
        {
            h
        }
        (
            std::borrow::Cow::Borrowed(&*SELECTOR),
            lol_html::ElementContentHandlers::default().text(type_hint($handler)),
        )
    }};
}

pub mod body;
pub mod cache;
pub mod csp;
mod css;
mod element;
pub mod failsafe;
pub mod html;
pub mod inject;
pub mod noscript;
pub mod placeholder;
mod prelude;
pub mod resources;
pub mod urls;

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use lol_html::AsciiCompatibleEncoding;

use crate::catalog::Rules;
use crate::coding::Coding;
use crate::config::{Language, SiteConfig};

/// A site's rewrite settings, compiled once at config load.
#[derive(Debug)]
pub struct SiteRewrite {
    pub rules: Arc<Rules>,
    pub loader: inject::LoaderConfig,
    pub language: Language,
    /// The page is the same for every visitor after rewriting: keep shared caching.
    pub public_html: bool,
    pub memory_limit: usize,
    /// `ga.mode = "server"`: the site's own gtag.js for this measurement id never runs,
    /// whatever the visitor chose — the proxy sends its events instead.
    pub gtag_id: Option<Arc<str>>,
}

impl SiteRewrite {
    pub fn new(site: &SiteConfig, memory_limit: usize) -> Result<SiteRewrite, String> {
        let server_ga: Option<Arc<str>> = site
            .ga
            .as_ref()
            .filter(|ga| ga.mode == crate::config::GaMode::Server)
            .and_then(|ga| ga.measurement_id.as_deref())
            .map(Arc::from);
        Ok(SiteRewrite {
            rules: Arc::new(Rules::compile(&crate::config::tracker_specs(
                &site.trackers,
                &site.services,
            ))?),
            loader: inject::LoaderConfig {
                site: site.name.clone(),
                languages: site.languages.iter().map(|l| l.code()).collect(),
                floating_button: site.banner.floating_button,
                consent_mode: site
                    .ga
                    .as_ref()
                    .is_some_and(|ga| ga.mode == crate::config::GaMode::Client),
                collect: match site.statistics() {
                    crate::config::Statistics::Always => Some("always"),
                    _ if server_ga.is_some() => Some("consent"),
                    crate::config::Statistics::WithConsent => Some("consent"),
                    crate::config::Statistics::Off => None,
                },
                gtag_shim: server_ga.is_some(),
            },
            language: site.default_language.unwrap_or(Language::En),
            public_html: site.public_html,
            memory_limit,
            gtag_id: server_ga,
        })
    }
}

/// What the visitor's request says about rewriting its response.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub method: Method,
    pub range: bool,
    pub accept_encoding: Option<HeaderValue>,
    /// `http` or `https`, as the visitor spoke.
    pub proto: &'static str,
    /// The visitor's `Host` (with port).
    pub host: Option<HeaderValue>,
    /// The visitor's `Accept-Language`, for the banner's language.
    pub accept_language: Option<HeaderValue>,
}

impl RequestFacts {
    /// `https://host[:port]`, for extending a Content-Security-Policy; built only for
    /// rewritten pages, not for every request.
    pub fn origin(&self) -> String {
        let host = self
            .host
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        format!("{}://{host}", self.proto)
    }
}

/// How a response is handled.
#[derive(Debug)]
pub enum Decision {
    PassThrough,
    Rewrite {
        upstream: Coding,
        visitor: Coding,
        charset: AsciiCompatibleEncoding,
    },
}

pub fn decide(request: &RequestFacts, status: StatusCode, headers: &HeaderMap) -> Decision {
    if request.method == Method::HEAD
        || status.is_informational()
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
        )
        // A range of a page cannot be rewritten without breaking the splice: the
        // upstream's partial answer passes through as it is.
        || (request.range && headers.contains_key(header::CONTENT_RANGE))
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0")
    {
        return Decision::PassThrough;
    }
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return Decision::PassThrough;
    };
    let mut params = content_type.split(';');
    let essence = params.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("text/html")
        && !essence.eq_ignore_ascii_case("application/xhtml+xml")
    {
        return Decision::PassThrough;
    }
    let Some(upstream) = Coding::from_content_encoding(headers.get(header::CONTENT_ENCODING))
    else {
        tracing::warn!(
            encoding = ?headers.get(header::CONTENT_ENCODING),
            "HTML in a content coding the proxy cannot decode passes through unmodified"
        );
        return Decision::PassThrough;
    };
    let label = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"'));
    let charset = match label {
        None => AsciiCompatibleEncoding::utf_8(),
        Some(label) => match encoding_rs::Encoding::for_label(label.as_bytes())
            .and_then(AsciiCompatibleEncoding::new)
        {
            Some(charset) => charset,
            None => {
                tracing::warn!(
                    charset = ?label,
                    "HTML in a charset the rewriter cannot handle passes through unmodified"
                );
                return Decision::PassThrough;
            }
        },
    };
    Decision::Rewrite {
        upstream,
        visitor: Coding::negotiate(request.accept_encoding.as_ref()),
        charset,
    }
}

/// Headers of a rewritten page: new length and coding, a weak validator, and caching that
/// cannot hand one visitor's page (it depends on their consent) to another.
pub fn adapt_headers(headers: &mut HeaderMap, visitor: Coding, public_html: bool) {
    // The length changes; HTTP/1.1 chunking or HTTP/2 framing carries the new one.
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::ACCEPT_RANGES);
    headers.remove(&CONTENT_MD5);
    match visitor.header_value() {
        Some(v) => {
            headers.insert(header::CONTENT_ENCODING, v);
        }
        None => {
            headers.remove(header::CONTENT_ENCODING);
        }
    }
    // RFC 9110 §8.8.3: the bytes differ, so a strong validator would lie; a weak one still
    // lets conditional requests work for the same semantic page.
    if let Some(etag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok())
        && !etag.starts_with("W/")
    {
        match HeaderValue::from_str(&format!("W/{etag}")) {
            Ok(weak) => {
                headers.insert(header::ETAG, weak);
            }
            Err(_) => {
                headers.remove(header::ETAG);
            }
        }
    }
    add_vary(headers, &["Accept-Encoding", "Cookie"]);
    if !public_html {
        let directives: Vec<String> = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|d| d.trim().to_owned())
            .filter(|d| {
                let name = d
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                !d.is_empty() && !matches!(name.as_str(), "public" | "s-maxage" | "private")
            })
            .collect();
        let mut value = String::from("private");
        for d in directives {
            value.push_str(", ");
            value.push_str(&d);
        }
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(header::CACHE_CONTROL, v);
        }
    }
}

/// RFC 1864's digest of the old bytes would be wrong for the new ones.
static CONTENT_MD5: header::HeaderName = header::HeaderName::from_static("content-md5");

fn add_vary(headers: &mut HeaderMap, names: &[&str]) {
    let existing: Vec<String> = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    if existing.iter().any(|n| n == "*") {
        return;
    }
    let mut all = existing;
    for name in names {
        if !all.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            all.push((*name).to_owned());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&all.join(", ")) {
        headers.insert(header::VARY, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrackerConfig;

    fn facts() -> RequestFacts {
        RequestFacts {
            method: Method::GET,
            range: false,
            accept_encoding: Some(HeaderValue::from_static("gzip, br")),
            proto: "https",
            host: Some(HeaderValue::from_static("voipexpress.nl")),
            accept_language: None,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_html_with_a_body_is_rewritten() {
        let html = headers(&[("content-type", "text/html; charset=utf-8")]);
        assert!(matches!(
            decide(&facts(), StatusCode::OK, &html),
            Decision::Rewrite {
                visitor: Coding::Br,
                ..
            }
        ));
        assert!(matches!(
            decide(&facts(), StatusCode::NOT_FOUND, &html),
            Decision::Rewrite { .. }
        ));
        let head = RequestFacts {
            method: Method::HEAD,
            ..facts()
        };
        assert!(matches!(
            decide(&head, StatusCode::OK, &html),
            Decision::PassThrough
        ));
        for status in [
            StatusCode::NO_CONTENT,
            StatusCode::NOT_MODIFIED,
            StatusCode::PARTIAL_CONTENT,
        ] {
            assert!(matches!(
                decide(&facts(), status, &html),
                Decision::PassThrough
            ));
        }
        let css = headers(&[("content-type", "text/css")]);
        assert!(matches!(
            decide(&facts(), StatusCode::OK, &css),
            Decision::PassThrough
        ));
        let xhtml = headers(&[("content-type", "application/xhtml+xml")]);
        assert!(matches!(
            decide(&facts(), StatusCode::OK, &xhtml),
            Decision::Rewrite { .. }
        ));
    }

    #[test]
    fn unsupported_charsets_and_codings_pass_through() {
        let utf16 = headers(&[("content-type", "text/html; charset=utf-16")]);
        assert!(matches!(
            decide(&facts(), StatusCode::OK, &utf16),
            Decision::PassThrough
        ));
        let jis = headers(&[("content-type", "text/html; charset=ISO-2022-JP")]);
        assert!(matches!(
            decide(&facts(), StatusCode::OK, &jis),
            Decision::PassThrough
        ));
        let compress = headers(&[
            ("content-type", "text/html"),
            ("content-encoding", "compress"),
        ]);
        assert!(matches!(
            decide(&facts(), StatusCode::OK, &compress),
            Decision::PassThrough
        ));
        let latin = headers(&[("content-type", "text/html; charset=windows-1252")]);
        assert!(matches!(
            decide(&facts(), StatusCode::OK, &latin),
            Decision::Rewrite { .. }
        ));
    }

    #[test]
    fn site_trackers_extend_override_and_remove_built_ins() {
        use crate::catalog::Category;
        let own = |name: &str, category, hosts: &[&str], enabled| TrackerConfig {
            name: name.to_owned(),
            category,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            inline: vec![],
            cookies: vec![],
            enabled,
        };
        let specs = crate::config::tracker_specs(
            &[
                own("Leadinfo", Category::Marketing, &["cdn.leadinfo.net"], true),
                own("hotjar", Category::Marketing, &["static.hotjar.com"], true),
                own("Vimeo", Category::Marketing, &[], false),
            ],
            &[],
        );
        let rules = Rules::compile(&specs).expect("compiles");
        let leadinfo = rules
            .match_url("https://cdn.leadinfo.net/ping.js")
            .expect("added");
        assert_eq!(leadinfo.category, Category::Marketing);
        let hotjar = rules
            .match_url("https://static.hotjar.com/c/hotjar-1.js")
            .expect("kept");
        assert_eq!(
            hotjar.category,
            Category::Marketing,
            "overridden by name, any case"
        );
        assert!(
            rules
                .match_url("https://player.vimeo.com/video/1")
                .is_none(),
            "removed"
        );
        assert!(
            rules
                .match_url("https://connect.facebook.net/x.js")
                .is_some(),
            "others stay"
        );
    }

    #[test]
    fn rewritten_headers_are_private_weak_and_vary() {
        let mut h = headers(&[
            ("content-length", "1234"),
            ("etag", "\"abc\""),
            ("cache-control", "public, max-age=60, s-maxage=600"),
            ("vary", "Origin"),
            ("content-encoding", "gzip"),
        ]);
        adapt_headers(&mut h, Coding::Br, false);
        assert!(!h.contains_key("content-length"));
        assert_eq!(h["etag"], "W/\"abc\"");
        assert_eq!(h["cache-control"], "private, max-age=60");
        assert_eq!(h["vary"], "Origin, Accept-Encoding, Cookie");
        assert_eq!(h["content-encoding"], "br");
        let mut public = headers(&[("cache-control", "public, max-age=60")]);
        adapt_headers(&mut public, Coding::Identity, true);
        assert_eq!(public["cache-control"], "public, max-age=60");
        assert!(!public.contains_key("content-encoding"));
    }
}
