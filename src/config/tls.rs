//! HTTPS settings: a site's certificate (files, or ordered by ACME) and the `[acme]`
//! section (RFC 8555).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::{Problem, ServerConfig, SiteConfig, StorageConfig};

/// A site's `tls`: `"acme"` or `{ cert = "FILE", key = "FILE" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteTls {
    /// Ordered and renewed by the proxy from the `[acme]` directory; the site's hosts are
    /// the certificate's names.
    Acme,
    Files(TlsFiles),
}

impl SiteTls {
    pub fn files(&self) -> Option<&TlsFiles> {
        match self {
            SiteTls::Files(files) => Some(files),
            SiteTls::Acme => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl<'de> Deserialize<'de> for SiteTls {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SiteTls, D::Error> {
        struct TlsVisitor;
        impl<'de> Visitor<'de> for TlsVisitor {
            type Value = SiteTls;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"acme\" or { cert = \"FILE\", key = \"FILE\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SiteTls, E> {
                match v {
                    "acme" => Ok(SiteTls::Acme),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SiteTls, A::Error> {
                TlsFiles::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SiteTls::Files)
            }
        }
        deserializer.deserialize_any(TlsVisitor)
    }
}

/// `[acme]`: where certificates for `tls = "acme"` sites come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// Contact for the CA account (expiry and policy mail, where the CA sends any).
    pub email: Option<String>,
    /// `letsencrypt` (default), `letsencrypt-staging`, or a directory URL.
    pub directory: String,
    /// PEM file of the CA that signs the directory's own HTTPS certificate (a private or
    /// test CA such as Pebble's); default: the public web roots.
    pub ca: Option<PathBuf>,
    /// How the CA checks control of the names.
    pub challenge: Challenge,
    /// First wait after a failed order; doubles on each failure up to a day.
    #[serde(with = "humantime_serde")]
    pub retry: Duration,
}

impl Default for AcmeConfig {
    fn default() -> AcmeConfig {
        AcmeConfig {
            email: None,
            directory: "letsencrypt".to_owned(),
            ca: None,
            challenge: Challenge::Http01,
            // Let's Encrypt allows 5 failed validations per name and hour: ten minutes,
            // then twenty, … keeps a broken setup well inside it.
            retry: Duration::from_secs(600),
        }
    }
}

impl AcmeConfig {
    /// The directory URL `directory` names.
    pub fn directory_url(&self) -> &str {
        match self.directory.as_str() {
            "letsencrypt" => "https://acme-v02.api.letsencrypt.org/directory",
            "letsencrypt-staging" => "https://acme-staging-v02.api.letsencrypt.org/directory",
            url => url,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Challenge {
    /// A file under `/.well-known/acme-challenge/` on the plain listener (port 80).
    #[serde(rename = "http-01")]
    Http01,
    /// A special certificate on the TLS listener (port 443), ALPN `acme-tls/1` (RFC 8737).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

/// How an `https://` upstream is verified.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// The name the origin's certificate must carry (and the SNI sent); default: the
    /// upstream URL's host.
    #[serde(default)]
    pub server_name: Option<String>,
    /// PEM file of the CA(s) that sign the origin's certificate, instead of the public
    /// web roots (a private or internal CA).
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

/// `upstream_tls` belongs to an `https://` upstream; its CA file must hold certificates and
/// its server name must be a DNS name a certificate can carry.
pub(super) fn check_upstream_tls(site: &SiteConfig, name: &str, problems: &mut Vec<Problem>) {
    let Some(tls) = &site.upstream_tls else {
        return;
    };
    if !site.upstream.starts_with("https://") {
        problems.push(Problem::site(
            name,
            "upstream_tls",
            "only an `https://` upstream is verified; this upstream is plain HTTP",
        ));
    }
    if let Some(server_name) = &tls.server_name
        && rustls::pki_types::ServerName::try_from(server_name.as_str()).is_err()
    {
        problems.push(Problem::site(
            name,
            "upstream_tls.server_name",
            format!("`{server_name}` is not a DNS name or IP address"),
        ));
    }
    if let Some(ca) = &tls.ca {
        if !ca.is_file() {
            problems.push(Problem::missing(Some(name), "upstream_tls.ca", ca));
        } else if let Err(message) = crate::pem::certificates(ca) {
            problems.push(Problem::site(name, "upstream_tls.ca", message));
        }
    }
}

/// `[acme]` and the sites that use it (RFC 8555; challenges RFC 8555 §8.3 and RFC 8737).
pub(super) fn check_acme(
    acme: &AcmeConfig,
    storage: &StorageConfig,
    server: &ServerConfig,
    sites: &[SiteConfig],
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    let acme_sites: Vec<&SiteConfig> = sites
        .iter()
        .filter(|s| s.tls == Some(SiteTls::Acme))
        .collect();
    let url = acme.directory_url();
    if !url.starts_with("https://") || url.parse::<http::Uri>().is_err() {
        problems.push(Problem::global(
            "acme.directory",
            format!(
                "`{}`: give `letsencrypt`, `letsencrypt-staging` or the https:// URL of an \
                 ACME directory",
                acme.directory
            ),
        ));
    }
    if let Some(email) = &acme.email
        && (!email.contains('@') || email.contains(char::is_whitespace))
    {
        problems.push(Problem::global(
            "acme.email",
            format!("`{email}` is not an e-mail address"),
        ));
    }
    if let Some(ca) = &acme.ca {
        if !ca.is_file() {
            problems.push(Problem::missing(None, "acme.ca", ca));
        } else if let Err(message) = crate::pem::certificates(ca) {
            problems.push(Problem::global("acme.ca", message));
        }
    }
    if acme.retry < std::time::Duration::from_secs(1) {
        problems.push(Problem::global("acme.retry", "must be at least 1s"));
    }
    if acme_sites.is_empty() {
        return;
    }
    for site in &acme_sites {
        for host in &site.hosts {
            if host.parse::<std::net::IpAddr>().is_ok() {
                problems.push(Problem::site(
                    &site.name,
                    "hosts",
                    format!("`{host}`: ACME certificates name hosts, not addresses"),
                ));
            }
        }
    }
    let (listeners, field, port, what) = match acme.challenge {
        Challenge::Http01 => (&server.listen, "server.listen", 80, "http-01"),
        Challenge::TlsAlpn01 => (&server.tls_listen, "server.tls_listen", 443, "tls-alpn-01"),
    };
    if listeners.is_empty() {
        problems.push(Problem::global(
            field,
            format!(
                "the `{what}` challenge of `tls = \"acme\"` (site `{}`) needs this listener",
                acme_sites[0].name
            ),
        ));
    } else if !listeners.iter().any(|a| a.port() == port) {
        warnings.push(Problem::global(
            field,
            format!(
                "the CA checks `{what}` on port {port}; no listener is on it (fine only behind \
                 a port forward)"
            ),
        ));
    }
    if acme.challenge == Challenge::TlsAlpn01 && storage.url.starts_with("postgres") {
        // The challenge certificate lives in the ordering replica's memory only.
        warnings.push(Problem::global(
            "acme.challenge",
            "with replicas sharing PostgreSQL, the CA's tls-alpn-01 handshake may reach a \
             replica that did not order; `http-01` answers from every replica",
        ));
    }
}
