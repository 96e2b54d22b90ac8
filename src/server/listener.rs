//! Accept loops and per-connection serving.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use super::Shared;
use crate::proxy::ConnInfo;

pub(super) async fn accept_plain(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => { accept_failed(e).await; continue; }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn = ConnInfo {
            peer,
            tls: false,
            sni: None,
        };
        shared
            .connections
            .spawn(serve(Arc::clone(&shared), stream, conn));
    }
}

pub(super) async fn accept_tls(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => { accept_failed(e).await; continue; }
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
    serve(shared, tls, conn).await;
}

/// Too many open files and similar errors are transient: pause instead of spinning.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Serves HTTP/1.1 or HTTP/2 on one connection until it ends or shutdown drains it.
async fn serve<I>(shared: Arc<Shared>, io: I, conn: ConnInfo)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    shared.metrics.open_connections.inc();
    let conn = Arc::new(conn);
    let state = Arc::clone(&shared.state);
    let service = service_fn(move |req| {
        let state = state.load_full();
        let conn = Arc::clone(&conn);
        async move { Ok::<_, Infallible>(state.proxy.handle(req, &conn).await) }
    });
    let connection = shared
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut shutdown = shared.shutdown.clone();
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
    shared.metrics.open_connections.dec();
}
