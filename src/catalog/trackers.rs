//! Tracker recognition: which scripts, embeds, pixels and cookies belong to which consent
//! category. A built-in, documented table (the README lists it) that each site can extend
//! or override in its `[[site.trackers]]`; compiled once at config load.

use std::borrow::Cow;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::catalog::Category;

/// One row of the table.
#[derive(Debug, Clone)]
pub struct TrackerSpec {
    pub name: String,
    pub category: Category,
    /// `host` or `host/path-prefix`; a host also matches its subdomains.
    pub hosts: Vec<String>,
    /// Substrings that identify the tracker's inline snippet.
    pub inline: Vec<String>,
    /// Cookie names; a trailing `*` matches a prefix (`_ga_*`).
    pub cookies: Vec<String>,
}

/// `(name, category, hosts, inline signatures, cookies)`.
type Row = (
    &'static str,
    Category,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

use Category::{Analytics, Marketing};

/// The built-in table. Sources: each vendor's published snippet and cookie documentation.
static BUILTIN: &[Row] = &[
    (
        "Google Tag Manager",
        Marketing,
        &[
            "googletagmanager.com/gtm.js",
            "googletagmanager.com/ns.html",
        ],
        &[
            "googletagmanager.com/gtm.js",
            "'gtm.start'",
            "\"gtm.start\"",
        ],
        &[],
    ),
    (
        "Google Analytics",
        Analytics,
        &[
            "googletagmanager.com/gtag/js",
            "google-analytics.com",
            "analytics.google.com",
        ],
        &[
            "gtag(",
            "google-analytics.com/analytics.js",
            "GoogleAnalyticsObject",
        ],
        // `cp_cid` and `cp_sid` are the proxy's own client id and session for forwarding
        // to GA (set only after `analytics` consent): withdrawal expires them like `_ga`.
        &[
            "_ga", "_ga_*", "_gid", "_gat", "_gat_*", "__utma", "__utmb", "__utmc", "__utmz",
            "cp_cid", "cp_sid",
        ],
    ),
    (
        "Google Ads / DoubleClick",
        Marketing,
        &[
            "googleadservices.com",
            "doubleclick.net",
            "googlesyndication.com",
            "adservice.google.com",
            "google.com/pagead",
            "www.google.com/ads",
        ],
        &["googleadservices.com", "google_conversion_id"],
        &["_gcl_au", "_gcl_*", "IDE", "test_cookie", "DSID", "NID"],
    ),
    (
        "Meta Pixel",
        Marketing,
        &["connect.facebook.net", "facebook.com/tr"],
        &["fbq(", "connect.facebook.net"],
        &["_fbp", "_fbc", "fr"],
    ),
    (
        "Hotjar",
        Analytics,
        &["hotjar.com", "hotjar.io"],
        &["static.hotjar.com", "_hjSettings"],
        &["_hj*", "_hjid", "_hjSessionUser_*"],
    ),
    (
        "Microsoft Clarity",
        Analytics,
        &["clarity.ms"],
        &["clarity.ms/tag", "\"clarity\"", "'clarity'"],
        &["_clck", "_clsk", "CLID"],
    ),
    (
        "Microsoft Advertising UET",
        Marketing,
        &["bat.bing.com", "bat.bing.net"],
        &["bat.bing.com", "uetq"],
        &["_uetsid", "_uetvid", "MUID"],
    ),
    (
        "LinkedIn Insight",
        Marketing,
        &["snap.licdn.com", "px.ads.linkedin.com", "linkedin.com/px"],
        &["_linkedin_partner_id", "lintrk", "snap.licdn.com"],
        &[
            "li_fat_id",
            "bcookie",
            "lidc",
            "UserMatchHistory",
            "AnalyticsSyncHistory",
            "li_sugr",
        ],
    ),
    (
        "HubSpot",
        Marketing,
        &[
            "hs-scripts.com",
            "hs-analytics.net",
            "hs-banner.com",
            "hscollectedforms.net",
            "hsadspixel.net",
            "track.hubspot.com",
        ],
        &["hs-script-loader", "_hsq", "js.hs-scripts.com"],
        &["__hstc", "hubspotutk", "__hssc", "__hssrc"],
    ),
    (
        "TikTok Pixel",
        Marketing,
        &["analytics.tiktok.com"],
        &["ttq.load", "ttq.page", "analytics.tiktok.com"],
        &["_ttp", "_tt_enable_cookie"],
    ),
    (
        "Pinterest Tag",
        Marketing,
        &["s.pinimg.com/ct", "ct.pinterest.com"],
        &["pintrk("],
        &["_pin_unauth", "_pinterest_ct_ua", "_derived_epik"],
    ),
    (
        "X (Twitter) Pixel",
        Marketing,
        &[
            "static.ads-twitter.com",
            "analytics.twitter.com",
            "t.co/i/adsct",
        ],
        &["twq(", "static.ads-twitter.com"],
        &["muc_ads", "personalization_id", "guest_id"],
    ),
    (
        "Matomo Cloud",
        Analytics,
        &["matomo.cloud"],
        &["_paq.push", "matomo.cloud"],
        &["_pk_id*", "_pk_ses*", "_pk_ref*"],
    ),
    (
        "YouTube",
        Marketing,
        &[
            "youtube.com/embed",
            "youtube.com/iframe_api",
            "youtube-nocookie.com",
            "ytimg.com",
        ],
        &["youtube.com/iframe_api"],
        &["VISITOR_INFO1_LIVE", "YSC", "VISITOR_PRIVACY_METADATA"],
    ),
    (
        "Vimeo",
        Marketing,
        &["player.vimeo.com"],
        &["player.vimeo.com/api"],
        &["vuid"],
    ),
    (
        "Google Maps",
        Marketing,
        &["google.com/maps", "maps.google.com", "maps.googleapis.com"],
        &["maps.googleapis.com"],
        &[],
    ),
];

/// The built-in table as specs, for listing and for overriding by name.
pub fn builtin() -> Vec<TrackerSpec> {
    BUILTIN
        .iter()
        .map(|(name, category, hosts, inline, cookies)| TrackerSpec {
            name: (*name).to_owned(),
            category: *category,
            hosts: hosts.iter().map(|s| (*s).to_owned()).collect(),
            inline: inline.iter().map(|s| (*s).to_owned()).collect(),
            cookies: cookies.iter().map(|s| (*s).to_owned()).collect(),
        })
        .collect()
}

/// A recognised tracker.
#[derive(Debug)]
pub struct Tracker {
    pub name: String,
    pub category: Category,
}

/// The table compiled for fast lookups on the hot path.
#[derive(Debug)]
pub struct Rules {
    trackers: Vec<Tracker>,
    /// host → (path prefix, tracker), longest prefix first.
    hosts: HashMap<Box<str>, Vec<(Box<str>, usize)>>,
    inline: Option<AhoCorasick>,
    inline_owner: Vec<usize>,
    cookies: HashMap<Box<str>, usize>,
    cookie_prefixes: Vec<(Box<str>, usize)>,
}

impl Rules {
    pub fn compile(specs: &[TrackerSpec]) -> Result<Rules, String> {
        let mut rules = Rules {
            trackers: Vec::with_capacity(specs.len()),
            hosts: HashMap::new(),
            inline: None,
            inline_owner: Vec::new(),
            cookies: HashMap::new(),
            cookie_prefixes: Vec::new(),
        };
        let mut patterns = Vec::new();
        for spec in specs {
            let index = rules.trackers.len();
            rules.trackers.push(Tracker {
                name: spec.name.clone(),
                category: spec.category,
            });
            for pattern in &spec.hosts {
                let pattern = pattern.to_ascii_lowercase();
                let (host, path) = match pattern.find('/') {
                    Some(i) => (&pattern[..i], &pattern[i..]),
                    None => (pattern.as_str(), ""),
                };
                if host.is_empty() || host.contains(':') {
                    return Err(format!(
                        "tracker `{}`: host `{pattern}` must be a host name, optionally with a path",
                        spec.name
                    ));
                }
                let entry = rules.hosts.entry(host.into()).or_default();
                entry.push((path.into(), index));
                entry.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
            }
            for signature in &spec.inline {
                if signature.len() < 3 {
                    return Err(format!(
                        "tracker `{}`: inline signature `{signature}` is too short to be specific",
                        spec.name
                    ));
                }
                patterns.push(signature.clone());
                rules.inline_owner.push(index);
            }
            for cookie in &spec.cookies {
                match cookie.strip_suffix('*') {
                    Some(prefix) if !prefix.is_empty() => {
                        rules.cookie_prefixes.push((prefix.into(), index));
                    }
                    Some(_) => {
                        return Err(format!(
                            "tracker `{}`: cookie pattern `*` would match every cookie",
                            spec.name
                        ));
                    }
                    None => {
                        rules.cookies.insert(cookie.as_str().into(), index);
                    }
                }
            }
        }
        if !patterns.is_empty() {
            rules.inline = Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&patterns)
                    .map_err(|e| format!("inline signatures: {e}"))?,
            );
        }
        Ok(rules)
    }

    /// The tracker an external URL (`https://…`, `//…`) belongs to; same-origin and
    /// relative URLs belong to none.
    pub fn match_url(&self, url: &str) -> Option<&Tracker> {
        let (host, path) = split_url(url)?;
        let mut candidate: &str = &host;
        loop {
            if let Some(entries) = self.hosts.get(candidate) {
                for (prefix, index) in entries {
                    if path.starts_with(&**prefix) {
                        return self.trackers.get(*index);
                    }
                }
            }
            match candidate.find('.') {
                Some(dot) => candidate = &candidate[dot + 1..],
                None => return None,
            }
        }
    }

    /// The strictest tracker served from a URL's host, whatever the path: for resource
    /// hints (`preconnect` names only an origin).
    pub fn match_host(&self, url: &str) -> Option<&Tracker> {
        let (host, _) = split_url(url)?;
        let mut candidate: &str = &host;
        let mut found: Option<&Tracker> = None;
        loop {
            if let Some(entries) = self.hosts.get(candidate) {
                for (_, index) in entries {
                    if let Some(t) = self.trackers.get(*index)
                        && found.is_none_or(|f| t.category > f.category)
                    {
                        found = Some(t);
                    }
                }
            }
            match candidate.find('.') {
                Some(dot) => candidate = &candidate[dot + 1..],
                None => return found,
            }
        }
    }

    /// The tracker of an inline script, by signature; with several, the strictest
    /// category wins (the script is one unit: it runs only when all are granted).
    pub fn match_inline(&self, script: &str) -> Option<&Tracker> {
        let ac = self.inline.as_ref()?;
        ac.find_iter(script)
            .filter_map(|m| self.inline_owner.get(m.pattern().as_usize()))
            .filter_map(|i| self.trackers.get(*i))
            .max_by_key(|t| t.category)
    }

    /// The tracker a cookie belongs to, by name.
    pub fn match_cookie(&self, name: &str) -> Option<&Tracker> {
        if let Some(index) = self.cookies.get(name) {
            return self.trackers.get(*index);
        }
        self.cookie_prefixes
            .iter()
            .find(|(prefix, _)| name.starts_with(&**prefix))
            .and_then(|(_, index)| self.trackers.get(*index))
    }
}

/// Host (lowercase, no port or userinfo) and path of an absolute or scheme-relative URL.
/// Host names are case-insensitive (RFC 4343); a URL written in capitals must not slip
/// past the table, so such a host is lowercased (the only allocation, and a rare one).
fn split_url(url: &str) -> Option<(Cow<'_, str>, &str)> {
    let url = url.trim();
    let rest = if let Some(r) = url.strip_prefix("//") {
        r
    } else {
        let (scheme, r) = url.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return None;
        }
        r
    };
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let path = &rest[end..];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = host.split(':').next().unwrap_or(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some((Cow::Owned(host.to_ascii_lowercase()), path));
    }
    Some((Cow::Borrowed(host), path))
}

/// What happens to cookies no rule knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownCookies {
    /// Treat them as the site's own (necessary) cookies.
    #[default]
    Allow,
    /// Treat them as refused until the visitor accepts everything.
    Block,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::compile(&builtin()).expect("built-in table compiles")
    }

    #[test]
    fn urls_match_by_host_suffix_and_longest_path() {
        let r = rules();
        let gtag = r
            .match_url("https://www.googletagmanager.com/gtag/js?id=G-1")
            .expect("gtag");
        assert_eq!(gtag.name, "Google Analytics");
        assert_eq!(gtag.category, Category::Analytics);
        let gtm = r
            .match_url("//www.googletagmanager.com/gtm.js?id=GTM-1")
            .expect("gtm");
        assert_eq!(gtm.category, Category::Marketing);
        assert_eq!(
            r.match_url("https://connect.facebook.net/en_US/fbevents.js")
                .expect("meta")
                .name,
            "Meta Pixel"
        );
        assert!(r.match_url("https://www.youtube.com/embed/abc").is_some());
        assert!(r.match_url("https://www.youtube.com/watch?v=abc").is_none());
        assert!(r.match_url("/js/app.js").is_none());
        assert!(r.match_url("https://cdn.example.nl/app.js").is_none());
        assert!(r.match_url("javascript:alert(1)").is_none());
        assert!(r.match_url("https://notfacebook.net.example/x").is_none());
        assert!(r.match_url("https://www.googletagmanager.com").is_none());
        assert!(r.match_url("HTTPS://CONNECT.FACEBOOK.NET/x.js").is_some());
        assert!(r.match_url("https://connect.facebook.net./x.js").is_some());
        assert!(
            r.match_url("https://user@connect.facebook.net:443/x.js")
                .is_some()
        );
        assert_eq!(
            r.match_host("https://www.googletagmanager.com")
                .expect("host")
                .category,
            Category::Marketing
        );
    }

    #[test]
    fn inline_snippets_match_strictest_category() {
        let r = rules();
        let t = r
            .match_inline("window.dataLayer=[];function gtag(){};gtag('config','G-1')")
            .expect("gtag");
        assert_eq!(t.category, Category::Analytics);
        let both = r
            .match_inline("gtag('js', new Date()); fbq('init', '1');")
            .expect("both");
        assert_eq!(both.category, Category::Marketing);
        assert!(r.match_inline("console.log('hello')").is_none());
    }

    #[test]
    fn cookies_match_exact_and_prefix() {
        let r = rules();
        assert_eq!(
            r.match_cookie("_ga").expect("ga").category,
            Category::Analytics
        );
        assert_eq!(
            r.match_cookie("_ga_ABC123").expect("ga4").name,
            "Google Analytics"
        );
        assert_eq!(
            r.match_cookie("_fbp").expect("fbp").category,
            Category::Marketing
        );
        assert!(r.match_cookie("PHPSESSID").is_none());
        assert!(r.match_cookie("_gax").is_none());
    }

    #[test]
    fn bad_specs_are_rejected() {
        let spec = |cookies: &[&str], inline: &[&str]| TrackerSpec {
            name: "x".into(),
            category: Category::Marketing,
            hosts: vec![],
            inline: inline.iter().map(|s| (*s).to_owned()).collect(),
            cookies: cookies.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(Rules::compile(&[spec(&["*"], &[])]).is_err());
        assert!(Rules::compile(&[spec(&[], &["a"])]).is_err());
    }
}
