//! The upstream client: pooled keep-alive connections, one pool per worker thread, shared
//! by every site.

use std::cell::Cell;
use std::error::Error as _;
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::request_body::RequestBody;
use crate::config::{Limits, Timeouts};

/// Request bodies stream from the visitor to the upstream, with an idle timeout.
pub type UpstreamBody = RequestBody;
pub type UpstreamClient = Client<HttpConnector, UpstreamBody>;

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

/// Builds a pooled client: connect timeout, TCP_NODELAY, a pool big enough for the
/// concurrency a marketing site sees behind a single proxy.
pub fn client(timeouts: &Timeouts, limits: &Limits) -> UpstreamClient {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(timeouts.upstream_connect));
    http.set_nodelay(true);
    http.enforce_http(true);
    let mut builder = Client::builder(TokioExecutor::new());
    // Reads adapt to the response (a whole page in one read: few syscalls and wake-ups)
    // up to this cap; hyper's own cap (~400 KiB per connection) makes 1,000 busy
    // connections cost hundreds of MB (README, Performance).
    builder.http1_max_buf_size(limits.upstream_read_buffer);
    builder
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .pool_timer(TokioTimer::new())
        .build(http)
}

/// How an upstream failed, as the visitor hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Refused, reset, unresolvable: 502 Bad Gateway.
    Unreachable,
    /// Connect or response-head timeout: 504 Gateway Timeout.
    Timeout,
}

pub fn classify(err: &hyper_util::client::legacy::Error) -> Failure {
    let mut source = err.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return Failure::Timeout;
        }
        source = e.source();
    }
    Failure::Unreachable
}
