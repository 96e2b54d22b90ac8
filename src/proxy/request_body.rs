//! The visitor's request body on its way upstream, watched: the upstream's response-head
//! timer starts only when the body has been sent (a slow upload is the visitor's time, not
//! the upstream's), and a body that fails — malformed chunked framing, or a stall past
//! `idle_body` — is the visitor's fault, answered `400` or `408`, not `502`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::sync::Notify;

use crate::body::{BoxError, IdleTimeout, IdleTimeoutError};

/// How far the visitor's body has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Sending,
    Sent,
    /// Malformed framing or a broken connection from the visitor.
    Failed,
    /// The visitor stopped sending for longer than `idle_body`.
    Stalled,
}

/// Shared between the body (on the upstream connection's task) and the request phase.
#[derive(Debug)]
pub struct BodyWatch {
    progress: AtomicU8,
    changed: Notify,
}

impl BodyWatch {
    pub fn progress(&self) -> Progress {
        match self.progress.load(Ordering::Acquire) {
            0 => Progress::Sending,
            1 => Progress::Sent,
            2 => Progress::Failed,
            _ => Progress::Stalled,
        }
    }

    fn set(&self, progress: Progress) {
        if self.progress() == Progress::Sending {
            self.progress.store(progress as u8, Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// Resolves once the body is sent or has failed.
    pub async fn settled(&self) {
        while self.progress() == Progress::Sending {
            self.changed.notified().await;
        }
    }
}

pin_project! {
    pub struct RequestBody {
        #[pin]
        inner: IdleTimeout<Incoming>,
        watch: Arc<BodyWatch>,
    }
}

impl RequestBody {
    pub fn new(inner: Incoming, idle: std::time::Duration) -> RequestBody {
        let sent = inner.is_end_stream();
        let watch = Arc::new(BodyWatch {
            progress: AtomicU8::new(if sent { 1 } else { 0 }),
            changed: Notify::new(),
        });
        RequestBody {
            inner: IdleTimeout::new(inner, idle),
            watch,
        }
    }

    pub fn watch(&self) -> Arc<BodyWatch> {
        Arc::clone(&self.watch)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.watch.set(Progress::Sent),
            Poll::Ready(Some(Err(e))) => this.watch.set(if e.is::<IdleTimeoutError>() {
                Progress::Stalled
            } else {
                Progress::Failed
            }),
            // A body with a length may end without a final `None` being polled.
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => {
                this.watch.set(Progress::Sent);
            }
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.watch.set(Progress::Sent);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
