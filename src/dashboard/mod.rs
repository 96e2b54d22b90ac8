//! The admin listener: health, metrics and the consent-record API now; the dashboard and
//! stats API join it. It runs on its own address, never on the public sites' hosts.
//!
//! `/healthz` and `/metrics` are open (probes and Prometheus on a private network);
//! everything under `/api/` needs the admin token (`Authorization: Bearer …`).

pub mod auth;
mod consents;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::store::Store;
use crate::telemetry::Metrics;
use auth::AdminToken;

/// What the admin routes share.
#[derive(Clone)]
pub struct Admin {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub token: Arc<AdminToken>,
}

pub async fn serve(listener: TcpListener, admin: Admin, mut shutdown: watch::Receiver<bool>) {
    let app = router(admin);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "admin listener failed");
    }
}

pub fn router(admin: Admin) -> Router {
    let api = Router::new()
        .route("/api/consents", get(consents::export))
        .route("/api/consents/{id}", get(consents::lookup))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&admin.token),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(prometheus))
        .merge(api)
        .with_state(admin)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn prometheus(State(admin): State<Admin>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        admin.metrics.encode(),
    )
}
