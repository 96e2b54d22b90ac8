//! A stand-in for Google Analytics, **only for the demo**: Google's servers are not
//! reachable from a laptop demo, so the demo's GA4 forwarding goes to this local
//! Measurement Protocol endpoint, which keeps the last payloads and shows them at `/`.
//! A newcomer who accepts cookies on the demo site sees exactly what would reach Google:
//! no IP address, no user agent — `user_location`, `device` and cleaned pages.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Payloads kept for the page.
const KEEP: usize = 100;

type Received = Arc<Mutex<VecDeque<serde_json::Value>>>;

/// Binds the stand-in and serves it in the background; returns its address.
pub async fn start(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let received: Received = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let received = Arc::clone(&received);
                    async move { Ok::<_, Infallible>(respond(req, &received).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(local)
}

async fn respond(req: Request<Incoming>, received: &Received) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, kind: &'static str, body: String| {
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
        resp
    };
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => {
            let list: Vec<serde_json::Value> = received
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .cloned()
                .collect();
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "about": "consent-proxy demo: a local stand-in for Google Analytics 4 (Measurement Protocol). These are the payloads the proxy forwarded, newest first.",
                "payloads": list,
            }))
            .unwrap_or_default();
            reply(StatusCode::OK, "application/json", text)
        }
        (&Method::POST, "/mp/collect" | "/debug/mp/collect") => {
            let debug = req.uri().path().starts_with("/debug");
            let Ok(body) = Limited::new(req.into_body(), 130_000).collect().await else {
                return reply(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", String::new());
            };
            match serde_json::from_slice::<serde_json::Value>(&body.to_bytes()) {
                Ok(payload) if !debug => {
                    let mut list = received
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    list.push_front(payload);
                    list.truncate(KEEP);
                    reply(StatusCode::NO_CONTENT, "text/plain", String::new())
                }
                Ok(_) => reply(
                    StatusCode::OK,
                    "application/json",
                    r#"{"validationMessages":[]}"#.into(),
                ),
                Err(_) => reply(StatusCode::BAD_REQUEST, "text/plain", String::new()),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", String::new()),
    }
}
