//! The admin API token: 32 random bytes, hex, created on first start in
//! `data_dir/admin.token` (mode 0600). API clients send `Authorization: Bearer <token>`.
//! The admin token reads everything; tokens made with `consent-proxy token add --site`
//! read the statistics of their sites only. The dashboard's password login (argon2,
//! signed sessions) comes with the dashboard.

use std::io;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

pub const TOKEN_FILE: &str = "admin.token";

pub struct AdminToken(Vec<u8>);

impl AdminToken {
    pub fn load_or_create(data_dir: &Path) -> io::Result<AdminToken> {
        let bytes = crate::secrets::load_or_create(&data_dir.join(TOKEN_FILE), 32, |random| {
            random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into_bytes()
        })?;
        let text = String::from_utf8_lossy(&bytes).trim().as_bytes().to_vec();
        Ok(AdminToken(text))
    }

    /// Constant-time comparison: the time taken says nothing about how much matched.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.ct_eq(presented).into()
    }
}

pub async fn require_token(
    State(token): State<Arc<AdminToken>>,
    req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if token.matches(p.as_bytes()) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"consent-proxy admin\"",
            )],
            "admin token required\n",
        )
            .into_response(),
    }
}

/// What a caller of the stats API may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The admin token.
    All,
    /// A token scoped to these site names.
    Sites(Vec<String>),
}

impl Access {
    pub fn may_read(&self, site: &str) -> bool {
        match self {
            Access::All => true,
            Access::Sites(sites) => sites.iter().any(|s| s == site),
        }
    }
}

/// The stats API's gate: the admin token, or a stored token (its sites become the
/// request's [`Access`]).
pub async fn require_reader(
    State(admin): State<super::Admin>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("")
        .to_owned();
    let access = if !presented.is_empty() && admin.token.matches(presented.as_bytes()) {
        Some(Access::All)
    } else if presented.is_empty() {
        None
    } else {
        match admin.store.find_token(&presented).await {
            Ok(found) => found.map(|t| Access::Sites(t.site_names().map(str::to_owned).collect())),
            Err(e) => {
                tracing::error!(error = %e, "cannot check an API token");
                return super::stats_api::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot check the token; try again",
                );
            }
        }
    };
    match access {
        Some(access) => {
            req.extensions_mut().insert(access);
            next.run(req).await
        }
        None => {
            let mut resp = super::stats_api::error(
                StatusCode::UNAUTHORIZED,
                "missing or invalid API token (Authorization: Bearer …)",
            );
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"consent-proxy stats\""),
            );
            resp
        }
    }
}
