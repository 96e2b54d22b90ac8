//! The upstream client: one pooled keep-alive client shared by every request and site.

use std::error::Error as _;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::body::IdleTimeout;
use crate::config::Timeouts;

/// Request bodies stream from the visitor to the upstream, with an idle timeout.
pub type UpstreamBody = IdleTimeout<Incoming>;
pub type UpstreamClient = Client<HttpConnector, UpstreamBody>;

/// Builds the shared client: connect timeout, TCP_NODELAY, a pool big enough for the
/// concurrency a marketing site sees behind a single proxy.
pub fn client(timeouts: &Timeouts) -> UpstreamClient {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(timeouts.upstream_connect));
    http.set_nodelay(true);
    http.enforce_http(true);
    Client::builder(TokioExecutor::new())
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
