//! Consent records for the site owner (GDPR art. 7(1): demonstrate consent):
//!
//! - `GET /api/consents?site=&from=&to=&format=csv|json` — export per site and time range;
//!   `from`/`to` are dates (`2026-01-31`, UTC) or Unix seconds, `to` exclusive;
//! - `GET /api/consents/{id}` — every choice of one consent id, as the visitor's
//!   preference centre shows it.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate};
use serde::Deserialize;

use super::Admin;
use crate::store::{ConsentQuery, StoredConsent};

/// Most records one export returns; narrow the range for more.
const EXPORT_LIMIT: u32 = 200_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    site: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

pub async fn export(State(admin): State<Admin>, Query(params): Query<ExportParams>) -> Response {
    let (from, to) = match (time(params.from.as_deref()), time(params.to.as_deref())) {
        (Ok(from), Ok(to)) => (from, to),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "`from` and `to` are dates (2026-01-31) or Unix seconds\n",
            )
                .into_response();
        }
    };
    let csv = match params.format.as_deref() {
        None | Some("csv") => true,
        Some("json") => false,
        Some(_) => return (StatusCode::BAD_REQUEST, "`format` is csv or json\n").into_response(),
    };
    let query = ConsentQuery {
        site: params.site,
        from,
        to,
    };
    let records = match admin.store.consents(&query, EXPORT_LIMIT).await {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(error = %e, "consent export failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let truncated = records.len() == EXPORT_LIMIT as usize;
    let mut resp = if csv {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"consent-records.csv\"",
                ),
            ],
            to_csv(&records),
        )
            .into_response()
    } else {
        json(&records)
    };
    if truncated {
        resp.headers_mut().insert(
            "x-export-truncated",
            header::HeaderValue::from_static("true"),
        );
    }
    resp
}

pub async fn lookup(State(admin): State<Admin>, Path(id): Path<String>) -> Response {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (StatusCode::BAD_REQUEST, "a consent id is 32 hex digits\n").into_response();
    }
    match admin.store.consent_history(&id.to_ascii_lowercase()).await {
        Ok(records) if records.is_empty() => StatusCode::NOT_FOUND.into_response(),
        Ok(records) => json(&records),
        Err(e) => {
            tracing::error!(error = %e, "consent lookup failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

fn json(records: &[StoredConsent]) -> Response {
    axum::Json(records.iter().map(Exported::from).collect::<Vec<_>>()).into_response()
}

/// A record with readable times (RFC 3339, UTC).
#[derive(serde::Serialize)]
struct Exported<'a> {
    #[serde(flatten)]
    record: &'a StoredConsent,
    recorded: String,
    expires: String,
}

impl<'a> From<&'a StoredConsent> for Exported<'a> {
    fn from(record: &'a StoredConsent) -> Self {
        Exported {
            record,
            recorded: rfc3339(record.recorded_at),
            expires: rfc3339(record.expires_at),
        }
    }
}

fn rfc3339(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A query time: a date (midnight UTC) or Unix seconds.
fn time(text: Option<&str>) -> Result<Option<i64>, ()> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(Some(seconds));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc().timestamp()))
        .ok_or(())
}

const CSV_HEADER: &str = "consent_id,site,recorded,expires,policy_version,granted,refused,method,gpc,language,ip,browser\r\n";

/// RFC 4180 CSV. Every field is quoted; a leading `=`, `+`, `-` or `@` is prefixed with
/// `'` so a spreadsheet never runs a cell as a formula (OWASP CSV injection).
pub(super) fn to_csv(records: &[StoredConsent]) -> String {
    let mut out = String::from(CSV_HEADER);
    for r in records {
        let fields = [
            r.consent_id.clone(),
            r.site.clone(),
            rfc3339(r.recorded_at),
            rfc3339(r.expires_at),
            r.policy_version.clone(),
            r.granted.join(" "),
            r.refused.join(" "),
            r.method.clone(),
            r.gpc.to_string(),
            r.language.clone(),
            r.ip.clone(),
            r.browser.clone(),
        ];
        csv_line(&mut out, &fields);
    }
    out
}

/// One CSV line of `fields` (see [`to_csv`]).
pub(super) fn csv_line(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        if field.starts_with(['=', '+', '-', '@']) {
            out.push('\'');
        }
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_dates_or_seconds() {
        assert_eq!(time(Some("2026-01-31")), Ok(Some(1_769_817_600)));
        assert_eq!(time(Some("1769817600")), Ok(Some(1_769_817_600)));
        assert_eq!(time(None), Ok(None));
        assert!(time(Some("31/01/2026")).is_err());
        assert_eq!(rfc3339(1_769_817_600), "2026-01-31T00:00:00Z");
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let r = StoredConsent {
            consent_id: "ab".into(),
            site: "=cmd".into(),
            recorded_at: 0,
            expires_at: 0,
            policy_version: "2025 \"q\"".into(),
            granted: vec!["necessary".into(), "analytics".into()],
            refused: vec![],
            method: "custom".into(),
            gpc: false,
            language: "nl".into(),
            ip: "192.0.2.0".into(),
            browser: "firefox".into(),
        };
        let csv = to_csv(&[r]);
        let line = csv.lines().nth(1).unwrap();
        assert!(
            line.starts_with("\"ab\",\"'=cmd\",\"1970-01-01T00:00:00Z\""),
            "{line}"
        );
        assert!(line.contains("\"2025 \"\"q\"\"\""));
        assert!(line.contains("\"necessary analytics\""));
    }
}
