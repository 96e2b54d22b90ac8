//! Body types of the proxy: one boxed body for responses, and an idle timeout that
//! closes a body stalled longer than `timeouts.idle_body` in either direction.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every response the proxy sends has this body type.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

#[derive(Debug, thiserror::Error)]
#[error("no body data for {0:?}")]
pub struct IdleTimeoutError(Duration);

pin_project! {
    /// Fails the body when no frame arrives for `timeout`.
    ///
    /// Why hand-written: tower-http's timeout layers bound a whole body or a whole request;
    /// a download of a large file must be allowed to take long as long as it moves.
    /// The timer is created only when the body first waits, and re-armed lazily (only when
    /// it fires early), so a fast body pays one `Instant::now()` per frame, not a
    /// timer-wheel update; it is boxed so the body stays `Unpin` for the pooled client.
    pub struct IdleTimeout<B> {
        #[pin]
        inner: B,
        sleep: Option<Pin<Box<Sleep>>>,
        timeout: Duration,
        last_frame: Instant,
    }
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        IdleTimeout {
            inner,
            sleep: None,
            timeout,
            last_frame: Instant::now(),
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.inner.as_mut().poll_frame(cx) {
            *this.last_frame = Instant::now();
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let deadline = *this.last_frame + *this.timeout;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            ready!(sleep.as_mut().poll(cx));
            let deadline = *this.last_frame + *this.timeout;
            if Instant::now() >= deadline {
                return Poll::Ready(Some(Err(IdleTimeoutError(*this.timeout).into())));
            }
            sleep.as_mut().reset(deadline);
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use http_body_util::StreamBody;

    #[tokio::test(start_paused = true)]
    async fn stalled_body_fails_after_idle_timeout() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut body = Box::pin(IdleTimeout::new(
            StreamBody::new(stream),
            Duration::from_secs(5),
        ));
        tx.send(Ok(Frame::data(Bytes::from_static(b"a"))))
            .await
            .expect("send");
        let first = body.frame().await.expect("frame").expect("ok");
        assert_eq!(first.into_data().expect("data"), Bytes::from_static(b"a"));
        // The sender stays alive but silent: the paused clock jumps to the deadline.
        let err = body
            .frame()
            .await
            .expect("frame")
            .expect_err("idle timeout");
        assert!(err.to_string().contains("no body data"));
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn body_that_keeps_moving_is_not_cut() {
        let chunks = (0..10).map(|_| Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"x"))));
        let stream = futures_util::stream::iter(chunks).then(|c| async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            c
        });
        let body = Box::pin(IdleTimeout::new(
            StreamBody::new(stream),
            Duration::from_secs(5),
        ));
        let collected = body.collect().await.expect("no timeout").to_bytes();
        assert_eq!(collected.len(), 10);
    }
}
