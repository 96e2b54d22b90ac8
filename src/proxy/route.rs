//! Routing by host: which configured site a request is for.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use http::header::HeaderValue;
use http::uri::{Authority, Scheme};
use http::{Request, header};

use crate::config::{Config, ServerConfig, SiteConfig};
use crate::rewrite::SiteRewrite;

/// A site as the request path needs it, computed once at config load.
#[derive(Debug)]
pub struct Site {
    pub name: Arc<str>,
    pub upstream_scheme: Scheme,
    pub upstream_authority: Authority,
    /// The verified client of an `https://` origin; plain origins use the shared pool.
    pub origin_tls: Option<super::upstream::TlsPool>,
    pub preserve_host: bool,
    /// Requests for pages ask the upstream for `identity` (`proxy::page_coding`).
    pub pages_identity: bool,
    /// The validators kept pages and responses are revalidated by (`proxy::revalidate`).
    pub revalidate: super::revalidate::Trusted,
    pub has_tls: bool,
    /// The certificate comes from ACME (and may still be pending).
    pub acme: bool,
    /// The ready `Strict-Transport-Security` value, for HTTPS responses.
    pub hsts: Option<HeaderValue>,
    /// Tracker rules and loader settings for this site's pages.
    pub rewrite: SiteRewrite,
    /// Consent cookie binding, banner, enforcement settings.
    pub consent: crate::consent::policy::SitePolicy,
    /// Statistics and GA settings of `/_cp/collect`.
    pub collect: crate::collect::SiteCollect,
}

impl Site {
    fn from_config(site: &SiteConfig, server: &ServerConfig) -> Option<Site> {
        let limits = &server.limits;
        // Validation has already proved the URL is well-formed.
        let uri: http::Uri = site.upstream.parse().ok()?;
        let hsts = site.hsts.as_ref().and_then(|h| {
            let mut v = format!("max-age={}", h.max_age.as_secs());
            if h.include_subdomains {
                v.push_str("; includeSubDomains");
            }
            if h.preload {
                v.push_str("; preload");
            }
            HeaderValue::from_str(&v).ok()
        });
        // Validation compiled the same rules already; they cannot fail here.
        let rewrite = SiteRewrite::new(site, limits.html_rewrite_memory).ok()?;
        let consent = crate::consent::policy::SitePolicy::new(site, Arc::clone(&rewrite.rules));
        Some(Site {
            name: Arc::clone(&consent.name),
            upstream_scheme: uri.scheme().cloned().unwrap_or(Scheme::HTTP),
            upstream_authority: uri.authority()?.clone(),
            origin_tls: match uri.scheme_str() {
                // Validation loaded the same CA file; a file changed since is logged.
                Some("https") => match super::upstream::TlsPool::new(server, site) {
                    Ok(pool) => Some(pool),
                    Err(error) => {
                        tracing::error!(site = %site.name, %error, "origin TLS settings unusable");
                        return None;
                    }
                },
                _ => None,
            },
            preserve_host: site.preserve_host,
            pages_identity: super::page_coding::asks_identity(
                site.upstream_page_coding,
                uri.host().unwrap_or(""),
            ),
            revalidate: super::revalidate::Trusted::new(&site.revalidate_with),
            has_tls: site.tls.is_some(),
            acme: site.tls == Some(crate::config::SiteTls::Acme),
            hsts,
            rewrite,
            consent,
            collect: crate::collect::SiteCollect::new(site),
        })
    }
}

/// Host name → site. Host names are exact and lowercase (validated at load).
#[derive(Debug, Default)]
pub struct Router {
    hosts: HashMap<Box<str>, Arc<Site>>,
}

impl Router {
    pub fn new(config: &Config) -> Router {
        let mut hosts = HashMap::new();
        for site_config in &config.sites {
            if let Some(site) = Site::from_config(site_config, &config.server) {
                let site = Arc::new(site);
                for host in &site_config.hosts {
                    hosts.insert(host.as_str().into(), Arc::clone(&site));
                }
            }
        }
        Router { hosts }
    }

    /// The site for a host name as a client wrote it (any case, an optional trailing dot).
    pub fn site(&self, host: &str) -> Option<&Arc<Site>> {
        let host = host.strip_suffix('.').unwrap_or(host);
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host: Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        };
        self.hosts.get(host.as_ref())
    }
}

/// Why a request names no usable host.
#[derive(Debug, PartialEq, Eq)]
pub enum HostError {
    /// HTTP/1.1 without `Host`, or with several (RFC 9112 §3.2: answer 400).
    Invalid,
    /// No host at all (HTTP/1.0).
    Missing,
}

/// The host a request is for, without port.
///
/// RFC 9112 §3.2.2: with an absolute-form target the target's authority wins over `Host`;
/// HTTP/2 carries it in `:authority`, which hyper puts in the URI. Either way only the
/// *site* is chosen from it: the upstream is always the site's own, so an absolute URL
/// cannot send the proxy anywhere else.
pub fn request_host<B>(req: &Request<B>) -> Result<&str, HostError> {
    if let Some(authority) = req.uri().authority() {
        if !valid_authority(authority) {
            return Err(HostError::Invalid);
        }
        return Ok(authority.host());
    }
    let mut values = req.headers().get_all(header::HOST).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return if req.headers().contains_key(header::HOST)
            || req.version() >= http::Version::HTTP_11
        {
            Err(HostError::Invalid)
        } else {
            Err(HostError::Missing)
        };
    };
    let value = value.to_str().map_err(|_| HostError::Invalid)?;
    let authority: Authority = value.parse().map_err(|_| HostError::Invalid)?;
    if !valid_authority(&authority) {
        return Err(HostError::Invalid);
    }
    // `Authority::host` borrows from the parsed value; find the same slice in the header.
    let host_len = authority.host().len();
    value.get(..host_len).ok_or(HostError::Invalid)
}

/// `host[:port]` as RFC 9110 §7.2 allows in `Host` and an absolute-form target: no
/// userinfo (RFC 9110 §4.2.4 forbids it in http(s) URIs; `evil,x@site` must not reach the
/// upstream as a host), a port of digits within 0–65535, a bracketed host only around an
/// IPv6 address, and a name of letters, digits, `-`, `.` and `_` only.
fn valid_authority(authority: &Authority) -> bool {
    let text = authority.as_str();
    if text.contains('@') {
        return false;
    }
    let host = authority.host();
    let rest = &text[host.len()..];
    if let Some(port) = rest.strip_prefix(':') {
        if port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || authority.port_u16().is_none()
        {
            return false;
        }
    } else if !rest.is_empty() {
        return false;
    }
    if let Some(inner) = host.strip_prefix('[') {
        return inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// The host the visitor asked for (with its port), from the URI (HTTP/2, absolute form)
/// or `Host`.
pub(super) fn visitor_host(uri: &http::Uri, headers: &http::HeaderMap) -> Option<HeaderValue> {
    match uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => headers.get(header::HOST).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, host: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn host_header_without_port() {
        assert_eq!(
            request_host(&req("/", Some("Voipexpress.NL:8080"))),
            Ok("Voipexpress.NL")
        );
        assert_eq!(request_host(&req("/", Some("[::1]:8080"))), Ok("[::1]"));
    }

    #[test]
    fn absolute_form_wins_over_host() {
        assert_eq!(
            request_host(&req("http://regionummer.nl/x", Some("voipexpress.nl"))),
            Ok("regionummer.nl")
        );
    }

    #[test]
    fn missing_or_bad_host_is_an_error() {
        assert_eq!(request_host(&req("/", None)), Err(HostError::Invalid));
        assert_eq!(
            request_host(&req("/", Some("a b"))),
            Err(HostError::Invalid)
        );
        assert_eq!(
            request_host(&req("/", Some("user@evil.example"))),
            Err(HostError::Invalid)
        );
        for bad in [
            "a.nl:abc",
            "a.nl:99999999",
            "a.nl:65536",
            "[a.nl]",
            "[::1",
            "a.nl:",
        ] {
            assert_eq!(
                request_host(&req("/", Some(bad))),
                Err(HostError::Invalid),
                "{bad}"
            );
        }
        assert_eq!(
            request_host(&req("http://evil.example,x@a.nl/", None)),
            Err(HostError::Invalid)
        );
        assert_eq!(request_host(&req("/", Some("a.nl:65535"))), Ok("a.nl"));
        let mut two = req("/", Some("a.nl"));
        two.headers_mut()
            .append("host", HeaderValue::from_static("b.nl"));
        assert_eq!(request_host(&two), Err(HostError::Invalid));
        let mut old = req("/", None);
        *old.version_mut() = http::Version::HTTP_10;
        assert_eq!(request_host(&old), Err(HostError::Missing));
    }
}
