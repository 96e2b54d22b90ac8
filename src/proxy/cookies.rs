//! Cookies in the visitor's responses and the counts that prove their enforcement: refused
//! `Set-Cookie`s dropped, refused cookies the browser still holds expired (ePrivacy
//! art. 5(3): nothing non-essential is stored without consent).

use std::sync::Arc;

use super::route::Site;
use super::{Exchange, Proxy};
use crate::consent;
use crate::consent::enforce::{self, Enforced};
use crate::telemetry::metrics::{CookieLabels, SiteLabels};

impl Proxy {
    /// Cookies in the response: refused `Set-Cookie`s dropped, and the refused cookies the
    /// browser still sent expired for every domain they could live on.
    pub(super) fn enforce_cookies(
        &self,
        headers: &mut http::HeaderMap,
        site: &Site,
        ex: &Exchange,
    ) {
        let mut dropped = Enforced::default();
        enforce::drop_set_cookies(
            headers,
            &site.rewrite.rules,
            &ex.consent,
            site.consent.unknown_cookies,
            &mut dropped,
        );
        if let Some(facts) = &ex.facts {
            let host = facts
                .host
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            enforce::expire_stripped(headers, &ex.enforced, host, facts.proto == "https");
        }
        self.count_enforced(&site.name, &dropped.dropped, dropped.unknown, "response");
    }

    /// Proof of enforcement: blocked cookies by category, unknown ones for the inventory.
    pub(super) fn count_enforced(
        &self,
        site: &Arc<str>,
        blocked: &[(String, consent::Category)],
        unknown: u32,
        direction: &'static str,
    ) {
        for (_, category) in blocked {
            self.metrics
                .cookies_blocked
                .get_or_create(&CookieLabels {
                    site: Arc::clone(site),
                    category: category.as_str(),
                    direction,
                })
                .inc();
            self.metrics
                .proof
                .add(site, category.as_str(), direction, 1);
        }
        if unknown > 0 {
            self.metrics
                .unknown_cookies
                .get_or_create(&SiteLabels {
                    site: Arc::clone(site),
                })
                .inc_by(u64::from(unknown));
        }
    }
}
