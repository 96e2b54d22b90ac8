//! One accepted connection, public or admin: served with hyper's HTTP/1.1 and HTTP/2, and
//! closed when it stays silent.
//!
//! hyper's `header_read_timeout` starts with a request's first byte, so a connection that
//! never sends one would be held for ever (thousands of them exhaust the file descriptors).
//! Here a watchdog closes a connection that has no request in flight and has not sent a
//! byte for `first_request` since accept, or for `keep_alive` since its last response
//! ended — what nginx's `client_header_timeout` and `keepalive_timeout` do.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a connection may be silent.
#[derive(Debug, Clone, Copy)]
pub struct Silence {
    /// From accept to the first request's first byte.
    pub first_request: Duration,
    /// From the end of a response to the next request's first byte.
    pub keep_alive: Duration,
}

/// What the watchdog knows of one connection.
#[derive(Debug)]
pub struct Activity {
    base: Instant,
    /// Milliseconds after `base` of the last byte read or the last response finished.
    last: AtomicU64,
    /// Requests whose response has not been written to the end yet.
    in_flight: AtomicUsize,
    /// At least one request was served: the keep-alive allowance applies.
    served: AtomicBool,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// A request begins; its response is done when the returned guard is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Resolves once the connection has been silent for longer than `silence` allows,
    /// with no request in flight.
    pub async fn silent(&self, silence: Silence) {
        loop {
            let allowed = if self.served.load(Ordering::Relaxed) {
                silence.keep_alive
            } else {
                silence.first_request
            };
            let last = self.base + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + allowed;
            if self.in_flight.load(Ordering::Relaxed) == 0 && Instant::now() >= deadline {
                return;
            }
            // With a request in flight, look again after one allowance.
            let wake = if self.in_flight.load(Ordering::Relaxed) == 0 {
                deadline
            } else {
                Instant::now() + allowed
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// One request in flight; dropped when its response body has been written (or dropped).
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.served.store(true, Ordering::Relaxed);
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A response body that holds its request's [`InFlight`] until it is written.
    pub struct Tracked<B> {
        #[pin]
        inner: B,
        guard: InFlight,
    }
}

impl<B> Tracked<B> {
    pub fn new(inner: B, guard: InFlight) -> Tracked<B> {
        Tracked { inner, guard }
    }
}

impl<B: Body<Data = Bytes>> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A socket whose reads count as activity.
    pub struct Watched<I> {
        #[pin]
        inner: I,
        activity: Arc<Activity>,
    }
}

impl<I> Watched<I> {
    pub fn new(inner: I, activity: Arc<Activity>) -> Watched<I> {
        Watched { inner, activity }
    }

    pub fn get_ref(&self) -> &I {
        &self.inner
    }
}

impl<I: AsyncRead> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        result
    }
}

impl<I: AsyncWrite> AsyncWrite for Watched<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// How one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client or the protocol closed it.
    Closed,
    /// It was silent past its allowance and was closed.
    Silent,
    /// Shutdown drained it.
    Drained,
}

/// Serves `io` with `service` until the connection ends, is silent past `silence`, or
/// `shutdown` flips (then in-flight requests finish first). `io` reads through a
/// [`Watched`] socket of `activity`, and the service wraps each response body in
/// [`Tracked`].
pub async fn serve<I, S, B>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    activity: &Activity,
    service: S,
    silence: Silence,
    mut shutdown: watch::Receiver<bool>,
) -> Ended
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            Ended::Closed
        }
        () = activity.silent(silence) => Ended::Silent,
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
            Ended::Drained
        }
    }
}
