//! The one shape in which a visitor's event may be kept or sent on: built only from the
//! anonymised pieces of this module's siblings — a day's [`VisitorHash`], a
//! [`Location`] (looked up before truncation), a [`Device`] (not the user agent), a
//! [`CleanPage`] and an external referrer's host. The store and the GA client accept
//! nothing else, so a full address or a raw user agent cannot reach either.

use std::sync::Arc;

use super::{CleanPage, Device, Location, Utm, VisitorHash};

/// A parameter value: GA4 allows strings and numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Text(String),
    Number(f64),
}

/// The visit an event belongs to: a visit ends after 30 minutes without events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    /// Random; unique per visit.
    pub id: i64,
    /// When the visit started, Unix milliseconds.
    pub started_ms: i64,
    /// This event opened the visit (an entry page).
    pub entry: bool,
}

#[derive(Debug, Clone)]
pub struct AnonymizedEvent {
    site: Arc<str>,
    ts_ms: i64,
    name: String,
    visitor: VisitorHash,
    visit: Visit,
    page: CleanPage,
    utm: Utm,
    referrer: Option<String>,
    location: Location,
    device: Device,
    language: Option<String>,
    engagement_ms: u64,
    params: Vec<(String, ParamValue)>,
}

/// What an event is made of, every piece already anonymised.
pub struct Parts {
    pub site: Arc<str>,
    pub ts_ms: i64,
    /// Validated by the collector (GA4's naming rules).
    pub name: String,
    pub visitor: VisitorHash,
    pub visit: Visit,
    pub page: CleanPage,
    /// From [`super::page::referrer_host`].
    pub referrer: Option<super::page::ReferrerHost>,
    pub location: Location,
    pub device: Device,
    /// The browser's first `Accept-Language`, reduced to its primary subtag.
    pub language: Option<String>,
    pub engagement_ms: u64,
    pub params: Vec<(String, ParamValue)>,
}

impl AnonymizedEvent {
    pub fn new(parts: Parts) -> AnonymizedEvent {
        let language = parts
            .language
            .map(|l| l.to_ascii_lowercase())
            .filter(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()));
        AnonymizedEvent {
            utm: parts.page.utm(),
            site: parts.site,
            ts_ms: parts.ts_ms,
            name: parts.name,
            visitor: parts.visitor,
            visit: parts.visit,
            page: parts.page,
            referrer: parts.referrer.map(|r| r.0),
            location: parts.location,
            device: parts.device,
            language,
            engagement_ms: parts.engagement_ms,
            params: parts.params,
        }
    }

    pub fn site(&self) -> &str {
        &self.site
    }
    pub fn ts_ms(&self) -> i64 {
        self.ts_ms
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn visitor(&self) -> VisitorHash {
        self.visitor
    }
    pub fn visit(&self) -> Visit {
        self.visit
    }
    pub fn page(&self) -> &CleanPage {
        &self.page
    }
    pub fn utm(&self) -> &Utm {
        &self.utm
    }
    /// An external referrer's host.
    pub fn referrer(&self) -> Option<&str> {
        self.referrer.as_deref()
    }
    pub fn location(&self) -> &Location {
        &self.location
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }
    pub fn engagement_ms(&self) -> u64 {
        self.engagement_ms
    }
    pub fn params(&self) -> &[(String, ParamValue)] {
        &self.params
    }
}
