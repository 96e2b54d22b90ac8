//! The page and the referrer of an event, stripped of what could identify a visitor
//! (CNIL's recipe for lawful analytics: no URL parameters that can identify, external
//! referrers reduced to their host). A query string may carry an e-mail address, a
//! password-reset token or a customer number; only `utm_*` and a site's own allowlist
//! survive, and no fragment ever does.

use url::Url;

/// Longest path kept; longer ones are cut (a path is not a place for data).
const MAX_PATH: usize = 1024;
/// Longest kept query value.
const MAX_VALUE: usize = 100;

/// A page as statistics and GA may keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanPage {
    /// Lowercase host (the site's own), with its port when not the scheme's default.
    pub host: String,
    /// Path, without query or fragment.
    pub path: String,
    /// Kept parameters (`utm_*` and the allowlist), in their order.
    pub query: Vec<(String, String)>,
}

/// UTM campaign parameters (Google's names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

impl CleanPage {
    /// `url` cleaned, when it is an http(s) URL on one of `hosts` (a beacon cannot
    /// report pages of other sites).
    pub fn of(url: &str, hosts: &[String], allowlist: &[String]) -> Option<CleanPage> {
        let url = Url::parse(url).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        let mut host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
            return None;
        }
        if let Some(port) = url.port() {
            host = format!("{host}:{port}");
        }
        let mut path = url.path().to_owned();
        if path.len() > MAX_PATH {
            let mut cut = MAX_PATH;
            while !path.is_char_boundary(cut) {
                cut -= 1;
            }
            path.truncate(cut);
        }
        let query = url
            .query_pairs()
            .filter(|(k, _)| k.starts_with("utm_") || allowlist.iter().any(|a| a == k))
            .map(|(k, v)| (k.into_owned(), cut(&v)))
            .take(16)
            .collect();
        Some(CleanPage { host, path, query })
    }

    pub fn utm(&self) -> Utm {
        let get = |name: &str| {
            self.query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        Utm {
            source: get("utm_source"),
            medium: get("utm_medium"),
            campaign: get("utm_campaign"),
            term: get("utm_term"),
            content: get("utm_content"),
        }
    }

    /// `https://host/path?kept=…`: the page as GA's `page_location` receives it.
    pub fn location(&self, scheme: &str) -> String {
        let mut url = format!("{scheme}://{}{}", self.host, self.path);
        if !self.query.is_empty() {
            let pairs: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        url
    }
}

/// An external referrer reduced to its host (`www.google.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerHost(pub(super) String);

impl ReferrerHost {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An external referrer's host; `None` for none, for the site itself (internal
/// navigation), and for anything that is not an http(s) URL.
pub fn referrer_host(referrer: &str, own_hosts: &[String]) -> Option<ReferrerHost> {
    let url = Url::parse(referrer).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    if own_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return None;
    }
    Some(ReferrerHost(host))
}

fn cut(value: &str) -> String {
    value.chars().take(MAX_VALUE).collect()
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        vec!["voipexpress.nl".into(), "www.voipexpress.nl".into()]
    }

    #[test]
    fn only_utm_and_allowlisted_parameters_survive() {
        let page = CleanPage::of(
            "https://WWW.voipexpress.nl/bestel?email=jan%40example.nl&token=abc&utm_source=nieuwsbrief&utm_campaign=winter&plan=pro#stap-2",
            &hosts(),
            &["plan".to_owned()],
        )
        .expect("own page");
        assert_eq!(page.host, "www.voipexpress.nl");
        assert_eq!(page.path, "/bestel");
        assert_eq!(
            page.query,
            vec![
                ("utm_source".into(), "nieuwsbrief".into()),
                ("utm_campaign".into(), "winter".into()),
                ("plan".into(), "pro".into())
            ]
        );
        assert_eq!(page.utm().source.as_deref(), Some("nieuwsbrief"));
        let location = page.location("https");
        assert_eq!(
            location,
            "https://www.voipexpress.nl/bestel?utm_source=nieuwsbrief&utm_campaign=winter&plan=pro"
        );
        assert!(!location.contains("jan") && !location.contains("abc"));
    }

    #[test]
    fn other_sites_and_schemes_are_refused() {
        assert!(CleanPage::of("https://evil.example/x", &hosts(), &[]).is_none());
        assert!(CleanPage::of("javascript:alert(1)", &hosts(), &[]).is_none());
    }

    #[test]
    fn referrers_are_reduced_to_external_hosts() {
        assert_eq!(
            referrer_host("https://www.google.com/search?q=jan+jansen", &hosts())
                .as_ref()
                .map(ReferrerHost::as_str),
            Some("www.google.com")
        );
        assert_eq!(
            referrer_host("https://voipexpress.nl/prijzen", &hosts()),
            None
        );
        assert_eq!(referrer_host("android-app://com.x", &hosts()), None);
    }
}
