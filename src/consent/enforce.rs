//! Cookie enforcement on every proxied request (ePrivacy art. 5(3); Tw art. 11.7a): cookies
//! of refused or undecided categories are dropped from responses, stripped from requests,
//! and — since the browser still holds them (GA's `_ga` is written by JavaScript on the
//! registrable domain) — expired.

use cookie::Cookie;
use cookie::time::{Duration, OffsetDateTime};
use http::HeaderMap;
use http::header::{COOKIE, HeaderValue, SET_COOKIE};

use super::{Category, ConsentState};
use crate::catalog::{Rules, UnknownCookies};

/// Sorts one cookie: its category (`None`: the site's own), and whether a rule knows it.
/// One table lookup per cookie, shared by the request and the response side.
fn classify(
    name: &str,
    rules: &Rules,
    unknown: UnknownCookies,
    out: &mut Enforced,
) -> Option<Category> {
    match rules.match_cookie(name) {
        Some(t) => Some(t.category),
        None => {
            out.unknown += 1;
            (unknown == UnknownCookies::Block).then_some(Category::Marketing)
        }
    }
}

/// What enforcement did to one exchange, for the counters and the expiry cookies.
#[derive(Debug, Default)]
pub struct Enforced {
    /// Request cookies removed before the upstream saw them: (name, category).
    pub stripped: Vec<(String, Category)>,
    /// Upstream `Set-Cookie`s dropped: (name, category).
    pub dropped: Vec<(String, Category)>,
    /// Cookies no rule knows (counted for the cookie inventory).
    pub unknown: u32,
}

/// Removes request cookies whose category is not granted, and the proxy's own
/// `cp_consent`, which the upstream has no use for.
pub fn strip_request_cookies(
    headers: &mut HeaderMap,
    rules: &Rules,
    consent: &ConsentState,
    unknown: UnknownCookies,
    out: &mut Enforced,
) {
    if !headers.contains_key(COOKIE) {
        return;
    }
    // RFC 6265 §4.2.1: `name=value` pairs separated by `; `. Split by hand on this path,
    // which every request with cookies takes: `cookie::Cookie::split_parse` measured 3×
    // slower here (README, Performance), for the same pairs.
    let mut kept: Vec<&str> = Vec::new();
    let mut changed = false;
    for value in headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for pair in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap_or("").trim();
            if name == super::cookie::NAME {
                changed = true;
                continue;
            }
            match classify(name, rules, unknown, out) {
                Some(category) if !consent.allows(category) => {
                    out.stripped.push((name.to_owned(), category));
                    changed = true;
                }
                _ => kept.push(pair),
            }
        }
    }
    if !changed {
        return;
    }
    let joined = kept.join("; ");
    headers.remove(COOKIE);
    if !joined.is_empty()
        && let Ok(v) = HeaderValue::from_str(&joined)
    {
        headers.insert(COOKIE, v);
    }
}

/// Drops upstream `Set-Cookie`s whose category is not granted.
pub fn drop_set_cookies(
    headers: &mut HeaderMap,
    rules: &Rules,
    consent: &ConsentState,
    unknown: UnknownCookies,
    out: &mut Enforced,
) {
    if !headers.contains_key(SET_COOKIE) {
        return;
    }
    let all: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    headers.remove(SET_COOKIE);
    for value in all {
        // RFC 6265 §5.2: a `Set-Cookie` without a `name=value` pair is ignored by the
        // browser, so it is dropped here too (nothing a tracker could hide in).
        // Only the pair decides: the attributes (dates among them) are the browser's.
        let Some(parsed) = value
            .to_str()
            .ok()
            .and_then(|v| Cookie::parse(v.split(';').next().unwrap_or(v)).ok())
        else {
            continue;
        };
        let name = parsed.name();
        match classify(name, rules, unknown, out) {
            Some(category) if !consent.allows(category) => {
                out.dropped.push((name.to_owned(), category));
            }
            _ => {
                headers.append(SET_COOKIE, value);
            }
        }
    }
}

/// Appends the expiring `Set-Cookie`s of every cookie the request had stripped.
pub fn expire_stripped(headers: &mut HeaderMap, enforced: &Enforced, host: &str, secure: bool) {
    for (name, _) in &enforced.stripped {
        for value in expiry_cookies(name, host, secure) {
            headers.append(SET_COOKIE, value);
        }
    }
}

/// `Set-Cookie`s that expire `name` for the host and every parent domain it could have
/// been written on (`www.voipexpress.nl` → host-only, `.www.voipexpress.nl`,
/// `.voipexpress.nl`). A browser ignores the ones for public suffixes.
pub fn expiry_cookies(name: &str, host: &str, secure: bool) -> Vec<HeaderValue> {
    let host = host.split(':').next().unwrap_or(host).trim_end_matches('.');
    let attributes = expired_attributes(secure);
    let expired = |domain: Option<&str>| {
        let mut value = String::with_capacity(name.len() + attributes.len() + 64);
        value.push_str(name);
        value.push('=');
        value.push_str(attributes);
        if let Some(domain) = domain {
            value.push_str("; Domain=");
            value.push_str(domain);
        }
        HeaderValue::from_str(&value).ok()
    };
    let mut values: Vec<HeaderValue> = expired(None).into_iter().collect();
    if host.parse::<std::net::IpAddr>().is_err() {
        let mut domain = host;
        loop {
            values.extend(expired(Some(domain)));
            match domain.split_once('.') {
                Some((_, parent)) if parent.contains('.') => domain = parent,
                _ => break,
            }
        }
    }
    values
}

/// The attributes of an expiring cookie as the `cookie` crate writes them — `Max-Age=0` for
/// current browsers, an `Expires` in the past for old ones — formatted once: the date
/// formatting would otherwise cost more than the rest of the request's cookie work.
fn expired_attributes(secure: bool) -> &'static str {
    static ATTRIBUTES: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    let [plain, secure_only] = ATTRIBUTES.get_or_init(|| {
        [false, true].map(|secure| {
            let cookie = Cookie::build(("", ""))
                .path("/")
                .max_age(Duration::ZERO)
                .expires(OffsetDateTime::UNIX_EPOCH)
                .secure(secure)
                .to_string();
            // "=; Path=/; …": what follows the (empty) pair.
            cookie.trim_start_matches('=').to_owned()
        })
    });
    if secure { secure_only } else { plain }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CategorySet;
    use crate::catalog::trackers;

    fn rules() -> Rules {
        Rules::compile(&trackers::builtin()).expect("rules")
    }

    #[test]
    fn refused_request_cookies_are_stripped_and_site_cookies_kept() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("_ga=GA1.1.1; PHPSESSID=abc; _fbp=fb.1"),
        );
        let mut out = Enforced::default();
        let consent = ConsentState::decided(CategorySet::NECESSARY_ONLY.with(Category::Analytics));
        strip_request_cookies(&mut h, &rules(), &consent, UnknownCookies::Allow, &mut out);
        assert_eq!(h[COOKIE], "_ga=GA1.1.1; PHPSESSID=abc");
        assert_eq!(out.stripped, vec![("_fbp".to_owned(), Category::Marketing)]);
        assert_eq!(out.unknown, 1);
    }

    #[test]
    fn the_consent_cookie_never_goes_upstream() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; cp_consent=1.abc.def; PHPSESSID=xyz"),
        );
        let mut out = Enforced::default();
        let all = ConsentState::decided(CategorySet::ALL);
        strip_request_cookies(&mut h, &rules(), &all, UnknownCookies::Allow, &mut out);
        assert_eq!(h[COOKIE], "a=1; PHPSESSID=xyz");
        assert!(out.stripped.is_empty(), "not counted as a blocked tracker");
    }

    #[test]
    fn refused_set_cookies_are_dropped_and_unknown_follow_the_site_setting() {
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("_ga=GA1; Path=/; Max-Age=63072000"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("session=x; HttpOnly"));
        let mut out = Enforced::default();
        drop_set_cookies(
            &mut h,
            &rules(),
            &ConsentState::undecided(),
            UnknownCookies::Allow,
            &mut out,
        );
        assert_eq!(h.get_all(SET_COOKIE).iter().count(), 1);
        assert_eq!(h[SET_COOKIE], "session=x; HttpOnly");
        let mut blocked = HeaderMap::new();
        blocked.append(SET_COOKIE, HeaderValue::from_static("session=x; HttpOnly"));
        drop_set_cookies(
            &mut blocked,
            &rules(),
            &ConsentState::undecided(),
            UnknownCookies::Block,
            &mut out,
        );
        assert!(!blocked.contains_key(SET_COOKIE));
    }

    #[test]
    fn expiry_covers_host_and_parent_domains() {
        let v: Vec<String> = expiry_cookies("_ga", "www.voipexpress.nl:443", true)
            .iter()
            .map(|h| h.to_str().expect("ascii").to_owned())
            .collect();
        assert_eq!(v.len(), 3);
        let parsed: Vec<Cookie<'_>> = v
            .iter()
            .map(|c| Cookie::parse(c.as_str()).expect("valid"))
            .collect();
        let domains: Vec<Option<&str>> = parsed.iter().map(Cookie::domain).collect();
        assert_eq!(
            domains,
            [None, Some("www.voipexpress.nl"), Some("voipexpress.nl")]
        );
        for cookie in &parsed {
            assert_eq!((cookie.name(), cookie.value()), ("_ga", ""));
            assert_eq!(cookie.max_age(), Some(Duration::ZERO));
            assert_eq!(cookie.expires_datetime(), Some(OffsetDateTime::UNIX_EPOCH));
            assert_eq!(cookie.path(), Some("/"));
            assert_eq!(cookie.secure(), Some(true));
        }
        let plain = expiry_cookies("_ga", "127.0.0.1", false);
        assert_eq!(plain.len(), 1);
        assert!(!plain[0].to_str().expect("ascii").contains("Secure"));
    }

    #[test]
    fn quoted_values_are_kept_exactly() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("PHPSESSID=\"a b\"; _fbp=fb.1"),
        );
        let mut out = Enforced::default();
        strip_request_cookies(
            &mut h,
            &rules(),
            &ConsentState::undecided(),
            UnknownCookies::Allow,
            &mut out,
        );
        assert_eq!(h[COOKIE], "PHPSESSID=\"a b\"");
        assert_eq!(out.stripped, vec![("_fbp".to_owned(), Category::Marketing)]);
    }

    #[test]
    fn a_set_cookie_without_a_pair_is_dropped_as_a_browser_would_ignore_it() {
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("HttpOnly; Path=/"));
        h.append(SET_COOKIE, HeaderValue::from_static("session=x; HttpOnly"));
        let mut out = Enforced::default();
        drop_set_cookies(
            &mut h,
            &rules(),
            &ConsentState::undecided(),
            UnknownCookies::Allow,
            &mut out,
        );
        let left: Vec<_> = h.get_all(SET_COOKIE).iter().collect();
        assert_eq!(left, ["session=x; HttpOnly"]);
    }
}
