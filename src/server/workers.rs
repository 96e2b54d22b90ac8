//! Thread per core: each worker thread runs its own single-threaded event loop with its
//! own listening sockets (`SO_REUSEPORT`, so the kernel spreads connections) and its own
//! upstream pool. A request is then handled start to finish on one thread, as in nginx's
//! worker processes; measured on 2 cores this beats a work-stealing runtime, whose
//! cross-thread wake-ups cost more than they balance (README, Performance).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;

use super::{Shared, listener};
use crate::proxy::upstream;
use crate::telemetry::log;

#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Plain,
    Tls,
}

/// One listening socket per worker for `addr`; port 0 is resolved by the first bind and
/// reused by the others.
///
/// `SO_REUSEPORT` would also let a *second* process bind the same port and take half the
/// connections (with another signing key, another store). So a fixed port is first bound
/// once without it: if anything else listens there, that bind fails and so does the start.
pub(super) fn bind(
    addr: SocketAddr,
    workers: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    if addr.port() != 0 {
        let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        // SO_REUSEADDR only tolerates connections of an earlier run in TIME_WAIT; a
        // listening socket still makes the bind fail (Linux).
        probe.set_reuse_address(true)?;
        probe.bind(&addr.into()).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("{e} (is another consent-proxy or server already listening there?)"),
            )
        })?;
    }
    let mut listeners = Vec::with_capacity(workers);
    let mut addr = addr;
    for _ in 0..workers {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(4096)?;
        let listener = std::net::TcpListener::from(socket);
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// The running worker threads.
pub(super) struct Workers {
    threads: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

/// Starts one thread per entry of `per_worker`, each serving its own listeners.
pub(super) fn spawn(
    per_worker: Vec<Vec<(std::net::TcpListener, Kind)>>,
    shared: &Arc<Shared>,
) -> std::io::Result<Workers> {
    let (stop, stopped) = watch::channel(false);
    let mut threads = Vec::with_capacity(per_worker.len());
    for (index, listeners) in per_worker.into_iter().enumerate() {
        let shared = Arc::clone(shared);
        let mut stopped = stopped.clone();
        let thread = std::thread::Builder::new()
            .name(format!("cp-worker-{index}"))
            .spawn(move || {
                upstream::set_worker_index(index);
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(worker = index, error = %e, "cannot start worker");
                        return;
                    }
                };
                runtime.block_on(async move {
                    tokio::spawn(log::buffer_this_thread());
                    for (std_listener, kind) in listeners {
                        let listener = match tokio::net::TcpListener::from_std(std_listener) {
                            Ok(l) => l,
                            Err(e) => {
                                tracing::error!(worker = index, error = %e, "cannot use listener");
                                continue;
                            }
                        };
                        let shared = Arc::clone(&shared);
                        match kind {
                            Kind::Plain => tokio::spawn(listener::accept_plain(listener, shared)),
                            Kind::Tls => tokio::spawn(listener::accept_tls(listener, shared)),
                        };
                    }
                    let _ = stopped.wait_for(|stop| *stop).await;
                });
                log::flush();
            })?;
        threads.push(thread);
    }
    Ok(Workers { threads, stop })
}

impl Workers {
    /// Ends every worker's event loop (after connections have drained) and joins them.
    pub(super) async fn stop(self) {
        let _ = self.stop.send(true);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}
