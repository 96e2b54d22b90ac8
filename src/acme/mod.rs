//! Automatic certificates (ACME, RFC 8555) for sites with `tls = "acme"`, as Caddy does it:
//! stored certificates are served from the first second, missing or ageing ones are
//! ordered in the background, and a new certificate replaces the old one in the SNI
//! resolver without a restart or a dropped connection.
//!
//! While a site's first certificate is pending, its plain HTTP keeps serving (no redirect
//! to an HTTPS that cannot answer yet) and its HTTPS handshakes fail — never with another
//! site's certificate.

mod cert;
mod files;
mod keeper;
mod order;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use tokio::sync::{Notify, watch};

use crate::config::{AcmeConfig, Config, SiteTls};
use crate::telemetry::Metrics;
use crate::telemetry::metrics::SiteLabels;
pub use cert::Issued;
pub use files::AcmeFiles;
use keeper::Keeper;

/// Where the CA fetches `http-01` answers (RFC 8555 §8.3).
pub const HTTP_CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

/// ALPN protocol of `tls-alpn-01` handshakes (RFC 8737 §6.2).
pub const ALPN_CHALLENGE_PROTOCOL: &[u8] = b"acme-tls/1";

/// The longest wait between two failed orders.
const MAX_RETRY: Duration = Duration::from_secs(24 * 3600);

/// Even with nothing due, the schedule looks again this often (a clock jump, a file
/// replaced by an operator).
const RECHECK: Duration = Duration::from_secs(3600);

/// Challenge answers the CA is about to check.
#[derive(Debug, Default)]
pub struct Pending {
    http: Mutex<HashMap<String, String>>,
    alpn: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl Pending {
    fn add_http(&self, token: &str, key_authorization: &str) {
        lock(&self.http).insert(token.to_owned(), key_authorization.to_owned());
    }
    fn remove_http(&self, token: &str) {
        lock(&self.http).remove(token);
    }
    fn add_alpn(&self, host: &str, cert: Arc<CertifiedKey>) {
        lock(&self.alpn).insert(host.to_owned(), cert);
    }
    fn remove_alpn(&self, host: &str) {
        lock(&self.alpn).remove(host);
    }
}

/// A poisoned lock only means another thread panicked mid-insert; the map is still sound.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One `tls = "acme"` site: its certificate's names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AcmeSite {
    name: Arc<str>,
    hosts: Vec<String>,
}

fn acme_sites(config: &Config) -> Vec<AcmeSite> {
    config
        .sites
        .iter()
        .filter(|s| s.tls == Some(SiteTls::Acme))
        .map(|s| AcmeSite {
            name: Arc::from(s.name.as_str()),
            hosts: s.hosts.clone(),
        })
        .collect()
}

/// The certificates ACME keeps, and the challenge answers in flight.
#[derive(Debug)]
pub struct Acme {
    by_host: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
    pending: Pending,
    sites: ArcSwap<Vec<AcmeSite>>,
    keeper: Keeper,
    /// Wakes the schedule after a reload.
    wake: Notify,
}

impl Acme {
    /// Loads the stored certificates of `config`'s ACME sites so they serve at once.
    pub async fn new(config: &Config, store: &crate::store::Store) -> Arc<Acme> {
        let acme = Arc::new(Acme {
            by_host: ArcSwap::default(),
            pending: Pending::default(),
            sites: ArcSwap::from_pointee(acme_sites(config)),
            keeper: Keeper::new(&config.server.data_dir, store),
            wake: Notify::new(),
        });
        for site in acme.sites.load().iter() {
            if let Some(issued) = acme.stored(site).await {
                acme.install(site, &issued);
            }
        }
        acme
    }

    /// The certificate for an SNI name, if ACME holds one.
    pub fn certificate(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        self.by_host.load().get(host).cloned()
    }

    /// The key authorization for an `http-01` token the CA is checking: this process's
    /// own, or one another replica published in the shared store.
    pub async fn http_challenge(&self, token: &str) -> Option<String> {
        let local = lock(&self.pending.http).get(token).cloned();
        match local {
            Some(answer) => Some(answer),
            None => self.keeper.published(token).await,
        }
    }

    /// The `tls-alpn-01` certificate for a name being validated.
    pub fn alpn_certificate(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        lock(&self.pending.alpn).get(host).cloned()
    }

    /// A reload may add or change ACME sites; the schedule looks at them (and loads their
    /// stored certificates) at once.
    pub fn reconfigure(&self, config: &Config) {
        self.sites.store(Arc::new(acme_sites(config)));
        self.wake.notify_one();
    }

    /// The site's stored certificate, if it is readable and names all its hosts.
    async fn stored(&self, site: &AcmeSite) -> Option<Issued> {
        match self.keeper.certificate(&site.name).await {
            Ok(Some((chain, key))) => match Issued::from_pem(&chain, &key) {
                Ok(issued) if issued.covers(&site.hosts) => Some(issued),
                Ok(_) => {
                    tracing::info!(site = %site.name, "stored certificate does not name every host; a new one will be ordered");
                    None
                }
                Err(error) => {
                    tracing::warn!(site = %site.name, %error, "stored certificate unusable; a new one will be ordered");
                    None
                }
            },
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(site = %site.name, %error, "cannot read the stored certificate");
                None
            }
        }
    }

    fn install(&self, site: &AcmeSite, issued: &Issued) {
        let mut map = HashMap::clone(&self.by_host.load());
        for host in &site.hosts {
            map.insert(host.clone(), Arc::clone(&issued.key));
        }
        self.by_host.store(Arc::new(map));
    }
}

/// Per site: the certificate in use and when to try again after a failure.
#[derive(Debug, Default)]
struct Schedule {
    issued: Option<Issued>,
    retry_at: Option<SystemTime>,
    delay: Option<Duration>,
}

/// Orders and renews certificates until shutdown.
pub async fn run(
    acme: Arc<Acme>,
    config: AcmeConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut schedules: HashMap<Arc<str>, Schedule> = HashMap::new();
    let mut account: Option<instant_acme::Account> = None;
    loop {
        let sites = acme.sites.load_full();
        let mut next = SystemTime::now() + RECHECK;
        for site in sites.iter() {
            let schedule = schedules.entry(Arc::clone(&site.name)).or_default();
            if schedule
                .issued
                .as_ref()
                .is_none_or(|i| !i.covers(&site.hosts))
            {
                schedule.issued = acme.stored(site).await;
                if let Some(issued) = &schedule.issued
                    && acme.certificate(&site.hosts[0]).is_none()
                {
                    // Another replica stored it (or an operator put it in place).
                    tracing::info!(site = %site.name, names = ?issued.names, "certificate from the store in use");
                    acme.install(site, issued);
                }
            }
            let now = SystemTime::now();
            let due = schedule.issued.as_ref().is_none_or(|i| now >= i.renew_at());
            if due && schedule.retry_at.is_none_or(|at| now >= at) {
                match take_turn(&acme, site, schedule).await {
                    Turn::Order => {}
                    Turn::Renewed => continue,
                    Turn::Wait => {
                        schedule.retry_at = Some(now + config.retry.min(OTHERS_POLL));
                        next = next.min(now + config.retry.min(OTHERS_POLL));
                        continue;
                    }
                }
                metrics
                    .acme
                    .orders
                    .get_or_create(&SiteLabels {
                        site: Arc::clone(&site.name),
                    })
                    .inc();
                // A shutdown does not wait for a slow CA (an order may poll for minutes).
                let ordered = tokio::select! {
                    ordered = tokio::time::timeout(ORDER_TIMEOUT, order_for(&acme, &config, &mut account, site)) => {
                        ordered.unwrap_or_else(|_| Err(format!("the CA did not finish within {ORDER_TIMEOUT:?}")))
                    }
                    _ = shutdown.changed() => {
                        acme.keeper.release(&site.name).await;
                        return;
                    }
                };
                acme.keeper.release(&site.name).await;
                match ordered {
                    Ok(issued) => {
                        tracing::info!(site = %site.name, names = ?issued.names, days_left = issued.days_left(SystemTime::now()).round(), "certificate issued and in use");
                        acme.install(site, &issued);
                        schedule.issued = Some(issued);
                        schedule.retry_at = None;
                        schedule.delay = None;
                    }
                    Err(error) => {
                        // A failure may come from a stale account (a CA reset, another
                        // replica's); the next attempt reads it afresh.
                        account = None;
                        let delay = schedule
                            .delay
                            .map_or(config.retry, |d| (d * 2).min(MAX_RETRY));
                        schedule.delay = Some(delay);
                        schedule.retry_at = Some(SystemTime::now() + delay);
                        metrics
                            .acme
                            .failures
                            .get_or_create(&SiteLabels {
                                site: Arc::clone(&site.name),
                            })
                            .inc();
                        let serving = if schedule.issued.is_some() {
                            "the current certificate keeps serving"
                        } else {
                            "HTTPS for its hosts waits; plain HTTP keeps serving"
                        };
                        tracing::warn!(site = %site.name, %error, retry_in = ?delay, "certificate order failed; {serving}");
                    }
                }
            }
            if let Some(issued) = &schedule.issued {
                metrics
                    .acme
                    .days_left
                    .get_or_create(&SiteLabels {
                        site: Arc::clone(&site.name),
                    })
                    .set(issued.days_left(SystemTime::now()));
                next = next.min(issued.renew_at());
            }
            if let Some(at) = schedule.retry_at {
                next = next.min(at);
            }
        }
        let wait = next
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(100));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = acme.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The longest one order may take (the CA's HTTP client has no timeout of its own; a CA
/// that stops answering must not stop the schedule).
const ORDER_TIMEOUT: Duration = Duration::from_secs(300);

/// How often a replica looks again while another one holds a site's order.
const OTHERS_POLL: Duration = Duration::from_secs(10);

enum Turn {
    /// This process orders.
    Order,
    /// Another replica already renewed it; its certificate is now in use here too.
    Renewed,
    /// Another replica is ordering right now.
    Wait,
}

/// With replicas, only the holder of the site's lease orders; the others pick up the
/// certificate it stores.
async fn take_turn(acme: &Acme, site: &AcmeSite, schedule: &mut Schedule) -> Turn {
    match acme.keeper.lease(&site.name).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(site = %site.name, "another replica is ordering this certificate");
            return Turn::Wait;
        }
        Err(error) => {
            tracing::warn!(site = %site.name, %error, "cannot take the ACME order lease; trying again soon");
            return Turn::Wait;
        }
    }
    if acme.keeper.is_shared()
        && let Some(fresh) = acme.stored(site).await
        && SystemTime::now() < fresh.renew_at()
    {
        acme.keeper.release(&site.name).await;
        tracing::info!(site = %site.name, names = ?fresh.names, "certificate from the store in use");
        acme.install(site, &fresh);
        schedule.issued = Some(fresh);
        schedule.retry_at = None;
        schedule.delay = None;
        return Turn::Renewed;
    }
    Turn::Order
}

async fn order_for(
    acme: &Acme,
    config: &AcmeConfig,
    account: &mut Option<instant_acme::Account>,
    site: &AcmeSite,
) -> Result<Issued, String> {
    if account.is_none() {
        *account = Some(order::account(config, &acme.keeper).await?);
    }
    let Some(account) = account.as_ref() else {
        return Err("no ACME account".to_owned());
    };
    tracing::info!(site = %site.name, hosts = ?site.hosts, directory = config.directory_url(), "ordering a certificate");
    let (chain, key) = order::issue(account, &site.hosts, config.challenge, acme).await?;
    let issued = Issued::from_pem(&chain, &key)?;
    acme.keeper
        .save_certificate(&site.name, &chain, &key)
        .await
        .map_err(|e| format!("cannot store the certificate: {e}"))?;
    Ok(issued)
}
