//! The dashboard's overview page, rendered on the server from the same engine as the
//! stats API: top metrics with change, realtime, the time series, breakdowns with filters,
//! the consent and enforcement panels. No script runs: the date range is a form, a filter
//! is a link.

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::Admin;
use super::html::{self, esc, url_part};
use super::session::{Role, Viewer, with_headers};
use super::view::{Params, RANGES, TABLES, ask, chosen_site};

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
