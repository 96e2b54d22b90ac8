//! The TOML configuration: schema, defaults and validation.
//!
//! A site owner edits one file. Every key is documented in the README's configuration
//! reference; unknown keys are errors (`deny_unknown_fields`) so a typo never silently
//! turns a protection off. Loading collects *every* problem it can find and names the
//! file, the site and the field of each (see [`ConfigError`]).

pub mod analytics;
pub mod banner;
mod error;
mod limits;
mod load;
pub mod tls;
mod validate;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

pub use analytics::{CollectConfig, GaConfig, GaMode, GeoipConfig, Statistics};
pub use banner::{BannerConfig, ServiceConfig};
pub use error::{ConfigError, Problem};
pub use limits::{Limits, Timeouts};
pub use tls::{AcmeConfig, Challenge, SiteTls, TlsFiles, UpstreamTls};

/// Whether files the configuration names must exist on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Serving, or checking on the server: a missing file is an error.
    Required,
    /// `check-config --offline`: a missing file is a warning (it may exist only on the server).
    MayBeMissing,
}

/// The whole configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration was read from; errors and relative paths refer to it.
    pub source: PathBuf,
    pub server: ServerConfig,
    pub privacy: PrivacyConfig,
    pub storage: StorageConfig,
    pub retention: RetentionConfig,
    pub geoip: GeoipConfig,
    pub collect: CollectConfig,
    pub dashboard: DashboardConfig,
    pub acme: AcmeConfig,
    pub sites: Vec<SiteConfig>,
    /// What is worth a look but does not stop the proxy (a non-standard challenge port; with
    /// `--offline`, files that only exist on the server).
    pub warnings: Vec<Problem>,
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: impl Into<PathBuf>) -> Result<Config, ConfigError> {
        let path = path.into();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::single(&path, Problem::file(format!("cannot read the file: {e}")))
        })?;
        Self::parse(&path, &text)
    }

    /// Parses and validates configuration text; `source` is only used to name the file in
    /// errors and to resolve relative paths.
    pub fn parse(source: impl Into<PathBuf>, text: &str) -> Result<Config, ConfigError> {
        load::parse(source.into(), text, Files::Required)
    }

    /// As [`Config::load`], for checking a file away from its server: certificate, key and
    /// database files that do not exist here are warnings, not errors.
    pub fn load_offline(path: impl Into<PathBuf>) -> Result<Config, ConfigError> {
        let path = path.into();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::single(&path, Problem::file(format!("cannot read the file: {e}")))
        })?;
        load::parse(path, &text, Files::MayBeMissing)
    }
}

/// `[server]`: listeners, trust and limits shared by every site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Plain HTTP listeners.
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// HTTPS listeners; certificates are chosen per site by SNI.
    #[serde(default)]
    pub tls_listen: Vec<SocketAddr>,
    /// The admin listener (dashboard, stats API, `/metrics`, `/healthz`). Never on the
    /// public sites' hosts.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// Where the proxy keeps its state (SQLite file, secret key). Relative to the config file.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The consent-cookie signing key (at least 32 bytes), for replicas that share one
    /// key without sharing a data directory. Default: `data_dir/secret.key`, created with
    /// 32 random bytes on first start.
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed (a load balancer).
    #[serde(default)]
    pub trusted_proxies: Vec<Cidr>,
    /// Answer plain-HTTP requests for sites that have TLS with a permanent redirect to HTTPS.
    #[serde(default)]
    pub redirect_to_https: bool,
    /// Worker threads, each with its own event loop and upstream connection pool
    /// (thread per core, like nginx's worker processes); 0 means one per CPU core.
    #[serde(default)]
    pub workers: usize,
    /// `human` (default) or `json` log lines.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Protocols a visitor may switch to with `Upgrade` (RFC 9110 §7.8), lowercase. Only
    /// WebSocket by default: an `Upgrade: h2c` passed to the origin would tunnel requests
    /// around the per-request rules.
    #[serde(default = "default_upgrades")]
    pub upgrades: Vec<String>,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub limits: Limits,
}

impl ServerConfig {
    /// The number of worker threads to run.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

fn default_upgrades() -> Vec<String> {
    vec!["websocket".to_owned()]
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// A CIDR block, or a single address taken as a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(pub IpNet);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Cidr(net.trunc()));
        }
        match text.parse::<IpAddr>() {
            Ok(ip) => Ok(Cidr(IpNet::from(ip))),
            Err(_) => Err(serde::de::Error::custom(format!(
                "`{text}` is neither a CIDR block (10.0.0.0/8, fd00::/8) nor an IP address"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// `[privacy]`: how addresses are anonymised before they reach logs or storage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Bits of an IPv4 address kept; at most 24 (the last octet always goes).
    pub ipv4_prefix: u8,
    /// Bits of an IPv6 address kept; at most 48.
    pub ipv6_prefix: u8,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            ipv4_prefix: 24,
            ipv6_prefix: 48,
        }
    }
}

/// `[dashboard]`: the marketers' dashboard on the admin listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// A line shown on every dashboard page (e.g. "Demo data: generated traffic").
    pub notice: Option<String>,
    /// Also serve the dashboard (and only it) on this host of the public HTTPS listener,
    /// for marketers outside the server room: one of a site's `hosts`, so its
    /// certificate covers it; plain HTTP on it is redirected to HTTPS.
    pub host: Option<String>,
}

/// `[storage]`: where consent records, statistics and the GA queue are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://FILE`, relative to `data_dir` (embedded, one process), or
    /// `postgres://USER:PASSWORD@HOST/DATABASE` (shared by several replicas).
    pub url: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: "sqlite://consent-proxy.db".into(),
        }
    }
}

/// `[retention]`: how long stored data is kept before a background job deletes it
/// (GDPR art. 5(1)(e), storage limitation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Consent records (proof of consent); default two years.
    #[serde(with = "humantime_serde")]
    pub consent_records: Duration,
    /// Raw statistics events; default 90 days (GDPR art. 5(1)(e)).
    #[serde(with = "humantime_serde")]
    pub events: Duration,
    /// Daily rollups of the statistics (no visitor identifier in them); default 25
    /// months, so a year can be compared with the year before.
    #[serde(with = "humantime_serde")]
    pub rollups: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            consent_records: Duration::from_secs(2 * 365 * 24 * 3600),
            events: Duration::from_secs(90 * 24 * 3600),
            rollups: Duration::from_secs(761 * 24 * 3600),
        }
    }
}

/// One `[[site]]`: a marketing site with its host names and its upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Short identifier used in logs, metrics and the dashboard.
    pub name: String,
    /// Exact host names (no wildcards; add `www.` aliases explicitly).
    pub hosts: Vec<String>,
    /// Where requests go: `http://host:port` or `https://host[:port]`.
    pub upstream: String,
    /// How an `https://` upstream is verified: another name than the URL's, a private CA.
    #[serde(default)]
    pub upstream_tls: Option<UpstreamTls>,
    /// Legal presets (Telecommunicatiewet art. 11.7a for `nl`, Belgian law for `be`, …).
    pub jurisdiction: Jurisdiction,
    /// Banner languages offered; defaults from the jurisdiction.
    #[serde(default)]
    pub languages: Vec<Language>,
    /// Language used when neither the browser nor the page says; the first of `languages`.
    #[serde(default)]
    pub default_language: Option<Language>,
    /// Version of the privacy/cookie policy; a change asks every visitor again.
    #[serde(default = "default_policy_version")]
    pub policy_version: String,
    /// Link shown in the banner.
    #[serde(default)]
    pub privacy_policy_url: Option<String>,
    /// HTTPS, chosen by SNI: `"acme"` (ordered and renewed automatically) or the
    /// certificate and key files (PEM).
    #[serde(default)]
    pub tls: Option<SiteTls>,
    /// `Strict-Transport-Security` on HTTPS responses of this site.
    #[serde(default)]
    pub hsts: Option<Hsts>,
    /// Send the visitor's `Host` upstream (default) rather than the upstream's own authority.
    #[serde(default = "yes")]
    pub preserve_host: bool,
    /// Whether a request for a page asks the upstream to compress it (`proxy::page_coding`).
    #[serde(default)]
    pub upstream_page_coding: UpstreamPageCoding,
    /// The validators a kept page or response of this site is checked by with its upstream
    /// (`proxy::revalidate`); default all three, `[]` reads every page whole.
    #[serde(default = "every_validator")]
    pub revalidate_with: Vec<RevalidateWith>,
    /// Trackers added to (or overriding, by name) the built-in table.
    #[serde(default)]
    pub trackers: Vec<TrackerConfig>,
    /// The upstream page is the same for every visitor after rewriting, so shared caches
    /// may keep it (`Vary: Cookie` still separates consent states). Default: `private`.
    #[serde(default)]
    pub public_html: bool,
    /// Google Analytics 4 for this site.
    #[serde(default)]
    pub ga: Option<GaConfig>,
    /// Which events the site's own statistics count; default from `jurisdiction`
    /// (`nl`: always, others: with `analytics` consent).
    #[serde(default)]
    pub statistics: Option<Statistics>,
    /// Query parameters kept in statistics and GA besides `utm_*` (everything else — an
    /// e-mail address, a token, an id — is removed before anything is stored).
    #[serde(default)]
    pub query_allowlist: Vec<String>,
    /// Cookies no tracker rule knows: `allow` (the site's own, default) or `block` (treated
    /// as marketing until the visitor accepts it).
    #[serde(default)]
    pub unknown_cookies: crate::catalog::UnknownCookies,
    /// The categories the banner offers besides `necessary`; default all three.
    #[serde(default = "choice_categories")]
    pub categories: Vec<crate::catalog::Category>,
    /// How long a choice (also a refusal) holds before the banner asks again: default six
    /// months, at most thirteen (CNIL guidance).
    #[serde(with = "humantime_serde", default = "six_months")]
    pub consent_lifetime: Duration,
    /// Categories a Global Privacy Control signal refuses; `marketing` always.
    #[serde(default)]
    pub gpc_refuses: Vec<crate::catalog::Category>,
    #[serde(default)]
    pub banner: BannerConfig,
    /// The services and cookies the preference centre lists per category.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
}

fn choice_categories() -> Vec<crate::catalog::Category> {
    use crate::catalog::Category;
    vec![
        Category::Preferences,
        Category::Analytics,
        Category::Marketing,
    ]
}

/// Six months as humantime counts them (30.44 days each).
fn six_months() -> Duration {
    Duration::from_secs(6 * 2_630_016)
}

/// The longest a consent may last: thirteen months (CNIL; ePrivacy practice).
pub const MAX_CONSENT_LIFETIME: Duration = Duration::from_secs(13 * 2_630_016);

/// One `[[site.trackers]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackerConfig {
    /// Shown in placeholders and the cookie inventory; a built-in's name overrides it.
    pub name: String,
    pub category: crate::catalog::Category,
    /// Script/embed/pixel hosts, `host` or `host/path-prefix`; subdomains match too.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Substrings that identify the tracker's inline snippet.
    #[serde(default)]
    pub inline: Vec<String>,
    /// Cookie names; a trailing `*` matches a prefix.
    #[serde(default)]
    pub cookies: Vec<String>,
    /// `false` removes a built-in entry of the same name.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_policy_version() -> String {
    "1".to_owned()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    #[serde(with = "humantime_serde", default = "one_year")]
    pub max_age: Duration,
    #[serde(default)]
    pub include_subdomains: bool,
    #[serde(default)]
    pub preload: bool,
}

fn one_year() -> Duration {
    Duration::from_secs(365 * 24 * 3600)
}

/// `[[site]] upstream_page_coding`: the coding a request for a page asks the upstream for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamPageCoding {
    /// `identity` when the upstream is this machine or on a private network, else
    /// `compressed`.
    #[default]
    Auto,
    /// Uncompressed: the origin does not compress what the proxy decodes at once, and its
    /// strong `ETag` survives, so a kept page is revalidated instead of read again.
    Identity,
    /// The visitor's codings the proxy can decode: fewer bytes from a distant origin.
    Compressed,
}

/// `[[site]] revalidate_with`: a validator the upstream's answers may be checked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevalidateWith {
    /// A strong `ETag`, asked `If-None-Match` (RFC 9110 §13.1.2). Leave it out for an origin
    /// whose tags differ between its servers (Apache's inode-based `FileETag`).
    Etag,
    /// A `Last-Modified` date, asked `If-Modified-Since` (§13.1.3). Leave it out for an
    /// origin whose date stays while the page changes (a CMS dating a page by its article).
    LastModified,
    /// A weak `ETag` (`W/"…"`), asked `If-None-Match` for a passthrough response only
    /// (RFC 9111 §4.3.1 lets a cache revalidate with one, as nginx and Varnish do): an
    /// origin that compresses weakens its tag. Never for a page to rewrite, whose
    /// invalidation must be exact. Leave it out for an origin whose weak tags cover
    /// versions a visitor should not be given in place of each other.
    WeakEtag,
}

fn every_validator() -> Vec<RevalidateWith> {
    vec![
        RevalidateWith::Etag,
        RevalidateWith::LastModified,
        RevalidateWith::WeakEtag,
    ]
}

/// The legal regime a site's visitors live under; it sets defaults a site may tighten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jurisdiction {
    /// Netherlands: Telecommunicatiewet art. 11.7a.
    Nl,
    /// Belgium: banner in Dutch and French, no statistics without consent.
    Be,
    /// Germany: TTDSG § 25.
    De,
    /// France: CNIL guidelines.
    Fr,
    /// Any other EU/EEA country: ePrivacy directive art. 5(3) as the baseline.
    Eu,
}

impl Jurisdiction {
    /// Languages a banner offers when the site does not list its own.
    pub fn default_languages(self) -> Vec<Language> {
        match self {
            Jurisdiction::Nl => vec![Language::Nl, Language::En],
            Jurisdiction::Be => vec![Language::Nl, Language::Fr, Language::En],
            Jurisdiction::De => vec![Language::De, Language::En],
            Jurisdiction::Fr => vec![Language::Fr, Language::En],
            Jurisdiction::Eu => vec![Language::En],
        }
    }
}

/// A language the banner is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Nl,
    En,
    Fr,
    De,
}

impl Language {
    pub const ALL: [Language; 4] = [Language::Nl, Language::En, Language::Fr, Language::De];

    pub fn parse(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::Nl => "nl",
            Language::En => "en",
            Language::Fr => "fr",
            Language::De => "de",
        }
    }
}

/// The built-in table with the site's own entries: a site entry with a built-in's name
/// replaces it (or removes it with `enabled = false`); other entries are added. Cookies the
/// site declares `necessary` in its `[[site.services]]` are a rule too — they always pass,
/// also under `unknown_cookies = "block"` — unless a tracker's rule already claims them
/// (a tracker's cookie never becomes necessary by declaration).
pub fn tracker_specs(
    trackers: &[TrackerConfig],
    services: &[ServiceConfig],
) -> Vec<crate::catalog::TrackerSpec> {
    let mut specs = crate::catalog::trackers::builtin();
    for own in trackers {
        specs.retain(|s| !s.name.eq_ignore_ascii_case(&own.name));
        if own.enabled {
            specs.push(crate::catalog::TrackerSpec {
                name: own.name.clone(),
                category: own.category,
                hosts: own.hosts.clone(),
                inline: own.inline.clone(),
                cookies: own.cookies.clone(),
            });
        }
    }
    let claimed = |name: &str| {
        specs
            .iter()
            .flat_map(|s| &s.cookies)
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => pattern == name,
            })
    };
    let necessary: Vec<String> = services
        .iter()
        .filter(|s| s.category == crate::catalog::Category::Necessary)
        .flat_map(|s| &s.cookies)
        .map(|c| c.name.clone())
        .filter(|name| !name.is_empty() && name != "*" && !claimed(name))
        .collect();
    if !necessary.is_empty() {
        specs.push(crate::catalog::TrackerSpec {
            name: "the site's necessary cookies".into(),
            category: crate::catalog::Category::Necessary,
            hosts: Vec::new(),
            inline: Vec::new(),
            cookies: necessary,
        });
    }
    specs
}

impl SiteConfig {
    /// The `statistics` setting in force: the site's own, else its jurisdiction's.
    pub fn statistics(&self) -> Statistics {
        self.statistics
            .unwrap_or_else(|| Statistics::default_for(self.jurisdiction))
    }
}

/// A storage URL fit for an error message: a password in it is replaced.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
