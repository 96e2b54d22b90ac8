//! The dashboard's pages, rendered on the server from the same engine as the stats API:
//! the overview (top metrics with change, time series, breakdowns with filters, consent
//! and enforcement panels, realtime), CSV exports of every table, and the consent-record
//! export for owners. No script runs: the date range is a form, a filter is a link.

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Admin;
use super::html::{self, esc, url_part};
use super::session::{Role, Viewer, with_headers};
use crate::stats::engine::{Answer, Source};
use crate::stats::{Query, Request};
use crate::store::rollup::DAY_MS;

/// The date ranges offered, with their labels.
const RANGES: &[(&str, &str)] = &[
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
const TABLES: &[(&str, &str, &str, &[&str])] = &[
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
struct Params {
    site: Option<String>,
    range: String,
    from: String,
    to: String,
    /// (dimension, value) filters, all `is`.
    filters: Vec<(String, String)>,
    table: String,
}

impl Params {
    fn parse(raw: Option<&str>) -> Params {
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

    fn date_range(&self) -> Value {
        if self.range == "custom" {
            json!([self.from, self.to])
        } else {
            json!(self.range)
        }
    }

    fn filters_json(&self) -> Value {
        Value::Array(
            self.filters
                .iter()
                .map(|(d, v)| json!(["is", d, [v]]))
                .collect(),
        )
    }

    /// This page's query string with `site` and the changes given.
    fn link(&self, site: &str, filters: &[(String, String)]) -> String {
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
async fn ask(admin: &Admin, site: &str, body: Value) -> Result<(Query, Answer), String> {
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

fn number(v: &Value) -> String {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                // Thin spaces between thousands read well in every language.
                let digits = i.abs().to_string();
                let mut out = String::new();
                for (i, c) in digits.chars().enumerate() {
                    if i > 0 && (digits.len() - i) % 3 == 0 {
                        out.push('\u{202f}');
                    }
                    out.push(c);
                }
                if n.as_i64().is_some_and(|x| x < 0) {
                    out.insert(0, '−');
                }
                out
            } else {
                n.to_string()
            }
        }
        other => other.to_string(),
    }
}

fn dim_label(dim: &str) -> &'static str {
    match dim {
        "event:page" => "Page",
        "visit:entry_page" => "Entry page",
        "visit:exit_page" => "Exit page",
        "visit:source" => "Source",
        "visit:utm_source" => "UTM source",
        "visit:utm_medium" => "UTM medium",
        "visit:utm_campaign" => "UTM campaign",
        "visit:country" => "Country",
        "visit:region" => "Region",
        "visit:browser" => "Browser",
        "visit:os" => "Operating system",
        "visit:device" => "Device",
        "event:goal" => "Goal",
        _ => "Value",
    }
}

fn metric_label(name: &str) -> &'static str {
    match name {
        "visitors" => "Unique visitors",
        "visits" => "Visits",
        "pageviews" => "Pageviews",
        "views_per_visit" => "Views per visit",
        "bounce_rate" => "Bounce rate (%)",
        "visit_duration" => "Visit duration (s)",
        "events" => "Events",
        "percentage" => "Share (%)",
        "conversion_rate" => "Conversion rate (%)",
        _ => "",
    }
}

/// The site asked for, if this viewer may see it (else their first).
fn chosen_site<'a>(viewer: &'a Viewer, params: &Params) -> Option<&'a (String, Role)> {
    match &params.site {
        Some(name) => viewer.sites.iter().find(|(s, _)| s == name),
        None => viewer.sites.first(),
    }
}

pub async fn overview(
    State(admin): State<Admin>,
    Extension(viewer): Extension<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    let Some((site, role)) = chosen_site(&viewer, &params).cloned() else {
        return with_headers(
            StatusCode::FORBIDDEN,
            html::page(
                "No access",
                "<main><h1>No access</h1><p>This account may not see that site.</p></main>",
            ),
        );
    };
    match render(&admin, &viewer, &params, &site, role).await {
        Ok(body) => with_headers(StatusCode::OK, body),
        Err(problem) => with_headers(
            StatusCode::BAD_REQUEST,
            html::page(
                "Statistics",
                &format!(
                    "<main><h1>Statistics</h1><p role=\"alert\">{}</p><p><a href=\"/dashboard?site={}\">Back to the last 30 days</a></p></main>",
                    esc(&problem),
                    url_part(&site)
                ),
            ),
        ),
    }
}

async fn render(
    admin: &Admin,
    viewer: &Viewer,
    params: &Params,
    site: &str,
    role: Role,
) -> Result<String, String> {
    let range = params.date_range();
    let filters = params.filters_json();
    let hourly = matches!(params.range.as_str(), "day" | "yesterday");
    let mut out = String::with_capacity(32 * 1024);

    // Header: who, which site, which range, log out.
    let _ = write!(
        out,
        "<header class=\"top\"><p class=\"brand\">consent-proxy statistics</p>\
         <nav aria-label=\"Sites\"><ul class=\"sites\">"
    );
    for (s, _) in &viewer.sites {
        let current = if s == site {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<li><a href=\"/dashboard?{}\"{current}>{}</a></li>",
            esc(&params.link(s, &[])),
            esc(s)
        );
    }
    let _ = write!(
        out,
        "</ul></nav><form method=\"post\" action=\"/dashboard/logout\" class=\"logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\">Log out {}</button></form></header><main>",
        esc(&viewer.csrf),
        esc(&viewer.username)
    );
    if let Some(notice) = &admin.notice {
        let _ = write!(out, "<p class=\"notice\" role=\"note\">{}</p>", esc(notice));
    }
    let _ = write!(out, "<h1>{}</h1>", esc(site));

    // The date-range picker: a plain form.
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/dashboard\" class=\"range\" aria-label=\"Date range\">\
         <input type=\"hidden\" name=\"site\" value=\"{}\">\
         <label for=\"range\">Date range</label><select id=\"range\" name=\"range\">",
        esc(site)
    );
    for (value, label) in RANGES {
        let selected = if *value == params.range {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option value=\"{value}\"{selected}>{label}</option>");
    }
    let _ = write!(
        out,
        "</select><label for=\"from\">From</label><input id=\"from\" name=\"from\" type=\"date\" value=\"{}\">\
         <label for=\"to\">To</label><input id=\"to\" name=\"to\" type=\"date\" value=\"{}\">",
        esc(&params.from),
        esc(&params.to)
    );
    for (d, v) in &params.filters {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"f\" value=\"{}\">",
            esc(&format!("{d}:{v}"))
        );
    }
    out.push_str("<button type=\"submit\">Show</button></form>");

    // Active filters, each removable.
    if !params.filters.is_empty() {
        out.push_str("<ul class=\"filters\" aria-label=\"Filters\">");
        for (i, (d, v)) in params.filters.iter().enumerate() {
            let rest: Vec<(String, String)> = params
                .filters
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, f)| f.clone())
                .collect();
            let _ = write!(
                out,
                "<li>{} is <strong>{}</strong> <a href=\"/dashboard?{}\">remove filter</a></li>",
                esc(d),
                esc(v),
                esc(&params.link(site, &rest))
            );
        }
        out.push_str("</ul>");
    }

    // Top metrics with change against the previous period.
    let top_metrics = [
        "visitors",
        "visits",
        "pageviews",
        "views_per_visit",
        "bounce_rate",
        "visit_duration",
    ];
    let (_, top) = ask(
        admin,
        site,
        json!({ "site_id": site, "metrics": top_metrics, "date_range": range, "filters": filters,
                "include": { "comparisons": { "mode": "previous_period" } } }),
    )
    .await?;
    out.push_str(
        "<section aria-labelledby=\"top-h\"><h2 id=\"top-h\">Overview</h2><dl class=\"cards\">",
    );
    if let Some(row) = top.rows.first() {
        for (i, name) in top_metrics.iter().enumerate() {
            let change = row
                .comparison
                .as_ref()
                .and_then(|(_, change)| change.get(i))
                .map(|c| {
                    let unit = if *name == "bounce_rate" {
                        " points"
                    } else {
                        " %"
                    };
                    format!(
                        "{}{}{unit} vs previous period",
                        if c.as_f64().unwrap_or(0.0) > 0.0 {
                            "+"
                        } else {
                            ""
                        },
                        number(c)
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                out,
                "<div class=\"card\" data-metric=\"{name}\"><dt>{}</dt><dd><span class=\"value\">{}</span> <span class=\"change\">{}</span></dd></div>",
                metric_label(name),
                number(&row.metrics[i]),
                esc(&change)
            );
        }
    }
    out.push_str("</dl>");
    let export = |table: &str| {
        format!(
            "<a class=\"csv\" href=\"/dashboard/export.csv?{}&amp;table={table}\">CSV<span class=\"visually-hidden\"> export of {table}</span></a>",
            esc(&params.link(site, &params.filters))
        )
    };
    let _ = write!(out, "{}</section>", export("overview"));

    // Realtime.
    let realtime = admin
        .store
        .visitors_since(site, crate::clock::unix_now_ms() - 5 * 60 * 1000)
        .await
        .map_err(|e| e.to_string())?;
    let _ = write!(
        out,
        "<p class=\"realtime\" data-realtime=\"{realtime}\"><strong>{realtime}</strong> visitors in the last 5 minutes</p>"
    );

    // Time series.
    let time_dim = if hourly { "time:hour" } else { "time:day" };
    let (_, series) = ask(
        admin,
        site,
        json!({ "site_id": site, "metrics": ["visitors", "pageviews"], "date_range": range, "filters": filters,
                "dimensions": [time_dim], "include": { "time_labels": true } }),
    )
    .await?;
    let points: Vec<(String, f64)> = series
        .time_labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|label| {
            let v = series
                .rows
                .iter()
                .find(|r| r.dimensions.first() == Some(&label))
                .and_then(|r| r.metrics[0].as_f64())
                .unwrap_or(0.0);
            (label, v)
        })
        .collect();
    let _ = write!(
        out,
        "<section aria-labelledby=\"series-h\"><h2 id=\"series-h\">Visitors over time</h2>{}{}</section>",
        html::chart("Unique visitors", &points),
        export("series")
    );

    // Breakdowns.
    out.push_str("<div class=\"grid\">");
    for (id, title, dim, metrics) in TABLES {
        let (_, answer) = ask(
            admin,
            site,
            json!({ "site_id": site, "metrics": metrics, "date_range": range, "filters": filters,
                    "dimensions": [dim], "pagination": { "limit": 10 }, "include": { "total_rows": true } }),
        )
        .await?;
        let _ = write!(
            out,
            "<section aria-labelledby=\"{id}-h\" class=\"table\" data-table=\"{id}\"><h2 id=\"{id}-h\">{title}</h2>"
        );
        if answer.rows.is_empty() {
            out.push_str("<p class=\"empty\">No data in this range.</p>");
        } else {
            let _ = write!(
                out,
                "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">{}</th>",
                dim_label(dim)
            );
            for m in *metrics {
                let _ = write!(
                    out,
                    "<th scope=\"col\" class=\"num\">{}</th>",
                    metric_label(m)
                );
            }
            out.push_str("</tr></thead><tbody>");
            for row in &answer.rows {
                let value = &row.dimensions[0];
                let mut filters = params.filters.clone();
                filters.retain(|(d, _)| d != dim);
                filters.push(((*dim).to_owned(), value.clone()));
                let _ = write!(
                    out,
                    "<tr><th scope=\"row\"><a href=\"/dashboard?{}\" title=\"Filter by this value\">{}</a></th>",
                    esc(&params.link(site, &filters)),
                    esc(value)
                );
                for v in &row.metrics {
                    let _ = write!(out, "<td class=\"num\">{}</td>", number(v));
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody></table></div>");
            if answer.total_rows > answer.rows.len() {
                let _ = write!(
                    out,
                    "<p class=\"more\">{} more in the CSV.</p>",
                    answer.total_rows - answer.rows.len()
                );
            }
        }
        let _ = write!(out, "{}</section>", export(id));
    }
    out.push_str("</div>");

    // Consent and enforcement (no filters: they are not about visits).
    let consent_metrics = [
        ("consent_banner_impressions", "Banner impressions"),
        ("consent_decisions", "Choices made"),
        ("consent_accept_rate", "Accept all (%)"),
        ("consent_reject_rate", "Reject all (%)"),
        ("consent_custom_rate", "Custom choice (%)"),
        ("consent_grant_rate_preferences", "Preferences granted (%)"),
        ("consent_grant_rate_analytics", "Analytics granted (%)"),
        ("consent_grant_rate_marketing", "Marketing granted (%)"),
        ("consent_gpc_share", "With Global Privacy Control (%)"),
    ];
    let (_, consent) = ask(
        admin,
        site,
        json!({ "site_id": site, "metrics": consent_metrics.iter().map(|m| m.0).collect::<Vec<_>>(), "date_range": range }),
    )
    .await?;
    out.push_str("<div class=\"grid\"><section aria-labelledby=\"consent-h\" data-table=\"consent\"><h2 id=\"consent-h\">Consent</h2><dl class=\"pairs\">");
    if let Some(row) = consent.rows.first() {
        for (i, (name, label)) in consent_metrics.iter().enumerate() {
            let _ = write!(
                out,
                "<div data-metric=\"{name}\"><dt>{label}</dt><dd>{}</dd></div>",
                number(&row.metrics[i])
            );
        }
    }
    let _ = write!(out, "</dl>{}</section>", export("consent"));
    let proof_metrics = [
        ("enforcement_cookies_dropped", "Set-Cookie dropped"),
        (
            "enforcement_cookies_stripped",
            "Cookies stripped and expired",
        ),
        ("enforcement_scripts", "Scripts neutralised"),
        ("enforcement_frames", "Frames neutralised"),
        ("enforcement_pixels", "Pixels neutralised"),
    ];
    let (_, proof) = ask(
        admin,
        site,
        json!({ "site_id": site, "metrics": proof_metrics.iter().map(|m| m.0).collect::<Vec<_>>(),
                "date_range": range, "dimensions": ["enforcement:category"], "order_by": [["enforcement:category", "asc"]] }),
    )
    .await?;
    out.push_str("<section aria-labelledby=\"proof-h\" data-table=\"enforcement\"><h2 id=\"proof-h\">Proof of enforcement</h2>");
    if proof.rows.is_empty() {
        out.push_str("<p class=\"empty\">Nothing blocked in this range.</p>");
    } else {
        out.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Category</th>");
        for (_, label) in &proof_metrics {
            let _ = write!(out, "<th scope=\"col\" class=\"num\">{label}</th>");
        }
        out.push_str("</tr></thead><tbody>");
        for row in &proof.rows {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th>",
                esc(&row.dimensions[0])
            );
            for v in &row.metrics {
                let _ = write!(out, "<td class=\"num\">{}</td>", number(v));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
    }
    let _ = write!(out, "{}</section></div>", export("enforcement"));
    if role == Role::Owner {
        let _ = write!(
            out,
            "<p class=\"owner\"><a href=\"/dashboard/consents.csv?site={}\">Export the consent records of {} (CSV)</a></p>",
            url_part(site),
            esc(site)
        );
    }
    out.push_str("</main>");
    Ok(html::page(&format!("{site} — statistics"), &out))
}

/// `GET /dashboard/export.csv?…&table=ID`: every row of one table as CSV.
pub async fn export(
    State(admin): State<Admin>,
    Extension(viewer): Extension<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    let Some((site, _)) = chosen_site(&viewer, &params).cloned() else {
        return (
            StatusCode::FORBIDDEN,
            "this account may not see that site\n",
        )
            .into_response();
    };
    let range = params.date_range();
    let filters = params.filters_json();
    let body = match params.table.as_str() {
        "overview" => {
            json!({ "site_id": site, "metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"], "date_range": range, "filters": filters })
        }
        "series" => {
            json!({ "site_id": site, "metrics": ["visitors", "pageviews"], "date_range": range, "filters": filters, "dimensions": [if matches!(params.range.as_str(), "day" | "yesterday") { "time:hour" } else { "time:day" }] })
        }
        "consent" => {
            json!({ "site_id": site, "metrics": ["consent_banner_impressions", "consent_decisions", "consent_accept_all", "consent_reject_all", "consent_custom", "consent_gpc_share"], "date_range": range, "dimensions": ["time:day"] })
        }
        "enforcement" => {
            json!({ "site_id": site, "metrics": ["enforcement_cookies_dropped", "enforcement_cookies_stripped", "enforcement_scripts", "enforcement_frames", "enforcement_pixels"], "date_range": range, "dimensions": ["enforcement:category"] })
        }
        id => match TABLES.iter().find(|t| t.0 == id) {
            Some((_, _, dim, metrics)) => {
                json!({ "site_id": site, "metrics": metrics, "date_range": range, "filters": filters, "dimensions": [dim] })
            }
            None => return (StatusCode::BAD_REQUEST, "unknown table\n").into_response(),
        },
    };
    let (query, answer) = match ask(&admin, &site, body).await {
        Ok(a) => a,
        Err(problem) => return (StatusCode::BAD_REQUEST, format!("{problem}\n")).into_response(),
    };
    let mut csv = String::new();
    let header: Vec<String> = query
        .dimension_names
        .iter()
        .chain(&query.metric_names)
        .cloned()
        .collect();
    super::consents::csv_line(&mut csv, &header);
    for row in &answer.rows {
        let fields: Vec<String> = row
            .dimensions
            .iter()
            .cloned()
            .chain(row.metrics.iter().map(|m| match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }))
            .collect();
        super::consents::csv_line(&mut csv, &fields);
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-{}.csv\"",
                    url_part(&site),
                    url_part(&params.table)
                ),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        csv,
    )
        .into_response()
}

/// `GET /dashboard/consents.csv?site=NAME`: the consent records, for owners only.
pub async fn consent_records(
    State(admin): State<Admin>,
    Extension(viewer): Extension<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    let Some((site, role)) = chosen_site(&viewer, &params).cloned() else {
        return (
            StatusCode::FORBIDDEN,
            "this account may not see that site\n",
        )
            .into_response();
    };
    if role != Role::Owner {
        return (
            StatusCode::FORBIDDEN,
            "only a site's owners export consent records\n",
        )
            .into_response();
    }
    let query = crate::store::ConsentQuery {
        site: Some(site.clone()),
        from: None,
        to: None,
    };
    match admin.store.consents(&query, 200_000).await {
        Ok(records) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}-consents.csv\"", url_part(&site)),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            super::consents::to_csv(&records),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "consent export failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../assets/dashboard/style.css"),
    )
        .into_response()
}
