//! One site's consent policy as the request path uses it: compiled once at configuration
//! load, shared by the consent endpoint and the proxy's enforcement.

use std::sync::Arc;
use std::time::Duration;

use super::ui::SiteUi;
use crate::catalog::{Category, Rules, UnknownCookies};
use crate::config::SiteConfig;

#[derive(Debug)]
pub struct SitePolicy {
    /// The site's `name`: consent cookies are bound to it.
    pub name: Arc<str>,
    /// A consent cookie signed for another policy version does not count.
    pub policy_version: Box<str>,
    /// Which cookies, scripts and embeds belong to which category.
    pub rules: Arc<Rules>,
    pub unknown_cookies: UnknownCookies,
    /// The banner's documents, languages and the categories offered.
    pub ui: SiteUi,
    /// How long a consent cookie lasts.
    pub consent_lifetime: Duration,
    /// Categories a `Sec-GPC: 1` request refuses.
    pub gpc_refuses: Vec<Category>,
}

impl SitePolicy {
    pub fn new(site: &SiteConfig, rules: Arc<Rules>) -> SitePolicy {
        SitePolicy {
            name: Arc::from(site.name.as_str()),
            policy_version: site.policy_version.as_str().into(),
            rules,
            unknown_cookies: site.unknown_cookies,
            ui: SiteUi::new(site),
            consent_lifetime: site.consent_lifetime,
            gpc_refuses: site.gpc_refuses.clone(),
        }
    }
}
