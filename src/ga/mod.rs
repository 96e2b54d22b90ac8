//! Google Analytics 4, fed from the proxy through the Measurement Protocol: only events of
//! visitors who granted `analytics`, only as [`crate::privacy::AnonymizedEvent`]s — with
//! `user_location` and `device` computed here, never the address or the user agent (the
//! Austrian DSB's 2021 decision; CNIL's proxy recipe).
//!
//! - [`client`] — the first-party client id and session cookies (`_ga` kept when present);
//! - [`payload`] — Measurement Protocol JSON for one event, and batches of them;
//! - [`forwarder`] — the sender task over the durable queue in the store.

pub mod client;
pub mod forwarder;
pub mod payload;

/// A Measurement Protocol API secret: never printed, never logged.
#[derive(Clone)]
pub struct ApiSecret(String);

impl ApiSecret {
    pub fn new(secret: String) -> ApiSecret {
        ApiSecret(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiSecret(…)")
    }
}

/// Where one site's events go.
#[derive(Debug, Clone)]
pub struct Target {
    pub measurement_id: String,
    /// `…/mp/collect`.
    pub endpoint: String,
    pub api_secret: ApiSecret,
}

impl Target {
    /// The URL events are posted to (`debug` for Google's validation server).
    pub fn url(&self, debug: bool) -> String {
        let endpoint = if debug {
            self.endpoint
                .replacen("/mp/collect", "/debug/mp/collect", 1)
        } else {
            self.endpoint.clone()
        };
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        format!(
            "{endpoint}{sep}measurement_id={}&api_secret={}",
            self.measurement_id,
            self.api_secret.expose()
        )
    }

    /// The target of a configured site, when the proxy forwards its events.
    pub fn of(site: &crate::config::SiteConfig) -> Option<Result<Target, String>> {
        let ga = site.ga.as_ref().filter(|ga| ga.forwards())?;
        Some(ga.api_secret().map(|secret| Target {
            measurement_id: ga.measurement_id.clone().unwrap_or_default(),
            endpoint: ga.endpoint.clone(),
            api_secret: ApiSecret::new(secret),
        }))
    }
}
