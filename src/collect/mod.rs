//! Privacy-first event collection: `POST /_cp/collect` on every site's host.
//!
//! An event arrives first-party from the beacon, is checked against GA4's rules
//! ([`wire`]), filtered for bots ([`bots`]), anonymised in memory in this order — geo from
//! the full address, the address dropped, the user agent reduced to a device, the URL and
//! referrer cleaned, the day's visitor hash, the visit ([`visits`]) — and only then, as an
//! [`crate::privacy::AnonymizedEvent`], stored for the site's own statistics (as its
//! `statistics` setting allows) and queued for GA4 (only with `analytics` consent).

pub mod bots;
pub mod endpoint;
pub mod visits;
pub mod wire;

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::config::{SiteConfig, Statistics};
use crate::privacy::{GeoDb, Salt};
use crate::store::Store;
use crate::store::funnel::FunnelCounter;

/// One site's collection settings, compiled at configuration load.
#[derive(Debug, Clone)]
pub struct SiteCollect {
    pub statistics: Statistics,
    /// The proxy forwards this site's events to GA4 (`ga.mode = "server"`).
    pub forwards_to_ga: bool,
    /// Send the truncated address as `ip_override`.
    pub send_truncated_ip: bool,
    /// The site's host names: a beacon may only report their pages.
    pub hosts: Vec<String>,
    /// Query parameters kept besides `utm_*`.
    pub query_allowlist: Vec<String>,
    /// Lifetime of GA's client-id and session cookies: the consent's.
    pub cookie_max_age: u64,
}

impl SiteCollect {
    pub fn new(site: &SiteConfig) -> SiteCollect {
        SiteCollect {
            statistics: site.statistics(),
            forwards_to_ga: site
                .ga
                .as_ref()
                .is_some_and(crate::config::GaConfig::forwards),
            send_truncated_ip: site.ga.as_ref().is_some_and(|ga| ga.send_truncated_ip),
            hosts: site.hosts.clone(),
            query_allowlist: site.query_allowlist.clone(),
            cookie_max_age: site.consent_lifetime.as_secs(),
        }
    }

    /// Whether any event of this site is collected at all (then the beacon is injected).
    pub fn collects(&self) -> bool {
        self.statistics != Statistics::Off || self.forwards_to_ga
    }
}

/// What collection shares across requests, sites and reloads.
#[derive(Debug)]
pub struct Collector {
    pub store: Store,
    pub geo: GeoDb,
    pub visits: visits::Visits,
    pub funnel: Arc<FunnelCounter>,
    /// Woken when events are queued for GA.
    pub ga_wake: Arc<Notify>,
    limiter: crate::limiter::RateLimiter,
    salt: Mutex<Option<(i64, Salt)>>,
}

impl Collector {
    pub fn new(
        store: Store,
        geo: GeoDb,
        funnel: Arc<FunnelCounter>,
        ga_wake: Arc<Notify>,
        collect: &crate::config::CollectConfig,
    ) -> Collector {
        Collector {
            store,
            geo,
            visits: visits::Visits::default(),
            funnel,
            ga_wake,
            limiter: crate::limiter::RateLimiter::new(
                collect.requests_per_minute,
                collect.requests_per_minute_network,
            ),
            salt: Mutex::new(None),
        }
    }

    /// Today's salt (UTC), from the store once a day.
    async fn salt(&self, now_ms: i64) -> Result<Salt, crate::store::StoreError> {
        let day = now_ms.div_euclid(86_400_000);
        if let Some((d, salt)) = self
            .salt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            && *d == day
        {
            return Ok(salt.clone());
        }
        let salt = self.store.salt(day).await?;
        *self
            .salt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((day, salt.clone()));
        Ok(salt)
    }
}
