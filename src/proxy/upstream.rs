//! The upstream client: pooled keep-alive connections, one pool per worker thread. Plain
//! HTTP origins share one pool; an `https://` origin has its own, verified against the
//! public web roots (or the site's own CA) with the URL's host as SNI.

use std::cell::Cell;
use std::error::Error as _;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::request_body::RequestBody;
use crate::config::{Limits, ServerConfig, SiteConfig, Timeouts};

/// Request bodies stream from the visitor to the upstream, with an idle timeout.
pub type UpstreamBody = RequestBody;
pub type UpstreamClient = Client<HttpConnector, UpstreamBody>;
pub type TlsClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

thread_local! {
    /// Which worker thread this is; selects the worker's own pool.
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Called once by each worker thread at start.
pub fn set_worker_index(index: usize) {
    WORKER.with(|w| w.set(index));
}

/// One pooled client per worker thread. A pooled connection's task lives on the thread
/// that opened it; keeping each worker on its own pool keeps every wake-up of a request
/// on one thread (no cross-thread hand-offs, as in nginx's worker processes).
#[derive(Debug)]
pub struct UpstreamPool {
    clients: Box<[UpstreamClient]>,
}

impl UpstreamPool {
    pub fn new(timeouts: &Timeouts, limits: &Limits, workers: usize) -> UpstreamPool {
        UpstreamPool {
            clients: (0..workers.max(1))
                .map(|_| client(timeouts, limits))
                .collect(),
        }
    }

    /// The calling worker's client.
    pub fn client(&self) -> &UpstreamClient {
        let index = WORKER.with(Cell::get) % self.clients.len();
        &self.clients[index]
    }
}

/// One `https://` origin's clients, one per worker thread like the plain pool.
#[derive(Debug)]
pub struct TlsPool {
    clients: Box<[TlsClient]>,
}

impl TlsPool {
    /// The site's verified origin client; `Err` names what is wrong with `upstream_tls`.
    pub fn new(server: &ServerConfig, site: &SiteConfig) -> Result<TlsPool, String> {
        let tls =
            crate::pem::client_config(site.upstream_tls.as_ref().and_then(|t| t.ca.as_deref()))?;
        let server_name = match site
            .upstream_tls
            .as_ref()
            .and_then(|t| t.server_name.clone())
        {
            Some(name) => Some(
                rustls::pki_types::ServerName::try_from(name)
                    .map_err(|e| format!("upstream_tls.server_name: {e}"))?,
            ),
            None => None,
        };
        let clients = (0..server.worker_count().max(1))
            .map(|_| {
                let builder = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls.clone())
                    .https_only();
                let builder = match &server_name {
                    Some(name) => builder.with_server_name_resolver(
                        hyper_rustls::FixedServerNameResolver::new(name.clone()),
                    ),
                    None => builder,
                };
                // With the visitor's `Host` kept, HTTP/1.1 carries it exactly; HTTP/2 would
                // send the origin's name as `:authority` beside a different `Host` (RFC
                // 9113 §8.3.1 lets a server refuse that). So h2 only when the origin's own
                // name is the authority.
                let connector = if site.preserve_host {
                    builder
                        .enable_http1()
                        .wrap_connector(connector(&server.timeouts))
                } else {
                    builder
                        .enable_all_versions()
                        .wrap_connector(connector(&server.timeouts))
                };
                pooled(&server.limits).build(connector)
            })
            .collect();
        Ok(TlsPool { clients })
    }

    pub fn request(&self, req: http::Request<UpstreamBody>) -> ResponseFuture {
        let index = WORKER.with(Cell::get) % self.clients.len();
        self.clients[index].request(req)
    }
}

fn connector(timeouts: &Timeouts) -> HttpConnector {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(timeouts.upstream_connect));
    http.set_nodelay(true);
    // The TLS layer above it sees `https://` URIs; the plain pool turns this back on.
    http.enforce_http(false);
    http
}

/// Builds a pooled client: connect timeout, TCP_NODELAY, a pool big enough for the
/// concurrency a marketing site sees behind a single proxy.
pub fn client(timeouts: &Timeouts, limits: &Limits) -> UpstreamClient {
    let mut http = connector(timeouts);
    http.enforce_http(true);
    pooled(limits).build(http)
}

fn pooled(limits: &Limits) -> hyper_util::client::legacy::Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    // Reads adapt to the response (a whole page in one read: few syscalls and wake-ups)
    // up to this cap; hyper's own cap (~400 KiB per connection) makes 1,000 busy
    // connections cost hundreds of MB (README, Performance).
    builder.http1_max_buf_size(limits.upstream_read_buffer);
    builder
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new());
    builder
}

/// How an upstream failed, as the visitor hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Refused, reset, unresolvable: 502 Bad Gateway.
    Unreachable,
    /// Connect or response-head timeout: 504 Gateway Timeout.
    Timeout,
    /// The origin's certificate or TLS handshake failed verification: 502 Bad Gateway.
    Tls,
}

pub fn classify(err: &hyper_util::client::legacy::Error) -> Failure {
    let mut source = err.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return Failure::Timeout;
            }
            // rustls' error travels inside an `io::Error`, whose `source` skips it.
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return Failure::Tls;
            }
        }
        if e.is::<rustls::Error>() {
            return Failure::Tls;
        }
        source = e.source();
    }
    Failure::Unreachable
}

/// The whole cause chain in one line ("client error (Connect): invalid peer certificate:
/// certificate expired …"): hyper's top-level message alone does not say what failed.
pub fn describe(err: &hyper_util::client::legacy::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) if inner.to_string() != part => Some(inner),
            _ => e.source(),
        };
    }
    text
}
