//! The configuration of statistics and Google Analytics: which events a site's own
//! statistics count, where GA4 events go, the geo database, the collect endpoint's limits.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Jurisdiction;

/// Which events the site's own (cookieless, anonymised) statistics count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Statistics {
    /// Every visitor's: the Dutch exemption for analytics with little privacy impact
    /// (Telecommunicatiewet art. 11.7a(3)(b)): first-party, cookieless, anonymised.
    Always,
    /// Only visitors who granted `analytics` (Belgium and every regime without such an
    /// exemption).
    WithConsent,
    /// None.
    Off,
}

impl Statistics {
    /// The preset of a jurisdiction; a site may always be stricter.
    pub fn default_for(jurisdiction: Jurisdiction) -> Statistics {
        match jurisdiction {
            Jurisdiction::Nl => Statistics::Always,
            _ => Statistics::WithConsent,
        }
    }
}

/// `[site.ga]`: Google Analytics 4.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaConfig {
    /// `G-…`; the site's own gtag snippets for it are handled per `mode`.
    #[serde(default)]
    pub measurement_id: Option<String>,
    /// `server` (default): events go to GA from the proxy through the Measurement Protocol
    /// and the site's own gtag.js for `measurement_id` never runs; `client`: the site
    /// keeps its gtag, gated by Google Consent Mode v2 defaults injected first in `<head>`.
    #[serde(default)]
    pub mode: GaMode,
    /// The environment variable holding the Measurement Protocol API secret.
    #[serde(default)]
    pub api_secret_env: Option<String>,
    /// A file holding the API secret (instead of `api_secret_env`).
    #[serde(default)]
    pub api_secret_file: Option<PathBuf>,
    /// The Measurement Protocol endpoint: Google's EU endpoint by default.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Send the *truncated* address as `ip_override` (off by default: `user_location` is
    /// computed by the proxy and GA ignores `ip_override` when it is present).
    #[serde(default)]
    pub send_truncated_ip: bool,
}

/// Google's EU Measurement Protocol endpoint (`region1`).
pub const EU_ENDPOINT: &str = "https://region1.google-analytics.com/mp/collect";

fn default_endpoint() -> String {
    EU_ENDPOINT.to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GaMode {
    #[default]
    Server,
    Client,
}

/// `[geoip]`: a MaxMind-format database (GeoLite2, DB-IP Lite, ip-location-db).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipConfig {
    /// Without one, countries are unknown.
    #[serde(default)]
    pub database: Option<PathBuf>,
}

/// `[collect]`: the event endpoint and the GA queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectConfig {
    /// Event requests per minute from one address; more get `429`.
    pub requests_per_minute: u32,
    /// The ceiling for a whole network (the truncated address).
    pub requests_per_minute_network: u32,
    /// Most events waiting for GA; past it the oldest are dropped (and counted).
    pub ga_queue_limit: u32,
    /// An event not delivered to GA within this is dropped (and counted): GA accepts
    /// events up to 72 hours old.
    #[serde(with = "humantime_serde")]
    pub ga_max_age: Duration,
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            requests_per_minute: 600,
            requests_per_minute_network: 6000,
            ga_queue_limit: 1_000_000,
            ga_max_age: Duration::from_secs(71 * 3600),
        }
    }
}

impl GaConfig {
    /// The Measurement Protocol API secret, from `api_secret_env` or `api_secret_file`.
    /// The error says what is missing, never the secret.
    pub fn api_secret(&self) -> Result<String, String> {
        if let Some(var) = &self.api_secret_env {
            return match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
                _ => Err(format!("the environment variable `{var}` is not set")),
            };
        }
        if let Some(file) = &self.api_secret_file {
            return match std::fs::read_to_string(file) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
                Ok(_) => Err(format!("`{}` is empty", file.display())),
                Err(e) => Err(format!("cannot read `{}`: {e}", file.display())),
            };
        }
        Err(
            "no API secret: set `api_secret_env` (a variable holding it) or `api_secret_file`"
                .to_owned(),
        )
    }

    /// Whether the proxy itself sends this site's events to GA.
    pub fn forwards(&self) -> bool {
        self.mode == GaMode::Server && self.measurement_id.is_some()
    }
}

/// Rules of `[geoip]`, `[collect]` and the sites' statistics and GA settings.
pub(super) fn check(
    geoip: &GeoipConfig,
    collect: &CollectConfig,
    sites: &[super::SiteConfig],
    problems: &mut Vec<super::Problem>,
) {
    use super::Problem;
    if let Some(db) = &geoip.database
        && !db.is_file()
    {
        problems.push(Problem::missing(None, "geoip.database", db));
    }
    if collect.requests_per_minute == 0 {
        problems.push(Problem::global(
            "collect.requests_per_minute",
            "must be at least 1",
        ));
    }
    if collect.requests_per_minute_network < collect.requests_per_minute {
        problems.push(Problem::global(
            "collect.requests_per_minute_network",
            "must be at least `requests_per_minute`",
        ));
    }
    if collect.ga_queue_limit == 0 {
        problems.push(Problem::global(
            "collect.ga_queue_limit",
            "must be at least 1",
        ));
    }
    if collect.ga_max_age > Duration::from_secs(72 * 3600) {
        problems.push(Problem::global(
            "collect.ga_max_age",
            "must be at most 72h: GA4 refuses older events",
        ));
    }
    for site in sites {
        for name in &site.query_allowlist {
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b == b'=') {
                problems.push(Problem::site(
                    &site.name,
                    "query_allowlist",
                    format!("`{name}` is not a query parameter name"),
                ));
            }
        }
        let Some(ga) = &site.ga else { continue };
        if ga.mode == GaMode::Server && ga.measurement_id.is_none() {
            problems.push(Problem::site(
                &site.name,
                "ga.measurement_id",
                "missing: the proxy needs the GA4 measurement id to forward events",
            ));
        }
        if ga.api_secret_env.is_some() && ga.api_secret_file.is_some() {
            problems.push(Problem::site(
                &site.name,
                "ga.api_secret_file",
                "give either `api_secret_env` or `api_secret_file`, not both",
            ));
        }
        if ga.forwards()
            && let Err(message) = ga.api_secret()
        {
            problems.push(Problem::site(&site.name, "ga.api_secret_env", message));
        }
        match url::Url::parse(&ga.endpoint) {
            Ok(u) if u.scheme() == "https" => {}
            // Plain HTTP only to this machine (a local stand-in, a test server).
            Ok(u)
                if u.scheme() == "http"
                    && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => {}
            _ => problems.push(Problem::site(
                &site.name,
                "ga.endpoint",
                format!(
                    "`{}` is not an https:// URL (like {EU_ENDPOINT})",
                    ga.endpoint
                ),
            )),
        }
    }
}
