//! The stats API, compatible with Plausible's Stats API v2: `POST /api/v2/query` with
//! `site_id`, `metrics`, `date_range`, `dimensions`, `filters`, `order_by`, `include` and
//! `pagination`, answering `results`, `meta` and `query` as Plausible does — plus the
//! consent (`consent_*`) and enforcement (`enforcement_*`) metrics as extensions. And
//! Plausible's v1 realtime endpoint, `GET /api/v1/stats/realtime/visitors?site_id=`.
//!
//! `site_id` is one of a site's host names (Plausible's convention) or its `name`; `*`
//! adds up every site the caller may read (an extension).
//! Answers are JSON only: whatever a stranger put into a path or a referrer comes back
//! as a JSON string, never as markup.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query as UrlQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Admin;
use super::auth::Access;
use crate::stats::rollup::SiteRef;
use crate::stats::{Query, Request};
use crate::store::rollup::DAY_MS;

/// Largest request body accepted.
const BODY_LIMIT: usize = 64 * 1024;

pub async fn query(
    State(admin): State<Admin>,
    Extension(access): Extension<Access>,
    body: Bytes,
) -> Response {
    if body.len() > BODY_LIMIT {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "the query is too large");
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let request: Request = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("invalid query at `{}`: {}", e.path(), e.inner()),
            );
        }
    };
    let sites: Vec<String> = if request.site_id == "*" {
        admin
            .sites
            .load()
            .iter()
            .filter(|s| access.may_read(&s.name))
            .map(|s| s.name.clone())
            .collect()
    } else {
        match readable_site(&admin, &access, &request.site_id) {
            Ok(site) => vec![site.name],
            Err(resp) => return *resp,
        }
    };
    let now = crate::clock::unix_now_ms();
    let today = now.div_euclid(DAY_MS);
    let mut first = today;
    for site in &sites {
        match admin.store.first_event_day(site).await {
            Ok(day) => first = first.min(day.unwrap_or(today)),
            Err(e) => return unavailable(&e),
        }
    }
    let query = match Query::check(&request, today, first) {
        Ok(q) => q,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let started = std::time::Instant::now();
    let source = crate::stats::engine::Source {
        store: &admin.store,
        open: &admin.open_days,
        today,
    };
    let answer = match crate::stats::answer(source, &sites, &query).await {
        Ok(a) => a,
        Err(e) => return unavailable(&e),
    };
    tracing::debug!(
        sites = sites.len(),
        ms = started.elapsed().as_millis() as u64,
        rows = answer.total_rows,
        "stats query"
    );
    let results: Vec<Value> = answer
        .rows
        .iter()
        .map(|row| {
            let mut out = json!({ "metrics": row.metrics, "dimensions": row.dimensions });
            if let Some((before, change)) = &row.comparison {
                out["comparison"] = json!({
                    "dimensions": row.dimensions,
                    "metrics": before,
                    "change": change,
                });
            }
            out
        })
        .collect();
    let mut meta = serde_json::Map::new();
    if let Some(labels) = &answer.time_labels {
        meta.insert("time_labels".into(), json!(labels));
    }
    if query.total_rows {
        meta.insert("total_rows".into(), json!(answer.total_rows));
    }
    let (from, to) = query.range.labels();
    let body = json!({
        "results": results,
        "meta": meta,
        "query": {
            "site_id": request.site_id,
            "metrics": query.metric_names,
            "date_range": [format!("{from}T00:00:00Z"), format!("{to}T23:59:59Z")],
            "dimensions": query.dimension_names,
            "filters": query.filters_raw,
            "order_by": request.order_by,
            "include": {
                "time_labels": query.time_labels,
                "total_rows": query.total_rows,
                "comparisons": query.compare.then(|| json!({"mode": "previous_period"})),
            },
            "pagination": {"limit": query.limit, "offset": query.offset},
        },
    });
    json_response(StatusCode::OK, &body)
}

#[derive(Debug, serde::Deserialize)]
pub struct RealtimeParams {
    site_id: String,
}

/// Visitors in the last five minutes (Plausible's v1 realtime endpoint: a bare number).
pub async fn realtime(
    State(admin): State<Admin>,
    Extension(access): Extension<Access>,
    UrlQuery(params): UrlQuery<RealtimeParams>,
) -> Response {
    let site = match readable_site(&admin, &access, &params.site_id) {
        Ok(site) => site,
        Err(resp) => return *resp,
    };
    let since = crate::clock::unix_now_ms() - 5 * 60 * 1000;
    match admin.store.visitors_since(&site.name, since).await {
        Ok(n) => json_response(StatusCode::OK, &json!(n)),
        Err(e) => unavailable(&e),
    }
}

/// The site `id` names, if this caller may read it. A scoped token gets the same answer
/// for a site that does not exist and one it may not read.
fn readable_site(admin: &Admin, access: &Access, id: &str) -> Result<SiteRef, Box<Response>> {
    let sites = admin.sites.load();
    let found = sites
        .iter()
        .find(|s| s.name == id || s.hosts.iter().any(|h| h.eq_ignore_ascii_case(id)));
    match (found, access) {
        (Some(site), access) if access.may_read(&site.name) => Ok(site.clone()),
        (None, Access::All) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "unknown site_id: use one of the site's hosts or its name",
        ))),
        _ => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "this token cannot read that site_id",
        ))),
    }
}

fn unavailable(e: &crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "stats query failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the statistics are unavailable; try again",
    )
}

pub fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "error": message }))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}
