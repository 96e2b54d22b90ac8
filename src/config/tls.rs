//! HTTPS settings: a site's certificate (files, or ordered by ACME) and the `[acme]`
//! section (RFC 8555).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

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
