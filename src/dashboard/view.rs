//! What a dashboard page was asked for (site, range, filters, table) and how it asks the
//! statistics: the same engine and checks as `POST /api/v2/query`.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::Admin;
use super::html::url_part;
use super::session::{Role, Viewer};
use crate::stats::engine::{Answer, Source};
use crate::stats::{Query, Request};
use crate::store::rollup::DAY_MS;

/// The date ranges offered, with their labels.
pub(super) const RANGES: &[(&str, &str)] = &[
    ("day", "Today"),
    ("yesterday", "Yesterday"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("month", "This month"),
    ("last_month", "Last month"),
    ("12mo", "Last 12 months"),
    ("custom", "Custom range"),
];

/// The breakdown tables: (id, title, dimension, metrics).
pub(super) const TABLES: &[(&str, &str, &str, &[&str])] = &[
    (
        "pages",
        "Top pages",
        "event:page",
        &["visitors", "pageviews"],
    ),
    (
        "entry",
        "Entry pages",
        "visit:entry_page",
        &["visits", "bounce_rate"],
    ),
    ("exit", "Exit pages", "visit:exit_page", &["visits"]),
    (
        "sources",
        "Sources",
        "visit:source",
        &["visitors", "bounce_rate"],
    ),
    (
        "utm_source",
        "UTM sources",
        "visit:utm_source",
        &["visitors"],
    ),
    (
        "utm_medium",
        "UTM mediums",
        "visit:utm_medium",
        &["visitors"],
    ),
    (
        "utm_campaign",
        "UTM campaigns",
        "visit:utm_campaign",
        &["visitors"],
    ),
    (
        "countries",
        "Countries",
        "visit:country",
        &["visitors", "percentage"],
    ),
    ("regions", "Regions", "visit:region", &["visitors"]),
    (
        "browsers",
        "Browsers",
        "visit:browser",
        &["visitors", "percentage"],
    ),
    (
        "os",
        "Operating systems",
        "visit:os",
        &["visitors", "percentage"],
    ),
    (
        "devices",
        "Devices",
        "visit:device",
        &["visitors", "percentage"],
    ),
    (
        "goals",
        "Goals",
        "event:goal",
        &["visitors", "events", "conversion_rate"],
    ),
];

/// What the page was asked for.
#[derive(Debug, Clone, Default)]
pub(super) struct Params {
    pub site: Option<String>,
    pub range: String,
    pub from: String,
    pub to: String,
    /// (dimension, value) filters, all `is`.
    pub filters: Vec<(String, String)>,
    pub table: String,
}

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        let mut p = Params {
            range: "30d".into(),
            ..Params::default()
        };
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match &*k {
                "site" => p.site = Some(v.into_owned()),
                "range" => p.range = v.into_owned(),
                "from" => p.from = v.into_owned(),
                "to" => p.to = v.into_owned(),
                "table" => p.table = v.into_owned(),
                // `dimension:value`; dimension names hold a colon themselves.
                "f" => {
                    let dim = crate::stats::dims::Dim::ALL.into_iter().find(|d| {
                        !d.is_time()
                            && v.strip_prefix(d.name())
                                .is_some_and(|rest| rest.starts_with(':'))
                    });
                    if let Some(d) = dim
                        && p.filters.len() < 8
                    {
                        let value = &v[d.name().len() + 1..];
                        p.filters.push((d.name().to_owned(), value.to_owned()));
                    }
                }
                _ => {}
            }
        }
        p
    }

    pub fn date_range(&self) -> Value {
        if self.range == "custom" {
            json!([self.from, self.to])
        } else {
            json!(self.range)
        }
    }

    pub fn filters_json(&self) -> Value {
        Value::Array(
            self.filters
                .iter()
                .map(|(d, v)| json!(["is", d, [v]]))
                .collect(),
        )
    }

    /// This page's query string with `site` and the changes given.
    pub fn link(&self, site: &str, filters: &[(String, String)]) -> String {
        let mut q = format!("site={}&range={}", url_part(site), url_part(&self.range));
        if self.range == "custom" {
            let _ = write!(
                q,
                "&from={}&to={}",
                url_part(&self.from),
                url_part(&self.to)
            );
        }
        for (d, v) in filters {
            let _ = write!(q, "&f={}", url_part(&format!("{d}:{v}")));
        }
        q
    }
}

/// Runs one stats query for `site` (the same code path as `POST /api/v2/query`).
pub(super) async fn ask(admin: &Admin, site: &str, body: Value) -> Result<(Query, Answer), String> {
    let request: Request = serde_json::from_value(body).map_err(|e| e.to_string())?;
    let today = crate::clock::unix_now_ms().div_euclid(DAY_MS);
    let first = admin
        .store
        .first_event_day(site)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or(today);
    let query = Query::check(&request, today, first)?;
    let source = Source {
        store: &admin.store,
        open: &admin.open_days,
        today,
    };
    let answer = crate::stats::answer(source, &[site.to_owned()], &query)
        .await
        .map_err(|e| e.to_string())?;
    Ok((query, answer))
}

/// The site asked for, if this viewer may see it (else their first).
pub(super) fn chosen_site<'a>(viewer: &'a Viewer, params: &Params) -> Option<&'a (String, Role)> {
    match &params.site {
        Some(name) => viewer.sites.iter().find(|(s, _)| s == name),
        None => viewer.sites.first(),
    }
}
