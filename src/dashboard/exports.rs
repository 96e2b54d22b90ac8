//! CSV exports: every dashboard table (`/dashboard/export.csv?…&table=ID`, the same
//! numbers as the API) and the consent records for a site's owners; and the style sheet.

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Admin;
use super::html::url_part;
use super::session::{Role, Viewer};
use super::view::{Params, TABLES, ask, chosen_site};

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
