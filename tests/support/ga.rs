//! A local stand-in for Google's GA4 Measurement Protocol servers (unreachable here): it
//! validates every request as Google's validation server (`/debug/mp/collect`) does —
//! written from the Measurement Protocol reference, independently of the proxy's own
//! payload code — and records what it got. An invalid request is recorded as a problem,
//! so a test can assert that none arrived.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub const MEASUREMENT_ID: &str = "G-TEST12345";
pub const API_SECRET: &str = "test-secret-3f9a";

/// What one accepted request carried.
#[derive(Debug, Clone)]
pub struct Received {
    pub query: String,
    pub body: Value,
    /// The raw body, for searching it for what must never be there.
    pub raw: String,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    problems: Vec<String>,
}

pub struct GaServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
    /// Open connections, closed too by [`GaServer::stop`] (a client's pooled keep-alive
    /// connection must not outlive the outage).
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl GaServer {
    pub async fn start() -> GaServer {
        GaServer::start_on("127.0.0.1:0".parse().expect("addr")).await
    }

    /// On a given address (to come back on the same port after [`GaServer::stop`]).
    pub async fn start_on(addr: SocketAddr) -> GaServer {
        let listener = TcpListener::bind(addr).await.expect("bind GA stand-in");
        let addr = listener.local_addr().expect("addr");
        let log: Arc<Mutex<Log>> = Arc::default();
        let arrived = Arc::new(Notify::new());
        let (l, a) = (Arc::clone(&log), Arc::clone(&arrived));
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let open = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (l, a) = (Arc::clone(&l), Arc::clone(&a));
                let handle = tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (l, a) = (Arc::clone(&l), Arc::clone(&a));
                        async move { Ok::<_, Infallible>(respond(req, &l, &a).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                open.lock().expect("lock").push(handle.abort_handle());
            }
        });
        GaServer {
            addr,
            log,
            arrived,
            task,
            connections,
        }
    }

    /// The `endpoint` for a site's `ga` config.
    pub fn endpoint(&self) -> String {
        format!("http://{}/mp/collect", self.addr)
    }

    /// Stops listening (an outage); the records stay readable.
    pub async fn stop(&self) {
        self.task.abort();
        for connection in self.connections.lock().expect("lock").drain(..) {
            connection.abort();
        }
        // The listener is dropped with the task; wait until the port refuses.
        while tokio::net::TcpStream::connect(self.addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().expect("lock").received.clone()
    }

    pub fn problems(&self) -> Vec<String> {
        self.log.lock().expect("lock").problems.clone()
    }

    /// Every event of every accepted request.
    pub fn events(&self) -> Vec<Value> {
        self.received()
            .iter()
            .flat_map(|r| r.body["events"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until `enough` holds for the received events (or panics after 30 s).
    pub async fn until(&self, what: &str, enough: impl Fn(&[Value]) -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let arrived = self.arrived.notified();
            if enough(&self.events()) {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "GA stand-in: never got {what}; got {:#?}, problems {:?}",
                    self.events(),
                    self.problems()
                );
            }
        }
    }
}

impl Drop for GaServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn respond(
    req: Request<Incoming>,
    log: &Mutex<Log>,
    arrived: &Notify,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let raw = String::from_utf8_lossy(&body).into_owned();
    let problems = validate(&query, &body);
    let debug = path == "/debug/mp/collect";
    if path != "/mp/collect" && !debug {
        return reply(StatusCode::NOT_FOUND, String::new());
    }
    if debug {
        let messages: Vec<Value> = problems
            .iter()
            .map(|p| serde_json::json!({ "fieldPath": "", "description": p, "validationCode": "VALUE_INVALID" }))
            .collect();
        return reply(
            StatusCode::OK,
            serde_json::json!({ "validationMessages": messages }).to_string(),
        );
    }
    {
        let mut log = log.lock().expect("lock");
        if problems.is_empty() {
            log.received.push(Received {
                query,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                raw,
            });
        } else {
            log.problems.extend(problems);
        }
    }
    arrived.notify_waiters();
    // Google answers 2xx to every collect request, valid or not.
    reply(StatusCode::NO_CONTENT, String::new())
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp
}

const RESERVED_EVENTS: &[&str] = &[
    "ad_activeview",
    "ad_click",
    "ad_exposure",
    "ad_impression",
    "ad_query",
    "ad_reward",
    "adunit_exposure",
    "app_background",
    "app_clear_data",
    "app_exception",
    "app_remove",
    "app_store_refund",
    "app_store_subscription_cancel",
    "app_store_subscription_convert",
    "app_store_subscription_renew",
    "app_update",
    "app_upgrade",
    "dynamic_link_app_open",
    "dynamic_link_app_update",
    "dynamic_link_first_open",
    "error",
    "firebase_campaign",
    "first_open",
    "first_visit",
    "in_app_purchase",
    "notification_dismiss",
    "notification_foreground",
    "notification_open",
    "notification_receive",
    "os_update",
    "session_start",
    "user_engagement",
];

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The Measurement Protocol's rules, as the validation server applies them.
fn validate(query: &str, body: &[u8]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut p = |s: String| problems.push(s);
    if !query.contains(&format!("measurement_id={MEASUREMENT_ID}")) {
        p(format!("measurement_id missing or wrong: {query}"));
    }
    if !query.contains(&format!("api_secret={API_SECRET}")) {
        p("api_secret missing or wrong".into());
    }
    if body.len() > 130_000 {
        p(format!("body of {} bytes is over 130 kB", body.len()));
    }
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(body) else {
        p("body is not a JSON object".into());
        return problems;
    };
    for key in top.keys() {
        if ![
            "client_id",
            "user_id",
            "timestamp_micros",
            "user_properties",
            "user_data",
            "consent",
            "non_personalized_ads",
            "user_location",
            "ip_override",
            "device",
            "events",
            "validation_behavior",
        ]
        .contains(&key.as_str())
        {
            p(format!("unknown field `{key}`"));
        }
    }
    match top.get("client_id") {
        Some(Value::String(id)) if !id.is_empty() => {}
        _ => p("client_id is required and must be a string".into()),
    }
    // What a privacy-first proxy must never send.
    for forbidden in ["user_agent", "user_data", "user_id"] {
        if top.contains_key(forbidden) {
            p(format!("`{forbidden}` must not be sent"));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    if let Some(ts) = top.get("timestamp_micros").and_then(Value::as_i64)
        && (ts > now + 60_000_000 || now - ts > 72 * 3600 * 1_000_000)
    {
        p("timestamp_micros more than 72 hours in the past or in the future".into());
    }
    if let Some(loc) = top.get("user_location") {
        match loc.get("country_id").and_then(Value::as_str) {
            Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) => {}
            None => {}
            Some(c) => p(format!(
                "user_location.country_id `{c}` is not ISO 3166-1 alpha-2"
            )),
        }
    }
    if let Some(device) = top.get("device") {
        for key in device
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if ![
                "category",
                "language",
                "screen_resolution",
                "operating_system",
                "operating_system_version",
                "model",
                "brand",
                "browser",
                "browser_version",
            ]
            .contains(&key.as_str())
            {
                p(format!("unknown device field `{key}`"));
            }
        }
    }
    if let Some(consent) = top.get("consent") {
        for key in ["ad_user_data", "ad_personalization"] {
            if let Some(v) = consent.get(key)
                && !matches!(v.as_str(), Some("GRANTED" | "DENIED"))
            {
                p(format!("consent.{key} must be GRANTED or DENIED"));
            }
        }
    }
    let Some(events) = top.get("events").and_then(Value::as_array) else {
        p("events is required".into());
        return problems;
    };
    if events.is_empty() || events.len() > 25 {
        p(format!("{} events: 1 to 25 per request", events.len()));
    }
    for e in events {
        let name = e.get("name").and_then(Value::as_str).unwrap_or("");
        if !name_ok(name) {
            p(format!("event name `{name}` is invalid"));
        }
        if RESERVED_EVENTS.contains(&name)
            || ["_", "firebase_", "ga_", "google_", "gtag."]
                .iter()
                .any(|x| name.starts_with(x))
        {
            p(format!("event name `{name}` is reserved"));
        }
        let params = e
            .get("params")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if params.len() > 25 {
            p(format!(
                "event `{name}` has {} params (25 at most)",
                params.len()
            ));
        }
        for (k, v) in params {
            if !name_ok(&k)
                || ["_", "firebase_", "ga_", "google_"]
                    .iter()
                    .any(|x| k.starts_with(x))
            {
                p(format!("param name `{k}` is invalid or reserved"));
            }
            match v {
                Value::String(s) if s.chars().count() <= 100 => {}
                Value::String(_) if k == "page_location" || k == "page_referrer" => {}
                Value::Number(_) => {}
                other => p(format!("param `{k}` value {other} is not allowed")),
            }
        }
    }
    problems
}
