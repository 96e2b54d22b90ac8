//! The admin listener: health, metrics, the consent-record API, the stats API and the
//! marketers' dashboard (`/dashboard`, behind a login). It runs on its own address, never
//! on the public sites' hosts.
//!
//! `/healthz` and `/metrics` are open (probes and Prometheus on a private network);
//! everything under `/api/` needs a token (`Authorization: Bearer …`): consent records
//! the admin token, statistics the admin token or a token scoped to the site.

pub mod auth;
mod consents;
mod exports;
pub mod html;
mod pages;
pub mod session;
pub mod stats_api;
mod view;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::connection::{self, Activity, Silence, Tracked, Watched};

use crate::store::Store;
use crate::telemetry::Metrics;
use auth::AdminToken;

/// What the admin routes share.
#[derive(Clone)]
pub struct Admin {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub token: Arc<AdminToken>,
    /// The configured sites, for `site_id`.
    pub sites: crate::stats::rollup::Sites,
    /// Today's events in memory, shared by the stats queries.
    pub open_days: Arc<crate::stats::today::OpenDays>,
    /// Failed dashboard logins, per user name and address.
    pub logins: Arc<session::LoginLimiter>,
    /// A line shown on every dashboard page (the demo says its data is generated).
    pub notice: Option<Arc<str>>,
}

/// Serves the admin routes on `listener` until `shutdown` flips. Connections get the same
/// protection as the public ones: a header timeout and closing when silent.
pub async fn serve(
    listener: TcpListener,
    admin: Admin,
    silence: Silence,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = router(admin);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(silence.first_request)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed; pausing for 100 ms");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (stream, peer) = stream;
        let activity = Activity::new();
        let io = Watched::new(stream, Arc::clone(&activity));
        let app = app.clone();
        let builder = Arc::clone(&builder);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let requests = Arc::clone(&activity);
            let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                let in_flight = requests.request();
                let app = app.clone();
                req.extensions_mut().insert(session::Peer(peer.ip()));
                async move {
                    let resp = app.oneshot(req.map(axum::body::Body::new)).await;
                    resp.map(|r| r.map(|body| Tracked::new(body, in_flight)))
                }
            });
            connection::serve(&builder, io, &activity, service, silence, shutdown).await;
        });
    }
    connections.close();
    connections.wait().await;
}

pub fn router(admin: Admin) -> Router {
    let api = Router::new()
        .route("/api/consents", get(consents::export))
        .route("/api/consents/{id}", get(consents::lookup))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&admin.token),
            auth::require_token,
        ));
    let stats = Router::new()
        .route("/api/v2/query", axum::routing::post(stats_api::query))
        .route("/api/v1/stats/realtime/visitors", get(stats_api::realtime))
        .route_layer(middleware::from_fn_with_state(
            admin.clone(),
            auth::require_reader,
        ));
    let dashboard = Router::new()
        .route("/dashboard", get(pages::overview))
        .route("/dashboard/export.csv", get(exports::export))
        .route("/dashboard/consents.csv", get(exports::consent_records))
        .route("/dashboard/logout", axum::routing::post(session::logout))
        .route_layer(middleware::from_fn_with_state(
            admin.clone(),
            session::require_session,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(prometheus))
        .route(
            "/dashboard/login",
            get(session::login_form).post(session::login),
        )
        .route("/dashboard/style.css", get(exports::style))
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/dashboard") }),
        )
        .merge(api)
        .merge(stats)
        .merge(dashboard)
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
