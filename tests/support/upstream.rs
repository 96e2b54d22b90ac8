//! The recording fixture upstream: canned pages (with `ETag`s and `Last-Modified` dates
//! answered `304` as nginx does), streamed bytes, a request-body sink, held and hanging
//! answers, a WebSocket echo.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc as tmpsc};

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

/// A fixture upstream on loopback that records every request head it receives.
///
/// Routes: `/bytes?n=N` streams N bytes; `/sink` counts a request body; `/hang` never
/// answers; `/held` answers only after [`Upstream::release`]; `/ws` is a WebSocket echo;
/// anything else answers 200 with hop-by-hop headers of its own.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Recorded>>>,
    /// Canned responses by path, set with [`Upstream::page`].
    pages: Arc<Mutex<std::collections::HashMap<String, Canned>>>,
    release: Arc<Notify>,
    arrived: Arc<Mutex<Option<tmpsc::UnboundedSender<()>>>>,
    /// Connections accepted (for TLS: handshakes completed).
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Canned pages answered `304 Not Modified`.
    pub not_modified: Arc<std::sync::atomic::AtomicUsize>,
    /// Canned answers wait for [`Upstream::release`] after they were decided.
    hold_canned: Arc<std::sync::atomic::AtomicBool>,
}

type Body = BoxBody<Bytes, Infallible>;

#[derive(Clone)]
struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Gzipped for a request that accepts gzip, as nginx with `gzip on; gzip_proxied any`.
    compress: bool,
}

impl Upstream {
    pub async fn start() -> Upstream {
        Self::start_with(None).await
    }

    /// The same fixture behind TLS (ALPN `h2` and `http/1.1`), as a hosted origin is.
    pub async fn start_tls(acceptor: tokio_rustls::TlsAcceptor) -> Upstream {
        Self::start_with(Some(acceptor)).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let upstream = Upstream {
            addr: listener.local_addr().expect("addr"),
            seen: Arc::default(),
            pages: Arc::default(),
            release: Arc::new(Notify::new()),
            arrived: Arc::default(),
            connections: Arc::default(),
            not_modified: Arc::default(),
            hold_canned: Arc::default(),
        };
        let server = upstream.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let server = server.clone();
                let tls = tls.clone();
                let connections = Arc::clone(&server.connections);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.respond(req).await) }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                                .await;
                        }
                        Some(acceptor) => {
                            // A refused handshake is what the bad-certificate tests expect.
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                                .await;
                        }
                    }
                });
            }
        });
        upstream
    }

    /// Serves `body` with `headers` (and status 200) at `path` (`/p?q=1`: that query only).
    pub fn page(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) {
        self.page_with_status(path, 200, headers, body);
    }

    pub fn page_with_status(
        &self,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) {
        self.insert(path, status, headers, body.into(), false);
    }

    /// Serves `body` at `path` as an origin that compresses does (nginx `gzip on;
    /// gzip_proxied any`): to a request accepting gzip, gzipped with `Vary: Accept-Encoding`
    /// and its `ETag` made weak (RFC 9110 §8.8.1), chunked.
    pub fn page_compressing(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) {
        self.insert(path, 200, headers, body.into(), true);
    }

    fn insert(
        &self,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        compress: bool,
    ) {
        self.pages.lock().expect("lock").insert(
            path.to_owned(),
            Canned {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                body,
                compress,
            },
        );
    }

    /// The last request head the upstream received.
    pub fn last(&self) -> Recorded {
        self.seen
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("upstream saw a request")
    }

    pub fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    /// Canned pages answered `304 Not Modified` so far.
    pub fn not_modified_count(&self) -> usize {
        self.not_modified.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What the last request asked with `If-None-Match`, if anything.
    pub fn last_if_none_match(&self) -> Option<String> {
        self.last()
            .headers
            .get("if-none-match")
            .map(|v| v.to_str().expect("ascii").to_owned())
    }

    /// What the last request asked with `If-Modified-Since`, if anything.
    pub fn last_if_modified_since(&self) -> Option<String> {
        self.last()
            .headers
            .get("if-modified-since")
            .map(|v| v.to_str().expect("ascii").to_owned())
    }

    /// A receiver told each time a `/held` request arrives.
    pub fn on_held(&self) -> tmpsc::UnboundedReceiver<()> {
        let (tx, rx) = tmpsc::unbounded_channel();
        *self.arrived.lock().expect("lock") = Some(tx);
        rx
    }

    /// From now on a canned page's answer, decided from the page as it is when the request
    /// arrives, waits for [`Upstream::release`] (arrivals reported to [`Upstream::on_held`]).
    pub fn hold_canned(&self, hold: bool) {
        self.hold_canned
            .store(hold, std::sync::atomic::Ordering::SeqCst);
    }

    /// Lets every waiting `/held` request (and held canned answer) answer.
    pub fn release(&self) {
        self.release.notify_waiters();
    }

    /// A canned page's answer for this request: `304` or the page.
    fn canned(&self, req: &Request<Incoming>, canned: Canned) -> Response<Body> {
        let field = |name: &str| {
            canned
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let asked = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        // As nginx answers for its files: an `If-None-Match` naming the page's `ETag`
        // (weak comparison, RFC 9110 §13.1.2) gets `304` with the page's other fields;
        // without one, an `If-Modified-Since` equal to its `Last-Modified` does (nginx's
        // `if_modified_since exact`; §13.2.2 puts `If-None-Match` first).
        let unchanged = match asked("if-none-match") {
            Some(tags) => field("etag").is_some_and(|etag| {
                let etag = etag.trim_start_matches("W/");
                tags.split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == etag)
            }),
            None => asked("if-modified-since")
                .is_some_and(|since| field("last-modified") == Some(since)),
        };
        if unchanged && canned.status == 200 {
            let mut resp = Response::new(http_body_util::Empty::new().boxed());
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            for (k, v) in canned.headers.iter().filter(|(k, _)| {
                !k.eq_ignore_ascii_case("content-type")
                    && !k.eq_ignore_ascii_case("content-encoding")
            }) {
                resp.headers_mut().append(
                    http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    HeaderValue::from_str(v).expect("value"),
                );
            }
            self.not_modified
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return resp;
        }
        let gzip = canned.compress
            && req
                .headers()
                .get_all("accept-encoding")
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.contains("gzip")));
        let mut headers = canned.headers;
        let body = if gzip {
            for (k, v) in &mut headers {
                if k.eq_ignore_ascii_case("etag") && !v.starts_with("W/") {
                    *v = format!("W/{v}");
                }
            }
            headers.push(("content-encoding".into(), "gzip".into()));
            headers.push(("vary".into(), "Accept-Encoding".into()));
            super::gzip(&canned.body)
        } else {
            canned.body
        };
        let body = Bytes::from(body);
        let mut resp = if gzip {
            // Compressed on the fly, as nginx does: no length, chunked (RFC 9112 §7.1).
            let half = body.len() / 2;
            let frames = [body.slice(..half), body.slice(half..)]
                .map(|part| Ok::<_, Infallible>(Frame::data(part)));
            Response::new(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
                frames,
            ))))
        } else {
            Response::new(http_body_util::Full::new(body).boxed())
        };
        *resp.status_mut() = StatusCode::from_u16(canned.status).expect("status");
        for (k, v) in headers {
            resp.headers_mut().append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(&v).expect("value"),
            );
        }
        resp
    }

    async fn respond(&self, mut req: Request<Incoming>) -> Response<Body> {
        self.seen.lock().expect("lock").push(Recorded {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
        });
        let path = req.uri().path().to_owned();
        // A page set for `/path?query` answers that query only; one set for `/path`, any.
        let canned = {
            let pages = self.pages.lock().expect("lock");
            req.uri()
                .path_and_query()
                .and_then(|target| pages.get(target.as_str()))
                .or_else(|| pages.get(&path))
                .cloned()
        };
        if let Some(canned) = canned {
            let resp = self.canned(&req, canned);
            if self.hold_canned.load(std::sync::atomic::Ordering::SeqCst) {
                let released = self.release.notified();
                if let Some(tx) = self.arrived.lock().expect("lock").as_ref() {
                    let _ = tx.send(());
                }
                released.await;
            }
            return resp;
        }
        match path.as_str() {
            "/bytes" => {
                let n: usize = req
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("n="))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                stream_bytes(n)
            }
            "/sink" => {
                let mut total = 0usize;
                let mut body = req.into_body();
                while let Some(Ok(frame)) = body.frame().await {
                    if let Some(data) = frame.data_ref() {
                        total += data.len();
                    }
                }
                text(StatusCode::OK, &total.to_string())
            }
            "/hang" => std::future::pending().await,
            "/held" => {
                let released = self.release.notified();
                if let Some(tx) = self.arrived.lock().expect("lock").as_ref() {
                    let _ = tx.send(());
                }
                released.await;
                text(StatusCode::OK, "released")
            }
            "/ws" => websocket_echo(&mut req),
            _ => {
                let mut resp = text(StatusCode::OK, "hello from upstream");
                let h = resp.headers_mut();
                h.insert("connection", HeaderValue::from_static("x-upstream-private"));
                h.insert("x-upstream-private", HeaderValue::from_static("1"));
                h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
                h.insert("x-upstream-public", HeaderValue::from_static("1"));
                resp
            }
        }
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(http_body_util::Full::new(Bytes::from(body.to_owned())).boxed());
    *resp.status_mut() = status;
    resp
}

/// N bytes in 64 KiB chunks, generated as they are sent (the fixture holds none of it).
fn stream_bytes(n: usize) -> Response<Body> {
    const CHUNK: usize = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let frames = futures_util::stream::unfold(n, move |left| {
        let chunk = chunk.clone();
        async move {
            if left == 0 {
                return None;
            }
            let take = left.min(CHUNK);
            Some((
                Ok::<_, Infallible>(Frame::data(chunk.slice(..take))),
                left - take,
            ))
        }
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    resp
}

fn websocket_echo(req: &mut Request<Incoming>) -> Response<Body> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return text(StatusCode::BAD_REQUEST, "not a websocket handshake");
    };
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_text() || msg.is_binary() {
                if ws.send(msg).await.is_err() {
                    break;
                }
            } else if msg.is_close() {
                break;
            }
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = Response::new(http_body_util::Empty::new().boxed());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert("connection", HeaderValue::from_static("upgrade"));
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert(
        "sec-websocket-accept",
        HeaderValue::from_str(&accept).expect("accept"),
    );
    resp
}
