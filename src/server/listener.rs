//! Accept loops and per-connection serving.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use super::Shared;
use crate::connection::{Activity, Ended, Tracked, Watched};
use crate::proxy::ConnInfo;

pub(super) async fn accept_plain(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => { accept_failed(&shared, e).await; continue; }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn = ConnInfo {
            peer,
            tls: false,
            sni: None,
        };
        let activity = Activity::new();
        let io = Watched::new(stream, Arc::clone(&activity));
        shared
            .connections
            .spawn(serve(Arc::clone(&shared), io, activity, conn));
    }
}

pub(super) async fn accept_tls(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => { accept_failed(&shared, e).await; continue; }
            },
        };
        let _ = stream.set_nodelay(true);
        shared
            .connections
            .spawn(handshake(Arc::clone(&shared), stream, peer));
    }
}

async fn handshake(shared: Arc<Shared>, stream: TcpStream, peer: std::net::SocketAddr) {
    let Some(acceptor) = shared.tls.clone() else {
        return;
    };
    let activity = Activity::new();
    let stream = Watched::new(stream, Arc::clone(&activity));
    let tls = match tokio::time::timeout(shared.handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return;
        }
    };
    // A `tls-alpn-01` validation ends with the handshake (RFC 8737 §3): no HTTP follows.
    if tls.get_ref().1.alpn_protocol() == Some(crate::acme::ALPN_CHALLENGE_PROTOCOL) {
        return;
    }
    let sni = tls
        .get_ref()
        .1
        .server_name()
        .map(|n| Arc::from(n.to_ascii_lowercase()));
    let conn = ConnInfo {
        peer,
        tls: true,
        sni,
    };
    serve(shared, tls, activity, conn).await;
}

/// Too many open files and similar errors are transient: count, log, and pause instead of
/// spinning (the pause also gives the watchdogs time to close silent connections).
async fn accept_failed(shared: &Shared, e: std::io::Error) {
    shared.metrics.accept_errors.inc();
    tracing::warn!(error = %e, "accept failed; pausing accepts for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Serves HTTP/1.1 or HTTP/2 on one connection until it ends, stays silent too long, or
/// shutdown drains it.
async fn serve<I>(shared: Arc<Shared>, io: I, activity: Arc<Activity>, conn: ConnInfo)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    shared.metrics.open_connections.inc();
    let conn = Arc::new(conn);
    let state = Arc::clone(&shared.state);
    let requests = Arc::clone(&activity);
    let dashboard = shared.dashboard.clone();
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let state = state.load_full();
        let conn = Arc::clone(&conn);
        let in_flight = requests.request();
        let dashboard = dashboard
            .as_ref()
            .filter(|(host, _)| super::dashboard_host::is(&req, host))
            .map(|(_, router)| router.clone());
        async move {
            let resp = match dashboard {
                Some(router) => super::dashboard_host::serve(router, req, &conn).await,
                None => state.proxy.handle(req, &conn).await,
            };
            Ok::<_, Infallible>(resp.map(|body| Tracked::new(body, in_flight)))
        }
    });
    let ended = crate::connection::serve(
        &shared.builder,
        io,
        &activity,
        service,
        shared.silence,
        shared.shutdown.clone(),
    )
    .await;
    if ended == Ended::Silent {
        shared.metrics.silent_closed.inc();
    }
    shared.metrics.open_connections.dec();
}
